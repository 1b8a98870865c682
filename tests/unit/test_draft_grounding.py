"""Citations and grounding of drafted scripts (pure)."""

from __future__ import annotations

from agents.draft import Fact, grounded_explanation, retrieval_query
from tests.drafts import drafted
from tests.factories import problem_event

FACT = Fact("c1", 0.9, "세종은 1443년에 훈민정음을 만들었다. 1446년에 반포했다.")


def test_retrieval_query_includes_the_correct_answer() -> None:
    problem = problem_event(0)
    assert problem["choices"][problem["answer_index"]] in retrieval_query(problem)


def test_top_fact_first_sentence_is_added_only_when_relevant_and_new() -> None:
    base = "정답은 세종대왕입니다."
    assert (
        grounded_explanation(base, [FACT], 0.85) == f"{base} 세종은 1443년에 훈민정음을 만들었다."
    )
    assert grounded_explanation(base, [FACT], 0.95) == base  # not relevant enough
    assert grounded_explanation(base, [], 0.1) == base
    already = f"{base} 세종은 1443년에 훈민정음을 만들었다."
    assert grounded_explanation(already, [FACT], 0.5) == already  # nothing new


def test_every_variant_cites_the_retrieved_facts() -> None:
    facts = [FACT, Fact("c2", 0.81, "다른 사실이다.")]
    scripts = drafted(problem_event(0), k=3, facts=facts, grounding_min_score=0.85)
    assert len(scripts) == 3
    for script in scripts:
        assert script["citations"] == [
            {"chunk_id": "c1", "score": 0.9},
            {"chunk_id": "c2", "score": 0.81},
        ]
        assert script["explanation"].endswith("세종은 1443년에 훈민정음을 만들었다.")


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
