"""The operator/analyst dashboard: server-rendered HTML and SVG, no JavaScript.

Routes (all need the ``dashboard:read`` scope, from an API key header or a login session; see
``dashboard_login.py``):

* ``GET /dashboard``: the page (``?since=YYYY-MM-DD``, default the last 30 days);
* ``GET /dashboard/data``: the same numbers as JSON;
* ``GET /dashboard/shorts/{short_id}``: a player page (video and storyboard);
* ``GET /dashboard/media/{short_id}/{video|storyboard}``: the short's artifact.

The page shows producer-supplied text (titles, ids), so templates autoescape, charts escape
their labels, and every HTML answer carries a CSP that allows no script at all: even an
escaping bug could not run code.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, TypeVar

from fastapi import FastAPI, Path, Request
from starlette.responses import HTMLResponse, Response

from services.api.auth import ApiKeyStore
from services.api.dashboard_data import LagSource, snapshot
from services.api.dashboard_login import DashboardAuth, login_routes
from services.api.dashboard_media import Kind, artifact_response, artifact_uri
from services.api.dashboard_view import charts, environment
from services.api.errors import NotFound, ServiceUnavailable, json_response
from services.api.sessions import SessionSigner
from streams.errors import RetriableError
from streams.ports.artifacts import ArtifactStore
from streams.ports.warehouse import Warehouse

log = logging.getLogger(__name__)
T = TypeVar("T")

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; media-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
DEFAULT_DAYS = 30
SHORT_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
_SHORT_SQL = (
    "SELECT short_id, title, url, arm_id, experiment_id, latest_window, views, impressions, "
    "impressions_ctr, published_at FROM {db:Identifier}.short_performance "
    "WHERE short_id = {short:String} LIMIT 1"
)
_HTML_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    # same-origin, not no-referrer: with no-referrer a browser sends "Origin: null" on the
    # login and logout forms, and the origin check could not tell this site from another.
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",  # numbers change every few seconds; keys may be revoked
}


@dataclass
class DashboardDeps:
    """What the dashboard reads: the warehouse, consumer lag (optional: e.g. no admin access
    to the broker) and the artifact store (optional: without it media answers 404); the secret
    login sessions are signed with (None: a random one, so sessions end with the process)."""

    warehouse: Warehouse
    database: str
    lag: LagSource | None = None
    artifacts: ArtifactStore | None = None
    session_secret: bytes | None = None


async def _read(query: Awaitable[T]) -> T:
    try:
        return await query
    except RetriableError as exc:  # WarehouseError: the store is down, not the request
        log.warning("dashboard query failed: %s", exc)
        raise ServiceUnavailable("the warehouse is unavailable right now") from exc


def _since(value: date | None) -> date:
    return value or datetime.now(UTC).date() - timedelta(days=DEFAULT_DAYS)


def dashboard_routes(app: FastAPI, deps: DashboardDeps, keys: ApiKeyStore) -> DashboardAuth:
    """Register the dashboard and its login on ``app``; callers are checked against ``keys``.

    The routes stay out of the OpenAPI document: it describes the producer API, and this is
    an operator page.
    """
    secret = deps.session_secret or secrets.token_bytes(32)
    auth = DashboardAuth(keys, SessionSigner(secret))
    env = environment()
    page = env.get_template("dashboard.html.j2")
    player = env.get_template("dashboard_short.html.j2")
    login_routes(app, auth, env.get_template("dashboard_login.html.j2"))

    def logout_csrf(request: Request) -> str:
        """The logout button's token when the page is seen through a login session."""
        session = auth.session(request)
        return "" if session is None else auth.signer.csrf_token(session)

    @app.get("/dashboard", include_in_schema=False)
    async def dashboard_page(request: Request, since: date | None = None) -> Response:
        auth.authorize(request)
        data = await _read(snapshot(deps.warehouse, deps.database, _since(since), deps.lag))
        html = page.render(data=data, charts=charts(data), logout_csrf=logout_csrf(request))
        return HTMLResponse(html, headers=_HTML_HEADERS)

    @app.get("/dashboard/data", include_in_schema=False)
    async def dashboard_data(request: Request, since: date | None = None) -> Response:
        auth.authorize(request)
        data = await _read(snapshot(deps.warehouse, deps.database, _since(since), deps.lag))
        return json_response(200, data, {"Cache-Control": "no-store"})

    @app.get("/dashboard/shorts/{short_id}", include_in_schema=False)
    async def short_page(
        request: Request, short_id: Annotated[str, Path(pattern=SHORT_ID_PATTERN)]
    ) -> Response:
        auth.authorize(request)
        rows = await _read(
            deps.warehouse.query(_SHORT_SQL, {"db": deps.database, "short": short_id})
        )
        if not rows:
            raise NotFound(f"no short {short_id!r}")
        html = player.render(short=rows[0], logout_csrf=logout_csrf(request))
        return HTMLResponse(html, headers=_HTML_HEADERS)

    @app.get("/dashboard/media/{short_id}/{kind}", include_in_schema=False)
    async def short_media(
        request: Request,
        short_id: Annotated[str, Path(pattern=SHORT_ID_PATTERN)],
        kind: Kind,
    ) -> Response:
        auth.authorize(request)
        if deps.artifacts is None:
            raise NotFound("no artifact store is configured")
        uri = await _read(artifact_uri(deps.warehouse, deps.database, short_id, kind))
        key = None if uri is None else deps.artifacts.key_for_uri(uri)
        if key is None:
            raise NotFound(f"no {kind} of short {short_id!r} in the artifact store")
        try:
            response = await artifact_response(deps.artifacts, key)
        except RetriableError as exc:  # the store is unreachable, or the bytes were mid-swap
            log.warning("artifact %s unavailable: %s", key, exc)
            raise ServiceUnavailable(f"the {kind} is unavailable right now") from exc
        if response is None:
            raise NotFound(f"the {kind} of short {short_id!r} is not in the store (yet)")
        return response

    return auth
