"""The analysts' commands of the docs run as written: the bash and Python blocks of
docs/clickhouse.md#analysts, the ``munjero sql``/``munjero dashboards`` lines of README.md and
the commands of dashboards/README.md, in a directory whose ``.munjero`` is a served factory's
data directory (the interface on a free port stands in for 8123)."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from factory.clickhouse_http import AnalystEndpoint
from tests.analyst_server import sample_events, serving

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
_BLOCK = re.compile(r"^```(bash|python)\n(.*?)^```", re.M | re.S)


def _blocks(text: str) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in _BLOCK.finditer(text)]


def analyst_commands() -> list[tuple[str, str]]:
    """(language, code): shell lines one by one, a Python block whole."""
    clickhouse = (ROOT / "docs" / "clickhouse.md").read_text(encoding="utf-8")
    # From the anchor past its own heading to the next section.
    section = clickhouse.split('<a id="analysts"></a>', 1)[1].split("\n## ", 2)[1]
    found: list[tuple[str, str]] = []
    for language, code in _blocks(section):
        if language == "python":
            found.append(("python", code))
        else:
            found += [("bash", line) for line in code.splitlines() if line.strip()]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for language, code in _blocks(readme):
        for line in code.splitlines():
            if language == "bash" and line.startswith(("munjero sql", "munjero dashboards")):
                found.append(("bash", line.split("  #", 1)[0].strip()))
    boards = (ROOT / "dashboards" / "README.md").read_text(encoding="utf-8")
    for language, code in _blocks(boards):
        found += [("bash", line) for line in code.splitlines() if language == "bash" and line]
    return found


@pytest.fixture
async def workdir(tmp_path: Path) -> AsyncIterator[tuple[Path, AnalystEndpoint]]:
    async with serving(tmp_path / ".munjero", sample_events()) as (endpoint, _):
        yield tmp_path, endpoint


def test_the_docs_have_the_analysts_commands() -> None:
    kinds = [
        code.split()[0] if language == "bash" else "python" for language, code in analyst_commands()
    ]
    assert {"munjero", "curl", "python"} <= set(kinds)


async def test_every_analyst_command_of_the_docs_runs(
    workdir: tuple[Path, AnalystEndpoint],
) -> None:
    cwd, endpoint = workdir
    port = endpoint.url.rsplit(":", 1)[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUNJERO_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    for language, code in analyst_commands():
        code = code.replace("8123", port)  # the one substitution: the test's free port
        argv = ["bash", "-c", code] if language == "bash" else [sys.executable, "-c", code]
        proc = await asyncio.create_subprocess_exec(
            *argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        out, err = await proc.communicate()
        assert proc.returncode == 0, f"{code}\n{err.decode()}"
        assert out.strip(), f"{code} printed nothing"
