"""The chat prompt of the LLM script writer, in the problem's own language.

The model writes only the free copy (hook, preface, explanation, CTA). It is told the answer so
it can explain it, but the question, the choices and the reveal are never taken from it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from agents.drafting.arms import Arm, CtaStyle, HookStyle
from agents.drafting.llm_output import MAX_LENGTHS
from agents.drafting.writer_port import Fact

_HOOKS: Mapping[str, Mapping[HookStyle, str]] = {
    "ko": {
        "question_first": "시청자에게 바로 질문을 던지는 훅",
        "surprising_fact": "놀라운 사실로 시작하는 훅",
        "challenge": "'이거 맞히면 상위 10%' 같은 도전형 훅",
        "story": "짧은 이야기로 시작하는 훅",
    },
    "en": {
        "question_first": "a hook that asks the viewer a question straight away",
        "surprising_fact": "a hook that opens with a surprising fact",
        "challenge": "a challenge hook ('only 10% get this right')",
        "story": "a hook that opens with a tiny story",
    },
}

_CTAS: Mapping[str, Mapping[CtaStyle, str]] = {
    "ko": {
        "follow": "구독/팔로우를 권하는 마무리",
        "comment_answer": "댓글로 답이나 점수를 남기라고 권하는 마무리",
        "see_part2": "다음 편(2부)을 보라고 권하는 마무리",
    },
    "en": {
        "follow": "a closing line asking viewers to follow",
        "comment_answer": "a closing line asking viewers to comment their answer or score",
        "see_part2": "a closing line pointing viewers to part 2",
    },
}

_SYSTEM = {
    "ko": (
        "당신은 한국어 퀴즈 쇼츠 대본 작가입니다. 친근한 해요체/합니다체로 짧게 씁니다. "
        "반드시 JSON 객체 하나만 출력하세요. 키는 hook, preface, explanation, cta 네 개뿐입니다."
    ),
    "en": (
        "You write scripts for English quiz Shorts: short, punchy, second person. "
        "Reply with exactly one JSON object whose only keys are hook, preface, explanation, cta."
    ),
}

_INSTRUCTIONS = {
    "ko": (
        "아래 문제의 쇼츠 대본 일부를 써 주세요.\n"
        "- hook: {hook} (최대 {hook_max}자)\n"
        "- preface: 훅 다음에 읽는 짧은 도입부, 없으면 빈 문자열 (최대 {preface_max}자)\n"
        "- explanation: 정답({answer})이 왜 정답인지 설명 (최대 {explanation_max}자)\n"
        "- cta: {cta} (최대 {cta_max}자)\n"
        "설명은 아래 '사실' 목록에 있는 내용만 근거로 쓰고, 없는 사실은 지어내지 마세요. "
        "영어로 된 사실은 한국어로 풀어 쓰세요. "
        "문제, 보기, 정답은 바꾸지 마세요."
    ),
    "en": (
        "Write part of a Short's script for the problem below.\n"
        "- hook: {hook} (at most {hook_max} characters)\n"
        "- preface: a short lead-in read after the hook, or an empty string "
        "(at most {preface_max} characters)\n"
        "- explanation: why the answer ({answer}) is right (at most {explanation_max} characters)\n"
        "- cta: {cta} (at most {cta_max} characters)\n"
        "Ground the explanation only in the facts listed below; do not invent other facts. "
        "Paraphrase a fact written in Korean into English. "
        "Do not change the question, the choices or the answer."
    ),
}

_HEADINGS = {
    "ko": {"question": "문제", "choices": "보기", "facts": "사실", "none": "(없음)"},
    "en": {"question": "Question", "choices": "Choices", "facts": "Facts", "none": "(none)"},
}


def build_messages(
    problem: Mapping[str, Any], arm: Arm, facts: Sequence[Fact]
) -> list[dict[str, str]]:
    """System + user messages asking for the arm's hook/preface/explanation/CTA as JSON."""
    language = str(problem["language"])
    if language not in _SYSTEM:
        raise ValueError(f"no LLM prompt for language {language!r}")
    choices = [str(choice) for choice in problem["choices"]]
    answer = choices[int(problem["answer_index"])]
    heading = _HEADINGS[language]
    instructions = _INSTRUCTIONS[language].format(
        hook=_HOOKS[language][arm.hook_style],
        cta=_CTAS[language][arm.cta_style],
        answer=answer,
        hook_max=MAX_LENGTHS["hook"],
        preface_max=MAX_LENGTHS["preface"],
        explanation_max=MAX_LENGTHS["explanation"],
        cta_max=MAX_LENGTHS["cta"],
    )
    # Chunk ids travel with the facts so a reviewer can trace every claim to its source.
    fact_lines = [f"[{fact.chunk_id}] {fact.text.strip()}" for fact in facts] or [heading["none"]]
    user = "\n".join(
        [
            instructions,
            "",
            f"{heading['question']}: {str(problem['question']).strip()}",
            f"{heading['choices']}: {json.dumps(choices, ensure_ascii=False)}",
            "",
            f"{heading['facts']}:",
            *fact_lines,
        ]
    )
    return [{"role": "system", "content": _SYSTEM[language]}, {"role": "user", "content": user}]
