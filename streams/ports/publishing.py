"""The publisher port: put one rendered short on a channel, exactly once per idempotency key."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from streams.errors import FatalError, RetriableError


class PublishUnavailableError(RetriableError):
    """The platform could not take the upload now (5xx, network, a crash mid-upload)."""


class PublishRejectedError(FatalError):
    """The platform refuses this upload as given (4xx other than quota/rate limits)."""


@dataclass(frozen=True)
class CaptionFile:
    """A caption track for the video: a SubRip (``.srt``) or WebVTT (``.vtt``) file whose cues
    are in video time, in ``language`` (BCP-47, e.g. ``ko``)."""

    path: Path
    language: str


@dataclass(frozen=True)
class Upload:
    """One short to publish. ``idempotency_key`` (the render id) names it for ever: publishing
    the same key twice returns the first video, never a second upload."""

    idempotency_key: str
    video_path: Path
    title: str
    description: str
    tags: tuple[str, ...] = ()
    category_id: str = "27"  # Education
    privacy_status: str = "public"
    made_for_kids: bool = False
    language: str = "ko"
    # Experiment labels (experiment_id, arm_id, ...): the simulator's audience model reads them;
    # YouTube never sees them.
    labels: Mapping[str, str] = field(default_factory=dict)
    # Uploaded as the video's caption track, once per idempotency key like the video itself.
    captions: CaptionFile | None = None


@dataclass(frozen=True)
class Published:
    video_id: str
    url: str
    published_at: datetime  # timezone-aware UTC
    platform: str  # "youtube" | "simulator"
    simulated: bool
    reused: bool = False  # the key was already published (a redelivery): nothing uploaded
    caption_id: str = ""  # the platform's caption track, when one was uploaded
    # Why the short went up without its caption track (the platform refused it); "" otherwise.
    captions_skipped: str = ""


class VideoPublisher(Protocol):
    platform: str

    async def publish(self, upload: Upload) -> Published:
        """Upload (or resume, or recall) the short of ``upload.idempotency_key``."""
        ...

    async def check(self) -> None:
        """Health: raise when the platform cannot be reached or the credentials are refused."""
        ...

    async def close(self) -> None: ...
