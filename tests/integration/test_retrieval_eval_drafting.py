"""The retrieval evaluation, reduced (every 8th query), through the real drafting path: real
embedders (e5-small + USE-m3), the kiwipiepy analyser, the embedded Qdrant engine, IndexStep and
DraftStep built as production builds them. It runs the documented command
(docs/retrieval-eval.md) with ``--limit 8``; the full run is the same command without it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from factory.retrieval_eval import calibrate, drafting


def test_reduced_evaluation_through_the_drafting_step(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, features = tmp_path / "report.json", tmp_path / "features.jsonl"
    assert drafting.main(["--limit", "8", "--json", str(out), "--features", str(features)]) == 0
    printed = capsys.readouterr().out
    assert "en_ko" in printed
    result = json.loads(out.read_text())
    report, spoken = result["report"], result["narration"]
    assert set(report) == {"overall", "ko", "en", "ko_en", "en_ko", "none"}
    # Looser than the full run's figures (docs/retrieval-eval.md): a sample of 48 is noisy.
    assert report["overall"]["citation_precision"] >= 0.9
    assert report["ko"]["recall_at_k"] >= 0.8
    assert report["none"]["abstention"] >= 0.7
    assert spoken["overall"]["narrated"] > 0
    assert spoken["overall"]["missing_answer"] == 0
    assert spoken["overall"]["wrong_passage"] == 0

    # The calibration command fits on what the run recorded and prints a usable entry.
    calibrate.main([str(features), "--key", "e5-small,use-m3"])
    fitted = capsys.readouterr().out
    assert '("e5-small", "use-m3"): Calibration(' in fitted
    assert "2-fold cross-validated" in fitted
