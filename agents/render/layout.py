"""Frame geometry shared by templates, composition and the quality gate."""

from __future__ import annotations

from streams.ports.render import Box

__all__ = [
    "CAPTION_AREA",
    "CAPTION_FONT_PX",
    "FPS",
    "HEIGHT",
    "HOOK_CAPTION_Y",
    "MAX_SECONDS",
    "SAFE_AREA",
    "WIDTH",
    "Box",
]

WIDTH, HEIGHT, FPS = 1080, 1920, 30
MAX_SECONDS = 60.0


# YouTube Shorts draws its own UI over the video: the title, channel and description across the
# bottom ~25%, the like/comment/share column down the right ~15%, the search/menu bar across
# the top ~8%. Text outside this box may be covered.
SAFE_AREA = Box(x=60, y=160, width=840, height=1280)
# Captions sit at the bottom of the safe area, under the scene's content (on the hook, in the
# middle of the stage): two lines at 80 px (the floor is 64 px at 1080 wide).
CAPTION_AREA = Box(x=60, y=1156, width=840, height=280)
HOOK_CAPTION_Y = 700
CAPTION_FONT_PX = 80
