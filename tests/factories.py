"""Builders for realistic event records used across tests."""

from __future__ import annotations

from typing import Any

from factory.samples import load_sample_problems
from streams import events


def problem_event(index: int = 0, **overrides: Any) -> dict[str, Any]:
    """A ProblemSubmitted record built from the sample bank."""
    sample = load_sample_problems()[index % len(load_sample_problems())]
    record: dict[str, Any] = {
        "meta": events.meta(correlation_id=events.new_id()),
        "problem_id": f"{sample['problem_id']}-{index}",
        "language": sample["language"],
        "subject": sample["subject"],
        "question": sample["question"],
        "choices": list(sample["choices"]),
        "answer_index": sample["answer_index"],
        "explanation": sample["explanation"],
        "difficulty": sample.get("difficulty"),
        "tags": list(sample.get("tags", [])),
        "submitted_by": "tests",
    }
    record.update(overrides)
    return record
