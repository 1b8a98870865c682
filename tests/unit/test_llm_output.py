"""Parsing and checking of the LLM writer's replies, without any model."""

from __future__ import annotations

import json

import pytest

from agents.drafting.llm_output import InvalidOutputError, parse_copy, wrong_answer_claim

KO_CHOICES = ("태조", "세조", "세종대왕", "정조")
EN_CHOICES = ("Mercury", "Venus", "Mars", "Jupiter")


def test_parse_strips_and_defaults_the_preface() -> None:
    copy = parse_copy(json.dumps({"hook": " 훅 ", "explanation": "설명", "cta": "구독!"}))
    assert (copy.hook, copy.preface, copy.explanation, copy.cta) == ("훅", "", "설명", "구독!")


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ("Sure! Here is your script.", "not JSON"),
        ("[1, 2]", "not a JSON object but list"),
        (json.dumps({"hook": "h", "explanation": "e"}), "cta: Field required"),
        (json.dumps({"hook": "h", "explanation": "e", "cta": 3}), "cta: Input should be"),
        (json.dumps({"hook": "  ", "explanation": "e", "cta": "c"}), "hook: String should have"),
        (
            json.dumps({"hook": "h", "explanation": "e", "cta": "c", "answer_index": 0}),
            "answer_index: Extra inputs are not permitted",
        ),
    ],
)
def test_parse_rejects(reply: str, reason: str) -> None:
    with pytest.raises(InvalidOutputError, match=reason):
        parse_copy(reply)


@pytest.mark.parametrize(
    ("text", "claimed"),
    [
        ("정답은 세종대왕입니다. 1443년에 창제했어요.", None),
        ("정답은 바로 3번, 세종대왕!", None),
        ("세조가 아니라 세종대왕이 만들었어요.", None),
        ("정답은 세조입니다.", "세조"),
        ("정답: 1번 태조", "태조"),
        ("사실 정답은 '정조'예요!", "정조"),
        ("정답은 세조가 아니라 세종대왕입니다.", "세조"),  # ambiguous: flagged on purpose
    ],
)
def test_wrong_answer_claims_ko(text: str, claimed: str | None) -> None:
    assert wrong_answer_claim(text, KO_CHOICES, 2, "ko") == claimed


@pytest.mark.parametrize(
    ("text", "claimed"),
    [
        ("The answer is Mars, the red planet.", None),
        ("The answer is a planet you can see: Mars.", None),
        ("The correct answer is C: Mars!", None),
        ("The answer is Venus.", "Venus"),
        ("the right answer was b, of course", "Venus"),
        ("Answer: Jupiter", "Jupiter"),
        ("Venus is hotter, but the answer is Mars.", None),
    ],
)
def test_wrong_answer_claims_en(text: str, claimed: str | None) -> None:
    assert wrong_answer_claim(text, EN_CHOICES, 2, "en") == claimed
