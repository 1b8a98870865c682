"""espeak-ng phonemes in process, through the bridge that ships inside ``piper-tts``.

Both offline neural voices are driven by IPA: Piper's English voice was trained on espeak-ng
phonemes, and Kokoro (which ships no Korean front end) is fed espeak-ng's Korean IPA. The bridge
holds one global espeak-ng state (the selected voice), so every call takes one process-wide
lock; a call costs well under a millisecond, so nobody waits long.
"""

from __future__ import annotations

import re
import threading
import unicodedata

from piper.phonemize_espeak import ESPEAK_DATA_DIR

_LOCK = threading.Lock()
_READY = False
# espeak-ng marks words it reads in another language as "(en)...(ko)": not phonemes.
_LANGUAGE_SWITCH = re.compile(r"\([^)]+\)")


def ipa(text: str, voice: str) -> str:
    """The IPA espeak-ng speaks for ``text`` with ``voice``; clause punctuation is kept (the
    voices pause on it), and clauses are joined with a space."""
    global _READY
    from piper import espeakbridge

    with _LOCK:
        if not _READY:
            espeakbridge.initialize(str(ESPEAK_DATA_DIR))
            _READY = True
        espeakbridge.set_voice(voice)
        clauses = espeakbridge.get_phonemes(text)
    out = []
    for phonemes, terminator, _end in clauses:
        out.append(_LANGUAGE_SWITCH.sub("", phonemes) + terminator)
    return unicodedata.normalize("NFC", " ".join(out).strip())
