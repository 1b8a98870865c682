"""HTTP-level pieces of a resumable upload that the google client does not expose: recording the
session URI the moment it exists, asking the server where a session stands, and reading Google's
error bodies."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import google.auth.exceptions
import google_auth_httplib2
import httplib2
from google.oauth2.credentials import Credentials
from googleapiclient.http import build_http

Verdict = Literal["quota", "retry", "gone", "reject"]

# What a network or token-transport failure raises: transient for every YouTube call.
TRANSPORT_ERRORS: tuple[type[Exception], ...] = (
    httplib2.HttpLib2Error,
    OSError,
    google.auth.exceptions.TransportError,
)
_RATE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
_QUOTA_REASONS = frozenset({"quotaExceeded", "dailyLimitExceeded"})


def authorized_http(credentials: Credentials, timeout_s: float) -> Any:
    """A fresh authorized transport. ``build_http`` matters: it removes 308 from httplib2's
    redirect codes, without which httplib2 would treat "308 Resume Incomplete" as a redirect."""
    http = build_http()
    http.timeout = timeout_s
    return google_auth_httplib2.AuthorizedHttp(credentials, http=http)


class SessionRecordingHttp:
    """Forwards to an authorized http, and reports the session URI of a resumable upload as soon
    as the server hands it out. ``next_chunk`` opens the session and sends the first chunk in one
    call; recording in between is what lets a process killed during that first chunk (or a
    one-chunk file) resume the session instead of opening a second one."""

    def __init__(self, http: Any, on_session: Callable[[str], None]) -> None:
        self._http = http
        self._on_session = on_session

    def request(self, uri: str, method: str = "GET", **kwargs: Any) -> tuple[Any, bytes]:
        resp, content = self._http.request(uri, method, **kwargs)
        if (
            method == "POST"
            and "uploadType=resumable" in uri
            and resp.status == 200
            and "location" in resp
        ):
            self._on_session(resp["location"])
        return resp, content


@dataclass(frozen=True)
class SessionStatus:
    """Where a resumable session stands: ``video`` once complete, else ``next_byte`` to send."""

    next_byte: int = 0
    video: dict[str, Any] | None = None


class SessionGoneError(Exception):
    """The server no longer knows the session (404/410: expired or never completed)."""


def parse_range(header: str | None) -> int:
    """The next byte to send after a 308 with ``Range: bytes=0-N`` (no header: nothing kept)."""
    if not header:
        return 0
    return int(header.rsplit("-", 1)[1]) + 1


def error_reason(content: bytes | str | None) -> tuple[str, str]:
    """(reason, message) of a Google JSON error body; empty strings when it is not one."""
    try:
        error = json.loads(content or b"{}")["error"]
        errors = error.get("errors") or [{}]
        return str(errors[0].get("reason", "")), str(error.get("message", ""))
    except (ValueError, KeyError, TypeError, AttributeError):
        text = content.decode(errors="replace") if isinstance(content, bytes) else content
        return "", (text or "")[:500]


def verdict(status: int, content: bytes | str | None, *, in_session: bool) -> Verdict:
    """What to do about an error response. ``in_session``: it answered a PUT to a session URI,
    where 404/410 mean the session is gone rather than a bad request."""
    reason, _ = error_reason(content)
    if status == 403 and reason in _QUOTA_REASONS:
        return "quota"
    if status >= 500 or status in (408, 429) or (status == 403 and reason in _RATE_REASONS):
        return "retry"
    if in_session and status in (404, 410):
        return "gone"
    return "reject"


class StatusQueryError(Exception):
    def __init__(self, status: int, content: bytes) -> None:
        super().__init__(f"session status query answered {status}")
        self.status = status
        self.content = content


def query_session(http: Any, session_uri: str, size: int) -> SessionStatus:
    """``PUT <session>`` with ``Content-Range: bytes */size``: the resumable protocol's status
    query. 308 → resume from its Range; 200/201 → the upload completed (the video resource)."""
    resp, content = http.request(
        session_uri,
        "PUT",
        body=b"",
        headers={"Content-Range": f"bytes */{size}", "Content-Length": "0"},
    )
    if resp.status == 308:
        return SessionStatus(next_byte=parse_range(resp.get("range")))
    if resp.status in (200, 201):
        return SessionStatus(next_byte=size, video=json.loads(content))
    if resp.status in (404, 410):
        raise SessionGoneError(session_uri)
    raise StatusQueryError(resp.status, content)
