"""ffmpeg and ffprobe, run as subprocesses with timeouts and classified failures."""
