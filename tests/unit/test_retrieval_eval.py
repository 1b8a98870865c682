"""The retrieval evaluation set is sound, and its metrics score hand-made rankings correctly."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from factory.retrieval_eval import (
    Passage,
    Query,
    evaluate,
    evaluate_citations,
    load_heldout,
    load_passages,
    load_queries,
    recall_at_k,
    reciprocal_rank,
    validate,
)
from factory.retrieval_eval.dataset import longest_common_substring, parse_query, shared_run_ratio
from factory.retrieval_eval.heldout import VENUS, knowledge_body, problem_body
from services.api.models import KnowledgeDocumentIn, ProblemIn

HANGUL = re.compile(r"[\uac00-\ud7a3]")
PASSAGES = load_passages()
QUERIES = load_queries()
BY_ID = {p.passage_id: p for p in PASSAGES}


def _qid(query: Query) -> str:
    return query.query_id


# ---------------------------------------------------------------- data


def test_validator_finds_no_problem() -> None:
    assert validate(PASSAGES, QUERIES) == []


def test_ids_are_unique() -> None:
    assert len({p.passage_id for p in PASSAGES}) == len(PASSAGES)
    assert len({q.query_id for q in QUERIES}) == len(QUERIES)


def test_every_query_points_at_an_existing_passage_or_none() -> None:
    assert {q.passage_id for q in QUERIES} - {None} <= set(BY_ID)
    assert all((q.passage_id is None) == (q.kind == "unanswerable") for q in QUERIES)


def test_corpus_size_and_balance() -> None:
    languages = Counter(p.language for p in PASSAGES)
    assert len(PASSAGES) >= 160
    assert languages["ko"] >= 85
    assert languages["en"] >= 70
    for language in ("ko", "en"):
        subjects = {p.subject for p in PASSAGES if p.language == language}
        assert subjects == {"history", "science", "geography", "language", "math", "general"}


def _pair(query: Query) -> tuple[str, str | None]:
    passage = BY_ID[query.passage_id].language if query.passage_id else None
    return query.language, passage


def test_query_counts_per_slice() -> None:
    ko_ko = [q for q in QUERIES if _pair(q) == ("ko", "ko")]
    en_en = [q for q in QUERIES if _pair(q) == ("en", "en")]
    ko_en = [q for q in QUERIES if _pair(q) == ("ko", "en")]
    en_ko = [q for q in QUERIES if _pair(q) == ("en", "ko")]
    none = [q for q in QUERIES if q.passage_id is None]
    assert len(QUERIES) >= 350
    assert len(ko_ko) >= 110
    assert len(en_en) >= 70
    assert len(ko_en) >= 30
    assert len(en_ko) >= 30
    assert len(none) >= 60
    assert {q.language for q in none} == {"ko", "en"}
    assert all(q.kind == "cross_lingual" for q in ko_en + en_ko)
    assert all(q.kind != "cross_lingual" for q in ko_ko + en_en)
    assert {q.kind for q in ko_ko} == {"question", "paraphrase"}, "mix quiz and search styles"
    assert Counter(q.slice for q in QUERIES) == {
        "ko": len(ko_ko),
        "en": len(en_en),
        "ko_en": len(ko_en),
        "en_ko": len(en_ko),
        "none": len(none),
    }


def test_the_heldout_set_is_sound_and_new() -> None:
    """The held-out queries (checked through the public API) are valid over the same passages,
    cover every slice, and are new questions: none repeats a calibration query, nor shares half
    of its characters in one run with one."""
    heldout = load_heldout()
    assert validate(PASSAGES, heldout) == []
    counts = Counter(q.slice for q in heldout)
    assert counts["ko"] >= 15
    assert min(counts[s] for s in ("en", "ko_en", "en_ko", "none")) >= 5
    assert not {q.query_id for q in heldout} & {q.query_id for q in QUERIES}
    for q in heldout:
        worst = max(shared_run_ratio(q.text, c.text) for c in QUERIES)
        assert worst < 0.5, q.query_id
    # the case is in it: the hottest planet, answered only by the English passage
    venus = next(q for q in heldout if q.query_id == VENUS)
    assert (venus.slice, venus.passage_id, venus.answer) == ("ko_en", "en-sci-p004", "금성")


def test_heldout_problems_are_what_the_api_accepts() -> None:
    heldout = load_heldout()
    for q in heldout:
        body = problem_body(q, heldout)
        problem = ProblemIn.model_validate_json(json.dumps(body))
        assert problem.choices[problem.answer_index] == q.answer
        assert problem.explanation == ""  # whatever a script explains comes from a fact
    for passage in PASSAGES:
        KnowledgeDocumentIn.model_validate_json(json.dumps(knowledge_body(passage)))


def test_every_query_has_an_answer_in_its_language() -> None:
    for q in QUERIES:
        assert q.answer.strip()
        assert q.answer == q.answer.strip()
        if HANGUL.search(q.answer):
            assert q.language == "ko", q.query_id


def test_queries_per_passage_and_distractors() -> None:
    per_passage = Counter(q.passage_id for q in QUERIES if q.passage_id)
    assert max(per_passage.values()) <= 3
    assert len(per_passage) >= 100
    distractors = set(BY_ID) - set(per_passage)
    assert {BY_ID[d].language for d in distractors} == {"ko", "en"}


@pytest.mark.parametrize("passage", PASSAGES, ids=lambda p: p.passage_id)
def test_passage_is_well_formed(passage: Passage) -> None:
    assert 40 <= len(passage.text) <= 400
    assert passage.text == passage.text.strip()
    assert passage.title.strip()
    assert passage.passage_id.startswith(f"{passage.language}-")
    if passage.language == "ko":
        assert HANGUL.search(passage.text)
        assert HANGUL.search(passage.title)
    else:
        assert not HANGUL.search(passage.text + passage.title)


@pytest.mark.parametrize("query", [q for q in QUERIES if q.passage_id], ids=_qid)
def test_query_is_a_paraphrase_in_its_language(query: Query) -> None:
    passage = BY_ID[str(query.passage_id)].text
    text = query.text
    assert text == text.strip()
    assert bool(HANGUL.search(text)) == (query.language == "ko")
    assert text.casefold() not in passage.casefold()
    assert longest_common_substring(text, passage) < 0.6 * len(text)


# ---------------------------------------------------------------- loader and validator


def test_loaded_records_are_frozen() -> None:
    with pytest.raises(AttributeError):
        PASSAGES[0].text = "changed"  # type: ignore[misc]


def test_parse_rejects_unknown_kind_and_extra_fields() -> None:
    record = {
        "query_id": "x",
        "language": "ko",
        "passage_id": "p",
        "kind": "exact",
        "subject": "science",
        "text": "t",
        "answer": "a",
    }
    with pytest.raises(ValueError, match="kind"):
        parse_query(record)
    with pytest.raises(ValueError, match="fields"):
        parse_query({**record, "kind": "question", "extra": "1"})


def test_validator_reports_broken_sets() -> None:
    passage = Passage(
        "ko-sci-p001",
        "ko",
        "science",
        "물",
        "물 분자는 수소 원자 둘과 산소 원자 하나로 이루어져 있다.",
    )
    copied = Query(
        "q1", "ko", "ko-sci-p001", "question", "science", "수소 원자 둘과 산소 원자 하나", "물"
    )
    dangling = Query("q2", "ko", "ko-sci-p999", "question", "science", "없는 문단", "없음")
    wrong_side = Query(
        "q1", "en", "ko-sci-p001", "question", "science", "What is water made of?", "H2O"
    )
    lost = Query("q3", "ko", None, "question", "science", "물은 무엇인가요?", "물")
    problems = validate([passage, passage], [copied, dangling, wrong_side, lost])
    assert any("duplicate passage id" in p for p in problems)
    assert any("duplicate query id" in p for p in problems)
    assert any("copies" in p for p in problems)
    assert any("unknown passage" in p for p in problems)
    assert any("points at a ko passage" in p for p in problems)
    assert any("only an unanswerable query has no passage" in p for p in problems)


def test_longest_common_substring() -> None:
    assert (
        longest_common_substring("한글을 만든 임금", "세종이 한글을 만들었다") == 5
    )  # "한글을 만"
    assert longest_common_substring("Canberra", "the capital, CANBERRA.") == 8
    assert longest_common_substring("", "abc") == 0


# ---------------------------------------------------------------- metrics

RANKED = ["p1", "p2", "p3", "p4", "p5", "p6"]


@pytest.mark.parametrize(
    ("relevant", "k", "recall", "rr"),
    [
        ("p1", 5, 1.0, 1.0),  # perfect
        ("p3", 5, 1.0, 1 / 3),  # rank 3
        ("p3", 2, 0.0, 1 / 3),  # rank 3, cut off by k
        ("p6", 5, 0.0, 1 / 6),  # ranked, but below k
        ("p9", 5, 0.0, 0.0),  # miss
    ],
)
def test_metrics_on_one_ranking(relevant: str, k: int, recall: float, rr: float) -> None:
    assert recall_at_k(RANKED, relevant, k) == recall
    assert reciprocal_rank(RANKED, relevant) == pytest.approx(rr)


def test_metrics_on_an_empty_ranking() -> None:
    assert recall_at_k([], "p1", 5) == 0.0
    assert reciprocal_rank([], "p1") == 0.0


def test_metrics_reject_bad_input() -> None:
    with pytest.raises(ValueError, match="k must be"):
        recall_at_k(RANKED, "p1", 0)
    with pytest.raises(TypeError):
        reciprocal_rank("p1", "p1")


def _q(query_id: str, language: str, kind: str, passage_id: str | None) -> Query:
    return parse_query(
        {
            "query_id": query_id,
            "language": language,
            "passage_id": passage_id,
            "kind": kind,
            "subject": "science",
            "text": "t",
            "answer": "a",
        }
    )


def test_evaluate_overall_and_per_slice() -> None:
    queries = [
        _q("k1", "ko", "question", "a"),  # rank 1
        _q("k2", "ko", "paraphrase", "b"),  # rank 3
        _q("e1", "en", "question", "c"),  # miss
        _q("x1", "ko", "cross_lingual", "d"),  # rank 2
    ]
    rankings = {
        "k1": ["a", "b", "c"],
        "k2": ["a", "c", "b"],
        "e1": ["a", "b"],
        "x1": ["c", "d", "a"],
        "unused": ["a"],
    }
    scores = evaluate(rankings, queries, k=2)
    assert list(scores) == ["overall", "ko", "en", "ko_en"]
    assert scores["ko"] == {"queries": 2, "recall_at_k": 0.5, "mrr": pytest.approx(2 / 3)}
    assert scores["en"] == {"queries": 1, "recall_at_k": 0.0, "mrr": 0.0}
    assert scores["ko_en"] == {"queries": 1, "recall_at_k": 1.0, "mrr": 0.5}
    overall = scores["overall"]
    assert overall["queries"] == 4
    assert overall["recall_at_k"] == pytest.approx(2 / 4)
    assert overall["mrr"] == pytest.approx((1 + 1 / 3 + 0 + 1 / 2) / 4)
    assert evaluate(rankings, queries, k=3)["overall"]["recall_at_k"] == pytest.approx(3 / 4)


def test_evaluate_perfect_rankings_on_the_real_set() -> None:
    rankings = {
        q.query_id: [str(q.passage_id), *(p for p in BY_ID if p != q.passage_id)] for q in QUERIES
    }
    scores = evaluate(rankings, QUERIES)
    assert set(scores) == {"overall", "ko", "en", "ko_en", "en_ko"}
    assert all(s["recall_at_k"] == 1.0 and s["mrr"] == 1.0 for s in scores.values())
    assert scores["overall"]["queries"] == len([q for q in QUERIES if q.passage_id])


def test_citation_metrics_punish_wrong_citations_and_reward_abstention() -> None:
    queries = [
        _q("k1", "ko", "question", "a"),  # cites a (right) and b (wrong)
        _q("k2", "ko", "question", "b"),  # cites nothing: a false abstention
        _q("n1", "ko", "unanswerable", None),  # cites nothing: right
        _q("n2", "en", "unanswerable", None),  # cites c: wrong
        _q("x1", "en", "cross_lingual", "d"),  # cites d at rank 1
    ]
    cited = {"k1": ["a", "b"], "k2": [], "n1": [], "n2": ["c"], "x1": ["d"]}
    report = evaluate_citations(cited, queries)
    assert report["ko"] == {
        "queries": 2,
        "cited": 2,
        "citation_precision": 0.5,
        "recall_at_k": 0.5,
        "mrr": 0.5,
        "false_abstention": 0.5,
    }
    assert report["none"] == {
        "queries": 2,
        "cited": 1,
        "citation_precision": 0.0,
        "abstention": 0.5,
    }
    assert report["en_ko"]["citation_precision"] == 1.0
    assert report["overall"]["citation_precision"] == pytest.approx(2 / 4)
    with pytest.raises(ValueError, match="no citations entry"):
        evaluate_citations({}, queries)


def test_evaluate_omits_empty_slices_and_rejects_missing_rankings() -> None:
    only_en = [_q("e1", "en", "question", "c")]
    assert list(evaluate({"e1": ["c"]}, only_en)) == ["overall", "en"]
    with pytest.raises(ValueError, match="no ranking"):
        evaluate({}, only_en)
    with pytest.raises(ValueError, match="no queries"):
        evaluate({}, [])
