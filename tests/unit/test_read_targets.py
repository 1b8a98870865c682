"""Target discovery from the file_sd files the processes announce themselves in."""

from __future__ import annotations

import json
from pathlib import Path

from observability.readiness import read_targets


def test_read_targets_reads_every_file_and_skips_broken_ones(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(
        json.dumps([{"targets": ["127.0.0.1:9100"], "labels": {"job": "munjero-worker-render"}}])
    )
    (tmp_path / "b.json").write_text(json.dumps([{"targets": ["127.0.0.1:9101", "h:1"]}]))
    (tmp_path / "c.json").write_text("[{")  # being written
    (tmp_path / "d.tmp").write_text("[]")
    (tmp_path / "e.json").write_text('{"targets": []}')  # not a list of groups
    assert read_targets(tmp_path) == [
        ("munjero-worker-render", "127.0.0.1:9100"),
        ("munjero", "127.0.0.1:9101"),
        ("munjero", "h:1"),
    ]
    assert read_targets(tmp_path / "missing") == []
