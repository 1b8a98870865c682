"""Every entry of the shipped sample problem bank is a well-formed, submittable problem."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest
from fastavro.validation import validate

from factory.samples import load_sample_problems
from schemas.contracts import parsed_schema
from streams.events import meta

FIELDS = {
    "problem_id",
    "language",
    "subject",
    "question",
    "choices",
    "answer_index",
    "explanation",
    "difficulty",
    "tags",
}
SUBJECTS = {"history", "science", "geography", "math", "language", "general"}
SUBJECT_SLUGS = {
    "history": "hist",
    "science": "sci",
    "geography": "geo",
    "math": "math",
    "language": "lang",
    "general": "gen",
}
HANGUL = re.compile(r"[\uac00-\ud7a3]")
SENTENCE_END = re.compile(r"[.!?](?:\s|$)")

PROBLEMS = load_sample_problems()


def _id(problem: dict[str, Any]) -> str:
    return str(problem["problem_id"])


def test_bank_size_and_language_balance() -> None:
    languages = Counter(p["language"] for p in PROBLEMS)
    assert len(PROBLEMS) >= 60
    assert languages["ko"] >= 25
    assert languages["en"] >= 25
    assert set(languages) == {"ko", "en"}


def test_problem_ids_are_unique() -> None:
    ids = [p["problem_id"] for p in PROBLEMS]
    assert len(ids) == len(set(ids))


def test_every_subject_is_covered_in_both_languages() -> None:
    for language in ("ko", "en"):
        assert {p["subject"] for p in PROBLEMS if p["language"] == language} == SUBJECTS


def test_answer_positions_vary() -> None:
    for language in ("ko", "en"):
        positions = Counter(p["answer_index"] for p in PROBLEMS if p["language"] == language)
        total = sum(positions.values())
        assert len(positions) >= 3
        assert max(positions.values()) <= total / 2


@pytest.mark.parametrize("problem", PROBLEMS, ids=_id)
def test_entry_is_well_formed(problem: dict[str, Any]) -> None:
    assert set(problem) == FIELDS
    language, subject = problem["language"], problem["subject"]
    assert language in {"ko", "en"}
    assert subject in SUBJECTS
    assert re.fullmatch(rf"{language}-{SUBJECT_SLUGS[subject]}-\d{{3}}", problem["problem_id"])
    assert problem["difficulty"] in {"easy", "medium", "hard"}
    assert isinstance(problem["question"], str)
    assert problem["question"].strip()

    choices = problem["choices"]
    assert 3 <= len(choices) <= 4
    assert all(isinstance(c, str) and c.strip() == c and c for c in choices)
    assert len({c.casefold() for c in choices}) == len(choices), "choices must be distinct"
    answer = problem["answer_index"]
    assert type(answer) is int
    assert 0 <= answer < len(choices)

    explanation = problem["explanation"]
    assert explanation.strip()
    assert 1 <= len(SENTENCE_END.findall(explanation)) <= 2, "explanations are 1-2 sentences"
    assert problem["tags"]
    assert all(isinstance(t, str) and t for t in problem["tags"])


@pytest.mark.parametrize("problem", PROBLEMS, ids=_id)
def test_text_is_in_the_declared_language(problem: dict[str, Any]) -> None:
    text = problem["question"] + problem["explanation"]
    if problem["language"] == "ko":
        assert HANGUL.search(problem["question"])
        assert HANGUL.search(problem["explanation"])
    else:
        assert not HANGUL.search(text + "".join(problem["choices"]))


@pytest.mark.parametrize("problem", PROBLEMS, ids=_id)
def test_entry_fits_the_problem_submitted_contract(problem: dict[str, Any]) -> None:
    record = {**problem, "meta": meta(correlation_id="samples"), "submitted_by": "samples"}
    assert validate(record, parsed_schema("ProblemSubmitted"), raise_errors=True)
