"""Blocks -> retrieval chunks. Pure; no I/O.

Chunks follow structure: a chunk never spans two sections, paragraphs are packed whole while
they fit, and a paragraph too long for one chunk is split at sentence ends. Consecutive chunks
of a section overlap by one sentence so a fact cut at a boundary is still found whole in one of
them. Chunk ids are uuid5(document, index): re-indexing a document reproduces them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from agents.knowledge.parsing import Block
from streams.events import derived_id

# Sentence ends: Latin/CJK punctuation, and the Korean declarative "다." even without a space.
_SENTENCE_END = re.compile(r"(?<=[.!?。？！])\s+|(?<=다\.)(?=\S)")


@dataclass(frozen=True)
class Chunk:
    chunk_id: str
    index: int
    headings: tuple[str, ...]
    text: str

    @property
    def embed_text(self) -> str:
        """What is embedded: the section path gives a short passage its topic."""
        if not self.headings:
            return self.text
        return f"{' > '.join(self.headings)}: {self.text}"


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def _pieces(text: str, max_chars: int) -> list[str]:
    """Sentences, with any single sentence longer than ``max_chars`` hard-wrapped at spaces."""
    out: list[str] = []
    for sentence in sentences(text):
        while len(sentence) > max_chars:
            cut = sentence.rfind(" ", 0, max_chars)
            cut = cut if cut > max_chars // 2 else max_chars
            out.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        if sentence:
            out.append(sentence)
    return out


def chunk_blocks(
    document_id: str, blocks: Sequence[Block], *, max_chars: int = 700, overlap: int = 1
) -> list[Chunk]:
    """Pack blocks into chunks of at most ``max_chars`` (plus overlap), section by section."""
    if max_chars < 50:
        raise ValueError("max_chars must be at least 50")
    texts: list[tuple[tuple[str, ...], str]] = []
    section: tuple[str, ...] | None = None
    current: list[str] = []

    def emit() -> None:
        if current and section is not None:
            texts.append((section, " ".join(current)))

    for block in blocks:
        if block.headings != section:
            emit()
            section, current = block.headings, []
        for piece in _pieces(block.text, max_chars):
            size = sum(len(s) + 1 for s in current)
            if current and size + len(piece) > max_chars:
                emit()
                current = current[-overlap:] if overlap else []
                # Never let the carried overlap alone push the next chunk over the limit.
                while current and sum(len(s) + 1 for s in current) + len(piece) > max_chars:
                    current.pop(0)
            current.append(piece)
    emit()
    return [
        Chunk(derived_id(document_id, "chunk", str(i)), i, headings, text)
        for i, (headings, text) in enumerate(texts)
    ]
