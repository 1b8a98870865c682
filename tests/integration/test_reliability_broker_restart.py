"""Issue 6.7 b, reduced: a private embedded broker stopped (gracefully) and started again on the
same port and data directory in the middle of a stream: the content group's backlog drains and
its lag (committed vs end offsets, read by ``tests.chaos.auditor``) returns to 0 within 60 s,
and every problem is drafted."""

# ruff: noqa: F811 - pytest injects imported fixtures by name
from __future__ import annotations

from pathlib import Path

import pytest

from streams.settings import Settings
from tests.chaos.scenarios import scenario_b
from tests.integration.registry_fixtures import registry_url  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.alone]


async def test_backlog_drains_after_a_broker_restart(
    settings: Settings, registry_url: str, tmp_path: Path
) -> None:
    settings = settings.model_copy(update={"schema_registry_url": registry_url})
    report = await scenario_b(settings, tmp_path, problems=2000, timeout=180)
    print(report.render())
    assert not report.failures, report.render()
