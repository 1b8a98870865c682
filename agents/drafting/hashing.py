"""Stable hashing for deterministic choices.

Python's ``hash()`` is salted per process (PYTHONHASHSEED), so a replayed event would pick a
different arm or phrasing on another worker. SHA-256 gives the same number everywhere, forever.
"""

from __future__ import annotations

import hashlib

# Separator that cannot appear in ids or style names, so ("a", "bc") and ("ab", "c") differ.
_SEP = "\x1f"


def stable_int(*parts: str) -> int:
    """A 64-bit non-negative integer that depends only on ``parts``."""
    digest = hashlib.sha256(_SEP.join(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")
