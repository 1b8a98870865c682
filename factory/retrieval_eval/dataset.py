"""The retrieval evaluation set and its pure metrics.

The set is a small bilingual knowledge corpus (``data/passages.jsonl``) plus paraphrased queries
(``data/queries.jsonl``), each pointing at exactly one relevant passage. A scorer embeds both
with a candidate model, ranks every passage for every query and hands the rankings to
:func:`evaluate`. Nothing here imports a model: the module only loads, checks and scores.

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
QueryKind = Literal["paraphrase", "question", "cross_lingual"]
Slice = Literal["ko", "en", "cross_lingual"]

PASSAGES_FILE = "passages.jsonl"
QUERIES_FILE = "queries.jsonl"
SLICES: tuple[Slice, ...] = ("ko", "en", "cross_lingual")
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
    """One query with its single relevant passage.

    ``language`` is the language of the query text; a ``cross_lingual`` query is Korean and its
    passage is English.
    """

    query_id: str
    language: Language
    passage_id: str
    kind: QueryKind
    text: str

    @property
    def slice(self) -> Slice:
        """The reporting slice: ``cross_lingual``, else the (shared) language."""
        if self.kind == "cross_lingual":
            return "cross_lingual"
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
    v = _strings(record, ("query_id", "language", "passage_id", "kind", "text"))
    return Query(
        v["query_id"], _language(v["language"]), v["passage_id"], _kind(v["kind"]), v["text"]
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


def load_queries() -> tuple[Query, ...]:
    """Every query, in file order."""
    queries = []
    for number, record in _records(QUERIES_FILE):
        try:
            queries.append(parse_query(record))
        except ValueError as exc:
            raise ValueError(f"{QUERIES_FILE} line {number}: {exc}") from exc
    return tuple(queries)


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
        passage = by_id.get(q.passage_id)
        if passage is None:
            problems.append(f"{q.query_id}: unknown passage {q.passage_id}")
            continue
        expected = "en" if q.kind == "cross_lingual" else q.language
        if q.kind == "cross_lingual" and q.language != "ko":
            problems.append(f"{q.query_id}: cross-lingual queries are Korean")
        if passage.language != expected:
            problems.append(f"{q.query_id}: {q.kind} query points at a {passage.language} passage")
        ratio = shared_run_ratio(q.text, passage.text)
        if ratio >= MAX_SHARED_RUN:
            problems.append(f"{q.query_id}: copies {ratio:.0%} of itself from its passage")

    per_passage = Counter(q.passage_id for q in queries)
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
    other ids are ignored. Returns ``"overall"`` plus each of ``"ko"``, ``"en"`` and
    ``"cross_lingual"`` that has at least one query, each as ``{"queries": n, "recall_at_k":
    ..., "mrr": ...}`` (all floats).
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
        pair = (rankings[q.query_id], q.passage_id)
        pairs["overall"].append(pair)
        pairs.setdefault(q.slice, []).append(pair)
    order = ("overall", *SLICES)
    return {name: _score(pairs[name], k) for name in order if name in pairs}
