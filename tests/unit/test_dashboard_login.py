"""Dashboard login over ASGI: the redirect to the login page, the cookie's attributes, CSRF on
both forms, logout, and sessions that end with their key (the browser test is
tests/integration/test_dashboard_page.py)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.api.auth import ApiKeyStore, key_id_of
from services.api.dashboard import DashboardDeps, dashboard_routes
from services.api.dashboard_login import safe_next
from services.api.errors import install_error_handlers
from services.api.sessions import SESSION_COOKIE, SessionSigner

HTML = {"Accept": "text/html,application/xhtml+xml"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class EmptyWarehouse:
    """Every query answers no rows: the page renders its empty state."""

    async def query(self, sql: str, params: Any = None) -> list[dict[str, Any]]:
        return []


@dataclass
class Site:
    client: httpx.AsyncClient
    keys: ApiKeyStore
    key: str  # dashboard:read
    reader: str  # problems:read only


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    keys = ApiKeyStore.load(tmp_path / "keys.json")
    app = FastAPI()
    install_error_handlers(app)
    deps = DashboardDeps(warehouse=EmptyWarehouse(), database="munjero",  # type: ignore[arg-type]
                         session_secret=b"s" * 32)  # fmt: skip
    dashboard_routes(app, deps, keys)
    # https: httpx's cookie jar, like a browser, sends Secure cookies only over a secure channel.
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://dash") as client:
        yield Site(
            client,
            keys,
            keys.create_key("ops", ["dashboard:read"]),
            keys.create_key("importer", ["problems:read"]),
        )


def _hidden(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found is not None, f"no {name} field"
    return found.group(1)


async def _log_in(site: Site, key: str, next_path: str = "/dashboard") -> httpx.Response:
    page = await site.client.get("/dashboard/login", params={"next": next_path}, headers=HTML)
    assert page.status_code == 200
    return await site.client.post(
        "/dashboard/login",
        data={"csrf": _hidden(page.text, "csrf"), "next": next_path, "key": key},
        headers=FORM,
    )


def _set_cookie(response: httpx.Response, name: str) -> str:
    (header,) = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}=")]
    return header


async def test_a_browser_without_a_session_is_sent_to_the_login_page(site: Site) -> None:
    r = await site.client.get("/dashboard?since=2026-01-01", headers=HTML)
    assert r.status_code == 303
    assert r.headers["location"] == "/dashboard/login?next=/dashboard%3Fsince%3D2026-01-01"
    # Scripts keep the API's answer.
    script = await site.client.get("/dashboard/data")
    assert script.status_code == 401
    assert script.json()["code"] == "unauthorized"


async def test_login_sets_a_secure_httponly_strict_expiring_session(site: Site) -> None:
    page = await site.client.get("/dashboard/login", headers=HTML)
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    login_cookie = _set_cookie(page, "__Host-munjero_login").lower()
    assert {"secure", "httponly", "samesite=strict", "path=/"} <= {
        p.strip() for p in login_cookie.split(";")
    }
    r = await _log_in(site, site.key, "/dashboard/data?since=2026-01-01")
    assert r.status_code == 303
    assert r.headers["location"] == "/dashboard/data?since=2026-01-01"
    attributes = {p.strip() for p in _set_cookie(r, SESSION_COOKIE).lower().split(";")}
    assert {"secure", "httponly", "samesite=strict", "path=/", "max-age=28800"} <= attributes
    assert not any(a.startswith("domain") for a in attributes)  # __Host-: this host only
    assert site.key.split("_", 2)[2] not in _set_cookie(r, SESSION_COOKIE)  # no secret inside

    page = await site.client.get("/dashboard", headers=HTML)
    assert page.status_code == 200
    assert 'action="/dashboard/logout"' in page.text
    assert (await site.client.get("/dashboard/data")).status_code == 200


@pytest.mark.parametrize(
    ("key", "status", "message"),
    [("wrong", 401, "not valid"), ("reader", 403, "dashboard:read")],
)
async def test_a_wrong_or_unscoped_key_gets_the_form_again(
    site: Site, key: str, status: int, message: str
) -> None:
    r = await _log_in(site, site.reader if key == "reader" else "mj_0000_nope")
    assert r.status_code == status
    assert message in r.text
    assert SESSION_COOKIE not in r.headers.get("set-cookie", "")


async def test_login_needs_the_forms_token_and_this_site(site: Site) -> None:
    await site.client.get("/dashboard/login", headers=HTML)  # the token cookie is set
    forged = await site.client.post(
        "/dashboard/login", data={"csrf": "guess", "key": site.key}, headers=FORM
    )
    assert forged.status_code == 403
    assert SESSION_COOKIE not in forged.headers.get("set-cookie", "")
    page = await site.client.get("/dashboard/login", headers=HTML)
    fields = {"csrf": _hidden(page.text, "csrf"), "key": site.key}
    cross = await site.client.post(
        "/dashboard/login", data=fields, headers={**FORM, "Origin": "https://evil.example"}
    )
    assert cross.status_code == 403
    as_json = await site.client.post(
        "/dashboard/login", json=fields, headers={"Content-Type": "application/json"}
    )
    assert as_json.status_code == 415


async def test_logout_needs_its_token_and_ends_the_session(site: Site) -> None:
    await _log_in(site, site.key)
    page = await site.client.get("/dashboard", headers=HTML)
    token = _hidden(page.text, "csrf")
    forged = await site.client.post("/dashboard/logout", data={"csrf": "guess"}, headers=FORM)
    assert forged.status_code == 403
    r = await site.client.post("/dashboard/logout", data={"csrf": token}, headers=FORM)
    assert r.status_code == 303
    assert "max-age=0" in _set_cookie(r, SESSION_COOKIE).lower()
    assert (await site.client.get("/dashboard", headers=HTML)).status_code == 303


async def test_revoking_the_key_ends_its_sessions_at_once(site: Site) -> None:
    await _log_in(site, site.key)
    assert (await site.client.get("/dashboard", headers=HTML)).status_code == 200
    site.keys.revoke(key_id_of(site.key) or "")
    r = await site.client.get("/dashboard", headers=HTML)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/dashboard/login")
    assert "max-age=0" in _set_cookie(r, SESSION_COOKIE).lower()
    # The login page does not take a dead session for a live one.
    assert (await site.client.get("/dashboard/login", headers=HTML)).status_code == 200


async def test_the_bearer_header_still_works(site: Site) -> None:
    headers = {"Authorization": f"Bearer {site.key}"}
    assert (await site.client.get("/dashboard/data", headers=headers)).status_code == 200
    reader = {"Authorization": f"Bearer {site.reader}"}
    assert (await site.client.get("/dashboard/data", headers=reader)).status_code == 403


def test_a_session_cookie_cannot_be_forged_or_outlive_its_time() -> None:
    now = [datetime(2026, 12, 7, tzinfo=UTC)]
    signer = SessionSigner(b"k" * 32, clock=lambda: now[0])
    value, session = signer.issue("abc123")
    assert signer.verify(value) == session
    assert session.expires_at == now[0] + timedelta(hours=8)
    version, payload, mac = value.split(".")
    assert signer.verify(f"{version}.{payload}.{mac[:-2]}AA") is None
    assert SessionSigner(b"x" * 32).verify(value) is None  # another server's secret
    assert signer.verify(f"{version}.{payload[:-1]}.{mac}") is None
    now[0] += timedelta(hours=8)
    assert signer.verify(value) is None
    # Never past the key's own expiry.
    _, short = signer.issue("abc123", key_expires_at=now[0] + timedelta(minutes=5))
    assert short.expires_at == now[0] + timedelta(minutes=5)
    assert not signer.check_csrf(session, None)
    assert signer.check_csrf(session, signer.csrf_token(session))


@pytest.mark.parametrize(
    ("asked", "goes"),
    [
        ("/dashboard/shorts/x", "/dashboard/shorts/x"),
        ("//evil.example/dashboard", "/dashboard"),
        ("https://evil.example/dashboard", "/dashboard"),
        ("/dashboard\\@evil.example", "/dashboard"),
        ("/registry", "/dashboard"),
        (None, "/dashboard"),
    ],
)
def test_login_only_redirects_within_the_dashboard(asked: str | None, goes: str) -> None:
    assert safe_next(asked) == goes
