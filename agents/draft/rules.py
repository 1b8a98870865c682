"""Drafting rules (pure): what makes a problem draftable, what to retrieve for it, and the
ScriptDrafted record of one variant."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agents.draft.lexical import mentions
from agents.drafting.arms import EXPERIMENT_ID, Arm
from agents.drafting.template_writer import ScriptDraft
from agents.drafting.writer_port import Fact
from agents.knowledge.chunking import sentences
from schemas.records import ProblemSubmitted, ScriptDrafted
from streams import text
from streams.errors import ValidationError
from streams.events import derived_id, derived_meta

AGENT = "drafting"
STEP = "draft"
Record = dict[str, Any]


def _shown(problem: ProblemSubmitted, field: str, value: str) -> str:
    try:
        return text.clean(value)
    except text.UnsafeTextError as exc:
        raise ValidationError(
            f"problem {problem['problem_id']}: {field} cannot be shown as written: {exc}"
        ) from None


def normalised_problem(problem: ProblemSubmitted) -> ProblemSubmitted:
    """The problem with every text field in NFC (streams/text.py). Text that cannot be shown
    (bidi controls, invisible characters, stacked marks) is fatal: an event that reached the
    topic without the API's checks goes to the dead letters, never to the screen."""
    choices = [_shown(problem, f"choices[{i}]", c) for i, c in enumerate(problem["choices"])]
    folded = [text.fold(c) for c in choices]
    for index, key in enumerate(folded):
        first = folded.index(key)
        if first != index:  # "１９４５" would be drawn as a second "1945"
            raise ValidationError(
                f"problem {problem['problem_id']}: choices[{index}] reads the same as "
                f"choices[{first}]"
            )
    return {
        **problem,
        "subject": _shown(problem, "subject", problem["subject"]),
        "question": _shown(problem, "question", problem["question"]),
        "choices": choices,
        "explanation": _shown(problem, "explanation", problem["explanation"]),
        "tags": [_shown(problem, f"tags[{i}]", t) for i, t in enumerate(problem["tags"])],
    }


def validate_problem(problem: ProblemSubmitted) -> None:
    """Business rules the schema cannot express. A violation is fatal: retrying cannot help."""
    choices = problem["choices"]
    if len(choices) < 2:
        raise ValidationError(f"problem {problem['problem_id']} has fewer than 2 choices")
    if not 0 <= problem["answer_index"] < len(choices):
        raise ValidationError(
            f"problem {problem['problem_id']}: answer_index {problem['answer_index']} "
            f"is outside its {len(choices)} choices"
        )
    if not problem["question"].strip():
        raise ValidationError(f"problem {problem['problem_id']} has an empty question")
    if problem["language"] not in ("ko", "en"):
        raise ValidationError(f"problem {problem['problem_id']}: unsupported language")


def retrieval_query(problem: ProblemSubmitted) -> str:
    """Question plus correct answer: the facts worth citing explain the answer."""
    return f"{problem['question']} {problem['choices'][problem['answer_index']]}"


# A fact supports the answer only if it also holds at least this weighted share of the
# question's key terms: "이순신" appears in many passages, few of them about 거북선.
KEY_TERM_SHARE = 0.5


def supporting_sentence(text: str, answer: str, question_coverage: float) -> str:
    """The first sentence of ``text`` that states ``answer`` (``lexical.mentions``), provided
    the whole text covers ``KEY_TERM_SHARE`` of the question's key terms; else ""."""
    if question_coverage < KEY_TERM_SHARE:
        return ""
    return next((s for s in sentences(text) if mentions(s, answer)), "")


def speakable(facts: Sequence[Fact], min_score: float) -> list[Fact]:
    """The facts a script may say or a writer may use: relevant enough, and stating the answer.
    A fact that is merely on topic is cited, never spoken: a confidently spoken wrong fact is
    the worst output a quiz channel has."""
    return [f for f in facts if f.support and f.score >= min_score]


def grounded_explanation(
    explanation: str, facts: Sequence[Fact], min_score: float, language: str | None = None
) -> str:
    """The explanation, extended by the supporting sentence of the best speakable fact in the
    problem's ``language`` when it says something the explanation does not already say. A
    fact in another language is cited but not spoken by the template (it cannot translate)."""
    spoken = [f for f in speakable(facts, min_score) if language is None or f.language == language]
    if not spoken:
        return explanation
    # Indexed text may come from anywhere: cleaned like a document (streams/text.py), so a
    # stray soft hyphen in a fact cannot make the whole draft fail its guardrails.
    sentence = text.sanitise(spoken[0].support)
    if sentence in explanation:
        return explanation
    return f"{explanation} {sentence}".strip()


def script_record(
    problem: ProblemSubmitted,
    arm: Arm,
    draft: ScriptDraft,
    *,
    facts: Sequence[Fact] = (),
    grounding_min_score: float = 1.1,
    fallback_reason: str | None = None,
    duplicate_of: str | None = None,
) -> ScriptDrafted:
    """The ScriptDrafted record of one variant (pure): deterministic ids, cited facts."""
    cause_id = problem["meta"]["event_id"]
    return {
        "meta": derived_meta(problem, STEP, arm.arm_id),
        "script_id": derived_id(cause_id, "script", arm.arm_id),
        "problem_id": problem["problem_id"],
        "language": problem["language"],
        "experiment_id": EXPERIMENT_ID,
        "arm_id": arm.arm_id,
        "hook_style": arm.hook_style,
        "cta_style": arm.cta_style,
        "hook": draft.hook,
        "preface": draft.preface,
        "question": draft.question,
        "choices": list(draft.choices),
        "countdown_seconds": draft.countdown_seconds,
        "answer_index": draft.answer_index,
        "answer_reveal": draft.answer_reveal,
        "explanation": grounded_explanation(
            draft.explanation, facts, grounding_min_score, problem["language"]
        ),
        "cta": draft.cta,
        "estimated_speech_seconds": float(draft.estimated_speech_seconds),
        "writer": draft.writer,
        "citations": [{"chunk_id": f.chunk_id, "score": f.score} for f in facts],
        "fallback_reason": fallback_reason,
        "duplicate_of": duplicate_of,
    }
