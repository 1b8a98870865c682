"""Issue 6.7 a, reduced: the content worker SIGKILLed at random moments while it drafts, the
publish worker SIGKILLed while it publishes real (tiny) MP4s on the simulator: nothing lost, no
short published twice, no row double counted in ClickHouse. Counted by ``tests.chaos.auditor``
(the full form: ``python -m tests.chaos.run --scenario a --full``)."""

# ruff: noqa: F811 - pytest injects imported fixtures by name
from __future__ import annotations

from pathlib import Path

import pytest

from streams.settings import Settings
from tests.chaos.scenarios import scenario_a
from tests.integration.registry_fixtures import registry_url  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_sigkills_lose_nothing_publish_once_and_count_once(
    settings: Settings, registry_url: str, tmp_path: Path
) -> None:
    settings = settings.model_copy(
        update={"schema_registry_url": registry_url, "sim_speed": 700_000.0}
    )
    report = await scenario_a(
        settings, tmp_path, problems=400, kills=1, renders=12, publish_kills=1, timeout=240
    )
    print(report.render())
    assert not report.failures, report.render()
