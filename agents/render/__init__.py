"""The render farm: a drafted script becomes a vertical MP4 (scenes from HTML templates rendered
by chromium, espeak-ng/cloud narration, burned-in captions, ffmpeg composition, quality gate).

Pure planning (``phrases``, ``plan``, ``scenes``, ``compose``, ``gate``, ``storyboard``) is kept
apart from the I/O that runs it (``pipeline``, ``agent``).
"""
