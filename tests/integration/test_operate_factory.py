"""Operating the whole embedded factory (`munjero up`): one problem's journey from the API
request to the last step is one SQL query over the trace tables; logs carry its trace ids;
every process serves Prometheus metrics; /readyz checks everything for real."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.broker import free_port
from factory.samples import load_sample_problems
from factory.supervisor import RunningFactory, running_factory
from observability.clickhouse_traces import journey_sql
from observability.readiness import read_targets
from streams.settings import Settings
from streams.telemetry.metrics import QUOTA_REMAINING, SINK_ROWS

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
async def factory(settings: Settings, tmp_path: Path) -> AsyncIterator[RunningFactory]:
    # The API and the sink run in this test process, whose metrics registry earlier tests (a
    # YouTube publisher, sinks decoding in Python) may have filled: the series this test reads
    # start from what a fresh `munjero up` process has.
    for series in (QUOTA_REMAINING, SINK_ROWS):
        series.clear()
    async with running_factory(settings, port=free_port()) as running:
        yield running


async def _until(what: str, probe: Callable[[], Awaitable[Any]], timeout: float) -> Any:
    """Poll ``probe`` until it returns something truthy: the outcome is in another process
    (or in ClickHouse), with no event to await here."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} not within {timeout}s"
        await asyncio.sleep(0.25)


async def test_a_problem_is_one_trace_from_the_api_to_its_last_step(
    factory: RunningFactory,
) -> None:
    s = factory.settings
    db = s.clickhouse_database
    ns = s.topic_namespace
    problem = dict(load_sample_problems()[0])
    problem["problem_id"] = "journey-1"
    headers = {"Authorization": f"Bearer {factory.dev_key}"}
    async with httpx.AsyncClient(base_url=factory.api_url, headers=headers) as client:
        answer = await client.post("/v1/problems", json=problem)
        assert answer.status_code == 202, answer.text

        async def published() -> int:
            rows = await factory.warehouse.query(
                f"SELECT uniqExact(short_id) AS n FROM `{db}`.shorts_published "
                "WHERE problem_id = {p:String}",
                {"p": "journey-1"},
            )
            return int(rows[0]["n"]) >= s.draft_variants_per_problem

        await _until("three published shorts", published, timeout=240)

        sql = journey_sql(f"{db}.otel_traces")
        want = {
            "POST /v1/problems",
            f"publish {ns}problems.submitted",
            f"process {ns}problems.submitted",
            f"publish {ns}scripts.drafted",
            f"process {ns}scripts.drafted",
            "tts synthesize",
            "browser screenshots",
            "ffmpeg encode",
            f"publish {ns}renders.completed",
            f"process {ns}renders.completed",
            "upload video",
            f"publish {ns}shorts.published",
            f"process {ns}shorts.published",
        }

        def roots(rows: list[dict[str, Any]]) -> list[str]:
            ids = {r["SpanId"] for r in rows}
            return [r["SpanName"] for r in rows if r["ParentSpanId"] not in ids]

        async def journey() -> list[dict[str, Any]] | None:
            rows = await factory.warehouse.query(sql, {"problem": "journey-1"})
            # Complete when every step is there and every span's parent has arrived too (a
            # parent ends, and so is exported, after its children).
            complete = want <= {r["SpanName"] for r in rows} and len(roots(rows)) == 1
            return rows if complete else None

        rows = await _until("the whole journey in otel_traces", journey, timeout=60)
        assert len({r["TraceId"] for r in rows}) == 1, "one problem, one trace"
        services = {r["ServiceName"] for r in rows}
        assert {"munjero-api", "munjero-content", "munjero-render", "munjero-publish"} <= services
        by_id = {r["SpanId"]: r for r in rows}
        # Every span but the request's hangs off another span of the journey.
        assert roots(rows) == ["POST /v1/problems"]
        consume = next(r for r in rows if r["SpanName"] == f"process {ns}scripts.drafted")
        assert consume["SpanKind"] == "SPAN_KIND_CONSUMER"
        assert by_id[consume["ParentSpanId"]]["SpanName"] == f"publish {ns}scripts.drafted"

        # Logs of the journey carry its trace id (the drafting agent logs each draft).
        trace_id = rows[0]["TraceId"]

        async def logs() -> int:
            found = await factory.warehouse.query(
                f"SELECT count() AS n FROM `{db}`.otel_logs WHERE TraceId = {{t:String}}",
                {"t": trace_id},
            )
            return int(found[0]["n"])

        await _until("log records with the journey's trace id", logs, timeout=30)

        # Every process serves metrics; the API process also exports broker-derived gauges.
        scraped = (await client.get("/metrics")).text
        assert 'munjero_api_requests_total{method="POST",route="/v1/problems",status="202"}' in (
            scraped
        )
        assert "munjero_consumer_lag_records{" in scraped
        # The sink lets ClickHouse decode (schemas from the registry this process serves over
        # HTTP) and starts only once that server listens: every row is ClickHouse's (before,
        # the evaluator's first experiments.updated events fell back to Python).
        decoded = {
            m[0]: float(m[1])
            for m in re.findall(r'munjero_sink_rows_total\{decoder="(\w+)"\} ([0-9.]+)', scraped)
        }
        assert decoded.get("clickhouse", 0) > 0, decoded
        assert decoded.get("python", 0) == 0, decoded
        # Not measured without YouTube credentials: no sample, so the quota alert stays quiet.
        assert "munjero_youtube_quota_remaining_units{" not in scraped
        targets = read_targets(s.data_dir / "targets")
        jobs = {job for job, _ in targets}
        assert {"munjero-api", "munjero-worker-render", "munjero-worker-content"} <= jobs
        render = next(addr for job, addr in targets if job == "munjero-worker-render")
        worker_metrics = (await client.get(f"http://{render}/metrics")).text
        assert 'munjero_render_seconds_count{language="ko"}' in worker_metrics
        assert 'munjero_events_in_total{agent="render",topic="scripts.drafted"}' in worker_metrics

        # Deep readiness: the broker round trip, registry, a ClickHouse write and each
        # worker's own checks (a vector search, a browser launch), each with its latency.
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text
        checks = ready.json()["checks"]
        assert {"broker", "clickhouse", "schema_registry", "workers"} <= set(checks)
        assert all(c["status"] == "ok" and c["latency_ms"] >= 0 for c in checks.values())
        worker_checks = {
            name: result
            for per_worker in checks["workers"]["details"].values()
            for name, result in per_worker.items()
        }
        assert worker_checks["qdrant"]["status"] == "ok"
        assert worker_checks["browser"]["status"] == "ok"

    # `munjero doctor` prints the same checks (in a thread: it is a blocking client and the
    # API it asks runs on this event loop).
    from typer.testing import CliRunner

    from factory.cli import cli

    result = await asyncio.to_thread(CliRunner().invoke, cli, ["doctor", "--url", factory.api_url])
    assert result.exit_code == 0, result.output
    for name in ("broker", "clickhouse", "schema_registry", "workers", "qdrant", "browser"):
        assert name in result.output
