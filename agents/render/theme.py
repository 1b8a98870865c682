"""The brand theme every scene is drawn with (colours, font, logo); the composition root builds
it from the settings (``factory/config.py``)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Theme:
    name: str
    primary: str
    secondary: str
    accent: str
    text: str
    font: str
    logo_path: Path | None = None

    def fingerprint(self) -> str:
        """Changes whenever the rendered look would change (part of the render cache key)."""
        digest = hashlib.sha256()
        for value in (self.name, self.primary, self.secondary, self.accent, self.text, self.font):
            digest.update(value.encode())
            digest.update(b"\0")
        if self.logo_path is not None:
            digest.update(self.logo_path.read_bytes())
        return digest.hexdigest()[:16]
