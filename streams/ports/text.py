"""The tokenizer port: words of a text with a coarse part of speech, for lexical matching.

Relevance checks compare the content words of a question with those of a passage, which for
Korean needs a morphological analyser (particles and endings are glued to the words: "세종은",
"만들었다"). The adapter (``connectors.text.kiwi``) wraps kiwipiepy; tests may use any object
with this shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

# The coarse classes relevance needs. "noun": common noun or root; "name": proper noun;
# "number": digits; "latin": a word in Latin script; "verb": verb or adjective stem;
# "other": particles, endings, punctuation, pronouns - never a key term.
Kind = Literal["noun", "name", "number", "latin", "verb", "other"]


@dataclass(frozen=True, slots=True)
class Token:
    """One morpheme (Korean) or word (Latin script) as written, with its coarse class."""

    form: str
    kind: Kind


class Tokenizer(Protocol):
    """Splits texts into tokens. CPU-bound and synchronous, like the embedder port."""

    @property
    def name(self) -> str:
        """Stable id of the analyser and its version."""
        ...

    def tokenize(self, texts: Sequence[str]) -> list[list[Token]]:
        """The tokens of each text, in order; one list per text."""
        ...
