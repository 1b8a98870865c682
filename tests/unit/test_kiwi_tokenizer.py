"""The kiwipiepy adapter of the tokenizer port: Korean morphemes with particles and endings
split off, Latin words and numbers whole, each with the coarse class relevance needs."""

from __future__ import annotations

import pytest

from connectors.text.kiwi import KiwiTokenizer


@pytest.fixture(scope="module")
def tokenizer() -> KiwiTokenizer:
    return KiwiTokenizer()


def test_korean_words_lose_their_particles_and_endings(tokenizer: KiwiTokenizer) -> None:
    [tokens] = tokenizer.tokenize(["세종은 1443년에 훈민정음을 만들었다."])
    content = [(t.form, t.kind) for t in tokens if t.kind != "other"]
    assert ("세종", "name") in content
    assert ("1443", "number") in content
    assert ("훈민정음", "name") in content or ("훈민정음", "noun") in content
    assert ("만들", "verb") in content
    assert "은" not in [t.form for t in tokens if t.kind != "other"]


def test_latin_script_words_come_back_whole(tokenizer: KiwiTokenizer) -> None:
    [tokens] = tokenizer.tokenize(["Neil Armstrong walked on the Moon in 1969."])
    assert [(t.form, t.kind) for t in tokens if t.kind == "latin"][:2] == [
        ("Neil", "latin"),
        ("Armstrong", "latin"),
    ]
    assert ("1969", "number") in [(t.form, t.kind) for t in tokens]


def test_one_list_per_text_and_a_stable_name(tokenizer: KiwiTokenizer) -> None:
    assert len(tokenizer.tokenize(["가", "", "b"])) == 3
    assert tokenizer.name.startswith("kiwi@0.24")
