"""Who may see the dashboard: an API key in a header (scripts), or a browser session started by
logging in with a key that holds ``dashboard:read`` (see ``sessions.py`` for the cookie).

Routes:

* ``GET /dashboard/login``: the form (a password field for the key, a CSRF token);
* ``POST /dashboard/login``: checks the token and the key, sets the session cookie, redirects
  (303) to where the person was going;
* ``POST /dashboard/logout``: checks the session's CSRF token, clears the cookie.

A browser navigating to a dashboard page without a session is redirected to the login page;
any other client gets the API's 401 JSON, as before.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs, quote, urlsplit

from fastapi import FastAPI, Request
from jinja2 import Template
from starlette.responses import HTMLResponse, RedirectResponse, Response

from services.api.auth import DASHBOARD_READ, ApiKeyStore, Principal
from services.api.errors import ApiError, Forbidden, Unauthenticated, UnsupportedMediaType
from services.api.sessions import (
    LOGIN_CSRF_COOKIE,
    LOGIN_FORM_TTL,
    SESSION_COOKIE,
    Session,
    SessionSigner,
    cookie_attributes,
    new_login_token,
    same_token,
)

LOGIN_PATH = "/dashboard/login"
LOGOUT_PATH = "/dashboard/logout"
HOME = "/dashboard"
FORM = "application/x-www-form-urlencoded"
_LOOPBACK_NAMES = {"localhost"}


class LoginRequired(ApiError):
    """A browser without a (valid) session: send it to the login page."""

    status = 303
    code = "login_required"

    def __init__(self, target: str, *, clear_session: bool) -> None:
        headers = {"Location": f"{LOGIN_PATH}?next={quote(target, safe='/')}"}
        if clear_session:
            headers["Set-Cookie"] = _expired_cookie(SESSION_COOKIE)
        super().__init__("log in to see the dashboard", headers=headers)


def _expired_cookie(name: str) -> str:
    return f"{name}=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Strict"


def safe_next(value: str | None) -> str:
    """Where to go after logging in: a dashboard path of this site, never another origin."""
    if not value or not value.startswith(HOME) or "\\" in value or value.startswith("//"):
        return HOME
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not parts.path.startswith(HOME):
        return HOME
    return value


def _wants_html(request: Request) -> bool:
    return request.method == "GET" and "text/html" in request.headers.get("accept", "")


def _keeps_secure_cookies(request: Request) -> bool:
    """Whether a browser will store a Secure cookie from this page: https, or a loopback host
    (a secure context for browsers even over http)."""
    if request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https":
        return True
    host = (request.url.hostname or "").strip("[]")
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class DashboardAuth:
    """The dashboard's gate: header keys for scripts, signed sessions for browsers."""

    keys: ApiKeyStore
    signer: SessionSigner

    def authorize(self, request: Request) -> Principal:
        """The caller, holding ``dashboard:read``; else 401/403 (or a redirect to the login
        page for a browser navigation)."""
        headers = request.headers
        authorization = headers.get("authorization")
        credential = headers.get("x-api-key") or authorization
        if authorization is not None and authorization[:7].lower() == "bearer ":
            credential = authorization
        if credential:
            principal = self.keys.authenticate(credential)
        else:
            principal = self._from_session(request)
        principal.require(DASHBOARD_READ)
        return principal

    def session(self, request: Request) -> Session | None:
        return self.signer.verify(request.cookies.get(SESSION_COOKIE))

    def _from_session(self, request: Request) -> Principal:
        cookie = request.cookies.get(SESSION_COOKIE)
        session = self.signer.verify(cookie)
        try:
            if session is None:
                raise Unauthenticated(
                    f"missing API key: send 'Authorization: Bearer <key>' or log in at {LOGIN_PATH}"
                )
            # The key is looked up on every request: revoking it ends the session now.
            return self.keys.principal(session.key_id)
        except Unauthenticated:
            if _wants_html(request):
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                raise LoginRequired(target, clear_session=cookie is not None) from None
            raise


def login_routes(app: FastAPI, auth: DashboardAuth, page: Template) -> None:
    """Register the login and logout routes (outside the OpenAPI document, like the pages)."""

    def form(request: Request, status: int, message: str = "", next_path: str = HOME) -> Response:
        token = new_login_token()
        html = page.render(
            message=message,
            csrf=token,
            next=next_path,
            insecure=not _keeps_secure_cookies(request),
        )
        response = HTMLResponse(html, status_code=status, headers=HTML_HEADERS)
        response.set_cookie(
            LOGIN_CSRF_COOKIE, token, **cookie_attributes(int(LOGIN_FORM_TTL.total_seconds()))
        )
        return response

    @app.get(LOGIN_PATH, include_in_schema=False)
    async def login_page(request: Request, next: str | None = None) -> Response:
        target = safe_next(next)
        session = auth.session(request)
        if session is not None:
            try:
                auth.keys.principal(session.key_id).require(DASHBOARD_READ)
            except (Unauthenticated, Forbidden):
                pass
            else:
                return RedirectResponse(target, status_code=303)
        return form(request, 200, next_path=target)

    @app.post(LOGIN_PATH, include_in_schema=False)
    async def login(request: Request) -> Response:
        fields = await _form(request)
        target = safe_next(fields.get("next"))
        if not _same_origin(request):
            raise Forbidden("cross-site login refused")
        if not same_token(request.cookies.get(LOGIN_CSRF_COOKIE), fields.get("csrf")):
            return form(request, 403, "The form expired or came from elsewhere: try again.", target)
        try:
            principal = auth.keys.authenticate(fields.get("key", "").strip())
            principal.require(DASHBOARD_READ)
        except Unauthenticated:
            message = "That key is not valid: mistyped, revoked or expired."
            return form(request, 401, message, target)
        except Forbidden:
            return form(request, 403, "That key lacks the dashboard:read scope.", target)
        value, _ = auth.signer.issue(principal.key_id, principal.expires_at)
        response = RedirectResponse(target, status_code=303, headers=HTML_HEADERS)
        max_age = int(auth.signer.ttl.total_seconds())
        response.set_cookie(SESSION_COOKIE, value, **cookie_attributes(max_age))
        response.delete_cookie(LOGIN_CSRF_COOKIE, path="/", secure=True, httponly=True,
                               samesite="strict")  # fmt: skip
        return response

    @app.post(LOGOUT_PATH, include_in_schema=False)
    async def logout(request: Request) -> Response:
        fields = await _form(request)
        if not _same_origin(request):
            raise Forbidden("cross-site logout refused")
        session = auth.session(request)
        if session is not None and not auth.signer.check_csrf(session, fields.get("csrf")):
            raise Forbidden("logout needs the form's token")
        response = RedirectResponse(f"{LOGIN_PATH}?logged_out=1", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True,
                               samesite="strict")  # fmt: skip
        return response


HTML_HEADERS = {
    # No script at all; forms may only post here; no page may frame this one (clickjacking).
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    # same-origin, not no-referrer: with no-referrer a browser sends "Origin: null" on the
    # login and logout forms, and the origin check could not tell this site from another.
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


async def _form(request: Request) -> Mapping[str, str]:
    """The fields of an urlencoded form (first value of each)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != FORM:
        raise UnsupportedMediaType(f"send the form as {FORM}")
    parsed = parse_qs((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
    return {name: values[0] for name, values in parsed.items()}


def _same_origin(request: Request) -> bool:
    """A form post must come from this site when the browser says where it came from (it
    always does for POST); SameSite=Strict and the token are the other two locks."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    parts = urlsplit(origin)
    return parts.netloc == request.headers.get("host", "")
