"""Fit the relevance models of one embedder pair on the evaluation set, and show the curve.

    python -m factory.retrieval_eval.drafting --features /tmp/features.jsonl   # the candidates
    python -m factory.retrieval_eval.calibrate /tmp/features.jsonl [--key e5-small,use-m3]

Reads every candidate the real retriever judged (its features and whether it is the query's
relevant passage), fits one L2-regularised logistic regression for same-language candidates
and one for foreign-language ones, then prints: the ``CALIBRATIONS`` entry for
``agents/draft/calibration.py``; the precision/recall curve of the citation threshold (the
decision drafting makes: cite the candidates at or above it, at most ``--top-k``); and the same
figures under 2-fold cross-validation (fitted on one half of the queries, scored on the other),
which shows how much the in-sample figures owe to fitting on the set they are measured on.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from agents.draft.relevance import FEATURES

Row = dict[str, Any]
Array = npt.NDArray[np.float64]
THRESHOLDS = (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
SPLITS = ("ko", "en", "ko_en", "en_ko", "none")


def fit(x: Array, y: Array, l2: float = 1.0, steps: int = 50) -> Array:
    """Logistic regression weights by Newton's method; the bias (column 0) is not penalised."""
    w = np.zeros(x.shape[1])
    penalty = np.full(x.shape[1], l2)
    penalty[0] = 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -60, 60)))
        gradient = x.T @ (p - y) + penalty * w
        hessian = (x.T * (p * (1 - p))) @ x + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def fit_models(rows: Sequence[Row]) -> dict[bool, Array]:
    """Weights per kind (foreign: True/False)."""
    models = {}
    for foreign in (False, True):
        part = [r for r in rows if r["foreign"] == foreign]
        x = np.array([r["features"] for r in part], dtype=np.float64)
        y = np.array([float(r["relevant"]) for r in part])
        models[foreign] = fit(x, y)
    return models


def probabilities(rows: Sequence[Row], models: dict[bool, Array]) -> list[float]:
    return [
        float(1.0 / (1.0 + np.exp(-np.clip(np.dot(models[r["foreign"]], r["features"]), -60, 60))))
        for r in rows
    ]


def decide(
    rows: Sequence[Row], probs: Sequence[float], same: float, foreign: float, top_k: int
) -> dict[str, dict[str, Any]]:
    """Per query: its slice and the relevance flags of what drafting would cite, best first -
    the Retriever's rule: candidates in the problem's language at or above ``same``; only when
    there is none, foreign ones at or above ``foreign``."""
    queries: dict[str, dict[str, Any]] = {}
    for row, p in zip(rows, probs, strict=True):
        q = queries.setdefault(row["query_id"], {"slice": row["slice"], "scored": []})
        q["scored"].append((p, row["foreign"], row["relevant"]))
    for q in queries.values():
        ranked = sorted(q["scored"], key=lambda s: -s[0])
        chosen = [r for p, f, r in ranked if not f and p >= same]
        if not chosen:
            chosen = [r for p, f, r in ranked if f and p >= foreign]
        q["cited"] = chosen[:top_k]
    return queries


def metrics(queries: Iterable[dict[str, Any]]) -> dict[str, float]:
    qs = list(queries)
    cited = sum(len(q["cited"]) for q in qs)
    right = sum(sum(q["cited"]) for q in qs)
    answerable = [q for q in qs if q["slice"] != "none"]
    unanswerable = [q for q in qs if q["slice"] == "none"]
    out = {"queries": float(len(qs)), "precision": right / cited if cited else 1.0}
    if answerable:
        out["recall"] = sum(any(q["cited"][:5]) for q in answerable) / len(answerable)
    if unanswerable:
        out["abstention"] = sum(not q["cited"] for q in unanswerable) / len(unanswerable)
    return out


def curve(
    rows: Sequence[Row], probs: Sequence[float], top_k: int, *, vary: str, fixed: float
) -> list[str]:
    """The curve as a markdown table: ``vary`` ("same" or "foreign") threshold over
    :data:`THRESHOLDS`, the other one at ``fixed``."""
    lines = [
        f"| {vary} threshold | "
        + " | ".join(f"{s} P / R@5" for s in SPLITS[:-1])
        + " | none abstain |",
        "|---" * (len(SPLITS) + 1) + "|",
    ]
    for t in THRESHOLDS:
        same, foreign = (t, fixed) if vary == "same" else (fixed, t)
        decided = decide(rows, probs, same, foreign, top_k)
        cells = []
        for split in SPLITS:
            m = metrics(q for q in decided.values() if q["slice"] == split)
            if split == "none":
                cells.append(f"{m['abstention']:.3f}")
            else:
                cells.append(f"{m['precision']:.3f} / {m['recall']:.3f}")
        lines.append(f"| {t:.2f} | " + " | ".join(cells) + " |")
    return lines


def _half(query_id: str) -> int:
    return hashlib.sha256(query_id.encode()).digest()[0] % 2


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("features", type=Path)
    parser.add_argument("--key", default="e5-small,use-m3")
    parser.add_argument("--top-k", type=int, default=1)
    parser.add_argument("--same", type=float, default=0.5, help="same-language threshold")
    parser.add_argument("--foreign", type=float, default=0.1, help="foreign threshold")
    args = parser.parse_args(argv)
    rows = [json.loads(line) for line in args.features.read_text().splitlines() if line]
    models = fit_models(rows)
    primary, cross = ([*args.key.split(","), ""])[:2]

    def literal(w: Array) -> str:
        return "(" + ", ".join(f"{v:.4f}" for v in w) + ")"

    print(f"# features: {', '.join(FEATURES)}; {len(rows)} candidates")
    print(f'    ("{primary}", "{cross}"): Calibration(')
    print(f"        same=LogisticModel({literal(models[False])}),")
    print(f"        foreign=LogisticModel({literal(models[True])}),")
    print(f'        source="{args.features.name}",')
    print("    ),")
    fitted = probabilities(rows, models)
    print("\nin-sample (fitted and scored on the whole set):")
    print("\n".join(curve(rows, fitted, args.top_k, vary="same", fixed=args.foreign)))
    print()
    print("\n".join(curve(rows, fitted, args.top_k, vary="foreign", fixed=args.same)))
    # 2-fold cross-validation: each half is scored by the models fitted on the other.
    held: list[float] = [0.0] * len(rows)
    for half in (0, 1):
        train = [r for r in rows if _half(r["query_id"]) != half]
        other = fit_models(train)
        for i, r in enumerate(rows):
            if _half(r["query_id"]) == half:
                held[i] = probabilities([r], other)[0]
    print("\n2-fold cross-validated:")
    print("\n".join(curve(rows, held, args.top_k, vary="same", fixed=args.foreign)))
    print()
    print("\n".join(curve(rows, held, args.top_k, vary="foreign", fixed=args.same)))


if __name__ == "__main__":
    main()
