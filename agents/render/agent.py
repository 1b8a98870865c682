"""The render agent: ``scripts.drafted`` -> ``renders.storyboarded`` (early) and
``renders.completed``. Crashes of chromium/ffmpeg are retriable (retry tiers); template errors
and failed quality gates are fatal (dead letters), as the processor routes by error type."""

from __future__ import annotations

import logging
from typing import Any

from agents.render.pipeline import Renderer
from schemas.records import RenderCompleted, ScriptDrafted, StoryboardReady
from streams import text
from streams.errors import ValidationError
from streams.events import derived_id, derived_meta
from streams.ports.artifacts import StoredArtifact
from streams.step import Emit, EmitNow
from streams.telemetry import metrics

log = logging.getLogger(__name__)

AGENT = "render"
STEP = "render"
Record = dict[str, Any]


def render_id(script: ScriptDrafted) -> str:
    return derived_id(script["meta"]["event_id"], "render")


def storyboard_record(
    script: ScriptDrafted, art: StoredArtifact, scenes: int, version: str
) -> StoryboardReady:
    return {
        "meta": derived_meta(script, "storyboard"),
        "render_id": render_id(script),
        "script_id": script["script_id"],
        "problem_id": script["problem_id"],
        "experiment_id": script["experiment_id"],
        "arm_id": script["arm_id"],
        "uri": art.uri,
        "sha256": art.sha256,
        "scene_count": scenes,
        "template_version": version,
    }


TITLE_MAX = 100  # YouTube's limit


def shown_script(script: ScriptDrafted) -> ScriptDrafted:
    """The script with its drawn and spoken text in NFC. The renderer's own line of the text
    rules (streams/text.py): a script that reached the topic without passing drafting is
    dead-lettered (fatal) rather than drawn, e.g. a choice that an RLO would show as another."""

    def clean(field: str, value: str) -> str:
        try:
            return text.clean(value)
        except text.UnsafeTextError as exc:
            raise ValidationError(
                f"script {script['script_id']}: {field} cannot be shown as written: {exc}"
            ) from None

    choices = [clean(f"choices[{i}]", c) for i, c in enumerate(script["choices"])]
    folded = [text.fold(c) for c in choices]
    if len(set(folded)) != len(folded):
        raise ValidationError(f"script {script['script_id']}: two choices read the same")
    return {
        **script,
        "hook": clean("hook", script["hook"]),
        "preface": clean("preface", script["preface"]),
        "question": clean("question", script["question"]),
        "choices": choices,
        "answer_reveal": clean("answer_reveal", script["answer_reveal"]),
        "explanation": clean("explanation", script["explanation"]),
        "cta": clean("cta", script["cta"]),
    }


def video_title(script: ScriptDrafted) -> str:
    """The hook, or the question when the hook is generic; ``#shorts`` is the publisher's."""
    text = " ".join(str(script.get("hook") or script["question"]).split())
    return text if len(text) <= TITLE_MAX - 8 else text[: TITLE_MAX - 9].rstrip() + "…"


def video_description(script: ScriptDrafted) -> str:
    labels = "ABCDEFGH"
    choices = "\n".join(f"{labels[i]}. {c}" for i, c in enumerate(script["choices"][:8]))
    return f"{script['question']}\n\n{choices}\n\n{script.get('cta', '')}".strip()


class RenderStep:
    """Renders one script. ``emit_now`` publishes the storyboard before the render finishes
    (the binding hands in its processor's ``publish_now``)."""

    def __init__(self, renderer: Renderer, emit_now: EmitNow | None = None) -> None:
        self.renderer = renderer
        self.emit_now = emit_now

    async def __call__(self, script: ScriptDrafted) -> list[Emit]:
        if script.get("duplicate_of"):
            # A near-duplicate problem is never published: don't spend a render on it.
            log.info("skipping %s: duplicate of %s", script["script_id"], script["duplicate_of"])
            return []
        from agents.render.scenes import template_version

        async def on_storyboard(art: StoredArtifact, scenes: int) -> None:
            if self.emit_now is not None:
                record = storyboard_record(script, art, scenes, template_version())
                await self.emit_now([Emit("renders.storyboarded", script["script_id"], record)])

        result = await self.renderer.render(shown_script(script), on_storyboard=on_storyboard)
        if not result.cache_hit:
            metrics.RENDER_SECONDS.labels(script["language"]).observe(result.render_ms / 1000)
        completed: RenderCompleted = {
            "meta": derived_meta(script, STEP),
            "render_id": render_id(script),
            "script_id": script["script_id"],
            "problem_id": script["problem_id"],
            "experiment_id": script["experiment_id"],
            "arm_id": script["arm_id"],
            "uri": result.video.uri,
            "sha256": result.video.sha256,
            "duration_seconds": result.duration,
            "width": result.width,
            "height": result.height,
            "size_bytes": result.video.size_bytes,
            "render_ms": result.render_ms,
            "template_version": result.template_version,
            "cache_hit": result.cache_hit,
            "artifact_key": result.video.key,
            "language": script["language"],
            "title": video_title(script),
            "description": video_description(script),
            "voice": result.voice,
            "voice_fallback_reason": result.voice_fallback or None,
            "caption_srt_key": result.srt.key if result.srt else "",
            "caption_vtt_key": result.vtt.key if result.vtt else "",
        }
        log.info(
            "rendered %s (%.1f s of video) in %d ms%s",
            completed["render_id"],
            result.duration,
            result.render_ms,
            " (cache hit)" if result.cache_hit else "",
        )
        if result.voice_fallback:
            # On the event too (voice_fallback_reason); the warning makes a provider outage
            # visible in the worker's log while it lasts.
            log.warning(
                "render %s spoken by %s after fallback: %s",
                completed["render_id"],
                result.voice,
                result.voice_fallback,
            )
        return [Emit("renders.completed", script["script_id"], completed)]
