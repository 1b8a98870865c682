"""Parsing along structure and chunking with overlap, for Korean and English documents."""

from __future__ import annotations

import itertools

import pytest

from agents.knowledge.chunking import chunk_blocks, sentences
from agents.knowledge.parsing import Block, parse
from streams.errors import ValidationError

MARKDOWN = """# 조선의 과학

## 세종 시대

세종대왕은 **집현전**을 설치했다. [장영실](https://example.com)은 측우기를 만들었다.

- 자격루는 물시계이다.
- 앙부일구는 해시계이다.

## 훈민정음

```
코드 블록도 텍스트로 남는다
```
훈민정음은 1443년에 창제되었다.
"""

HTML = """<html><head><title>t</title><style>p{color:red}</style></head><body>
<h1>Australia</h1><p>Canberra is the capital of Australia.</p>
<script>alert('x')</script>
<h2>Cities</h2><ul><li>Sydney is the largest city.</li>
<li>Melbourne hosted the 1956 Olympics.</li></ul>
<p>Tom &amp; Jerry &lt;3</p></body></html>"""


def test_markdown_keeps_heading_paths_and_drops_markup() -> None:
    blocks = parse("text/markdown", MARKDOWN)
    assert blocks[0] == Block(
        ("조선의 과학", "세종 시대"), "세종대왕은 집현전을 설치했다. 장영실은 측우기를 만들었다."
    )
    assert Block(("조선의 과학", "세종 시대"), "자격루는 물시계이다.") in blocks
    assert blocks[-1].headings == ("조선의 과학", "훈민정음")
    assert all("http" not in b.text and "**" not in b.text for b in blocks)


def test_html_drops_scripts_and_styles_and_decodes_entities() -> None:
    blocks = parse("text/html; charset=utf-8", HTML)
    texts = [b.text for b in blocks]
    assert "Canberra is the capital of Australia." in texts
    assert all("alert" not in t and "color" not in t for t in texts)
    assert blocks[-1].text == "Tom & Jerry <3"
    assert blocks[1].headings == ("Australia", "Cities")


def test_plain_text_splits_paragraphs() -> None:
    assert [b.text for b in parse("text/plain", "a b\nc\n\n\n d ")] == ["a b c", "d"]


def test_unsupported_content_type_is_a_fatal_validation_error() -> None:
    with pytest.raises(ValidationError, match="unsupported content type"):
        parse("application/pdf", "%PDF")


def test_korean_sentences_split_even_without_spaces() -> None:
    assert sentences("첫째 문장이다.둘째 문장입니다. Third one! 넷째?") == [
        "첫째 문장이다.",
        "둘째 문장입니다.",
        "Third one!",
        "넷째?",
    ]


def test_chunks_never_cross_sections_and_ids_are_stable() -> None:
    blocks = parse("text/markdown", MARKDOWN)
    chunks = chunk_blocks("doc-1", blocks, max_chars=700)
    assert [c.headings[-1] for c in chunks] == ["세종 시대", "훈민정음"]
    assert chunks[0].embed_text.startswith("조선의 과학 > 세종 시대: ")
    again = chunk_blocks("doc-1", blocks, max_chars=700)
    assert [c.chunk_id for c in again] == [c.chunk_id for c in chunks]
    assert chunk_blocks("doc-2", blocks)[0].chunk_id != chunks[0].chunk_id


def test_long_sections_split_at_sentences_with_one_sentence_overlap() -> None:
    text = " ".join(f"Fact number {i} is about topic {i}." for i in range(40))
    chunks = chunk_blocks("d", [Block(("S",), text)], max_chars=200, overlap=1)
    assert len(chunks) > 3
    assert all(len(c.text) <= 200 for c in chunks)
    for first, second in itertools.pairwise(chunks):
        assert sentences(first.text)[-1] == sentences(second.text)[0]
    joined = " ".join(c.text for c in chunks)
    assert all(f"Fact number {i} is" in joined for i in range(40))


def test_a_sentence_longer_than_a_chunk_is_wrapped_not_lost() -> None:
    word_soup = " ".join(["가나다라마바사"] * 60)
    chunks = chunk_blocks("d", [Block((), word_soup)], max_chars=100)
    assert all(len(c.text) <= 100 for c in chunks)
    assert sum(c.text.count("가나다라마바사") for c in chunks) >= 60
