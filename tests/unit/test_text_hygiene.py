"""Unicode hygiene (streams/text.py) and every line that applies it: the guardrails see what a
reader sees, an event smuggled onto a topic is dead-lettered, the render step refuses what it
cannot show, the brand name is checked at settings load."""

from __future__ import annotations

import unicodedata
from typing import Any

import pydantic
import pytest

from agents.draft import DraftStep
from agents.drafting.guardrails import violations
from agents.render.agent import RenderStep, shown_script
from factory.config import processor_config
from schemas.registry import InMemorySchemaRegistry
from schemas.serializer import AvroSerde, subject_for
from streams import text
from streams.catalogue import topic
from streams.errors import ValidationError
from streams.processor import StepProcessor
from streams.routing import Message
from streams.settings import Settings
from tests.drafts import drafted
from tests.factories import problem_event

RLO, ZWSP, ZWJ = "\u202e", "\u200b", "\u200d"
FAMILY = f"👩{ZWJ}👩{ZWJ}👧"


@pytest.mark.parametrize(
    "char",
    [
        *"\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069",  # bidi
        "\u200b", "\u200c", "\u00ad", "\u2060", "\ufeff", "\u180e",  # invisible format
        "\U000e0041",  # a tag character: ASCII smuggled past a reader, not past an LLM
        "\u3164", "\u115f", "\uffa0", "\u034f",  # Hangul fillers, combining grapheme joiner
        "\x00", "\x1b", "\ue000",  # control, escape, private use
    ],
)  # fmt: skip
def test_invisible_and_direction_changing_characters_are_refused(char: str) -> None:
    with pytest.raises(text.UnsafeTextError) as refused:
        text.clean(f"A {char}5491")
    (problem,) = refused.value.problems
    assert problem.char == char
    assert problem.position == 2
    assert f"U+{ord(char):04X}" in str(refused.value)


@pytest.mark.parametrize(
    "shown",
    [
        FAMILY, f"🏳️{ZWJ}🌈", f"🧑🏽{ZWJ}💻", "1️⃣", "🇰🇷",  # emoji sequences keep their joiners
        "ㅋㅋ x² ① ㈜ １９４５",  # compatibility forms stay as written (NFC, not NFKC)
        "กิ่ง ญี่ปุ่น", "שָׁלוֹם", "عَرَبِيّ", "नमस्ते", "Ỗ ẫ tiếng Việt",  # real mark stacks
        "line one\nline two\ttabbed",
    ],
)  # fmt: skip
def test_ordinary_text_of_many_scripts_is_accepted_unchanged(shown: str) -> None:
    assert text.clean(shown) == shown


def test_text_is_composed_to_nfc() -> None:
    assert text.clean("\u1112\u1161\u11ab\u1100\u116e\u11a8") == "한국"  # jamo typed on macOS
    assert text.clean("e\u0301") == "\u00e9"


def test_a_joiner_outside_an_emoji_sequence_is_refused() -> None:
    for joined in (f"stu{ZWJ}pid", f"🎉{ZWJ}a", f"{ZWJ}🎉", f"a{ZWJ}🎉"):
        with pytest.raises(text.UnsafeTextError, match="zero-width joiner"):
            text.clean(joined)


def test_combining_marks_are_capped_per_character() -> None:
    assert text.clean("a" + "\u0300\u0301\u0302\u0303")  # four: allowed
    with pytest.raises(text.UnsafeTextError, match="more than 4 combining marks") as refused:
        text.clean("Zalgo" + "\u0300\u0301\u0302\u0303\u0304" * 3 + " and x" + "\u0301" * 5)
    assert len(refused.value.problems) == 2  # one per stack, not one per extra mark


def test_sanitise_drops_what_clean_refuses() -> None:
    assert text.sanitise(f"stu{ZWSP}pid {RLO}5491 soft\u00adhyphen") == "stupid 5491 softhyphen"
    assert text.sanitise("o" + "\u0301" * 9) == "ó" + "\u0301" * 4  # NFC took the first mark
    assert text.sanitise(FAMILY) == FAMILY


def test_fold_is_what_a_reader_would_take_for_the_same_text() -> None:
    assert text.fold(f"stu{ZWSP}pid") == "stupid"
    assert text.fold("ＳＴＵＰＩＤ") == "stupid"
    assert text.fold("１９４５") == text.fold("1945")
    assert text.fold("ㅋ") != text.fold("ㄱ")
    assert text.visible("Answer: Ａ") == "Answer: A"  # case kept for the answer-key checks


def test_columns_count_wide_characters_twice() -> None:
    assert text.columns("Munjero Quiz") == 12
    assert text.columns("문제로 퀴즈") == 11


# --- guardrails on what a reader sees ------------------------------------------------------


def _script_and_problem(index: int) -> tuple[dict[str, Any], dict[str, Any]]:
    problem = problem_event(index)
    return dict(drafted(problem, k=1)[0]), problem


@pytest.mark.parametrize("hidden", [f"stu{ZWSP}pid", "ＳＴＵＰＩＤ", "stu\u00adpid"])
def test_a_banned_word_cannot_hide_behind_invisible_or_fullwidth_characters(hidden: str) -> None:
    script, problem = _script_and_problem(40)
    script["cta"] = f"Only a {hidden} person gets this wrong"
    assert "banned word 'stupid' in cta" in violations(script, problem, ["stupid"])


def test_unsafe_text_written_by_a_writer_is_a_violation() -> None:
    script, problem = _script_and_problem(40)
    script["hook"] = f"The answer is {RLO}5491"
    assert any(v.startswith("unsafe text in hook: U+202E") for v in violations(script, problem))


def test_the_answer_key_compares_visible_text() -> None:
    script, problem = _script_and_problem(40)
    correct = problem["choices"][problem["answer_index"]]
    wide = correct.translate({c: c + 0xFEE0 for c in range(ord("0"), ord("9") + 1)})
    assert wide != correct  # the sample's answer has digits
    script["answer_reveal"] = f"The answer is {wide}."
    assert violations(script, problem) == []


# --- an event smuggled onto the topic: dead-lettered, never drafted ------------------------


async def _draft_through_the_processor(problem: dict[str, Any]) -> tuple[str, list[Any]]:
    settings = Settings(topic_namespace="t.", kafka_bootstrap_servers="unused:9092")
    serde = AvroSerde(InMemorySchemaRegistry())
    sent: list[Any] = []

    class Publisher:
        async def publish_many(self, messages: Any) -> None:
            sent.extend(messages)

    processor = StepProcessor(
        agent="drafting",
        spec=topic("problems.submitted"),
        step=DraftStep(k=1),
        serde=serde,
        publisher=Publisher(),
        config=processor_config(settings),
        clock=lambda: 1000.0,
    )
    physical = settings.topic("problems.submitted")
    value = await serde.encode_async(subject_for(physical), "ProblemSubmitted", problem)
    outcome = await processor.process(Message(physical, 0, 1, b"k", value, ()))
    return outcome.kind, [(name, (await serde.decode(raw)).record) for name, _, raw, _ in sent]


async def test_a_smuggled_right_to_left_override_is_dead_lettered() -> None:
    problem = problem_event(40)
    answer = problem["choices"][problem["answer_index"]]
    wrong = (problem["answer_index"] + 1) % len(problem["choices"])
    problem["choices"][wrong] = RLO + answer[::-1]  # would be drawn as the correct answer
    kind, sent = await _draft_through_the_processor(problem)
    assert kind == "dlq"
    ((name, failed),) = sent
    assert name == "t.problems.submitted.dlq"
    assert failed["error_class"] == "ValidationError"
    assert f"choices[{wrong}] cannot be shown as written: U+202E" in failed["error_message"]


async def test_a_smuggled_fullwidth_twin_of_a_choice_is_dead_lettered() -> None:
    problem = problem_event(40)
    answer = problem["choices"][problem["answer_index"]]
    wrong = (problem["answer_index"] + 1) % len(problem["choices"])
    problem["choices"][wrong] = unicodedata.normalize("NFKC", answer).translate(
        {c: c + 0xFEE0 for c in range(0x21, 0x7F)}
    )
    kind, sent = await _draft_through_the_processor(problem)
    assert kind == "dlq"
    assert "reads the same as" in sent[0][1]["error_message"]


async def test_a_decomposed_problem_is_drafted_in_nfc() -> None:
    problem = problem_event(0)  # Korean
    problem["question"] = unicodedata.normalize("NFD", problem["question"])
    kind, sent = await _draft_through_the_processor(problem)
    assert kind == "ok"
    ((name, script),) = sent
    assert name == "t.scripts.drafted"
    assert script["question"] == unicodedata.normalize("NFC", problem["question"])


# --- the render step's own line --------------------------------------------------------------


class NeverRenders:
    async def render(self, script: Any, **kwargs: Any) -> Any:
        raise AssertionError("an unsafe script reached the renderer")


async def test_the_render_step_dead_letters_a_script_it_cannot_show() -> None:
    script, _ = _script_and_problem(40)
    script["choices"][0] = f"{RLO}5491"
    step = RenderStep(NeverRenders())  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"choices\[0\] cannot be shown as written: U\+202E"):
        await step(script)  # type: ignore[arg-type]


def test_the_render_step_draws_nfc_and_refuses_twin_choices() -> None:
    script, _ = _script_and_problem(0)
    script["question"] = unicodedata.normalize("NFD", script["question"])
    assert shown_script(script)["question"] == unicodedata.normalize("NFC", script["question"])  # type: ignore[arg-type]
    script["choices"] = ["1945", "１９４５", "1939"]
    with pytest.raises(ValidationError, match="two choices read the same"):
        shown_script(script)  # type: ignore[arg-type]


# --- the brand, drawn on every frame -----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("W" * 25, "1-24 columns"),
        ("문제로" * 5, "got 30"),
        ("  ", "1-24"),
        (f"a{RLO}b", r"U\+202E"),
    ],
)
def test_brand_name_is_checked_at_settings_load(name: str, fragment: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=fragment):
        Settings(brand_name=name)


def test_a_korean_brand_name_of_24_columns_is_accepted() -> None:
    assert Settings(brand_name="문제로 한국사 퀴즈 채널").brand_name == "문제로 한국사 퀴즈 채널"
