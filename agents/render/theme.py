"""The brand theme every scene is drawn with (colours, font, logo), from settings."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from streams.settings import Settings


@dataclass(frozen=True)
class Theme:
    name: str
    primary: str
    secondary: str
    accent: str
    text: str
    font: str
    logo_path: Path | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Theme:
        return cls(
            name=settings.brand_name,
            primary=settings.brand_primary,
            secondary=settings.brand_secondary,
            accent=settings.brand_accent,
            text=settings.brand_text,
            font=settings.brand_font,
            logo_path=settings.brand_logo_path,
        )

    def fingerprint(self) -> str:
        """Changes whenever the rendered look would change (part of the render cache key)."""
        digest = hashlib.sha256()
        for value in (self.name, self.primary, self.secondary, self.accent, self.text, self.font):
            digest.update(value.encode())
            digest.update(b"\0")
        if self.logo_path is not None:
            digest.update(self.logo_path.read_bytes())
        return digest.hexdigest()[:16]
