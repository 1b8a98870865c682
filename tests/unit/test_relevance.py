"""Relevance of facts (pure parts) and the Retriever's citing rule, over in-memory ports."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest

from agents.draft import DenseIndex, DraftStep, Fact, Retriever
from agents.draft.facts import answer_share
from agents.draft.lexical import bm25, coverage, key_terms, mentions, romanise, skeleton
from agents.draft.relevance import FEATURES, Calibration, Candidate, LogisticModel, score
from agents.drafting.arms import Arm
from agents.drafting.template_writer import TemplateWriter
from agents.drafting.writer_port import WrittenScript
from streams.ports.embeddings import Vectors, normalise
from streams.ports.text import Token
from streams.ports.vectors import Hit
from tests.factories import problem_event


@pytest.mark.parametrize(
    ("hangul", "roman"),
    [
        ("왕건", "wanggeon"),
        ("자격루", "jagyeongnu"),  # ㄱ+ㄹ -> ngn
        ("한라산", "hallasan"),  # ㄴ+ㄹ -> ll
        ("독도", "dokdo"),
        ("한국어", "hangugeo"),  # linking before a vowel
        ("국물", "gungmul"),  # ㄱ before ㅁ -> ng
    ],
)
def test_romanise(hangul: str, roman: str) -> None:
    assert romanise(hangul) == roman


@pytest.mark.parametrize(
    ("text", "answer", "expected"),
    [
        ("세종은 1443년에 훈민정음을 만들었다.", "세종", True),  # a particle may follow
        ("조선은 1392년에 세워졌다.", "2", False),  # not inside a number
        ("세종은 왕이다.", "은", False),  # silver (은) is not the topic particle
        ("The femur, or thigh bone, is the longest bone.", "the femur", True),
        ("A day has 1,440 minutes.", "1440", False),  # digits must match as written
        ("K2, the second-highest mountain", "K2", True),
        ("K20 is not it", "K2", False),
        ("", "세종", False),
    ],
)
def test_mentions(text: str, answer: str, expected: bool) -> None:
    assert mentions(text, answer) is expected


def _tokens(text: str) -> list[Token]:
    """A crude stand-in for the analyser: words, with Korean particles left on."""
    out = []
    for word in re.findall(r"[A-Za-z]+|\d+|[가-힣]+|-", text):
        if word.isdigit():
            out.append(Token(word, "number"))
        elif word == "-":
            out.append(Token(word, "other"))
        elif re.fullmatch(r"[A-Za-z]+", word):
            out.append(Token(word, "latin"))
        else:
            out.append(Token(word, "name"))
    return out


def test_coverage_within_and_across_scripts() -> None:
    query = key_terms(_tokens("Who founded Goryeo? Wang Geon"))
    korean = key_terms(_tokens("왕건 고려 918"))
    assert coverage(query, korean, cross_script=True) > 0.3  # Wang Geon ~ 왕건
    assert coverage(query, key_terms(_tokens("세종 훈민정음")), cross_script=True) == 0.0
    english = key_terms(_tokens("Wang Geon founded Goryeo in 918"))
    assert coverage(query, english, cross_script=False) == pytest.approx(1.0)
    assert coverage(key_terms([]), english, cross_script=False) == 0.0


@pytest.mark.parametrize(
    ("hangul", "english"),
    [
        ("암스트롱", "Neil Armstrong walked"),  # vowels added, the r of "arm" dropped
        ("캔버라", "Canberra is the capital"),
        ("알렉산더 플레밍", "Alexander Fleming noticed"),  # one analyser token; x -> ks, f -> p
        ("비숍", "the bishop moves"),
    ],
)
def test_a_transcribed_foreign_name_matches_the_english_one(hangul: str, english: str) -> None:
    query = key_terms([Token(hangul, "name")])
    assert coverage(query, key_terms(_tokens(english)), cross_script=True) == 1.0
    assert skeleton(romanise("암스트롱")) == skeleton("armstrong") == "mstnk"


def test_skeletons_need_three_consonants_and_a_name() -> None:
    # 잉카 ~ "nk" would also match "ink", "neck": too short to count
    inca = key_terms(_tokens("an Inca citadel"))
    assert coverage(key_terms([Token("잉카", "name")]), inca, cross_script=True) == 0.0
    # a common noun is not a transcription: 시간 ("skn") must not meet "sign"
    sign = key_terms(_tokens("a sign"))
    assert coverage(key_terms([Token("시간", "noun")]), sign, cross_script=True) == 0.0
    # joined common words are not a name: 앙부일구 ("nkpk") must not meet "an iceberg"
    iceberg = key_terms(_tokens("after striking an iceberg"))
    assert coverage(key_terms([Token("앙부일구", "name")]), iceberg, cross_script=True) == 0.0


@pytest.mark.parametrize(
    ("answer", "terms", "text", "foreign", "expected"),
    [
        ("4개", [Token("4", "number")], "0.5×0.4는 5×4=20", False, 0.0),  # a bare small number
        ("8개", [Token("8", "number")], "모서리는 12개, 꼭짓점은 8개이다", False, 1.0),
        ("1989년", [Token("1989", "number")], "opened on 9 November 1989", True, 1.0),
        ("세종", [Token("세종", "name")], "세종 1443년 훈민정음", False, 1.0),
    ],
)
def test_answer_share(
    answer: str, terms: list[Token], text: str, foreign: bool, expected: float
) -> None:
    passage = key_terms(_tokens(text))
    assert answer_share(answer, key_terms(terms), text, passage, foreign=foreign) == expected


def test_bm25_ranks_by_rare_shared_terms() -> None:
    query = key_terms(_tokens("세종 훈민정음 창제"))
    passages = [
        key_terms(_tokens(t))
        for t in (
            "세종 훈민정음 창제 반포",
            "세종 측우기 강우량",
            "세종 자격루 장영실",
            "목성 행성",
        )
    ]
    scores = bm25(query, passages)
    assert scores[0] > scores[1] == scores[2] > scores[3] == 0.0
    # 세종 is in three of the four candidates: it tells them apart less than 훈민정음 does
    assert scores[1] < scores[0] - scores[1]
    assert bm25(query, []) == []


def test_features_and_probability() -> None:
    right = Candidate("a", "t", "ko", False, {"primary": 0.9, "cross": 0.5}, 0.8, 1.0)
    wrong = Candidate("b", "t", "ko", False, {"primary": 0.85, "cross": 0.3}, 0.2, 0.0)
    # only the answer coverage counts in this model
    weights = [0.0] * len(FEATURES)
    weights[0], weights[FEATURES.index("answer")] = -2.0, 4.0
    model = LogisticModel(tuple(weights))
    p_right, p_wrong = score([right, wrong], Calibration(model, model))
    assert p_right == pytest.approx(1 / (1 + np.exp(-2)))
    assert p_wrong == pytest.approx(1 / (1 + np.exp(2)))


# ---------------------------------------------------------------- the Retriever's rule

PASSAGES = {
    "11111111-1111-4111-8111-111111111111": ("ko", "세종 훈민정음 창제"),
    "22222222-2222-4222-8222-222222222222": ("ko", "목성 가장 큰 행성"),
    "33333333-3333-4333-8333-333333333333": ("en", "Venus is the hottest planet"),
}


class WordEmbedder:
    """Bag of words over a fixed vocabulary: enough to rank the passages above."""

    name = "words"
    VOCAB = ("세종", "훈민정음", "목성", "행성", "venus", "hottest", "planet", "금성")

    @property
    def dim(self) -> int:
        return len(self.VOCAB)

    def _embed(self, texts: Sequence[str]) -> Vectors:
        rows = [[float(w in t.casefold()) + 0.01 for w in self.VOCAB] for t in texts]
        return normalise(rows)

    embed_queries = _embed
    embed_passages = _embed


class MemoryStore:
    def __init__(self, embedder: WordEmbedder) -> None:
        self.vectors = {
            cid: embedder.embed_passages([text])[0] for cid, (_, text) in PASSAGES.items()
        }

    async def ensure_collection(self, name: str, dim: int) -> None:
        return None

    async def search(
        self,
        collection: str,
        vector: Sequence[float],
        *,
        limit: int = 10,
        subject: str | None = None,
        language: str | None = None,
        tags: Sequence[str] | None = None,
    ) -> list[Hit]:
        hits = [
            Hit(cid, float(np.dot(vector, self.vectors[cid])), {"text": text, "language": lang})
            for cid, (lang, text) in PASSAGES.items()
            if language in (None, lang)
        ]
        return sorted(hits, key=lambda h: -h.score)[:limit]


class WordTokenizer:
    name = "words"

    def tokenize(self, texts: Sequence[str]) -> list[list[Token]]:
        return [_tokens(t) for t in texts]


def _retriever() -> Retriever:
    embedder = WordEmbedder()
    weights = [0.0] * len(FEATURES)
    weights[0], weights[FEATURES.index("lexical")], weights[FEATURES.index("primary")] = (
        -3.0,
        4.0,
        2.0,
    )
    model = LogisticModel(tuple(weights))
    return Retriever(
        MemoryStore(embedder),  # type: ignore[arg-type]
        [DenseIndex("primary", "k", embedder)],
        WordTokenizer(),
        Calibration(model, model),
        top_k=3,
        min_score=0.6,
        foreign_min_score=0.5,
    )


def _problem(question: str, answer: str) -> dict[str, Any]:
    return problem_event(0, question=question, choices=[answer, "다른 답"], answer_index=0)


async def test_a_same_language_fact_is_cited_and_speakable() -> None:
    facts = await _retriever().facts(_problem("훈민정음 창제 임금", "세종"))  # type: ignore[arg-type]
    assert [f.chunk_id[:1] for f in facts] == ["1"]
    assert facts[0].language == "ko"
    assert facts[0].support == "세종 훈민정음 창제"


async def test_a_foreign_fact_is_the_fallback_and_is_not_spoken() -> None:
    # No Korean passage states 금성, so the English one is cited (never the Jupiter one).
    facts = await _retriever().facts(_problem("venus hottest planet 가장 뜨거운", "금성"))  # type: ignore[arg-type]
    assert [f.chunk_id[:1] for f in facts] == ["3"]
    assert facts[0].language == "en"
    assert facts[0].support == ""  # 금성 is not written in the English passage


async def test_the_llm_writer_receives_only_facts_that_state_the_answer() -> None:
    seen: list[Sequence[Fact]] = []

    class Recording:
        name = "llm:recording"

        async def write(
            self, problem: Mapping[str, Any], arm: Arm, facts: Sequence[Fact]
        ) -> WrittenScript:
            seen.append(facts)
            return WrittenScript(TemplateWriter().write(dict(problem), arm))

    on_topic = Fact("c1", 0.99, "목성은 가장 큰 행성이다.", language="ko")
    stating = Fact("c2", 0.9, "금성은 가장 뜨겁다.", language="ko", support="금성은 가장 뜨겁다.")

    class Both:
        async def facts(self, problem: Any) -> list[Fact]:
            return [on_topic, stating]

    step = DraftStep(k=1, retriever=Both(), writer=Recording(), grounding_min_score=0.5)
    (emit,) = await step(problem_event(0))
    assert seen == [[stating]]
    assert [c["chunk_id"] for c in emit.record["citations"]] == ["c1", "c2"]
