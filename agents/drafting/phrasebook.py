"""The shape of one language's copy: phrasings per style plus the language's own formatting."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from agents.drafting.arms import CtaStyle, HookStyle


@dataclass(frozen=True)
class Phrasebook:
    """All template copy of one language.

    Hooks and CTAs may use ``{subject}`` (a localized subject label) and ``{countdown}`` (the
    countdown in seconds); reveals use ``{label}`` and ``{choice}``. Every hook style needs at
    least as many phrasings as there are CTA styles, and every CTA style at least as many as
    there are hook styles: the writer rotates through them so arms sharing a style still get
    different text for the same problem.
    """

    language: str
    hooks: Mapping[HookStyle, tuple[str, ...]]
    # Optional lead-ins spoken after the hook; only some styles have them, and they are the
    # first thing dropped when a script runs over its time budget.
    prefaces: Mapping[HookStyle, tuple[str, ...]]
    ctas: Mapping[CtaStyle, tuple[str, ...]]
    reveals: tuple[str, ...]
    subjects: Mapping[str, str]
    # A problem tag that names a narrower, catchier subject ("맞춤법" beats "국어").
    subject_tags: Mapping[str, str]
    default_subject: str
    # Hook length limit in spoken units (Korean eojeol, English words): ~1.5 s of speech.
    max_hook_units: int
    label: Callable[[int], str]
    spoken_choices: Callable[[tuple[str, ...]], str]
    # How a choice reads inside the reveal sentence (quoting expressions, fixing punctuation).
    reveal_choice: Callable[[str, str], str]

    def subject_label(self, subject: str, tags: tuple[str, ...]) -> str:
        for tag in tags:
            if tag in self.subject_tags:
                return self.subject_tags[tag]
        return self.subjects.get(subject, self.default_subject)
