"""The video's caption track: ``captions.insert`` once per idempotency key, never at the video's
cost (docs/decisions.md, "Caption tracks").

A caption file is a few kilobytes, so it goes up in one multipart request (no resumable session
to resume). What makes it once-only is the ledger: ``started`` is written before each insert is
sent, so a process that died between the server creating the track and the ledger hearing of it
first asks ``captions.list`` on the next attempt instead of adding a second track. A transient
failure (5xx, 429, network) is retried with the publisher's backoff and, past its budget, raised
as ``PublishUnavailableError``: the event is retried, the ledger returns the video, and only the
track is tried again. A refusal (any other 4xx: a token without the ``youtube.force-ssl`` scope,
a file YouTube cannot parse) settles the key as ``skipped`` with YouTube's words: the short stays
published without captions rather than being dead-lettered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import google.auth.exceptions
from googleapiclient.errors import HttpError
from googleapiclient.http import MediaIoBaseUpload

from connectors.youtube.ledger import UploadLedger
from connectors.youtube.quota import CAPTIONS_INSERT_UNITS, CAPTIONS_LIST_UNITS, QuotaBudget
from connectors.youtube.session import TRANSPORT_ERRORS, error_reason, verdict
from streams.ports.publishing import CaptionFile

log = logging.getLogger(__name__)

# The track's name as viewers see it in the player's caption menu, beside the language; it is
# also how a retry recognises the track an earlier attempt created.
TRACK_NAMES = {"ko": "내레이션", "en": "Narration"}
REASON_MAX = 500

BackOff = Callable[[int, Exception], Awaitable[int]]
SleepUntil = Callable[[datetime], Awaitable[None]]


def track_name(language: str) -> str:
    return TRACK_NAMES.get(language, TRACK_NAMES["en"])


def caption_resource(video_id: str, captions: CaptionFile) -> dict[str, Any]:
    """The JSON part of ``captions.insert(part="snippet")``. ``isDraft`` False: a draft track
    is invisible to viewers, which is the opposite of the point."""
    return {
        "snippet": {
            "videoId": video_id,
            "language": captions.language,
            "name": track_name(captions.language),
            "isDraft": False,
        }
    }


class CaptionUploader:
    """Uploads the caption track of a published video. ``http`` builds one transport per call
    (httplib2 is not thread-safe); ``back_off`` and ``sleep_until`` are the publisher's, so the
    video and its captions wait by one policy."""

    def __init__(
        self,
        service: Any,
        *,
        http: Callable[[], Any],
        ledger: UploadLedger,
        quota: QuotaBudget,
        back_off: BackOff,
        sleep_until: SleepUntil,
    ) -> None:
        self._service = service
        self._http = http
        self._ledger = ledger
        self._quota = quota
        self._back_off = back_off
        self._sleep_until = sleep_until

    async def ensure(self, key: str, video_id: str, captions: CaptionFile) -> tuple[str, str]:
        """The track of ``key`` on ``video_id``: ``(caption_id, "")`` once it is there, or
        ``("", reason)`` when YouTube refused it. Raises ``PublishUnavailableError`` when
        YouTube keeps failing (retriable: nothing is uploaded twice on the retry)."""
        entry = await asyncio.to_thread(self._ledger.caption, key)
        if entry is not None and entry.state != "started":
            return entry.caption_id or "", entry.reason or ""
        # A row in "started": an earlier attempt may have created the track before it died.
        maybe_sent = entry is not None
        failures = 0
        while True:
            try:
                if maybe_sent and (found := await self._find(video_id, captions.language)):
                    await asyncio.to_thread(self._ledger.caption_uploaded, key, found)
                    return found, ""
                while resume_at := await asyncio.to_thread(
                    self._quota.reserve, CAPTIONS_INSERT_UNITS
                ):
                    await self._sleep_until(resume_at)
                await asyncio.to_thread(self._ledger.caption_started, key)
                maybe_sent = True
                caption_id = await self._insert(video_id, captions)
                await asyncio.to_thread(self._ledger.caption_uploaded, key, caption_id)
                return caption_id, ""
            except HttpError as exc:
                status = exc.resp.status
                judged = verdict(status, exc.content, in_session=False)
                if judged == "quota":
                    await self._sleep_until(await asyncio.to_thread(self._quota.exhaust))
                elif judged == "retry":
                    failures = await self._back_off(failures, exc)
                else:
                    _, message = error_reason(exc.content)
                    return "", await self._skip(key, f"{status} {message}")
            except google.auth.exceptions.RefreshError as exc:
                if not getattr(exc, "retryable", False):
                    return "", await self._skip(key, f"credentials refused: {exc}")
                failures = await self._back_off(failures, exc)
            except TRANSPORT_ERRORS as exc:
                failures = await self._back_off(failures, exc)

    async def _find(self, video_id: str, language: str) -> str | None:
        """The id of our track on ``video_id`` (same language and name), if it exists."""
        await asyncio.to_thread(self._quota.record, CAPTIONS_LIST_UNITS)
        request = self._service.captions().list(part="snippet", videoId=video_id)
        page = await asyncio.to_thread(request.execute, http=self._http())
        for item in page.get("items") or []:
            snippet = item.get("snippet") or {}
            if (snippet.get("language"), snippet.get("name")) == (language, track_name(language)):
                return str(item["id"])
        return None

    async def _insert(self, video_id: str, captions: CaptionFile) -> str:
        with captions.path.open("rb") as stream:
            # YouTube detects SubRip/WebVTT from the bytes; octet-stream is what its API accepts.
            media = MediaIoBaseUpload(stream, mimetype="application/octet-stream", resumable=False)
            request = self._service.captions().insert(
                part="snippet", body=caption_resource(video_id, captions), media_body=media
            )
            track = await asyncio.to_thread(request.execute, http=self._http())
        return str(track["id"])

    async def _skip(self, key: str, why: str) -> str:
        reason = f"YouTube refused the caption track: {why}"[:REASON_MAX]
        await asyncio.to_thread(self._ledger.caption_skipped, key, reason)
        log.warning("short %s published without captions: %s", key, reason)
        return reason
