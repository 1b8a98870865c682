"""The layers hold: import-linter keeps the contracts and fails on an upward import; the import
graph (lazy imports included) has no module cycle and no pair of folders importing each other."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tools.import_graph import PACKAGES, ROOT, cycles, import_graph, two_way_folder_pairs

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), str(tree / "pyproject.toml"), "--no-cache"],
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _copy_tree(dest: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, dest / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", dest / "pyproject.toml")
    return dest


def test_the_source_keeps_every_contract(tmp_path: Path) -> None:
    result = _lint_imports(_copy_tree(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        # A step reaching up to the composition root, lazily (inside a function).
        ("agents/_probe.py", "def f() -> None:\n    import factory.cli\n", "Layers"),
        # The kernel importing an adapter under TYPE_CHECKING.
        (
            "streams/_probe.py",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import connectors.kafka\n",
            "Layers",
        ),
        # A step importing Faust.
        ("agents/_probe.py", "import faust\n", "Steps are pure"),
    ],
)
def test_an_upward_import_breaks_the_lint(
    tmp_path: Path, module: str, line: str, contract: str
) -> None:
    tree = _copy_tree(tmp_path)
    (tree / module).write_text(line)
    result = _lint_imports(tree)
    assert result.returncode != 0
    assert " 0 broken" not in result.stdout
    broken = result.stdout.split("Broken contracts")[1]
    assert contract in broken
    assert module.replace("/", ".").removesuffix(".py") in broken


def test_import_graph_has_no_cycles_and_no_two_way_folders() -> None:
    graph = import_graph()
    assert len(graph) > 150  # it really read the source
    assert cycles(graph) == []
    assert two_way_folder_pairs(graph) == []


def test_import_graph_sees_lazy_imports(tmp_path: Path) -> None:
    # The counter must not be blind to the imports it exists to find.
    graph = import_graph()
    assert "factory.resources" in graph
    assert "connectors.embeddings.factory" in graph["factory.resources"]  # a lazy import
