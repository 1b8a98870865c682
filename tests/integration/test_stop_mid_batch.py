"""A worker stopped (SIGTERM) while a batch is in flight commits nothing it has not drafted.

Faust closes a stopping stream's ``take_events`` generator, whose ``finally`` acks the batch
it last yielded, the one the agent is still processing; and a stream whose loop has ended acks
whatever its passive iteration reads next. Either way offsets were committed for problems with
no scripts: found under CPU load by chaos scenario i (206 of 400 problems). Here the real
worker (``tests.chaos.faulty_worker`` with only a slower step) drafts a batch slowly enough to
be stopped in the middle of it, every time.
"""

# ruff: noqa: F811 - pytest injects imported fixtures by name
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from streams.settings import Settings
from tests.chaos import auditor
from tests.chaos.scenarios import (
    DistinctCounter,
    factory,
    produce_problems,
    read,
    sigterm,
    spawn,
)
from tests.integration.registry_fixtures import registry_url  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.alone]

PROBLEMS = 40
STEP_DELAY_S = 0.25  # a batch of 40 takes ~10 s: the stop lands inside it


async def _first_draft_logged(log: Path, timeout: float) -> None:
    """The worker logs each problem as it drafts it; its batch's scripts are published only
    when the whole batch is done. A logged draft with nothing published = a batch in flight."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while "drafted 3 variant(s)" not in log.read_text(errors="replace"):
        if loop.time() > deadline:
            raise TimeoutError(f"no draft logged within {timeout:.0f}s")
        await asyncio.sleep(0.05)  # polling another process's log: there is no event to await


async def test_a_stop_mid_batch_commits_only_what_was_drafted_and_loses_nothing(
    settings: Settings, registry_url: str, tmp_path: Path
) -> None:
    settings = settings.model_copy(update={"schema_registry_url": registry_url})
    k = settings.draft_variants_per_problem
    source = settings.topic("problems.submitted")
    bootstrap = settings.kafka_bootstrap_servers or ""
    async with factory(settings) as f:
        produced, _ = await produce_problems(f, range(PROBLEMS))
        log = tmp_path / "content-0.log"
        worker = spawn(settings, "content", log, faulty_rate=0.0, step_delay_s=STEP_DELAY_S)
        try:
            await _first_draft_logged(log, timeout=120)
        finally:
            await asyncio.to_thread(sigterm, worker)
        assert worker.returncode == 0, "the worker did not stop cleanly within its grace"

        drafted_before = {
            r.record["problem_id"] for r in await read(f, "scripts.drafted") if r.record
        }
        assert len(drafted_before) < PROBLEMS, "the stop came after the batch: nothing tested"
        committed = await auditor.committed_offsets(bootstrap, settings.group("content"), source)
        committed_past = {
            r.record["problem_id"]
            for r in await read(f, "problems.submitted")
            if r.record is not None and r.offset < committed.get(r.partition, 0)
        }
        assert committed_past <= drafted_before, (
            f"committed but not drafted: {sorted(committed_past - drafted_before)[:5]}"
        )

        # After the restart every problem is drafted: what the stop abandoned was redelivered.
        counter = DistinctCounter(bootstrap, settings.topic("scripts.drafted"))
        await counter.start()
        restarted = spawn(settings, "content", tmp_path / "content-1.log")
        try:
            await counter.until(PROBLEMS * k, timeout=120)
        finally:
            await counter.stop()
            await asyncio.to_thread(sigterm, restarted)
        drafts = auditor.audit_drafts(produced, await read(f, "scripts.drafted"), k)
        assert drafts.lost == 0, drafts.lost_problems[:5]
