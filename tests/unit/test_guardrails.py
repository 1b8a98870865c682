from __future__ import annotations

from agents.drafting.guardrails import violations
from tests.drafts import drafted
from tests.factories import problem_event


def _script_and_problem(index: int = 0) -> tuple[dict[str, object], dict[str, object]]:
    problem = problem_event(index)
    return drafted(problem, k=1)[0], problem


def test_template_drafts_of_the_whole_sample_bank_pass() -> None:
    for index in range(83):
        problem = problem_event(index)
        for script in drafted(problem, k=3):
            assert violations(script, problem) == [], problem["problem_id"]


def test_a_reveal_naming_a_wrong_choice_is_caught() -> None:
    script, problem = _script_and_problem(0)
    choices = problem["choices"]
    wrong = choices[(problem["answer_index"] + 1) % len(choices)]
    script = {**script, "answer_reveal": f"정답은 {wrong}입니다!"}
    found = violations(script, problem)
    assert any("does not name the correct choice" in v for v in found)
    assert any("answer_reveal presents" in v for v in found)


def test_a_changed_answer_key_is_caught() -> None:
    script, problem = _script_and_problem(1)
    script = {**script, "answer_index": (problem["answer_index"] + 1) % 3}
    assert any("answer index differ" in v for v in violations(script, problem))


def test_length_limits() -> None:
    script, problem = _script_and_problem(2)
    script = {**script, "hook": "x" * 81, "estimated_speech_seconds": 50.0}
    found = violations(script, problem)
    assert any("hook has 81 characters" in v for v in found)
    assert any("50.0 s of speech" in v for v in found)


def test_banned_words_whole_words_in_english_substrings_in_korean() -> None:
    script, problem = _script_and_problem(0)
    assert violations({**script, "cta": "a classy finish"}, problem, ["ass"]) == []
    found = violations({**script, "cta": "Pure SPAM here"}, problem, ["spam"])
    assert found == ["banned word 'spam' in cta"]
    found = violations({**script, "hook": "바보들도 아는 문제"}, problem, ["바보"])
    assert found == ["banned word '바보' in hook"]
