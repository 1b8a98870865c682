"""Citations and grounding of drafted scripts (pure)."""

from __future__ import annotations

from agents.draft import Fact, grounded_explanation, retrieval_query, speakable
from agents.draft.rules import supporting_sentence
from tests.drafts import drafted
from tests.factories import problem_event

SUPPORT = "세종은 1443년에 훈민정음을 만들었다."
FACT = Fact("c1", 0.9, f"{SUPPORT} 1446년에 반포했다.", language="ko", support=SUPPORT)


def test_retrieval_query_includes_the_correct_answer() -> None:
    problem = problem_event(0)
    assert problem["choices"][problem["answer_index"]] in retrieval_query(problem)


def test_the_supporting_sentence_is_spoken_only_when_relevant_and_new() -> None:
    base = "정답은 세종대왕입니다."
    assert grounded_explanation(base, [FACT], 0.85, "ko") == f"{base} {SUPPORT}"
    assert grounded_explanation(base, [FACT], 0.95, "ko") == base  # not relevant enough
    assert grounded_explanation(base, [], 0.1, "ko") == base
    already = f"{base} {SUPPORT}"
    assert grounded_explanation(already, [FACT], 0.5, "ko") == already  # nothing new


def test_a_fact_without_support_is_never_spoken_however_relevant() -> None:
    # The Venus problem of issue 17: a confident Jupiter passage must not be narrated.
    jupiter = Fact("c9", 0.99, "목성은 태양계에서 가장 큰 행성이다.", language="ko")
    assert grounded_explanation("", [jupiter], 0.1, "ko") == ""
    assert speakable([jupiter], 0.1) == []


def test_a_foreign_fact_is_cited_but_not_spoken_by_the_template() -> None:
    venus = Fact("c2", 0.9, "Venus is the hottest planet.", language="en", support="Venus is...")
    scripts = drafted(problem_event(0), k=1, facts=[venus], grounding_min_score=0.5)
    assert scripts[0]["citations"] == [{"chunk_id": "c2", "score": 0.9}]
    assert "Venus" not in scripts[0]["explanation"]


def test_supporting_sentence_needs_the_answer_and_the_question_terms() -> None:
    text = "1592년 임진왜란 중 이순신이 이끄는 조선 수군이 이겼다. 이순신은 1598년에 전사했다."
    assert (
        supporting_sentence(text, "이순신", 0.6)
        == "1592년 임진왜란 중 이순신이 이끄는 조선 수군이 이겼다."
    )
    assert supporting_sentence(text, "이순신", 0.2) == ""  # e.g. "거북선을 만든 장군은?"
    assert supporting_sentence(text, "원균", 0.9) == ""  # never names the answer


def test_every_variant_cites_the_retrieved_facts() -> None:
    facts = [FACT, Fact("c2", 0.81, "다른 사실이다.", language="ko")]
    scripts = drafted(problem_event(0), k=3, facts=facts, grounding_min_score=0.85)
    assert len(scripts) == 3
    for script in scripts:
        assert script["citations"] == [
            {"chunk_id": "c1", "score": 0.9},
            {"chunk_id": "c2", "score": 0.81},
        ]
        assert script["explanation"].endswith(SUPPORT)


async def test_draft_step_records_the_writer_and_its_fallback_reason() -> None:
    from collections.abc import Mapping, Sequence
    from dataclasses import replace
    from typing import Any

    from agents.draft import DraftStep
    from agents.drafting.arms import Arm
    from agents.drafting.template_writer import TemplateWriter
    from agents.drafting.writer_port import WrittenScript

    class FallingBackWriter:
        name = "llm:fake"

        async def write(
            self, problem: Mapping[str, Any], arm: Arm, facts: Sequence[Fact]
        ) -> WrittenScript:
            draft = TemplateWriter().write(dict(problem), arm)
            return WrittenScript(replace(draft), "invalid LLM output: hook: too long")

    step = DraftStep(k=2, writer=FallingBackWriter())
    emits = await step(problem_event(1))
    assert len(emits) == 2
    assert {e.record["fallback_reason"] for e in emits} == {"invalid LLM output: hook: too long"}
    assert all(e.record["writer"] == "template-v1" for e in emits)


async def test_guardrail_breaking_llm_copy_is_replaced_by_the_template_with_the_reason() -> None:
    from collections.abc import Mapping, Sequence
    from dataclasses import replace
    from typing import Any

    from agents.draft import DraftStep
    from agents.drafting.arms import Arm
    from agents.drafting.template_writer import TemplateWriter
    from agents.drafting.writer_port import WrittenScript

    class RudeWriter:
        name = "llm:rude"

        async def write(
            self, problem: Mapping[str, Any], arm: Arm, facts: Sequence[Fact]
        ) -> WrittenScript:
            draft = TemplateWriter().write(dict(problem), arm)
            return WrittenScript(replace(draft, cta="Buy spam now!", writer="llm:rude"))

    emits = await DraftStep(k=1, writer=RudeWriter(), banned_words=["spam"])(problem_event(3))
    (record,) = [e.record for e in emits]
    assert record["writer"] == "template-v1"
    assert record["fallback_reason"] == "guardrail: banned word 'spam' in cta"
    assert "spam" not in record["cta"].lower()


async def test_a_problem_whose_own_text_is_banned_is_fatal() -> None:
    import pytest

    from agents.draft import DraftStep
    from streams.errors import ValidationError

    problem = problem_event(43)
    word = problem["question"].split()[0]
    with pytest.raises(ValidationError, match="fails guardrails"):
        await DraftStep(k=1, banned_words=[word])(problem)
