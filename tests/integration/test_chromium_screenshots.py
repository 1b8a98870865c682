"""The browser job's transparent layers, taken through the DevTools protocol (faster than
Playwright's ``omit_background`` path), must be the same pixels Playwright gives, and must not
leave the page transparent for what is captured next."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from agents.render import scenes
from connectors.browser.chromium import ChromiumRenderer
from factory.config import theme_from_settings
from streams.settings import Settings
from tests.drafts import drafted
from tests.factories import problem_event

pytestmark = pytest.mark.integration


def _rgba(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as image:
        return np.asarray(image.convert("RGBA"))


async def test_transparent_layer_is_playwrights_pixels_and_the_page_is_opaque_again() -> None:
    script = drafted(problem_event(3), k=1)[0]
    theme = theme_from_settings(Settings())
    html = scenes.scene_html(scenes.SceneSpec("question"), script, theme, has_logo=False)
    browser = ChromiumRenderer(asset_origin=scenes.ASSET_ORIGIN)
    try:
        async with browser.job() as job:
            layer, _ = await job.screenshot(html, transparent=True)
            after = await job.page.screenshot(type="png")
            reference = await job.page.screenshot(type="png", omit_background=True)
    finally:
        await browser.close()
    ours = _rgba(layer)
    assert np.array_equal(ours, _rgba(reference))
    alpha = ours[:, :, 3]
    assert (alpha == 0).mean() > 0.3  # the background shows through...
    assert (alpha == 255).sum() > 10_000  # ...around an opaque card
    assert (_rgba(after)[:, :, 3] == 255).all()  # the transparent background was undone
