"""Issue 6.7 f, reduced: a 20 s soak at a steady rate through the API process into the content
worker: anonymous memory of each grows < 10% (last 10% of samples vs the first after warm-up),
and neither file mappings nor file descriptors leak. The 30-minute form: ``python -m
tests.chaos.run --scenario f --full``."""

# ruff: noqa: F811 - pytest injects imported fixtures by name
from __future__ import annotations

from pathlib import Path

import pytest

from streams.settings import Settings
from tests.chaos.scenarios import scenario_f
from tests.integration.registry_fixtures import registry_url  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_steady_rate_soak_grows_no_memory_and_leaks_no_fds(
    settings: Settings, registry_url: str, tmp_path: Path
) -> None:
    settings = settings.model_copy(update={"schema_registry_url": registry_url})
    report = await scenario_f(settings, tmp_path, seconds=20, rate=10)
    print(report.render())
    assert not report.failures, report.render()
