"""YouTube Data API v3 publisher: one short per idempotency key, resumable and crash-safe.

The google client is blocking, so each of its steps runs in a worker thread; between steps the
publisher is back on the event loop, where it persists progress and waits (backoff, quota) with
the injected ``sleep``. Retries are ours, not the client's (``num_retries=0``), because:

* the client's own chunk retry re-sends the same ``_StreamSlice`` object, which is already read
  to its end, so the retried PUT announces N bytes and sends none (googleapiclient/http.py,
  ``next_chunk``: ``data`` is built once before ``for retry_num in range(num_retries + 1)``);
* it sleeps with ``time.sleep`` inside the thread, where tests cannot fake time;
* after an error the client marks itself in error state, so our next ``next_chunk`` first asks
  the server where the session stands (``Content-Range: bytes */size``) and resumes from its
  Range: a retry never assumes which bytes arrived.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import google.auth.exceptions
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build_from_document
from googleapiclient.discovery_cache import get_static_doc
from googleapiclient.errors import HttpError
from googleapiclient.http import MediaIoBaseUpload

from connectors.youtube.captions import CaptionUploader
from connectors.youtube.ledger import UploadLedger
from connectors.youtube.metadata import key_line, video_resource
from connectors.youtube.quota import LIST_UNITS, VIDEOS_INSERT_UNITS, QuotaBudget
from connectors.youtube.session import (
    TRANSPORT_ERRORS,
    SessionGoneError,
    SessionRecordingHttp,
    StatusQueryError,
    authorized_http,
    error_reason,
    query_session,
    verdict,
)
from streams.ports.publishing import (
    Published,
    PublishRejectedError,
    PublishUnavailableError,
    Upload,
)

DEFAULT_BASE_URL = "https://youtube.googleapis.com"
# Google requires chunks in multiples of 256 KiB; 8 MiB keeps a ~20 MB short at three requests.
CHUNK_QUANTUM = 256 * 1024
DEFAULT_CHUNK_SIZE = 32 * CHUNK_QUANTUM
MAX_BACKOFF_S = 60.0
# How far back the uploads playlist is searched for a video a lost session may have created.
RECENT_UPLOADS = 50

Sleep = Callable[[float], Awaitable[object]]


def youtube_service(base_url: str, credentials: Credentials) -> Any:
    """The youtube v3 client from the discovery document shipped in the package, rooted at
    ``base_url``. Not ``build(client_options={"api_endpoint": ...})``: that moves API calls but
    only swaps the *host* of the upload URL and keeps its ``https`` scheme
    (googleapiclient/discovery.py ``_fix_up_media_path_base_url``), so uploads could not reach a
    plain-http endpoint. Replacing ``rootUrl`` moves both, the way the document intends."""
    document = json.loads(get_static_doc("youtube", "v3"))
    document["rootUrl"] = base_url.rstrip("/") + "/"
    return build_from_document(document, credentials=credentials)


class _Failure(Exception):
    """Internal: an error response, classified once for the retry loop."""

    def __init__(self, status: int, content: bytes | None, *, in_session: bool) -> None:
        super().__init__(status)
        self.status = status
        self.content = content
        self.verdict = verdict(status, content, in_session=in_session)


class YouTubePublisher:
    platform = "youtube"

    def __init__(
        self,
        credentials: Credentials,
        *,
        base_url: str = DEFAULT_BASE_URL,
        ledger_path: Path,
        quota: QuotaBudget,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        sleep: Sleep = asyncio.sleep,
        max_retries: int = 8,
        timeout_s: float = 60.0,
    ) -> None:
        if chunk_size <= 0 or chunk_size % CHUNK_QUANTUM:
            raise ValueError(f"chunk_size must be a positive multiple of {CHUNK_QUANTUM}")
        self._credentials = credentials
        self._service = youtube_service(base_url, credentials)
        self._ledger = UploadLedger(ledger_path)
        self._quota = quota
        self._chunk_size = chunk_size
        self._sleep = sleep
        self._max_retries = max_retries
        self._timeout_s = timeout_s
        self._captions = CaptionUploader(
            self._service,
            http=self._http,
            ledger=self._ledger,
            quota=quota,
            back_off=self._back_off,
            sleep_until=self._sleep_until,
        )

    async def publish(self, upload: Upload) -> Published:
        """Upload the short of ``upload.idempotency_key`` once: a finished key is returned from
        the ledger, an interrupted one resumes its session, a new one opens a session. Then its
        caption track, also once: the video is in the ledger before the track is tried, so a
        caption failure retried later never uploads the video again."""
        key = upload.idempotency_key
        entry = await asyncio.to_thread(self._ledger.get, key)
        if entry is not None and entry.state == "uploaded" and entry.video_id:
            video_id, reused = entry.video_id, True
            published_at = entry.published_at or entry.updated_at
        else:
            size = upload.video_path.stat().st_size
            await asyncio.to_thread(self._ledger.start, key, size)
            video = await self._upload(upload, size)
            video_id, reused = str(video["id"]), False
            published_at = self._published_at(video)
            await asyncio.to_thread(self._ledger.mark_uploaded, key, video_id, published_at)
        caption_id, skipped = "", ""
        if upload.captions is not None:
            caption_id, skipped = await self._captions.ensure(key, video_id, upload.captions)
        return replace(
            self._published(video_id, published_at, reused=reused),
            caption_id=caption_id,
            captions_skipped=skipped,
        )

    async def check(self) -> None:
        """One ``channels.list(mine=True)`` (1 unit): refused credentials or an unreachable API
        raise."""
        try:
            await self._execute(self._service.channels().list(part="id", mine=True))
        except _Failure as exc:
            _, message = error_reason(exc.content)
            if exc.verdict in ("retry", "quota"):
                raise PublishUnavailableError(f"YouTube answered {exc.status}: {message}") from exc
            raise PublishRejectedError(f"YouTube refused: {exc.status} {message}") from exc
        except TRANSPORT_ERRORS as exc:
            raise PublishUnavailableError(f"YouTube unreachable: {exc}") from exc
        except google.auth.exceptions.RefreshError as exc:
            if getattr(exc, "retryable", False):
                raise PublishUnavailableError(f"token refresh failed: {exc}") from exc
            raise PublishRejectedError(f"credentials refused: {exc}") from exc

    async def close(self) -> None:
        self._service.close()

    # -- the upload loop ---------------------------------------------------------------------

    async def _upload(self, upload: Upload, size: int) -> dict[str, Any]:
        key = upload.idempotency_key
        with upload.video_path.open("rb") as stream:
            request: Any = None
            failures = 0
            while True:
                try:
                    if request is None:
                        request, video = await self._prepare(upload, stream, size)
                        if video is not None:
                            return video
                    http = SessionRecordingHttp(
                        self._http(), lambda uri: self._ledger.set_session(key, uri)
                    )
                    _, video = await asyncio.to_thread(_next_chunk, request, http)
                    if video is not None:
                        return dict(video)
                    await asyncio.to_thread(
                        self._ledger.set_progress, key, request.resumable_progress
                    )
                    failures = 0
                except _Failure as exc:
                    if exc.verdict == "reject":
                        _, message = error_reason(exc.content)
                        raise PublishRejectedError(
                            f"YouTube refused the upload of {key}: {exc.status} {message}"
                        ) from exc
                    if exc.verdict == "retry":
                        failures = await self._back_off(failures, exc)
                        continue  # the client is in error state: it asks the server first
                    if exc.verdict == "quota":
                        await self._sleep_until(await asyncio.to_thread(self._quota.exhaust))
                    # quota or gone: prepare again from the ledger (resume, recall or reopen).
                    request = None
                except TRANSPORT_ERRORS as exc:
                    failures = await self._back_off(failures, exc)
                except google.auth.exceptions.RefreshError as exc:
                    if not getattr(exc, "retryable", False):
                        raise PublishRejectedError(f"credentials refused: {exc}") from exc
                    failures = await self._back_off(failures, exc)

    async def _prepare(
        self, upload: Upload, stream: io.BufferedReader, size: int
    ) -> tuple[Any, dict[str, Any] | None]:
        """A request positioned where the server stands, or the finished video."""
        key = upload.idempotency_key
        media = MediaIoBaseUpload(
            stream, mimetype="video/mp4", chunksize=self._chunk_size, resumable=True
        )
        request = self._service.videos().insert(
            part="snippet,status", body=video_resource(upload), media_body=media
        )
        entry = await asyncio.to_thread(self._ledger.get, key)
        if entry is not None and entry.session_uri:
            try:
                status = await asyncio.to_thread(
                    query_session, self._http(), entry.session_uri, size
                )
            except StatusQueryError as exc:
                raise _Failure(exc.status, exc.content, in_session=True) from exc
            except SessionGoneError:
                found = await self._find_uploaded(key)
                if found is not None:
                    return None, found
                await asyncio.to_thread(self._ledger.forget_session, key)
            else:
                if status.video is not None:
                    return None, status.video
                request.resumable_uri = entry.session_uri
                request.resumable_progress = status.next_byte
                return request, None
        # A new session: videos.insert is charged when it is opened.
        while resume_at := await asyncio.to_thread(self._quota.reserve, VIDEOS_INSERT_UNITS):
            await self._sleep_until(resume_at)
        return request, None

    async def _find_uploaded(self, key: str) -> dict[str, Any] | None:
        """A video of the channel whose description ends with the key line, among the latest
        uploads. Residual risk: a video still processing may be missing from the uploads
        playlist for a while, so the ledger remains the primary record."""
        channels = await self._execute(
            self._service.channels().list(part="contentDetails", mine=True)
        )
        items = channels.get("items") or []
        if not items:
            return None
        playlist = items[0]["contentDetails"]["relatedPlaylists"]["uploads"]
        page = await self._execute(
            self._service.playlistItems().list(
                part="snippet", playlistId=playlist, maxResults=RECENT_UPLOADS
            )
        )
        wanted = key_line(key)
        for item in page.get("items") or []:
            snippet = item.get("snippet", {})
            lines = str(snippet.get("description", "")).rstrip().splitlines()
            if lines and lines[-1].strip() == wanted:
                video_id = snippet["resourceId"]["videoId"]
                return {"id": video_id, "snippet": {"publishedAt": snippet.get("publishedAt")}}
        return None

    async def _execute(self, request: Any) -> dict[str, Any]:
        await asyncio.to_thread(self._quota.record, LIST_UNITS)
        try:
            result = await asyncio.to_thread(request.execute, http=self._http())
        except HttpError as exc:
            raise _Failure(exc.resp.status, exc.content, in_session=False) from exc
        return dict(result)

    # -- waiting -----------------------------------------------------------------------------

    async def _back_off(self, failures: int, exc: Exception) -> int:
        if failures >= self._max_retries:
            raise PublishUnavailableError(
                f"YouTube still failing after {failures} retries: {exc}"
            ) from exc
        await self._sleep(min(MAX_BACKOFF_S, 2.0**failures))
        return failures + 1

    async def _sleep_until(self, instant: datetime) -> None:
        await self._sleep(max(0.0, (instant - self._quota.clock()).total_seconds()))

    # -- helpers -----------------------------------------------------------------------------

    def _http(self) -> Any:
        # One transport per step: httplib2 is not thread-safe, and steps run in worker threads.
        return authorized_http(self._credentials, self._timeout_s)

    def _published_at(self, video: dict[str, Any]) -> datetime:
        stamp = (video.get("snippet") or {}).get("publishedAt")
        if stamp:
            return datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).astimezone(UTC)
        return self._quota.clock().astimezone(UTC)

    def _published(self, video_id: str, published_at: datetime, *, reused: bool) -> Published:
        return Published(
            video_id=video_id,
            url=f"https://www.youtube.com/shorts/{video_id}",
            published_at=published_at.astimezone(UTC),
            platform=self.platform,
            simulated=False,
            reused=reused,
        )


def _next_chunk(request: Any, http: Any) -> tuple[Any, Any]:
    """One step of the client's resumable upload (runs in a worker thread)."""
    try:
        return request.next_chunk(http=http, num_retries=0)  # type: ignore[no-any-return]
    except HttpError as exc:
        raise _Failure(
            exc.resp.status, exc.content, in_session=request.resumable_uri is not None
        ) from exc
