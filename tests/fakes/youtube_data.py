"""A local server speaking the slice of the YouTube Data API v3 that the publisher uses, as the
real google client sends it: the OAuth token endpoint, the resumable upload protocol (session
opening, chunk PUTs with ``Content-Range``, ``bytes */total`` status queries, 308 + ``Range``),
videos.list, channels.list, playlistItems.list, and captions.insert (multipart/related: the
JSON snippet, then the caption file) with captions.list.

Written from the protocol, independent of ``connectors.youtube``. Fault knobs: failing chunk PUTs,
one ``quotaExceeded``, forgotten sessions, and holds (a chunk PUT or the final answer waits on
``release``) so a test can kill the client at a known point without sleeping; failing caption
inserts, and caption inserts whose track is created but whose answer is lost (a 503 after it).
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import hashlib
import json
import re
import secrets
import threading
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

CHANNEL_ID = "UCmunjeroFakeChannel000"
UPLOADS_PLAYLIST = "UUmunjeroFakeChannel000"
_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
_STATUS_QUERY = re.compile(r"bytes \*/(\d+|\*)")
HOLD_TIMEOUT_S = 60


@dataclass
class UploadSession:
    id: str
    metadata: dict[str, Any]
    total: int | None
    data: bytearray = field(default_factory=bytearray)
    # Every chunk the server stored, as (first, last) byte offsets, in arrival order.
    chunks: list[tuple[int, int]] = field(default_factory=list)
    status_queries: int = 0
    bytes_received: int = 0  # stored chunk bytes, duplicates included
    video_id: str | None = None


@dataclass
class CaptionTrack:
    id: str
    video_id: str
    language: str
    name: str
    is_draft: bool
    body: bytes  # the caption file as received
    media_type: str  # the Content-Type of the file's part


@dataclass
class FakeYouTube:
    client_id: str
    client_secret: str
    refresh_token: str
    tokens: set[str] = field(default_factory=set)
    sessions: dict[str, UploadSession] = field(default_factory=dict)
    videos: dict[str, dict[str, Any]] = field(default_factory=dict)
    video_bytes: dict[str, bytes] = field(default_factory=dict)
    # (method, path, upload_id or "", Content-Range or "") of every API request, in order.
    requests: list[tuple[str, str, str, str]] = field(default_factory=list)
    # Statuses for the next chunk PUTs, in order; 0 lets that PUT through.
    fail_chunks: list[int] = field(default_factory=list)
    quota_exceeded: int = 0  # session openings still to refuse with quotaExceeded
    hold_after_chunks: int | None = None  # a session's next chunk PUT past this many waits
    hold_completion: bool = False  # the final chunk's answer waits (the video already exists)
    captions: dict[str, CaptionTrack] = field(default_factory=dict)
    # Statuses for the next captions.insert requests, in order; 0 lets that one through.
    fail_captions: list[int] = field(default_factory=list)
    lose_caption_answers: int = 0  # inserts still to create the track, then answer 503
    held: threading.Event = field(default_factory=threading.Event)
    chunk_stored: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def reset(self) -> None:
        self.tokens.clear()
        self.sessions.clear()
        self.videos.clear()
        self.video_bytes.clear()
        self.requests.clear()
        self.fail_chunks.clear()
        self.quota_exceeded = 0
        self.hold_after_chunks = None
        self.hold_completion = False
        self.captions.clear()
        self.fail_captions.clear()
        self.lose_caption_answers = 0
        for event in (self.held, self.chunk_stored, self.release):
            event.clear()

    def drop_sessions(self) -> None:
        """Forget every open session (as Google does after a week): PUTs to them get 404."""
        self.sessions.clear()

    def sha256(self, video_id: str) -> str:
        return hashlib.sha256(self.video_bytes[video_id]).hexdigest()


def google_error(code: int, reason: str, message: str) -> JSONResponse:
    return JSONResponse(
        {
            "error": {
                "code": code,
                "message": message,
                "errors": [{"message": message, "domain": "youtube.api", "reason": reason}],
            }
        },
        status_code=code,
    )


def related_parts(content_type: str, body: bytes) -> tuple[dict[str, Any], str, bytes]:
    """(JSON metadata, media Content-Type, media bytes) of a ``multipart/related`` upload."""
    if not content_type.startswith("multipart/related"):
        raise ValueError(f"expected multipart/related, got {content_type!r}")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    parts = list(message.iter_parts())
    if len(parts) != 2 or parts[0].get_content_type() != "application/json":
        raise ValueError("expected the JSON metadata part, then the media part")
    raw, media = (part.get_payload(decode=True) for part in parts)
    if not isinstance(raw, bytes) or not isinstance(media, bytes):
        raise ValueError("undecodable parts")
    metadata = json.loads(raw)
    if not isinstance(metadata, dict):
        raise ValueError("the metadata part is not a JSON object")
    return metadata, parts[1].get_content_type(), media


def caption_resource(track: CaptionTrack) -> dict[str, Any]:
    return {
        "kind": "youtube#caption",
        "id": track.id,
        "snippet": {
            "videoId": track.video_id,
            "language": track.language,
            "name": track.name,
            "isDraft": track.is_draft,
            "trackKind": "standard",
            "status": "serving",
        },
    }


def build_app(fake: FakeYouTube) -> FastAPI:
    app = FastAPI()

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/token")
    async def token(request: Request) -> Response:
        form = urllib.parse.parse_qs((await request.body()).decode())
        given = {name: values[0] for name, values in form.items()}
        if given.get("grant_type") != "refresh_token" or (
            given.get("client_id"),
            given.get("client_secret"),
            given.get("refresh_token"),
        ) != (fake.client_id, fake.client_secret, fake.refresh_token):
            return JSONResponse(
                {"error": "invalid_grant", "error_description": "Bad Request"}, status_code=400
            )
        access = f"ya29.{secrets.token_urlsafe(16)}"
        fake.tokens.add(access)
        return JSONResponse({"access_token": access, "expires_in": 3599, "token_type": "Bearer"})

    def unauthorized(request: Request) -> Response | None:
        upload_id = request.query_params.get("upload_id", "")
        fake.requests.append(
            (
                request.method,
                request.url.path,
                upload_id,
                request.headers.get("content-range", ""),
            )
        )
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme != "Bearer" or value not in fake.tokens:
            return google_error(401, "authError", "Invalid Credentials")
        return None

    @app.post("/upload/youtube/v3/videos")
    async def open_session(request: Request) -> Response:
        refusal = unauthorized(request)
        if refusal is not None:
            return refusal
        if request.query_params.get("uploadType") != "resumable":
            return google_error(400, "badRequest", "this fake speaks resumable uploads only")
        if fake.quota_exceeded:
            fake.quota_exceeded -= 1
            return google_error(
                403, "quotaExceeded", "The request cannot be completed: quota exceeded."
            )
        metadata = await request.json()
        declared = request.headers.get("x-upload-content-length")
        session = UploadSession(
            id=secrets.token_urlsafe(12),
            metadata={"part": request.query_params.get("part", ""), "body": metadata},
            total=int(declared) if declared else None,
        )
        fake.sessions[session.id] = session
        location = f"{request.base_url}upload/youtube/v3/videos?" + urllib.parse.urlencode(
            {"uploadType": "resumable", "upload_id": session.id}
        )
        return Response(status_code=200, headers={"Location": location})

    def incomplete(session: UploadSession) -> Response:
        headers = {"Range": f"bytes=0-{len(session.data) - 1}"} if session.data else {}
        return Response(status_code=308, headers=headers)

    def create_video(session: UploadSession) -> dict[str, Any]:
        video_id = secrets.token_urlsafe(8)[:11]
        body = session.metadata["body"]
        snippet = dict(body.get("snippet", {}))
        snippet.update(
            publishedAt=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), channelId=CHANNEL_ID
        )
        status = {"uploadStatus": "uploaded", **body.get("status", {})}
        video = {"kind": "youtube#video", "id": video_id, "snippet": snippet, "status": status}
        fake.videos[video_id] = video
        fake.video_bytes[video_id] = bytes(session.data)
        session.video_id = video_id
        return video

    @app.put("/upload/youtube/v3/videos")
    async def put_chunk(request: Request) -> Response:
        refusal = unauthorized(request)
        if refusal is not None:
            return refusal
        session = fake.sessions.get(request.query_params.get("upload_id", ""))
        if session is None:
            return google_error(404, "notFound", "The upload session was not found.")
        content_range = request.headers.get("content-range", "")
        if _STATUS_QUERY.fullmatch(content_range):
            session.status_queries += 1
            if session.video_id is not None:
                return JSONResponse(fake.videos[session.video_id], status_code=200)
            return incomplete(session)
        match = _RANGE.fullmatch(content_range)
        if match is None:
            return google_error(400, "badRequest", f"bad Content-Range {content_range!r}")
        if fake.hold_after_chunks is not None and len(session.chunks) >= fake.hold_after_chunks:
            # The client is mid-chunk; the test kills it now. Nothing of this chunk is kept.
            fake.held.set()
            await asyncio.to_thread(fake.release.wait, HOLD_TIMEOUT_S)
            return google_error(503, "backendError", "held chunk dropped")
        body = await request.body()
        code = fake.fail_chunks.pop(0) if fake.fail_chunks else 0
        if code:
            return google_error(code, "backendError", f"scripted failure {code}")
        first, last = int(match[1]), int(match[2])
        total = None if match[3] == "*" else int(match[3])
        if len(body) != last - first + 1 or first > len(session.data):
            return google_error(400, "badRequest", "chunk does not continue the upload")
        session.data[first:] = body  # an overlap rewrites from `first`, as a resend would
        session.chunks.append((first, last))
        session.bytes_received += len(body)
        session.total = total or session.total
        fake.chunk_stored.set()
        if session.total is None or len(session.data) < session.total:
            return incomplete(session)
        video = create_video(session)
        if fake.hold_completion:
            fake.held.set()
            await asyncio.to_thread(fake.release.wait, HOLD_TIMEOUT_S)
        return JSONResponse(video, status_code=200)

    @app.post("/upload/youtube/v3/captions")
    async def insert_caption(request: Request) -> Response:
        refusal = unauthorized(request)
        if refusal is not None:
            return refusal
        if request.query_params.get("uploadType") != "multipart":
            return google_error(400, "badRequest", "this fake speaks multipart caption uploads")
        if "snippet" not in request.query_params.get("part", "").split(","):
            return google_error(400, "missingRequiredParameter", "part=snippet is required")
        code = fake.fail_captions.pop(0) if fake.fail_captions else 0
        if code:
            return google_error(code, "backendError" if code >= 500 else "forbidden",
                                f"scripted caption failure {code}")  # fmt: skip
        try:
            metadata, media_type, body = related_parts(
                request.headers.get("content-type", ""), await request.body()
            )
            snippet = metadata["snippet"]
            video_id, language, name = snippet["videoId"], snippet["language"], snippet["name"]
        except (ValueError, KeyError, TypeError) as exc:
            return google_error(400, "invalidMetadata", f"bad caption request: {exc}")
        if video_id not in fake.videos:
            return google_error(404, "videoNotFound", "The video could not be found.")
        if not body.strip():
            return google_error(400, "invalidCaption", "The caption track is empty.")
        track = CaptionTrack(
            id=secrets.token_urlsafe(12), video_id=video_id, language=language, name=name,
            is_draft=bool(snippet.get("isDraft", False)), body=body, media_type=media_type,
        )  # fmt: skip
        fake.captions[track.id] = track
        if fake.lose_caption_answers:
            fake.lose_caption_answers -= 1
            return google_error(503, "backendError", "the answer was lost on the way back")
        return JSONResponse(caption_resource(track))

    @app.get("/youtube/v3/captions")
    def captions_list(request: Request, videoId: str = "", part: str = "") -> Response:
        refusal = unauthorized(request)
        if refusal is not None:
            return refusal
        if videoId not in fake.videos:
            return google_error(404, "videoNotFound", "The video could not be found.")
        items = [caption_resource(t) for t in fake.captions.values() if t.video_id == videoId]
        return JSONResponse({"kind": "youtube#captionListResponse", "items": items})

    @app.get("/youtube/v3/videos")
    def videos_list(request: Request, id: str = "", part: str = "") -> Response:
        refusal = unauthorized(request)
        if refusal is not None:
            return refusal
        wanted = [v for v in id.split(",") if v]
        items = [fake.videos[v] for v in wanted if v in fake.videos]
        return JSONResponse({"kind": "youtube#videoListResponse", "items": items})

    @app.get("/youtube/v3/channels")
    def channels_list(request: Request, mine: bool = False, part: str = "") -> Response:
        refusal = unauthorized(request)
        if refusal is not None:
            return refusal
        if not mine:
            return google_error(400, "missingRequiredParameter", "this fake answers mine=true")
        channel: dict[str, Any] = {"kind": "youtube#channel", "id": CHANNEL_ID}
        if "contentDetails" in part.split(","):
            channel["contentDetails"] = {"relatedPlaylists": {"uploads": UPLOADS_PLAYLIST}}
        return JSONResponse({"kind": "youtube#channelListResponse", "items": [channel]})

    @app.get("/youtube/v3/playlistItems")
    def playlist_items(request: Request, playlistId: str = "", maxResults: int = 5) -> Response:
        refusal = unauthorized(request)
        if refusal is not None:
            return refusal
        if playlistId != UPLOADS_PLAYLIST:
            return google_error(404, "playlistNotFound", "playlist not found")
        newest_first = list(reversed(fake.videos.values()))[:maxResults]
        items = [
            {
                "kind": "youtube#playlistItem",
                "snippet": {
                    "publishedAt": video["snippet"]["publishedAt"],
                    "title": video["snippet"].get("title", ""),
                    "description": video["snippet"].get("description", ""),
                    "resourceId": {"kind": "youtube#video", "videoId": video["id"]},
                },
            }
            for video in newest_first
        ]
        return JSONResponse({"kind": "youtube#playlistItemListResponse", "items": items})

    return app
