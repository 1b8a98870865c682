"""The declared topology is the one the factory runs and documents."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from factory.resources import Resources
from factory.topology import SERVICES, WORKER_GROUPS, markdown_table, worker_group
from factory.worker import readiness_checks
from streams.catalogue import EVENT_TOPICS, topic
from streams.settings import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"


def test_architecture_doc_shows_the_declared_topology() -> None:
    text = DOC.read_text(encoding="utf-8")
    table = text.split("<!-- topology:start -->\n")[1].split("<!-- topology:end -->")[0]
    # The documented command prints exactly this table.
    printed = subprocess.run(
        [sys.executable, "-m", "factory.topology"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert printed == table == markdown_table()


def test_every_step_reads_and_writes_catalogue_topics() -> None:
    names = {spec.name for spec in EVENT_TOPICS}
    for group in (*WORKER_GROUPS, *SERVICES):
        for binding in group.steps:
            assert topic(binding.consumes).name in names
            assert set(binding.produces) <= names | {"munjero.health"}
        assert set(group.produces) <= names | {"munjero.health"}


def test_each_input_topic_has_exactly_one_consuming_step() -> None:
    consumed = [b.consumes for g in WORKER_GROUPS for b in g.steps]
    assert len(consumed) == len(set(consumed))


def test_declared_resources_exist() -> None:
    for group in WORKER_GROUPS:
        for name in group.resources:
            assert isinstance(getattr(Resources, name, None), property), (group.name, name)


def test_readiness_checks_follow_the_declaration(tmp_path: Path) -> None:
    resources = Resources(Settings(data_dir=tmp_path))
    for group in WORKER_GROUPS:
        checks = readiness_checks(group, resources)
        assert [c.name for c in checks] == list(group.readiness)


def test_unknown_group_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="known: content, render, publish"):
        worker_group("nope")
