"""The whole embedded factory (API + registry + sink in-process, a real drafting worker
process) on the shared test broker: what `munjero up` runs."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from connectors.broker import free_port
from factory.samples import load_sample_problems
from factory.supervisor import RunningFactory, running_factory
from streams.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.alone]


@pytest.fixture
async def factory(settings: Settings, tmp_path: Path) -> AsyncIterator[RunningFactory]:
    async with running_factory(settings, port=free_port()) as running:
        yield running


def _problem(index: int, problem_id: str) -> dict[str, object]:
    sample = dict(load_sample_problems()[index])
    sample["problem_id"] = problem_id
    return sample


async def _drafted(factory: RunningFactory, problem_id: str) -> int:
    db = factory.settings.clickhouse_database
    rows = await factory.warehouse.query(
        f"SELECT uniqExact(script_id) AS n FROM `{db}`.scripts_drafted "
        "WHERE problem_id = {pid:String}",
        {"pid": problem_id},
    )
    return int(rows[0]["n"])


async def _wait_drafted(factory: RunningFactory, problem_id: str, timeout: float) -> float:
    """Seconds until all variants of ``problem_id`` are rows in ClickHouse."""
    started = time.monotonic()
    k = factory.settings.draft_variants_per_problem
    while await _drafted(factory, problem_id) < k:
        assert time.monotonic() - started < timeout, f"{problem_id} not drafted in {timeout}s"
        await _sleep_briefly()
    return time.monotonic() - started


async def _sleep_briefly() -> None:
    import asyncio

    await asyncio.sleep(0.05)  # polling ClickHouse; there is no event to await across processes


async def test_posted_problem_reaches_clickhouse_within_5s_and_status_shows_steps(
    factory: RunningFactory,
) -> None:
    headers = {"Authorization": f"Bearer {factory.dev_key}"}
    async with httpx.AsyncClient(base_url=factory.api_url, headers=headers) as client:
        # Warm-up: the worker process joins its consumer group first (not what is measured).
        warm = await client.post("/v1/problems", json=_problem(0, "warm-up"))
        assert warm.status_code == 202, warm.text
        await _wait_drafted(factory, "warm-up", timeout=90)

        response = await client.post("/v1/problems", json=_problem(1, "measured-1"))
        assert response.status_code == 202, response.text
        assert response.json()["problem_id"] == "measured-1"
        await _wait_drafted(factory, "measured-1", timeout=5.0)

        status = await client.get("/v1/problems/measured-1")
        assert status.status_code == 200
        steps = {s["step"]: s["status"] for s in status.json()["steps"]}
        assert steps["submitted"] == "done"
        assert steps["drafted"] == "done"
        assert steps["rendered"] == "pending"

        unknown = await client.get("/v1/problems/never-submitted")
        assert unknown.status_code == 404

        # Ready once every worker has passed its own first checks (a browser launch takes
        # seconds): poll, the state is in other processes.
        deadline = time.monotonic() + 60
        while (ready := await client.get("/readyz")).status_code != 200:
            assert time.monotonic() < deadline, ready.text
            await _sleep_briefly()
        assert {"broker", "clickhouse", "schema_registry", "workers"} <= set(ready.json()["checks"])

        no_key = await client.post(
            "/v1/problems", json=_problem(2, "x"), headers={"Authorization": ""}
        )
        assert no_key.status_code == 401

    db = factory.settings.clickhouse_database
    (row,) = await factory.warehouse.query(
        f"SELECT count() AS n FROM `{db}`.problems_submitted FINAL WHERE problem_id = 'measured-1'"
    )
    assert row["n"] == 1
