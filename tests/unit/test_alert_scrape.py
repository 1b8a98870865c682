"""Target discovery from file_sd files and parsing of the text exposition."""

from __future__ import annotations

import json
from pathlib import Path

from observability.alerts.scrape import file_sd_targets, parse_exposition

EXPOSITION = """\
# HELP munjero_events_in_total in
# TYPE munjero_events_in_total counter
munjero_events_in_total{agent="render",topic="scripts",job="inner"} 42.0
munjero_events_in_created{agent="render",topic="scripts",job="inner"} 1.7e9
"""


def test_file_sd_targets_reads_every_file_and_skips_broken_ones(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(
        json.dumps([{"targets": ["127.0.0.1:9100"], "labels": {"job": "munjero-worker-render"}}])
    )
    (tmp_path / "b.json").write_text(json.dumps([{"targets": ["127.0.0.1:9101", "h:1"]}]))
    (tmp_path / "c.json").write_text("[{")  # being written
    (tmp_path / "d.tmp").write_text("[]")
    assert file_sd_targets(tmp_path) == [
        ("munjero-worker-render", "http://127.0.0.1:9100/metrics"),
        ("munjero", "http://127.0.0.1:9101/metrics"),
        ("munjero", "http://h:1/metrics"),
    ]
    assert file_sd_targets(tmp_path / "missing") == []


def test_parse_exposition_attaches_target_labels_like_prometheus() -> None:
    samples = parse_exposition(EXPOSITION, {"job": "munjero-api", "instance": "127.0.0.1:8080"})
    assert samples == [
        (
            "munjero_events_in_total",
            {
                "agent": "render",
                "topic": "scripts",
                "exported_job": "inner",
                "job": "munjero-api",
                "instance": "127.0.0.1:8080",
            },
            42.0,
        )
    ]
