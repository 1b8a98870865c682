"""The template writer behind the ScriptWriter port."""

from __future__ import annotations

import pytest

from agents.drafting.arms import ARMS, Arm
from agents.drafting.template_writer import WRITER_ID, TemplateWriter
from agents.drafting.writer_port import Fact, ScriptWriter, TemplateScriptWriter, WrittenScript
from streams.errors import ValidationError
from tests.factories import problem_event

FACTS = (Fact("kb-1#0", 0.91, "세종대왕은 1443년에 훈민정음을 창제했다."),)


@pytest.mark.parametrize("index", [0, 40])
@pytest.mark.parametrize("arm", ARMS[:4], ids=lambda arm: arm.arm_id)
async def test_adapter_returns_the_template_draft(index: int, arm: Arm) -> None:
    problem = problem_event(index)
    writer: ScriptWriter = TemplateScriptWriter()

    written = await writer.write(problem, arm, FACTS)

    assert written == WrittenScript(TemplateWriter().write(problem, arm))
    assert written.fallback_reason is None
    assert writer.name == WRITER_ID == written.draft.writer


async def test_facts_do_not_change_the_template_draft() -> None:
    writer = TemplateScriptWriter()
    problem, arm = problem_event(3), ARMS[5]

    assert await writer.write(problem, arm, FACTS) == await writer.write(problem, arm, ())


async def test_uses_the_given_template_settings() -> None:
    writer = TemplateScriptWriter(TemplateWriter(countdown_seconds=5))

    written = await writer.write(problem_event(0), ARMS[0], ())

    assert written.draft.countdown_seconds == 5


async def test_undraftable_problem_is_a_validation_error() -> None:
    with pytest.raises(ValidationError):
        await TemplateScriptWriter().write(problem_event(0, language="fr"), ARMS[0], ())
