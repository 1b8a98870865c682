"""What an LLM may write into a script, and the checks its reply must pass before use."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

# Limits keep every part speakable within the Short's budget and stop rambling replies early.
MAX_LENGTHS = {"hook": 80, "preface": 200, "explanation": 400, "cta": 120}


class InvalidOutputError(Exception):
    """The model's reply is not usable; the message says why (it becomes a fallback reason)."""


class ScriptCopy(BaseModel):
    """The LLM-written parts of a script. Unknown keys are rejected, not ignored: a reply
    carrying e.g. ``answer_index`` means the model misunderstood its job."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, str_strip_whitespace=True)

    hook: Annotated[str, Field(min_length=1, max_length=MAX_LENGTHS["hook"])]
    preface: Annotated[str, Field(max_length=MAX_LENGTHS["preface"])] = ""
    explanation: Annotated[str, Field(min_length=1, max_length=MAX_LENGTHS["explanation"])]
    cta: Annotated[str, Field(min_length=1, max_length=MAX_LENGTHS["cta"])]


def parse_copy(content: str) -> ScriptCopy:
    """The reply ``content`` as ``ScriptCopy``; ``InvalidOutputError`` when it is not one."""
    try:
        data = json.loads(content)
    except ValueError as exc:
        raise InvalidOutputError(f"not JSON ({exc}): {content[:80]!r}") from None
    if not isinstance(data, dict):
        raise InvalidOutputError(f"not a JSON object but {type(data).__name__}")
    try:
        return ScriptCopy.model_validate(data)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(part) for part in error['loc']) or 'reply'}: {error['msg']}"
            for error in exc.errors()
        ]
        raise InvalidOutputError("; ".join(problems)) from None


# Phrases after which a script names its answer. Deliberately broad: a false alarm only costs
# a fallback to the template, a missed wrong answer teaches viewers something false.
_CLAIM = {
    "ko": re.compile(r"정답\s*(?:은|는|:|=)|답은"),
    "en": re.compile(r"\b(?:the\s+)?(?:correct\s+|right\s+)?answer\s*(?:is|was|:|=)", re.I),
}
_CLAUSE_END = re.compile(r"[.!?。\n]")
_FILLER = {"ko": re.compile(r"^[\s\"'“”‘’:,]*(?:바로\s*)?"), "en": re.compile(r"^[\s\"'“”‘’:,]*")}
_LABEL = {
    "ko": re.compile(r"^(\d+)\s*번"),
    "en": re.compile(r"^(?:option\s+|choice\s+)?([A-Z])(?![A-Za-z])", re.I),
}


def _choice_pattern(choice: str) -> re.Pattern[str]:
    # ASCII word boundaries only: Korean particles attach straight to the word ("세조가").
    left = r"(?<![A-Za-z0-9])" if re.match(r"[A-Za-z0-9]", choice) else ""
    right = r"(?![A-Za-z0-9])" if re.search(r"[A-Za-z0-9]$", choice) else ""
    return re.compile(left + re.escape(choice) + right, re.I)


def _label_index(clause: str, language: str) -> int | None:
    match = _LABEL[language].match(clause)
    if match is None:
        return None
    label = match.group(1)
    if language == "ko":
        return int(label) - 1
    # A lone lowercase "a" is the article ("the answer is a city ..."), not label A.
    if label == "a" and not re.match(r"a\s*[:.,)]", clause):
        return None
    return ord(label.upper()) - ord("A")


def wrong_answer_claim(
    text: str, choices: Sequence[str], answer_index: int, language: str
) -> str | None:
    """The wrong choice ``text`` presents as the answer ("정답은 세조", "The answer is B"),
    or None when every such claim names the right answer or no choice at all."""
    claim = _CLAIM.get(language)
    if claim is None:
        return None
    for match in claim.finditer(text):
        clause = _CLAUSE_END.split(text[match.end() :], maxsplit=1)[0]
        clause = _FILLER[language].sub("", clause)
        label = _label_index(clause, language)
        if label is not None and 0 <= label < len(choices):
            if label != answer_index:
                return choices[label]
            continue
        # The choice named first after the phrase is the one claimed; on a tie at the same
        # position the longest wins, so "1443" is not mistaken for a choice "44".
        named = [
            (found.start(), -len(choice), index)
            for index, choice in enumerate(choices)
            if choice.strip() and (found := _choice_pattern(choice.strip()).search(clause))
        ]
        if named:
            index = min(named)[2]
            if index != answer_index:
                return choices[index]
    return None
