"""Scenario h reduced: the schema registry SIGKILLed mid-stream (with a worker restarted into the
outage, so its schema cache is cold) and later the API SIGKILLed while a producer submits: nothing
lost, only the poison dead-lettered, no retry tier used, lag back to 0. Counted by
``tests.chaos.auditor`` (the full form, a 30 s outage: ``python -m tests.chaos.run --scenario h
--full``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.settings import Settings
from tests.chaos.outages import scenario_h

pytestmark = [pytest.mark.integration, pytest.mark.slow]

OUTAGE_S = 4.0


async def test_registry_down_and_api_killed_lose_nothing(
    settings: Settings, tmp_path: Path
) -> None:
    report = await scenario_h(
        settings, tmp_path, problems=120, poison=2, api_problems=12, outage_s=OUTAGE_S, timeout=180
    )
    print(report.render())
    assert not report.failures, report.render()
    assert report.figures["registry down (s)"] >= OUTAGE_S
    assert report.figures["API down (s)"] >= OUTAGE_S
