"""The retrieval evaluation set and its pure metrics.

The set is a small bilingual knowledge corpus (``data/passages.jsonl``) plus paraphrased queries
(``data/queries.jsonl``), each pointing at exactly one relevant passage, or at none (the right
answer is then to cite nothing). Each query also carries its subject and its quiz answer, so it
can be submitted as a problem. A scorer ranks every passage for every query and hands the
rankings to :func:`evaluate`; the drafting evaluation hands citations to :func:`evaluate_citations`.
Nothing here imports a model: the module only loads, checks and scores.

Both files are read through ``importlib.resources`` so the set works from a source checkout,
a wheel or a zip.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

Language = Literal["ko", "en"]
QueryKind = Literal["paraphrase", "question", "cross_lingual", "unanswerable"]
Slice = Literal["ko", "en", "ko_en", "en_ko", "none"]

PASSAGES_FILE = "passages.jsonl"
QUERIES_FILE = "queries.jsonl"
# Queries the relevance models were never fitted on: the check through the public API.
HELDOUT_FILE = "heldout.jsonl"
SLICES: tuple[Slice, ...] = ("ko", "en", "ko_en", "en_ko", "none")
SUBJECT_SLUGS: Mapping[str, str] = {
    "history": "hist",
    "science": "sci",
    "geography": "geo",
    "language": "lang",
    "math": "math",
    "general": "gen",
}
MIN_PASSAGE_CHARS = 40
MAX_PASSAGE_CHARS = 400
MAX_QUERIES_PER_PASSAGE = 3
# A query may share at most this fraction of its characters, as one contiguous run, with its
# passage: queries must be paraphrases, not copied phrases.
MAX_SHARED_RUN = 0.6
HANGUL = re.compile(r"[\uac00-\ud7a3]")
_PASSAGE_ID = re.compile(r"(ko|en)-([a-z]+)-p\d{3}")


@dataclass(frozen=True)
class Passage:
    """One knowledge-base passage (1-4 encyclopaedic sentences)."""

    passage_id: str
    language: Language
    subject: str
    title: str
    text: str


@dataclass(frozen=True)
class Query:
    """One query with its single relevant passage (None: no passage answers it).

    ``language`` is the language of the query text; a ``cross_lingual`` query's passage is in
    the other language. ``answer`` is the quiz answer in the query's language.
    """

    query_id: str
    language: Language
    passage_id: str | None
    kind: QueryKind
    subject: str
    text: str
    answer: str

    @property
    def slice(self) -> Slice:
        """The reporting slice: ``none`` (no relevant passage), ``ko_en``/``en_ko`` (query
        language -> passage language), else the shared language."""
        if self.passage_id is None:
            return "none"
        if self.kind == "cross_lingual":
            return "ko_en" if self.language == "ko" else "en_ko"
        return self.language


# Scores of one slice: "queries" (how many, as a float), "recall_at_k" and "mrr" (mean
# reciprocal rank). A plain mapping so reports serialise and merge without conversion.
SliceScore = dict[str, float]


# ---------------------------------------------------------------- loading


def _language(value: object) -> Language:
    if value == "ko":
        return "ko"
    if value == "en":
        return "en"
    raise ValueError(f"unknown language {value!r}")


def _kind(value: object) -> QueryKind:
    if value == "paraphrase":
        return "paraphrase"
    if value == "question":
        return "question"
    if value == "cross_lingual":
        return "cross_lingual"
    if value == "unanswerable":
        return "unanswerable"
    raise ValueError(f"unknown query kind {value!r}")


def _strings(record: Mapping[str, Any], fields: tuple[str, ...]) -> dict[str, str]:
    if set(record) != set(fields):
        raise ValueError(f"fields must be exactly {sorted(fields)}, got {sorted(record)}")
    values: dict[str, str] = {}
    for field in fields:
        value = record[field]
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{field} must be a non-empty string")
        values[field] = value
    return values


def _records(name: str) -> list[tuple[int, dict[str, Any]]]:
    data = resources.files(__package__).joinpath("data").joinpath(name)
    lines = data.read_text(encoding="utf-8").splitlines()
    return [(number, json.loads(line)) for number, line in enumerate(lines, 1) if line.strip()]


def parse_passage(record: Mapping[str, Any]) -> Passage:
    v = _strings(record, ("passage_id", "language", "subject", "title", "text"))
    return Passage(v["passage_id"], _language(v["language"]), v["subject"], v["title"], v["text"])


def parse_query(record: Mapping[str, Any]) -> Query:
    fields = ("query_id", "language", "passage_id", "kind", "subject", "text", "answer")
    passage_id = record.get("passage_id")
    v = _strings({**record, "passage_id": passage_id or "-"}, fields)
    if passage_id is not None and not isinstance(passage_id, str):
        raise ValueError("passage_id must be a string or null")
    return Query(
        v["query_id"],
        _language(v["language"]),
        passage_id or None,
        _kind(v["kind"]),
        v["subject"],
        v["text"],
        v["answer"],
    )


def load_passages() -> tuple[Passage, ...]:
    """Every passage of the corpus, in file order."""
    passages = []
    for number, record in _records(PASSAGES_FILE):
        try:
            passages.append(parse_passage(record))
        except ValueError as exc:
            raise ValueError(f"{PASSAGES_FILE} line {number}: {exc}") from exc
    return tuple(passages)


def load_queries(name: str = QUERIES_FILE) -> tuple[Query, ...]:
    """Every query of ``name`` (the calibration set, or :data:`HELDOUT_FILE`), in file order."""
    queries = []
    for number, record in _records(name):
        try:
            queries.append(parse_query(record))
        except ValueError as exc:
            raise ValueError(f"{name} line {number}: {exc}") from exc
    return tuple(queries)


def load_heldout() -> tuple[Query, ...]:
    """The held-out queries (same passages, new questions, never used to fit a model)."""
    return load_queries(HELDOUT_FILE)


# ---------------------------------------------------------------- checking


def longest_common_substring(a: str, b: str) -> int:
    """Length of the longest run of characters shared by ``a`` and ``b`` (case-insensitive)."""
    a, b = a.casefold(), b.casefold()
    best = 0
    previous = [0] * (len(b) + 1)
    for i in range(1, len(a) + 1):
        current = [0] * (len(b) + 1)
        for j in range(1, len(b) + 1):
            if a[i - 1] == b[j - 1]:
                current[j] = previous[j - 1] + 1
                best = max(best, current[j])
        previous = current
    return best


def shared_run_ratio(query: str, passage: str) -> float:
    """The longest common substring of query and passage as a fraction of the query length."""
    return longest_common_substring(query, passage) / len(query) if query else 0.0


def validate(passages: Sequence[Passage], queries: Sequence[Query]) -> list[str]:
    """Every integrity problem of the set, as readable messages (empty when the set is sound).

    Checks unique ids, id format, subjects, passage lengths, that the text is in its declared
    language, that every query's passage exists in the language its slice requires, at most
    :data:`MAX_QUERIES_PER_PASSAGE` queries per passage, and that queries are paraphrases.
    """
    problems: list[str] = []
    for kind, ids in (
        ("passage", [p.passage_id for p in passages]),
        ("query", [q.query_id for q in queries]),
    ):
        problems += [f"duplicate {kind} id {i}" for i, n in Counter(ids).items() if n > 1]

    by_id = {p.passage_id: p for p in passages}
    for p in passages:
        match = _PASSAGE_ID.fullmatch(p.passage_id)
        if match is None or match.group(1) != p.language:
            problems.append(f"{p.passage_id}: id must look like {p.language}-<subject>-p001")
        elif SUBJECT_SLUGS.get(p.subject) != match.group(2):
            problems.append(f"{p.passage_id}: subject {p.subject!r} does not match the id")
        if not MIN_PASSAGE_CHARS <= len(p.text) <= MAX_PASSAGE_CHARS:
            problems.append(f"{p.passage_id}: text has {len(p.text)} characters")
        for field in (p.title, p.text):
            if bool(HANGUL.search(field)) != (p.language == "ko"):
                problems.append(f"{p.passage_id}: {field[:30]!r} is not in {p.language}")

    for q in queries:
        if bool(HANGUL.search(q.text)) != (q.language == "ko"):
            problems.append(f"{q.query_id}: text is not in {q.language}")
        if q.subject not in SUBJECT_SLUGS:
            problems.append(f"{q.query_id}: unknown subject {q.subject!r}")
        if q.passage_id is None:
            if q.kind != "unanswerable":
                problems.append(f"{q.query_id}: only an unanswerable query has no passage")
            continue
        if q.kind == "unanswerable":
            problems.append(f"{q.query_id}: an unanswerable query points at {q.passage_id}")
        passage = by_id.get(q.passage_id)
        if passage is None:
            problems.append(f"{q.query_id}: unknown passage {q.passage_id}")
            continue
        if passage.subject != q.subject:
            problems.append(f"{q.query_id}: subject {q.subject} differs from its passage's")
        other = "en" if q.language == "ko" else "ko"
        expected = other if q.kind == "cross_lingual" else q.language
        if passage.language != expected:
            problems.append(f"{q.query_id}: {q.kind} query points at a {passage.language} passage")
        ratio = shared_run_ratio(q.text, passage.text)
        if ratio >= MAX_SHARED_RUN:
            problems.append(f"{q.query_id}: copies {ratio:.0%} of itself from its passage")

    per_passage = Counter(q.passage_id for q in queries if q.passage_id is not None)
    problems += [
        f"{pid}: {n} queries (at most {MAX_QUERIES_PER_PASSAGE})"
        for pid, n in per_passage.items()
        if n > MAX_QUERIES_PER_PASSAGE
    ]
    return problems


# ---------------------------------------------------------------- metrics


def _check_ranking(ranked: Sequence[str]) -> None:
    # A bare string is a Sequence[str] too; scoring its characters would be silently wrong.
    if isinstance(ranked, str):
        raise TypeError("ranked must be a sequence of passage ids, not a single string")


def recall_at_k(ranked: Sequence[str], relevant: str, k: int) -> float:
    """1.0 when the relevant passage is among the first ``k`` ranked ids, else 0.0."""
    _check_ranking(ranked)
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    return 1.0 if relevant in ranked[:k] else 0.0


def reciprocal_rank(ranked: Sequence[str], relevant: str) -> float:
    """1 / (1-based rank of the relevant passage), or 0.0 when it is not ranked at all."""
    _check_ranking(ranked)
    for position, passage_id in enumerate(ranked, 1):
        if passage_id == relevant:
            return 1.0 / position
    return 0.0


def _score(pairs: Sequence[tuple[Sequence[str], str]], k: int) -> SliceScore:
    n = len(pairs)
    return {
        "queries": float(n),
        "recall_at_k": sum(recall_at_k(ranked, rel, k) for ranked, rel in pairs) / n,
        "mrr": sum(reciprocal_rank(ranked, rel) for ranked, rel in pairs) / n,
    }


def evaluate(
    rankings: Mapping[str, Sequence[str]], queries: Iterable[Query], k: int = 5
) -> dict[str, SliceScore]:
    """Recall@k and MRR over ``queries``, overall and per slice.

    ``rankings`` maps each query id to passage ids, best first (the full ranking or at least
    its head; MRR counts only what is given). Every query must have a ranking; rankings for
    other ids are ignored; queries without a relevant passage are skipped. Returns
    ``"overall"`` plus each slice of :data:`SLICES` that has at least one query, each as
    ``{"queries": n, "recall_at_k": ..., "mrr": ...}`` (all floats).
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    queries = list(queries)
    if not queries:
        raise ValueError("no queries to evaluate")
    missing = [q.query_id for q in queries if q.query_id not in rankings]
    if missing:
        raise ValueError(f"{len(missing)} queries have no ranking, e.g. {missing[:5]}")

    pairs: dict[str, list[tuple[Sequence[str], str]]] = {"overall": []}
    for q in queries:
        if q.passage_id is None:
            continue  # nothing to rank: abstention is scored by evaluate_citations
        pair = (rankings[q.query_id], q.passage_id)
        pairs["overall"].append(pair)
        pairs.setdefault(q.slice, []).append(pair)
    order = ("overall", *SLICES)
    return {name: _score(pairs[name], k) for name in order if name in pairs}


def evaluate_citations(
    citations: Mapping[str, Sequence[str]], queries: Iterable[Query], k: int = 5
) -> dict[str, SliceScore]:
    """What drafting cited, scored per slice and overall.

    ``citations`` maps each query id to the passage ids its script cites, best first. Per
    slice: ``queries``; ``cited`` (citations made); ``citation_precision`` (share of
    citations that point at the query's relevant passage; a citation for a query with no
    relevant passage is always wrong; 1.0 when nothing was cited); ``recall_at_k`` and ``mrr``
    over queries that have a relevant passage; ``abstention`` (share of queries without a
    relevant passage that cite nothing) and ``false_abstention`` (share of the others that
    cite nothing). A metric without queries to average is left out.
    """
    queries = list(queries)
    missing = [q.query_id for q in queries if q.query_id not in citations]
    if missing:
        raise ValueError(f"{len(missing)} queries have no citations entry, e.g. {missing[:5]}")
    groups: dict[str, list[Query]] = {"overall": list(queries)}
    for q in queries:
        groups.setdefault(q.slice, []).append(q)
    report: dict[str, SliceScore] = {}
    for name in ("overall", *SLICES):
        members = groups.get(name)
        if not members:
            continue
        cited = [(q, list(citations[q.query_id])) for q in members]
        total = sum(len(c) for _, c in cited)
        right = sum(c.count(q.passage_id) for q, c in cited if q.passage_id is not None)
        answerable = [(q, c) for q, c in cited if q.passage_id is not None]
        unanswerable = [c for q, c in cited if q.passage_id is None]
        row: SliceScore = {
            "queries": float(len(members)),
            "cited": float(total),
            "citation_precision": right / total if total else 1.0,
        }
        if answerable:
            n = len(answerable)
            row["recall_at_k"] = (
                sum(recall_at_k(c, str(q.passage_id), k) for q, c in answerable) / n
            )
            row["mrr"] = sum(reciprocal_rank(c, str(q.passage_id)) for q, c in answerable) / n
            row["false_abstention"] = sum(not c for _, c in answerable) / n
        if unanswerable:
            row["abstention"] = sum(not c for c in unanswerable) / len(unanswerable)
        report[name] = row
    return report
