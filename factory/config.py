"""Config slices: the small frozen configs components take, derived from the one settings model
here, at the composition root (components never see ``Settings``)."""

from __future__ import annotations

from agents.render.compose import Encoding
from agents.render.pipeline import RenderConfig
from agents.render.theme import Theme
from streams.settings import Settings


def theme_from_settings(settings: Settings) -> Theme:
    """The brand theme of every scene."""
    return Theme(
        name=settings.brand_name,
        primary=settings.brand_primary,
        secondary=settings.brand_secondary,
        accent=settings.brand_accent,
        text=settings.brand_text,
        font=settings.brand_font,
        logo_path=settings.brand_logo_path,
    )


def render_config(settings: Settings) -> RenderConfig:
    """Encoding, loudness, music and the time limit of one render."""
    return RenderConfig(
        target_lufs=settings.render_loudness_lufs,
        encoding=Encoding(preset=settings.render_x264_preset, crf=settings.render_crf),
        music=settings.render_music_path,
        timeout_s=settings.render_timeout_s,
    )
