"""The dashboard in a real browser: Debian chromium opens the page served over HTTP from events
loaded into chdb, and every number it shows equals the analysts' query run directly here. A
person gets in through the login page (no custom header), logs out, and loses the session when
the key is revoked."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import math
import subprocess
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from fastapi import FastAPI
from PIL import Image, ImageStat
from playwright.sync_api import Browser, Page, sync_playwright

from agents.experiments.stats import ArmCounts, beta_binomial
from connectors.artifacts.local import LocalArtifactStore
from connectors.browser.chromium import CHROMIUM, CHROMIUM_ARGS
from connectors.warehouse.chdb_adapter import ChdbWarehouse
from connectors.warehouse.schema import ensure_schema
from services.api.auth import ApiKeyStore, key_id_of
from services.api.dashboard import CSP, DashboardDeps, dashboard_routes
from services.api.errors import install_error_handlers, json_response
from services.api.sessions import SESSION_COOKIE
from streams import events
from tests import sample_events as samples
from tests.servers import serve_in_thread
from tests.warehouse_loader import Event, load_events
from warehouse import dashboards

pytestmark = pytest.mark.integration
T = TypeVar("T")
DB = "munjero"
SINCE = "2000-01-01"
HOSTILE = "<script>document.title='pwned'</script>"
PAGE_TITLE = "Munjero dashboard"
LAG = [("munjero-render", "scripts.drafted", 0, 42), ("munjero-sink", "shorts.published", 3, 0)]
WINDOWS = ("1h", "6h", "24h", "72h", "7d")


def _sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on a fresh loop in another thread: the sync Playwright API owns this
    thread's loop, and chdb's adapter is safe to call from any thread."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


@dataclass
class Site:
    url: str
    key: str
    reader_key: str
    keys: ApiKeyStore
    warehouse: ChdbWarehouse
    events: list[Event]
    media_short: str  # a short whose render and storyboard are in the store
    foreign_short: str  # a short whose render URI lies outside the store
    video: bytes


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True, timeout=60)


def _media(root: Path) -> tuple[Path, Path]:
    video, board = root / "short.mp4", root / "storyboard.jpg"
    _ffmpeg("-f", "lavfi", "-i", "testsrc=size=108x192:rate=30", "-t", "1", "-c:v", "libx264",
            "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(video))  # fmt: skip
    _ffmpeg("-f", "lavfi", "-i", "testsrc=size=108x192", "-frames:v", "1", str(board))
    return video, board


def _events(video_uri: str, board_uri: str) -> tuple[list[Event], str, str]:
    out: list[Event] = []
    for n, problem in enumerate(samples.PROBLEMS[:6]):
        out += samples.pipeline(problem, n, arms=3, windows=1 + n % 3)
    out.append(samples.step_failed("scripts.drafted", "scripts.drafted", "k1", b"\xff", 1))
    out.append(samples.step_failed("scripts.drafted", "scripts.drafted", "k2", b"\xfe", 2))
    shorts = [r for t, _, r in out if t == "shorts.published"]
    # Problem 2 has three windows, so its shorts rank among the top shorts the page lists.
    for short in shorts:
        if short["problem_id"].endswith("-2"):
            short["title"] = HOSTILE
    target = shorts[-1]
    render = next(
        r for t, _, r in out if t == "renders.completed" and r["script_id"] == target["script_id"]
    )
    # A re-render of the same script, later: the page must serve this one, not the first.
    rerender = copy.deepcopy(render)
    rerender["meta"]["event_id"] = events.derived_id(render["meta"]["event_id"], "again")
    rerender["meta"]["occurred_at"] += timedelta(days=1)
    rerender["uri"] = video_uri
    out.append(("renders.completed", "RenderCompleted", rerender))
    board_id = events.derived_id(render["meta"]["event_id"], "storyboard")
    board = {
        "meta": events.meta(event_id=board_id, correlation_id=board_id,
                            occurred_at=render["meta"]["occurred_at"]),
        "render_id": render["render_id"], "script_id": render["script_id"],
        "problem_id": render["problem_id"], "experiment_id": render["experiment_id"],
        "arm_id": render["arm_id"], "uri": board_uri, "sha256": "0" * 64, "scene_count": 4,
        "template_version": "quiz-v3",
    }  # fmt: skip
    out.append(("renders.storyboarded", "StoryboardReady", board))
    return out, target["short_id"], shorts[0]["short_id"]


async def _lag() -> list[tuple[str, str, int, int]]:
    return LAG


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("dashboard")
    video, board = _media(root)
    store = LocalArtifactStore(root / "artifacts")
    digest = hashlib.sha256(video.read_bytes()).hexdigest()
    stored_video = _sync(store.put_file(f"renders/{digest[:2]}/{digest}/short.mp4", video,
                                        content_type="video/mp4"))  # fmt: skip
    stored_board = _sync(store.put_file(f"storyboards/{digest[:2]}/{digest}/storyboard.jpg",
                                        board, content_type="image/jpeg"))  # fmt: skip
    loaded, media_short, foreign_short = _events(stored_video.uri, stored_board.uri)
    warehouse = ChdbWarehouse(str(root / "chdb"))

    async def load() -> None:
        await ensure_schema(warehouse, DB)
        await load_events(warehouse, loaded, DB)

    _sync(load())
    keys = ApiKeyStore.load(root / "keys.json")
    key = keys.create_key("ops", ["dashboard:read"])
    reader_key = keys.create_key("ops", ["problems:read"])
    app = FastAPI()
    install_error_handlers(app)
    deps = DashboardDeps(warehouse=warehouse, database=DB, lag=_lag, artifacts=store,
                         session_secret=b"dashboard-test-secret-of-32-bytes")  # fmt: skip
    dashboard_routes(app, deps, keys)

    @app.get("/healthz")
    async def healthz() -> Any:
        return json_response(200, {"status": "ok"})

    try:
        with serve_in_thread(app, health_path="/healthz", name="dashboard") as url:
            yield Site(url, key, reader_key, keys, warehouse, loaded, media_short,
                       foreign_short, video.read_bytes())  # fmt: skip
    finally:
        _sync(warehouse.close())


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Browser, site: Site) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1000, "height": 800})
    context.set_extra_http_headers({"Authorization": f"Bearer {site.key}"})
    try:
        yield context.new_page()
    finally:
        context.close()


# --- what the page must show, from the queries run directly -------------------------------------


def _wald(clicks: float, impressions: float) -> tuple[float, float]:
    p = clicks / impressions
    half = 1.959963984540054 * math.sqrt(p * (1 - p) / impressions)
    return max(0.0, p - half), min(1.0, p + half)


async def _expected(wh: ChdbWarehouse, loaded: list[Event]) -> dict[tuple[str, str], float]:
    async def run(name: str, **params: Any) -> list[dict[str, Any]]:
        return await dashboards.run(wh, name, DB, **params)

    out: dict[tuple[str, str], float] = {}
    for r in await run("daily_output", since=SINCE):
        out[("daily_output.n", f"{r['day']}|{r['step']}")] = r["n"]
    (funnel,) = await run("pipeline_funnel", since=SINCE)
    for field, value in funnel.items():
        out[(f"funnel.{field}", "")] = value
    for r in await run("failure_rate", since=SINCE):
        for field in ("failed", "attempted", "failure_rate"):
            out[(f"failure_rate.{field}", str(r["day"]))] = r[field]
    for r in await run("dead_letters"):
        key = f"{r['original_topic']}|{r['agent']}|{r['error_class']}"
        out[("dead_letters.letters", key)] = r["letters"]
    for group, topic, partition, lag in LAG:
        out[("consumer_lag.lag", f"{group}|{topic}|{partition}")] = lag
    for r in await run("top_shorts", limit=10):
        for field in ("views", "impressions", "impressions_ctr", "average_view_percentage"):
            out[(f"top_shorts.{field}", r["short_id"])] = r[field]
    # The largest window any metrics snapshot of the experiment reached, from the events.
    metrics = [rec for t, _, rec in loaded if t == "metrics.observed"]
    experiment = metrics[0]["experiment_id"]
    window = max((m["window"] for m in metrics), key=WINDOWS.index)
    rows = await run("experiment_arms", experiment=experiment, window=window)
    chances = beta_binomial(
        [ArmCounts(r["arm_id"], r["shorts"], r["clicks"], r["impressions"]) for r in rows]
    )
    for r in rows:
        key = f"{experiment}|{window}|{r['arm_id']}"
        low, high = _wald(r["clicks"], r["impressions"])
        for field, value in (("shorts", r["shorts"]), ("impressions", r["impressions"]),
                             ("clicks", r["clicks"]), ("ctr", r["pooled_ctr"]),
                             ("ctr_low", low), ("ctr_high", high),
                             ("chance_to_win", chances[r["arm_id"]][0])):  # fmt: skip
            out[(f"experiment.{field}", key)] = value
    return out


def _cells(page: Page) -> dict[tuple[str, str], str]:
    cells = page.eval_on_selector_all(
        "[data-metric]", "els => els.map(e => [e.dataset.metric, e.dataset.key, e.dataset.value])"
    )
    out = {(m, k): v for m, k, v in cells}
    assert len(out) == len(cells), "two cells claim the same metric and key"
    return out


# --- tests ---------------------------------------------------------------------------------------


def test_every_number_on_the_page_equals_its_query(page: Page, site: Site, tmp_path: Path) -> None:
    response = page.goto(f"{site.url}/dashboard?since={SINCE}")
    assert response is not None
    assert response.status == 200
    assert response.headers["content-security-policy"] == CSP
    expected = _sync(_expected(site.warehouse, site.events))
    shown = _cells(page)
    assert set(shown) == set(expected)
    for name, value in expected.items():
        assert float(shown[name]) == pytest.approx(value, rel=1e-12, abs=1e-12), name
    assert expected[("funnel.failed", "")] == 2  # the fixture is what the test thinks it is
    assert page.locator("svg").count() == 4  # daily output, funnel, failures, one experiment

    shot = tmp_path / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    stat = ImageStat.Stat(Image.open(shot).convert("L"))
    assert stat.stddev[0] > 10, "the screenshot is blank"


def test_json_has_the_same_numbers(site: Site) -> None:
    r = httpx.get(f"{site.url}/dashboard/data", params={"since": SINCE},
                  headers={"Authorization": f"Bearer {site.key}"})  # fmt: skip
    assert r.status_code == 200
    data = r.json()
    expected = _sync(_expected(site.warehouse, site.events))
    assert data["funnel"]["published"] == expected[("funnel.published", "")] == 18
    assert data["consumer_lag"] == [
        {"group": g, "topic": t, "partition": p, "lag": n} for g, t, p, n in LAG
    ]
    (experiment,) = data["experiments"]
    for arm in experiment["arms"]:
        key = f"{experiment['experiment_id']}|{experiment['window']}|{arm['arm_id']}"
        assert arm["chance_to_win"] == pytest.approx(expected[("experiment.chance_to_win", key)])


def test_top_shorts_link_to_a_player_that_plays(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/dashboard?since={SINCE}")
    hrefs = page.eval_on_selector_all("#top-shorts a", "as => as.map(a => a.getAttribute('href'))")
    assert hrefs
    assert all(h.startswith("/dashboard/shorts/") for h in hrefs)

    response = page.goto(f"{site.url}/dashboard/shorts/{site.media_short}")
    assert response is not None
    assert response.status == 200
    src = page.get_attribute("video", "src")
    assert src == f"/dashboard/media/{site.media_short}/video"
    media = page.request.get(f"{site.url}{src}")
    assert media.status == 200
    assert media.headers["content-type"] == "video/mp4"
    assert media.body() == site.video
    # The browser itself loads it through the CSP (media-src 'self') and decodes its header.
    page.wait_for_function("document.querySelector('video').readyState >= 1")
    page.wait_for_function("document.querySelector('img.storyboard').complete")
    width = page.eval_on_selector("img.storyboard", "img => img.naturalWidth")
    assert width == 108


def test_media_is_only_what_the_warehouse_points_to_inside_the_store(site: Site) -> None:
    auth = {"Authorization": f"Bearer {site.key}"}
    base = f"{site.url}/dashboard/media"
    # Its render URI (file:///renders/...) is outside the store: never served.
    assert httpx.get(f"{base}/{site.foreign_short}/video", headers=auth).status_code == 404
    assert httpx.get(f"{base}/no-such-short/video", headers=auth).status_code == 404
    assert httpx.get(f"{base}/{site.media_short}/manifest", headers=auth).status_code == 422
    assert httpx.get(f"{base}/..%2F..%2Fetc%2Fpasswd/video", headers=auth).status_code in (
        404,
        422,
    )
    board = httpx.get(f"{base}/{site.media_short}/storyboard", headers=auth)
    assert board.status_code == 200
    assert board.headers["content-type"] == "image/jpeg"


@pytest.mark.parametrize(
    "path",
    [
        "/dashboard",
        "/dashboard/data",
        "/dashboard/shorts/x",
        "/dashboard/media/x/video",
    ],
)
def test_keys_and_scopes_are_required(site: Site, path: str) -> None:
    assert httpx.get(f"{site.url}{path}").status_code == 401
    wrong = httpx.get(f"{site.url}{path}", headers={"Authorization": f"Bearer {site.reader_key}"})
    assert wrong.status_code == 403
    assert wrong.json()["code"] == "forbidden"


def test_hostile_titles_are_shown_as_text_and_never_run(page: Page, site: Site) -> None:
    raw = httpx.get(f"{site.url}/dashboard", params={"since": SINCE},
                    headers={"Authorization": f"Bearer {site.key}"}).text  # fmt: skip
    assert "&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;" in raw
    assert "<script" not in raw
    page.goto(f"{site.url}/dashboard?since={SINCE}")
    assert page.title() == PAGE_TITLE
    assert page.locator("script").count() == 0
    links = page.eval_on_selector_all("#top-shorts a", "as => as.map(a => a.textContent)")
    assert HOSTILE in links


# --- a person at the door: login, logout, revocation ------------------------------------------


@pytest.fixture
def visitor(browser: Browser) -> Iterator[Page]:
    """A browser with no custom header: only what a person types and the cookies it keeps."""
    context = browser.new_context(viewport={"width": 1000, "height": 800})
    try:
        yield context.new_page()
    finally:
        context.close()


def _log_in(page: Page, site: Site, key: str, path: str) -> None:
    page.goto(f"{site.url}{path}")
    assert "/dashboard/login" in page.url, "a visitor without a session goes to the login page"
    page.fill("#key", key)
    # A form post always navigates (to the page asked for, or back to the login with a message).
    # Waiting for that navigation's load keeps the next step from racing it: a reload issued while
    # Chromium is still swapping in the redirected page fails with "Not attached to an active page"
    # (seen once in CI under load).
    with page.expect_navigation(wait_until="load"):
        page.click("button[type=submit]")


def test_a_person_logs_in_sees_the_numbers_and_logs_out(visitor: Page, site: Site) -> None:
    _log_in(visitor, site, site.key, f"/dashboard?since={SINCE}")
    assert visitor.url == f"{site.url}/dashboard?since={SINCE}"
    assert visitor.title() == PAGE_TITLE
    shown = _cells(visitor)
    expected = _sync(_expected(site.warehouse, site.events))
    assert float(shown[("funnel.published", "")]) == expected[("funnel.published", "")] == 18
    (cookie,) = [c for c in visitor.context.cookies() if c["name"] == SESSION_COOKIE]
    assert cookie["httpOnly"] is True
    assert cookie["secure"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["expires"] > 0  # expiring, not a browser-lifetime cookie
    assert visitor.evaluate("document.cookie") == ""  # no script can read it

    # The session also carries the player's media requests (the <video> element's own).
    visitor.goto(f"{site.url}/dashboard/shorts/{site.media_short}")
    visitor.wait_for_function("document.querySelector('video').readyState >= 1")

    with visitor.expect_navigation(wait_until="load"):
        visitor.click("form.logout button")
    assert "/dashboard/login" in visitor.url
    assert not [c for c in visitor.context.cookies() if c["name"] == SESSION_COOKIE]
    visitor.goto(f"{site.url}/dashboard")
    assert "/dashboard/login" in visitor.url


def test_a_revoked_keys_session_ends_at_once(visitor: Page, site: Site) -> None:
    key = site.keys.create_key("ops", ["dashboard:read"])
    _log_in(visitor, site, key, "/dashboard")
    assert visitor.url == f"{site.url}/dashboard"
    site.keys.revoke(key_id_of(key) or "")
    visitor.reload()
    assert "/dashboard/login" in visitor.url
    response = visitor.request.get(f"{site.url}/dashboard/data")
    assert response.status == 401


def test_a_wrong_key_stays_at_the_login_page(visitor: Page, site: Site) -> None:
    _log_in(visitor, site, site.reader_key, "/dashboard")
    assert "/dashboard/login" in visitor.url
    assert "lacks the dashboard:read scope" in visitor.inner_text("[role=alert]")
    assert not [c for c in visitor.context.cookies() if c["name"] == SESSION_COOKIE]
