"""Issue 6.7 c, reduced: 1% poison events and 5% transient failures on the real content worker
(``tests.chaos.faulty_worker``): exactly the poison is dead-lettered, every transient event
succeeds on its first retry, the retry tiers end drained. Counted by ``tests.chaos.auditor``."""

# ruff: noqa: F811 - pytest injects imported fixtures by name
from __future__ import annotations

from pathlib import Path

import pytest

from streams.settings import Settings
from tests.chaos.scenarios import scenario_c
from tests.integration.registry_fixtures import registry_url  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_exactly_the_poison_is_dead_lettered_and_every_transient_succeeds(
    settings: Settings, registry_url: str, tmp_path: Path
) -> None:
    settings = settings.model_copy(update={"schema_registry_url": registry_url})
    report = await scenario_c(settings, tmp_path, problems=500, timeout=120)
    print(report.render())
    assert not report.failures, report.render()
