"""Scenario i reduced: each worker group SIGTERMed in turn, as a Kubernetes rolling restart
does, while problems are drafted and renders published: nothing lost, no short published
twice, no row double counted in ClickHouse. Counted by ``tests.chaos.auditor`` (the full form:
``python -m tests.chaos.run --scenario i --full``)."""

# ruff: noqa: F811 - pytest injects imported fixtures by name
from __future__ import annotations

from pathlib import Path

import pytest

from streams.settings import Settings
from tests.chaos.scenarios import scenario_i
from tests.integration.registry_fixtures import registry_url  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.alone]


async def test_sigterms_in_turn_lose_nothing_publish_once_and_count_once(
    settings: Settings, registry_url: str, tmp_path: Path
) -> None:
    settings = settings.model_copy(
        update={"schema_registry_url": registry_url, "sim_speed": 700_000.0}
    )
    report = await scenario_i(settings, tmp_path, problems=400, terms=2, renders=12, timeout=240)
    print(report.render())
    assert not report.failures, report.render()
    assert report.figures["content kills"] == 2
    assert report.figures["publish kills"] == 2
