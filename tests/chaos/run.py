"""Benchmark command: ``python -m tests.chaos.run --scenario a|b|c|d|e|f|g|h|i [--full]``.

Starts a private embedded broker (scenario b starts and restarts its own) and schema registry in
a work directory, runs the scenario (``tests.chaos.scenarios``; e runs the schemathesis test) and
prints the auditor's figures. Exit status 0 only if every check held. Without ``--full`` the
numbers are the CI test's (reduced); with it, the issue's: 20,000 problems and 20 SIGKILLs (a),
a 20,000-problem stream (b, c), 5,000 problems per proxy fault and a 30 s blackhole (d), 200
examples per operation (e), a 30-minute soak (f), 300 problems end to end through
``munjero up`` stopped by Ctrl-C 10 times (g; ``tests.chaos.whole_factory``) and a 30 s
registry outage plus a killed API (h; ``tests.chaos.outages``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Coroutine
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from streams.settings import Settings
from tests.chaos import scenarios
from tests.chaos.scenarios import Report

Runner = Callable[[Settings, Path, bool], Coroutine[Any, Any, Report]]


def _a(s: Settings, work: Path, full: bool) -> Coroutine[Any, Any, Report]:
    if full:
        return scenarios.scenario_a(
            s, work, problems=20_000, kills=20, renders=200, publish_kills=5, timeout=1800
        )
    return scenarios.scenario_a(
        s, work, problems=1500, kills=2, renders=30, publish_kills=2, timeout=240
    )


def _b(s: Settings, work: Path, full: bool) -> Coroutine[Any, Any, Report]:
    return scenarios.scenario_b(s, work, problems=20_000 if full else 3000, timeout=900)


def _c(s: Settings, work: Path, full: bool) -> Coroutine[Any, Any, Report]:
    return scenarios.scenario_c(s, work, problems=20_000 if full else 1000, timeout=900)


def _d(s: Settings, work: Path, full: bool) -> Coroutine[Any, Any, Report]:
    if full:
        return scenarios.scenario_d(s, work, chunk=5000, blackhole_s=30, timeout=600)
    return scenarios.scenario_d(s, work, chunk=500, blackhole_s=5, timeout=120)


def _f(s: Settings, work: Path, full: bool) -> Coroutine[Any, Any, Report]:
    return scenarios.scenario_f(s, work, seconds=1800 if full else 60)


def _i(s: Settings, work: Path, full: bool) -> Coroutine[Any, Any, Report]:
    if full:
        return scenarios.scenario_i(s, work, problems=5000, terms=10, renders=200, timeout=1800)
    return scenarios.scenario_i(s, work, problems=400, terms=2, renders=12, timeout=240)


def _h(s: Settings, work: Path, full: bool) -> Coroutine[Any, Any, Report]:
    from tests.chaos.outages import scenario_h

    if full:
        return scenario_h(
            s, work, problems=3000, poison=30, api_problems=200, outage_s=30, timeout=900
        )
    return scenario_h(s, work, problems=120, poison=2, api_problems=12, outage_s=4, timeout=180)


RUNNERS: dict[str, Runner] = {"a": _a, "b": _b, "c": _c, "d": _d, "f": _f, "h": _h, "i": _i}


def run_e(full: bool) -> int:
    env = {**os.environ, "MUNJERO_SCHEMATHESIS_EXAMPLES": "200" if full else "25"}
    test = "tests/integration/test_api_schemathesis.py"
    cmd = [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", test]
    return subprocess.call(cmd, env=env, cwd=scenarios.REPO)


def run_g(full: bool, work: Path | None) -> int:
    """The whole factory (``munjero up``) interrupted by Ctrl-C and restarted; it owns its
    broker, registry and ClickHouse, so nothing is shared with the other scenarios."""
    from tests.chaos.whole_factory import scenario_g

    with ExitStack() as stack:
        work = work or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        work.mkdir(parents=True, exist_ok=True)
        problems, stops = (300, 10) if full else (1, 2)
        report = asyncio.run(
            scenario_g(work, problems=problems, stops=stops, timeout=4 * 3600 if full else 900)
        )
        print(report.render())
        return 1 if report.failures else 0
    return 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", required=True, choices=[*RUNNERS, "e", "g"])
    parser.add_argument("--full", action="store_true", help="the issue's numbers")
    parser.add_argument("--work", type=Path, help="work directory (default: a temporary one)")
    parser.add_argument("--seconds", type=float, help="f only: soak this long instead")
    args = parser.parse_args()
    if args.scenario == "e":
        return run_e(args.full)
    if args.scenario == "g":
        return run_g(args.full, args.work)
    from connectors.broker import EmbeddedBroker
    from tests.integration.registry_fixtures import running_registry

    with ExitStack() as stack:
        work = args.work or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        work.mkdir(parents=True, exist_ok=True)
        registry = stack.enter_context(running_registry(work / "registry.db"))
        bootstrap = None
        if args.scenario != "b":
            broker = stack.enter_context(EmbeddedBroker(work / "shared-broker"))
            bootstrap = broker.bootstrap_servers
        settings = Settings(
            kafka_bootstrap_servers=bootstrap,
            schema_registry_url=registry,
            topic_namespace=f"chaos{uuid.uuid4().hex[:8]}.",
            data_dir=work / "data",
            retry_delay_factor=1.0 if args.full else 0.01,
            sim_speed=700_000.0,
        )
        run = RUNNERS[args.scenario](settings, work, args.full)
        if args.scenario == "f" and args.seconds:
            run.close()
            run = scenarios.scenario_f(settings, work, seconds=args.seconds)
        report = asyncio.run(run)
        print(report.render())
        return 1 if report.failures else 0
    return 1  # unreachable; mypy cannot see that ExitStack does not swallow


if __name__ == "__main__":
    sys.exit(main())
