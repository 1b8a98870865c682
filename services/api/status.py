"""The read side of ``GET /v1/problems/{id}``: where a problem and each of its variants are.

The ``StatusReader`` port returns what the store knows (production: ClickHouse, see
``connectors/warehouse/status.py``); ``present`` turns that into the public document: a status
per step and per variant, with links the API serves (video, storyboard, the dashboard's player)
instead of storage URIs.

A step of the problem is ``done`` only when every expected variant has done it; ``partial``
when all are finished but some failed; ``in_progress`` while some are done and others are not
finished; ``failed`` when every variant failed there. A variant's step after a failed one is
``blocked``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol
from urllib.parse import quote

StatusDict = dict[str, Any]
StepStatus = Literal["pending", "in_progress", "done", "partial", "failed", "blocked"]
MediaKind = Literal["video", "storyboard"]

# The variant steps in order, and the topic whose consumer does each one: a dead letter of that
# topic is a failure of that step (factory/topology.py binds the consumers; a test checks).
VARIANT_STEPS: tuple[tuple[str, str], ...] = (
    ("rendered", "scripts.drafted"),
    ("published", "renders.completed"),
    ("measured", "shorts.published"),
)
DRAFTING_TOPIC = "problems.submitted"
PROBLEM_STEPS = ("drafted", "rendered", "published")


class StatusReader(Protocol):
    """Looks up a problem's pipeline progress."""

    async def problem_status(self, problem_id: str) -> StatusDict | None:
        """``{"problem_id", "steps": [{"step", "status", "count", "at"}, ...], "variants":
        [...], "dead_letters": [...], ...}`` or None when the problem is unknown (never
        submitted, or not yet ingested by the warehouse). ``variants`` (each with its
        ``storyboard``, ``render``, ``short``, ``metrics`` and ``dead_letters``; see
        ``connectors/warehouse/variants.py``) may be absent: the step counts are used then."""
        ...


class InMemoryStatusReader:
    """Statuses in a dict: for unit tests and demos without a warehouse."""

    def __init__(self, statuses: Mapping[str, StatusDict] | None = None) -> None:
        self._statuses: dict[str, StatusDict] = dict(statuses or {})

    def set(self, problem_id: str, status: StatusDict) -> None:
        self._statuses[problem_id] = status

    async def problem_status(self, problem_id: str) -> StatusDict | None:
        return self._statuses.get(problem_id)


def media_path(problem_id: str, script_id: str, kind: MediaKind) -> str:
    return f"/v1/problems/{quote(problem_id)}/variants/{quote(script_id)}/{kind}"


def media_uri(status: StatusDict, script_id: str, kind: MediaKind) -> str | None:
    """The stored URI of a variant's latest video or storyboard in a reader's document."""
    for variant in status.get("variants") or ():
        if variant.get("script_id") == script_id:
            part = variant.get("render" if kind == "video" else "storyboard")
            return None if part is None else part.get("uri")
    return None


def _step(step: str, status: StepStatus, at: str | None, **extra: Any) -> dict[str, Any]:
    return {"step": step, "status": status, "at": at, **extra}


def _variant(problem_id: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    script_id = str(raw["script_id"])
    render, short, metrics = raw.get("render"), raw.get("short"), raw.get("metrics")
    storyboard = raw.get("storyboard")
    letters = list(raw.get("dead_letters") or ())
    failed_topics = {letter["topic"] for letter in letters}
    reached = {"rendered": render, "published": short, "measured": metrics}
    times = {
        "rendered": render and render.get("at"),
        "published": short and short.get("published_at"),
        "measured": metrics and metrics.get("observed_at"),
    }
    steps = [_step("drafted", "done", raw.get("drafted_at"))]
    blocked = False
    for step, topic in VARIANT_STEPS:
        # Done wins over a dead letter: a replay after the fix got it through.
        if reached[step] is not None:
            status: StepStatus = "done"
        elif blocked:
            status = "blocked"
        elif topic in failed_topics:
            status, blocked = "failed", True
        else:
            status = "pending"
        extra = {}
        if step == "rendered":
            extra["storyboarded_at"] = storyboard and storyboard.get("at")
        steps.append(_step(step, status, times[step], **extra))
    published = None
    if short is not None:
        published = {**short, "dashboard_url": f"/dashboard/shorts/{quote(str(short['short_id']))}"}
    return {
        "script_id": script_id,
        "arm_id": raw.get("arm_id"),
        "experiment_id": raw.get("experiment_id"),
        "steps": steps,
        "render": None
        if render is None
        else {k: render.get(k) for k in ("render_id", "at", "duration_seconds")},
        "video_url": None if render is None else media_path(problem_id, script_id, "video"),
        "storyboard_url": None
        if storyboard is None
        else media_path(problem_id, script_id, "storyboard"),
        "published": published,
        "metrics": metrics,
        "dead_letters": [{**letter, "step": _failed_step(letter["topic"])} for letter in letters],
    }


def _failed_step(topic: str) -> str:
    if topic == DRAFTING_TOPIC:
        return "drafted"
    return next((step for step, t in VARIANT_STEPS if t == topic), topic)


def _aggregate(step: str, done: int, failed: int, expected: int, at: str | None) -> dict[str, Any]:
    if done >= expected:
        status: StepStatus = "done"
    elif failed and done + failed >= expected:
        status = "failed" if done == 0 else "partial"
    elif done or failed:
        status = "in_progress"
    else:
        status = "pending"
    return _step(step, status, at, count=done, failed=failed, expected=expected)


def _latest(values: Sequence[str | None]) -> str | None:
    present = [v for v in values if v]
    return max(present) if present else None


def present(raw: StatusDict, expected_variants: int) -> StatusDict:
    """The public status document of a reader's document (pure)."""
    problem_id = str(raw["problem_id"])
    by_step = {s["step"]: s for s in raw.get("steps", ())}
    submitted = by_step.get("submitted", {})
    problem_letters = [
        {**letter, "step": _failed_step(letter["topic"])}
        for letter in raw.get("dead_letters") or ()
    ]
    steps = [
        _step(
            "submitted",
            "done" if submitted.get("status") == "done" else "pending",
            submitted.get("at"),
        )
    ]
    if "variants" in raw:
        variants = [_variant(problem_id, v) for v in raw["variants"]]
        expected = max(expected_variants, len(variants))
        drafting_failed = bool(problem_letters) and not variants
        for index, step in enumerate(PROBLEM_STEPS):
            states = [v["steps"][index] for v in variants]
            done = sum(s["status"] == "done" for s in states)
            failed = sum(s["status"] in ("failed", "blocked") for s in states)
            if drafting_failed:  # nothing follows a problem that could not be drafted
                failed = expected
            at = _latest([s["at"] for s in states if s["status"] == "done"])
            steps.append(_aggregate(step, done, failed, expected, at))
    else:  # a reader with counts only (e.g. a summary table)
        variants = []
        expected = expected_variants
        for step in PROBLEM_STEPS:
            counted = by_step.get(step, {})
            steps.append(
                _aggregate(step, int(counted.get("count") or 0), 0, expected, counted.get("at"))
            )
    return {
        "problem_id": problem_id,
        "status": _overall(steps),
        "expected_variants": expected,
        "steps": steps,
        "variants": variants,
        "dead_letters": problem_letters,
        "last_step": raw.get("last_step"),
        "last_event_at": raw.get("last_event_at"),
    }


def _overall(steps: Sequence[Mapping[str, Any]]) -> str:
    """One word for the whole problem, from its last step: ``done`` once every variant is
    published, ``partial`` / ``failed`` once every variant is published or has failed, else
    still ``in_progress`` (``pending`` before the submission is seen)."""
    last = steps[-1]["status"]
    if last in ("done", "partial", "failed"):
        return str(last)
    return "in_progress" if steps[0]["status"] == "done" else "pending"
