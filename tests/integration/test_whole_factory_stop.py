"""Scenario g reduced (``tests.chaos.whole_factory``): ``munjero up`` stopped by Ctrl-C (SIGINT
to its process group) once while its workers start, then twice while problems flow end to
end, once in the middle of an encode, started again each time; the auditor finds every problem
drafted, rendered and published once, nothing in ClickHouse counted twice, and every stop
quick, exit 0 and free of ERROR lines.
The full form: ``python -m tests.chaos.run --scenario g --full``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.whole_factory import scenario_g

pytestmark = pytest.mark.integration


async def test_ctrl_c_mid_stream_and_mid_encode_loses_nothing_and_stops_quietly(
    tmp_path: Path,
) -> None:
    report = await scenario_g(tmp_path, problems=1, stops=2, timeout=900)
    assert report.failures == [], report.render()
    assert report.figures["problems"] == 1
