"""The container build and the CI workflows pass their linters (hadolint, actionlint), with the
binaries the dev dependencies ship: a lint regression fails `make test`, not the release."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / tool), *args], cwd=ROOT, capture_output=True, text=True, check=False
    )


def test_dockerfile_is_hadolint_clean() -> None:
    result = _run("hadolint", "--no-color", "Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_really_lints(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install curl\n")
    result = _run("hadolint", "--no-color", str(bad))
    assert result.returncode != 0
    assert "DL3007" in result.stdout  # latest tag


def test_workflows_are_actionlint_clean() -> None:
    workflows = sorted(str(p) for p in (ROOT / ".github" / "workflows").glob("*.yml"))
    assert workflows
    result = _run("actionlint", "-no-color", *workflows)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_really_lints(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n"
                   "      - run: echo ${{ github.nope }}\n")  # fmt: skip
    result = _run("actionlint", "-no-color", str(bad))
    assert result.returncode != 0
