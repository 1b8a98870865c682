"""Documents -> blocks of text under their heading path. Pure; no I/O.

Plain text splits on blank lines; Markdown and HTML keep their headings so every chunk knows
the section it came from (the section title is what makes a short passage retrievable).
Markup never reaches the embedder: scripts, styles and link targets are dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import ClassVar

from streams.errors import ValidationError

CONTENT_TYPES = ("text/plain", "text/markdown", "text/html")


@dataclass(frozen=True)
class Block:
    """A paragraph-like unit of text and the headings above it (outermost first)."""

    headings: tuple[str, ...]
    text: str


_MD_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MD_INLINE = re.compile(r"(\*\*|__|\*|_|`)(.+?)\1")
_MD_LIST = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_SPACES = re.compile(r"\s+")


def _clean(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def _markdown_inline(text: str) -> str:
    text = _MD_LINK.sub(r"\1", text)
    previous = None
    while previous != text:  # nested emphasis: **_x_**
        previous, text = text, _MD_INLINE.sub(r"\2", text)
    return text


def parse_plain(content: str) -> list[Block]:
    return [Block((), _clean(p)) for p in re.split(r"\n\s*\n", content) if _clean(p)]


def parse_markdown(content: str) -> list[Block]:
    blocks: list[Block] = []
    path: list[tuple[int, str]] = []
    paragraph: list[str] = []
    in_fence = False

    def flush() -> None:
        text = _clean(" ".join(paragraph))
        if text:
            blocks.append(Block(tuple(h for _, h in path), _markdown_inline(text)))
        paragraph.clear()

    for line in content.splitlines():
        if line.strip().startswith("```"):
            flush()
            in_fence = not in_fence
            continue
        heading = None if in_fence else _MD_HEADING.match(line)
        if heading:
            flush()
            level = len(heading.group(1))
            path[:] = [(lvl, h) for lvl, h in path if lvl < level]
            path.append((level, _markdown_inline(heading.group(2))))
        elif not line.strip():
            flush()
        elif _MD_LIST.match(line) and not in_fence:
            flush()  # each list item is its own block: items are usually separate facts
            paragraph.append(_MD_LIST.sub("", line))
        else:
            paragraph.append(line.lstrip("> ") if not in_fence else line)
    flush()
    return blocks


class _HtmlBlocks(HTMLParser):
    HEADINGS: ClassVar[dict[str, int]] = {f"h{n}": n for n in range(1, 7)}
    BREAKS: ClassVar[frozenset[str]] = frozenset(
        {"p", "li", "div", "section", "article", "blockquote", "td", "th", "pre", "br", "tr"}
    )
    SKIP: ClassVar[frozenset[str]] = frozenset(
        {"script", "style", "noscript", "template", "head", "svg"}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[Block] = []
        self.path: list[tuple[int, str]] = []
        self.text: list[str] = []
        self.heading_level: int | None = None
        self.skip_depth = 0

    def _flush(self) -> None:
        text = _clean("".join(self.text))
        self.text.clear()
        if not text:
            return
        if self.heading_level is not None:
            level = self.heading_level
            self.path[:] = [(lvl, h) for lvl, h in self.path if lvl < level]
            self.path.append((level, text))
        else:
            self.blocks.append(Block(tuple(h for _, h in self.path), text))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self.skip_depth += 1
        elif tag in self.HEADINGS:
            self._flush()
            self.heading_level = self.HEADINGS[tag]
        elif tag in self.BREAKS:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self.skip_depth = max(0, self.skip_depth - 1)
        elif tag in self.HEADINGS:
            self._flush()
            self.heading_level = None
        elif tag in self.BREAKS:
            self._flush()

    def handle_data(self, data: str) -> None:
        if not self.skip_depth:
            self.text.append(data)


def parse_html(content: str) -> list[Block]:
    parser = _HtmlBlocks()
    parser.feed(content)
    parser.close()
    parser._flush()
    return parser.blocks


def parse(content_type: str, content: str) -> list[Block]:
    """Blocks of a document; ``ValidationError`` (fatal) for an unsupported content type."""
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "text/plain":
        return parse_plain(content)
    if kind == "text/markdown":
        return parse_markdown(content)
    if kind == "text/html":
        return parse_html(content)
    raise ValidationError(f"unsupported content type {content_type!r}; use one of {CONTENT_TYPES}")
