"""The deterministic template writer: copy variety, correct reveals, speech budget."""

from __future__ import annotations

import dataclasses
import json
import re
from collections import Counter
from itertools import chain
from typing import Any

import pytest

from agents.drafting.arms import ARMS, CTA_STYLES, HOOK_STYLES, Arm
from agents.drafting.phrasebook import Phrasebook
from agents.drafting.speech import (
    PAUSE_BETWEEN_PARTS_SECONDS,
    english_words,
    estimate_script_seconds,
    estimate_speech_seconds,
    korean_syllables,
)
from agents.drafting.template_writer import (
    MAX_SECONDS,
    MIN_SECONDS,
    PHRASEBOOKS,
    WRITER_ID,
    ScriptDraft,
    TemplateWriter,
    phrasebook,
)
from factory.samples import load_sample_problems
from schemas.contracts import load_schema
from streams.errors import ValidationError

PROBLEMS = load_sample_problems()
WRITER = TemplateWriter()
HANGUL = re.compile(r"[\uac00-\ud7a3]")
KO_PROBLEM = next(p for p in PROBLEMS if p["language"] == "ko")
EN_PROBLEM = next(p for p in PROBLEMS if p["language"] == "en")


def _id(problem: dict[str, Any]) -> str:
    return str(problem["problem_id"])


def _units(text: str, language: str) -> int:
    """Korean eojeol (space-separated) or English words."""
    return len(text.split()) if language == "ko" else len(re.findall(r"[A-Za-z0-9']+", text))


# --- the phrasebooks ---------------------------------------------------------------------


@pytest.mark.parametrize("book", PHRASEBOOKS.values(), ids=lambda b: b.language)
def test_every_style_has_enough_distinct_phrasings(book: Phrasebook) -> None:
    assert set(book.hooks) == set(HOOK_STYLES)
    assert set(book.ctas) == set(CTA_STYLES)
    # Enough options that the rotation gives every arm sharing a style its own phrasing.
    assert all(len(book.hooks[s]) >= len(CTA_STYLES) for s in HOOK_STYLES)
    assert all(len(book.ctas[s]) >= len(HOOK_STYLES) for s in CTA_STYLES)
    for table in (book.hooks, book.ctas, book.prefaces):
        everything = list(chain.from_iterable(table.values()))
        assert len(everything) == len(set(everything)), "styles must not share a phrasing"
    assert set(book.prefaces) == {"surprising_fact", "story"}


@pytest.mark.parametrize("book", PHRASEBOOKS.values(), ids=lambda b: b.language)
def test_hooks_are_short_and_in_the_right_language(book: Phrasebook) -> None:
    labels = {*book.subjects.values(), *book.subject_tags.values(), book.default_subject}
    for template in chain.from_iterable(book.hooks.values()):
        for label in labels:
            hook = template.format(subject=label, countdown="3")
            assert _units(hook, book.language) <= book.max_hook_units, hook
            assert estimate_speech_seconds(hook, book.language) <= 3.0, hook
            assert bool(HANGUL.search(hook)) == (book.language == "ko"), hook


def test_unknown_language_is_fatal() -> None:
    with pytest.raises(ValidationError):
        phrasebook("fr")
    with pytest.raises(ValidationError):
        WRITER.write({**EN_PROBLEM, "language": "fr"}, ARMS[0])


def test_answer_index_out_of_range_is_fatal() -> None:
    with pytest.raises(ValidationError):
        WRITER.write({**EN_PROBLEM, "answer_index": 9}, ARMS[0])


# --- determinism and variety -------------------------------------------------------------


def test_same_problem_and_arm_give_the_same_script() -> None:
    for problem in PROBLEMS:
        for arm in ARMS:
            assert WRITER.write(problem, arm) == TemplateWriter().write(dict(problem), arm)


def test_draft_is_frozen_and_carries_the_problem() -> None:
    draft = WRITER.write(KO_PROBLEM, ARMS[0])
    with pytest.raises(dataclasses.FrozenInstanceError):
        draft.hook = "x"  # type: ignore[misc]
    assert draft.writer == WRITER_ID == "template-v1"
    assert draft.countdown_seconds == 3
    assert draft.question == KO_PROBLEM["question"]
    assert draft.choices == tuple(KO_PROBLEM["choices"])
    assert draft.answer_index == KO_PROBLEM["answer_index"]
    assert draft.explanation == KO_PROBLEM["explanation"]


def test_draft_covers_the_script_drafted_content_fields() -> None:
    content = {
        "hook",
        "question",
        "choices",
        "countdown_seconds",
        "answer_index",
        "answer_reveal",
        "explanation",
        "cta",
        "estimated_speech_seconds",
        "writer",
    }
    schema_fields = {f["name"] for f in load_schema("ScriptDrafted")["fields"]}
    assert content <= schema_fields
    assert content <= {f.name for f in dataclasses.fields(ScriptDraft)}


@pytest.mark.parametrize("problem", PROBLEMS, ids=_id)
def test_arms_of_one_problem_never_share_hook_or_cta_text(problem: dict[str, Any]) -> None:
    drafts = [WRITER.write(problem, arm) for arm in ARMS]
    hooks = Counter(d.hook for d in drafts)
    ctas = Counter(d.cta for d in drafts)
    assert max(hooks.values()) == 1, hooks
    assert max(ctas.values()) == 1, ctas


@pytest.mark.parametrize("language", ["ko", "en"])
def test_different_problems_get_varied_copy(language: str) -> None:
    problems = [p for p in PROBLEMS if p["language"] == language]
    for arm in ARMS:
        drafts = [WRITER.write(p, arm) for p in problems]
        # Templates only differ by subject label, so count the distinct templates used.
        assert len({d.cta for d in drafts}) >= 3, arm
        assert len({d.hook for d in drafts}) >= 3, arm


def test_preface_only_for_story_and_surprising_fact() -> None:
    for problem in PROBLEMS:
        for arm in ARMS:
            draft = WRITER.write(problem, arm)
            assert bool(draft.preface) == (arm.hook_style in {"story", "surprising_fact"})


def test_subject_label_prefers_a_catchy_tag() -> None:
    book = phrasebook("ko")
    assert book.subject_label("history", ("한국사", "조선")) == "한국사"
    assert book.subject_label("language", ("국어",)) == "국어"
    assert book.subject_label("unknown", ()) == "상식"
    assert phrasebook("en").subject_label("language", ("spelling",)) == "spelling"


def test_countdown_in_the_copy_follows_the_writer_setting() -> None:
    writer = TemplateWriter(countdown_seconds=5)
    seen = set()
    for problem in PROBLEMS:
        for arm in ARMS:
            draft = writer.write(problem, arm)
            assert draft.countdown_seconds == 5
            assert "3초" not in draft.hook
            assert " 3 seconds" not in draft.hook
            seen.add("5초" in draft.hook or "5 seconds" in draft.hook)
    assert seen == {True, False}


# --- the answer reveal -------------------------------------------------------------------


@pytest.mark.parametrize("problem", PROBLEMS, ids=_id)
def test_reveal_names_the_right_choice_and_no_wrong_one(problem: dict[str, Any]) -> None:
    book = phrasebook(problem["language"])
    index = problem["answer_index"]
    choices = problem["choices"]

    def reveals_naming(i: int) -> set[str]:
        choice = book.reveal_choice(choices[i], problem["subject"])
        return {t.format(label=book.label(i), choice=choice) for t in book.reveals}

    right = choices[index].rstrip(".!?")
    label = f"{index + 1}번" if problem["language"] == "ko" else f" {chr(ord('A') + index)}:"
    for arm in ARMS:
        reveal = WRITER.write(problem, arm).answer_reveal
        assert label in reveal
        assert right in reveal
        # The reveal is exactly a template filled with the right choice, never a wrong one.
        assert reveal in reveals_naming(index)
        for i in range(len(choices)):
            if i != index:
                assert reveal not in reveals_naming(i)


def test_reveal_examples() -> None:
    sejong = next(p for p in PROBLEMS if p["problem_id"] == "ko-hist-001")
    canberra = next(p for p in PROBLEMS if p["problem_id"] == "en-geo-001")
    assert re.fullmatch(r"정답.* 3번, 세종대왕입니다!", WRITER.write(sejong, ARMS[0]).answer_reveal)
    assert re.fullmatch(r".*answer is A: Canberra!", WRITER.write(canberra, ARMS[0]).answer_reveal)


def test_reveal_quotes_expressions_and_sentences() -> None:
    ko = next(p for p in PROBLEMS if p["problem_id"] == "ko-lang-004")
    en = next(p for p in PROBLEMS if p["problem_id"] == "en-lang-004")
    assert "3번, ‘그러면 안 돼’입니다!" in WRITER.write(ko, ARMS[0]).answer_reveal
    assert "C: “They forgot their umbrellas”!" in WRITER.write(en, ARMS[0]).answer_reveal


def test_choice_text_is_never_treated_as_a_template() -> None:
    problem = {**EN_PROBLEM, "choices": ["{label}", "{choice}", "{0}"], "answer_index": 1}
    assert "B: {choice}!" in WRITER.write(problem, ARMS[0]).answer_reveal


# --- speech budget -----------------------------------------------------------------------


def test_speech_rates() -> None:
    assert estimate_speech_seconds("가나다라마바사", "ko") == pytest.approx(1.0)
    assert estimate_speech_seconds(" ".join(["word"] * 27), "en") == pytest.approx(10.0)
    assert korean_syllables("1443년") == 7  # 천사백사십삼 + 년
    assert korean_syllables("2024") == 5  # 이천이십사
    assert korean_syllables("0.2") == 3  # 영점이
    assert korean_syllables("H2O") == 3
    assert english_words("Neil Armstrong walked on the Moon in 1969.") == 7 + 4
    assert english_words("It's 7.") == 2
    with pytest.raises(ValueError, match="language"):
        estimate_speech_seconds("hola", "es")


def test_script_estimate_adds_pauses_and_countdown() -> None:
    parts = ["가나다라마바사", "", "가나다라마바사"]
    assert estimate_script_seconds(parts, "ko", 3) == pytest.approx(
        2.0 + PAUSE_BETWEEN_PARTS_SECONDS + 3
    )


@pytest.mark.parametrize("problem", PROBLEMS, ids=_id)
def test_every_sample_script_fits_the_budget(problem: dict[str, Any]) -> None:
    failures = {}
    for arm in ARMS:
        draft = WRITER.write(problem, arm)
        if not MIN_SECONDS <= draft.estimated_speech_seconds <= MAX_SECONDS:
            failures[arm.arm_id] = (draft.estimated_speech_seconds, draft.trimmed)
    assert not failures, f"outside {MIN_SECONDS}-{MAX_SECONDS} s: {failures}"


def _long_problem() -> dict[str, Any]:
    sentence = "This sentence pads the explanation with plenty of extra spoken words."
    return {**EN_PROBLEM, "explanation": " ".join([sentence] * 6)}


def test_over_budget_drops_the_preface_first() -> None:
    arm = Arm("story", "follow")
    full = WRITER.write(EN_PROBLEM, arm)
    tight = TemplateWriter(max_seconds=full.estimated_speech_seconds - 0.01).write(EN_PROBLEM, arm)
    assert full.preface
    assert tight.trimmed == ("preface",)
    assert tight.preface == ""
    assert tight.explanation == full.explanation
    assert tight.estimated_speech_seconds < full.estimated_speech_seconds


def test_still_over_budget_keeps_only_the_first_explanation_sentence() -> None:
    problem = _long_problem()
    draft = WRITER.write(problem, Arm("surprising_fact", "see_part2"))
    assert draft.trimmed == ("preface", "explanation")
    assert draft.explanation == problem["explanation"].split(". ")[0] + "."
    # The question, the choices and the answer are never cut.
    assert draft.question == problem["question"]
    assert draft.choices == tuple(problem["choices"])
    assert problem["choices"][problem["answer_index"]] in draft.answer_reveal
    assert draft.estimated_speech_seconds <= MAX_SECONDS


def test_hook_styles_without_preface_only_trim_the_explanation() -> None:
    draft = WRITER.write(_long_problem(), Arm("challenge", "follow"))
    assert draft.trimmed == ("explanation",)


def test_short_scripts_are_reported_not_padded() -> None:
    problem = {**KO_PROBLEM, "explanation": "", "question": "1+1은?", "choices": ["2", "3"]}
    problem["answer_index"] = 0
    draft = WRITER.write(problem, ARMS[0])
    assert draft.estimated_speech_seconds < MIN_SECONDS
    assert draft.explanation == ""
    assert draft.trimmed == ()


def test_estimate_matches_the_spoken_parts() -> None:
    book = phrasebook("ko")
    draft = WRITER.write(KO_PROBLEM, Arm("story", "comment_answer"))
    parts = [
        draft.hook,
        draft.preface,
        draft.question,
        book.spoken_choices(draft.choices),
        draft.answer_reveal,
        draft.explanation,
        draft.cta,
    ]
    assert draft.estimated_speech_seconds == pytest.approx(
        estimate_script_seconds(parts, "ko", 3), abs=0.01
    )


def test_sample_scripts_snapshot_is_readable() -> None:
    # A smoke check that drafts serialize as the agent emits them (plain JSON-able values).
    draft = WRITER.write(KO_PROBLEM, ARMS[0])
    json.dumps(dataclasses.asdict(draft), ensure_ascii=False)
