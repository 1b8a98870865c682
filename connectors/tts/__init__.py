"""Text-to-speech behind one port: the narration of a video as one WAV with per-phrase timings.

``espeak`` runs the Debian ``espeak-ng`` binary (embedded, offline); ``google`` calls the Google
Cloud Text-to-Speech REST API (production voices). ``factory.open_tts`` picks one.
"""
