"""Dashboard sessions: a signed, expiring cookie naming the API key a person logged in with.

The cookie holds no secret of the key, only its public id, an expiry and a random nonce, signed
with HMAC-SHA256 under a server secret. Every request re-checks the key in the key store, so a
revoked or expired key ends its sessions at once; the session itself lasts at most
``SESSION_TTL`` and never past the key's own expiry.

Cookie attributes (``cookie_attributes``): ``HttpOnly`` (no script can read it; the pages have
none anyway), ``SameSite=Strict`` (never sent on a request another site starts: the first CSRF
defence), ``Secure`` and the ``__Host-`` prefix (only over a secure channel, only for this host,
path ``/``). Browsers count ``http://127.0.0.1`` and ``http://localhost`` as secure (measured in
chromium 156: Secure and ``__Host-`` cookies are stored and sent there), so the embedded default
needs no TLS and no weaker cookie; plain http to any other host cannot keep a session, and the
login page says so.

The second CSRF defence is a token on every form: the login form's is a random value also set
as a cookie (double submit: another site can neither read nor set it), the logout form's is
derived from the session's nonce.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from services.api.auth import write_private

SESSION_COOKIE = "__Host-munjero_session"
LOGIN_CSRF_COOKIE = "__Host-munjero_login"
SESSION_TTL = timedelta(hours=8)
LOGIN_FORM_TTL = timedelta(minutes=30)
_VERSION = "v1"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Session:
    key_id: str
    expires_at: datetime
    nonce: str


def cookie_attributes(max_age_s: int) -> dict[str, Any]:
    """``Response.set_cookie`` keyword arguments of every dashboard cookie."""
    return {
        "max_age": max_age_s,
        "path": "/",
        "secure": True,
        "httponly": True,
        "samesite": "strict",
    }


class SessionSigner:
    """Issues and verifies session cookies and CSRF tokens under one server secret."""

    def __init__(
        self,
        secret: bytes,
        *,
        ttl: timedelta = SESSION_TTL,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if len(secret) < 32:
            raise ValueError("the session secret needs at least 32 bytes")
        self._secret = secret
        self.ttl = ttl
        self._clock = clock

    def _mac(self, purpose: str, payload: bytes) -> bytes:
        return hmac.new(self._secret, purpose.encode() + b"\0" + payload, hashlib.sha256).digest()

    def issue(self, key_id: str, key_expires_at: datetime | None = None) -> tuple[str, Session]:
        """A cookie value for a session of ``key_id``, and the session it encodes."""
        expires = self._clock() + self.ttl
        if key_expires_at is not None:
            expires = min(expires, key_expires_at)
        session = Session(key_id, expires.replace(microsecond=0), secrets.token_urlsafe(16))
        payload = json.dumps(
            {"k": session.key_id, "e": int(session.expires_at.timestamp()), "n": session.nonce},
            separators=(",", ":"),
        ).encode()
        return f"{_VERSION}.{_b64(payload)}.{_b64(self._mac('session', payload))}", session

    def verify(self, value: str | None) -> Session | None:
        """The session of a cookie value, or None when it is missing, forged or expired."""
        if not value:
            return None
        version, _, rest = value.partition(".")
        encoded, _, mac = rest.partition(".")
        if version != _VERSION or not encoded or not mac:
            return None
        try:
            payload = _unb64(encoded)
            valid = hmac.compare_digest(_unb64(mac), self._mac("session", payload))
            data = json.loads(payload) if valid else None
            session = (
                Session(str(data["k"]), datetime.fromtimestamp(int(data["e"]), UTC), str(data["n"]))
                if data is not None
                else None
            )
        except (ValueError, KeyError, TypeError):  # binascii.Error is a ValueError
            return None
        if session is None or session.expires_at <= self._clock():
            return None
        return session

    def csrf_token(self, session: Session) -> str:
        """The token the session's forms carry (the logout button)."""
        return _b64(self._mac("csrf", session.nonce.encode()))

    def check_csrf(self, session: Session, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(str(token), self.csrf_token(session))


def new_login_token() -> str:
    """A random value for the login form and its double-submit cookie."""
    return secrets.token_urlsafe(24)


def same_token(cookie: str | None, form: str | None) -> bool:
    return bool(cookie) and bool(form) and hmac.compare_digest(str(cookie), str(form))


def load_or_create_secret(path: Path) -> bytes:
    """The session secret kept in ``path`` (0600), created on first use.

    One machine: every process of the factory reads the same file. Several API replicas must
    share a secret instead (``MUNJERO_DASHBOARD_SESSION_SECRET``), or a session signed by one
    replica is refused by another.
    """
    try:
        secret = path.read_bytes()
    except FileNotFoundError:
        secret = b""
    if len(secret) >= 32:
        return secret
    secret = secrets.token_bytes(32)
    write_private(path, secret)
    return secret
