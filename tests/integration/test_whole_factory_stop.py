"""Scenario g reduced (``tests.chaos.whole_factory``): ``munjero up`` stopped by Ctrl-C (SIGINT
to its process group) once while its workers start, then twice while problems flow end to
end (the first a double Ctrl-C, stop at once; the second in the middle of an encode), started
again each time; the auditor finds every problem drafted, rendered and published once, nothing
in ClickHouse counted twice, and every stop quick; every ordered stop exits 0 with no ERROR
line, the double one exits 130.
The full form: ``python -m tests.chaos.run --scenario g --full``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.whole_factory import Up, factory_env, scenario_g

pytestmark = [pytest.mark.integration, pytest.mark.alone]


async def test_ctrl_c_mid_stream_and_mid_encode_loses_nothing_and_stops_quietly(
    tmp_path: Path,
) -> None:
    report = await scenario_g(tmp_path, problems=1, stops=2, timeout=900)
    assert report.failures == [], report.render()
    assert report.figures["problems"] == 1


async def test_ctrl_c_during_the_demo_stops_it_in_order(tmp_path: Path) -> None:
    """``munjero demo`` (the README's first command) stopped by Ctrl-C while it submits: the
    same ordered stop as ``munjero up``, exit 0 within 10 s, no ERROR line or traceback."""
    data = tmp_path / "factory"
    demo = Up(data, factory_env(data), "demo", ("demo", "--problems", "3", "--renders", "0"),
              ready_line="munjero demo run")  # fmt: skip
    try:
        await demo.start(300)
        stop = await demo.interrupt("mid-demo")
    finally:
        demo.kill()
    assert stop.exit_code == 0, demo.tail()
    assert stop.seconds <= 10.0, stop
    assert not stop.noise, stop.noise[:3]
    assert any(line.startswith("stopping...") for line in demo.lines), demo.tail()
