"""Issue 6.7 d, reduced: the content worker talks to the broker only through
``tests.chaos.faultproxy`` (it rewrites the advertised address); added latency, connection
resets and a blackhole, one per chunk of problems: the worker recovers after each fault and no
problem is lost (``tests.chaos.auditor``)."""

# ruff: noqa: F811 - pytest injects imported fixtures by name
from __future__ import annotations

from pathlib import Path

import pytest

from streams.settings import Settings
from tests.chaos.scenarios import scenario_d
from tests.integration.registry_fixtures import registry_url  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_worker_recovers_from_latency_resets_and_blackhole(
    settings: Settings, registry_url: str, tmp_path: Path
) -> None:
    settings = settings.model_copy(update={"schema_registry_url": registry_url})
    report = await scenario_d(settings, tmp_path, chunk=250, blackhole_s=5, timeout=120)
    print(report.render())
    assert not report.failures, report.render()
