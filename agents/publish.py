"""Publishing: ``renders.completed`` -> the video on a channel -> ``shorts.published``.

Exactly once per render: the publisher's idempotency key is the render id, so a redelivered
event (a worker killed after the upload but before its offset commit) returns the video that
is already up instead of uploading a second copy.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

from opentelemetry.trace import SpanKind

from schemas.records import RenderCompleted, ShortPublished
from streams.errors import ValidationError
from streams.events import derived_meta
from streams.ports.artifacts import ArtifactNotFoundError, ArtifactStore
from streams.ports.publishing import CaptionFile, Upload, VideoPublisher
from streams.step import Emit
from streams.telemetry import metrics, tracing

log = logging.getLogger(__name__)
AGENT = "publish"
STEP = "publish"
Record = dict[str, Any]
HASHTAGS = {"ko": ("#shorts", "#퀴즈", "#상식"), "en": ("#shorts", "#quiz", "#trivia")}


def upload_for(
    render: RenderCompleted,
    video: Path,
    *,
    privacy_status: str,
    captions: Path | None = None,
) -> Upload:
    """What goes on the channel for ``render`` (pure); ``captions``: its caption file."""
    language = render.get("language") or "ko"
    title = render.get("title") or render["problem_id"]
    tags = HASHTAGS.get(language, HASHTAGS["en"])
    description = "\n\n".join(p for p in (render.get("description") or "", " ".join(tags)) if p)
    return Upload(
        idempotency_key=render["render_id"],
        video_path=video,
        title=title,
        description=description,
        tags=tuple(t.lstrip("#") for t in tags),
        privacy_status=privacy_status,
        made_for_kids=False,
        language=language,
        labels={
            "experiment_id": render["experiment_id"],
            "arm_id": render["arm_id"],
            "problem_id": render["problem_id"],
            "duration_seconds": f"{render['duration_seconds']:.3f}",
        },
        captions=CaptionFile(captions, language) if captions is not None else None,
    )


def caption_key(render: RenderCompleted) -> str:
    """The caption file to upload: SubRip, which every player and YouTube read the same way;
    WebVTT when only it exists (its per-word timestamps are a nicety YouTube may not show).
    Renders before RenderCompleted v3 name neither."""
    return render.get("caption_srt_key") or render.get("caption_vtt_key") or ""


class PublishStep:
    def __init__(
        self, publisher: VideoPublisher, artifacts: ArtifactStore, *, privacy_status: str
    ) -> None:
        self.publisher = publisher
        self.artifacts = artifacts
        self.privacy_status = privacy_status

    async def __call__(self, render: RenderCompleted) -> list[Emit]:
        # Renders from before RenderCompleted v2 carry only the URI: find the key from it.
        key = render.get("artifact_key") or self.artifacts.key_for_uri(render["uri"])
        if not key:
            raise ValidationError(
                f"render {render['render_id']}: {render['uri']} is not in the artifact store"
            )
        with tempfile.TemporaryDirectory(prefix="munjero-publish-") as tmp:
            video = await self.artifacts.open_path(key, Path(tmp) / "short.mp4")
            captions = await self._caption_file(render, Path(tmp))
            with tracing.span("upload video", kind=SpanKind.CLIENT) as span:
                published = await self.publisher.publish(
                    upload_for(render, video, privacy_status=self.privacy_status, captions=captions)
                )
                span.set_attribute("munjero.platform", published.platform)
                span.set_attribute("munjero.video_id", published.video_id)
                if published.captions_skipped:
                    span.set_attribute("munjero.captions_skipped", published.captions_skipped)
        metrics.SHORTS_PUBLISHED.labels(published.platform).inc()
        meta = derived_meta(render, STEP)
        record: ShortPublished = {
            "meta": meta,
            "short_id": meta["event_id"],
            "render_id": render["render_id"],
            "script_id": render["script_id"],
            "problem_id": render["problem_id"],
            "experiment_id": render["experiment_id"],
            "arm_id": render["arm_id"],
            "platform": published.platform,
            "video_id": published.video_id,
            "url": published.url,
            "title": render.get("title") or "",
            "published_at": published.published_at,
            "simulated": published.simulated,
        }
        log.info(
            "published render %s to %s as %s",
            render["render_id"],
            published.platform,
            published.url,
        )
        return [Emit("shorts.published", record["short_id"], record)]

    async def _caption_file(self, render: RenderCompleted, folder: Path) -> Path | None:
        """The render's caption file, fetched beside the video; None when it names none or
        the store lost it (the short is worth publishing without its captions; a store that
        is down raises, retriable, like the video's fetch)."""
        key = caption_key(render)
        if not key:
            return None
        try:
            return await self.artifacts.open_path(key, folder / key.rsplit("/", 1)[-1])
        except ArtifactNotFoundError:
            log.warning("render %s: caption file %s is not in the store", render["render_id"], key)
            return None
