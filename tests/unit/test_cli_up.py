"""``munjero up`` runs the alerting pair unless told not to (README, Operations)."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from factory.cli import cli


def test_up_monitors_by_default_and_can_be_told_not_to() -> None:
    result = CliRunner().invoke(cli, ["up", "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    text = re.sub(r"\x1b\[[0-9;]*m", "", result.output)
    assert re.search(r"--with-monitoring\s+--without-monitoring", text)
    assert "[default: with-monitoring]" in text
