"""The documented shape of ``GET /v1/problems/{id}`` (OpenAPI only: the route answers with the
document ``services.api.status.present`` builds, and a test validates it against these)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

StepStatus = Literal["pending", "in_progress", "done", "partial", "failed", "blocked"]
_STATUS_HELP = (
    "`done`: every expected variant did it; `in_progress`: some did, others are not finished; "
    "`partial`: all finished and some failed; `failed`: all failed; `blocked`: an earlier step "
    "of this variant failed; `pending`: not started."
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeadLetter(_Strict):
    """A step that failed for good (after its retries) and waits in a dead-letter topic."""

    step: str = Field(description="The step that failed.", examples=["rendered"])
    topic: str = Field(description="The event topic whose consumer failed.")
    agent: str
    error_class: str = Field(examples=["RenderQualityError"])
    reason: str = Field(description="The error message.", examples=["loudness -31 LUFS"])
    attempts: int
    fatal: bool = Field(description="True: not retried (bad input); false: retries ran out.")
    at: str | None = Field(description="When it was dead-lettered (ISO 8601).")


class ProblemStep(_Strict):
    """One step of the problem, over all its variants."""

    step: Literal["submitted", "drafted", "rendered", "published"]
    status: StepStatus = Field(description=_STATUS_HELP)
    at: str | None = Field(description="When the step last completed for a variant (ISO 8601).")
    count: int | None = Field(default=None, description="Variants that completed the step.")
    failed: int | None = Field(default=None, description="Variants that failed or are blocked.")
    expected: int | None = Field(default=None, description="Variants the problem should get.")


class VariantStep(_Strict):
    step: Literal["drafted", "rendered", "published", "measured"]
    status: StepStatus = Field(description=_STATUS_HELP)
    at: str | None = Field(description="When it completed (ISO 8601).")
    storyboarded_at: str | None = Field(
        default=None, description="rendered only: when the storyboard (preview) was ready."
    )


class Render(_Strict):
    render_id: str
    at: str | None
    duration_seconds: float | None


class Published(_Strict):
    short_id: str
    video_id: str = Field(description="The channel's id of the video.")
    url: str = Field(description="Where viewers watch it.")
    platform: str = Field(examples=["youtube", "simulator"])
    published_at: str | None
    simulated: bool = Field(description="True on the channel simulator (no real upload).")
    dashboard_url: str = Field(description="The operators' player page of this short.")


class Metrics(_Strict):
    """The latest snapshot of the oldest window observed."""

    window: str = Field(examples=["24h"])
    observed_at: str | None
    views: int
    impressions: int
    impressions_ctr: float
    average_view_percentage: float
    likes: int
    simulated: bool


class Variant(_Strict):
    """One drafted script (an experiment arm) and how far it got."""

    script_id: str
    arm_id: str | None
    experiment_id: str | None
    steps: list[VariantStep]
    render: Render | None
    video_url: str | None = Field(
        description="The rendered MP4, served by this API (scope problems:read); null until "
        "rendered."
    )
    storyboard_url: str | None = Field(description="The storyboard JPEG, served by this API.")
    published: Published | None
    metrics: Metrics | None
    dead_letters: list[DeadLetter]


class ProblemStatus(_Strict):
    """Where a problem and each of its variants are in the pipeline."""

    problem_id: str
    status: Literal["pending", "in_progress", "done", "partial", "failed"] = Field(
        description="`done` once every variant is published."
    )
    expected_variants: int
    steps: list[ProblemStep]
    variants: list[Variant]
    dead_letters: list[DeadLetter] = Field(description="Failures of the problem itself.")
    last_step: str | None
    last_event_at: str | None
