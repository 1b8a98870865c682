"""What the voice is given to say, when each written word is heard, the caption groups and the
caption files (pure parts of agents/render)."""

from __future__ import annotations

import pytest

from agents.render import captions
from agents.render.labels import card_label, spoken_line
from agents.render.spoken import speak_word, spoken_text, spoken_words
from agents.render.words import (
    MAX_GROUP_WORDS,
    Group,
    TimedWord,
    group_words,
    split_by_syllables,
    syllables,
    written_times,
)
from streams.ports.tts import PhraseTiming, WordTiming


@pytest.mark.parametrize(
    ("word", "language", "spoken"),
    [
        ("1919", "en", "nineteen nineteen"),
        ("1905", "en", "nineteen oh five"),
        ("2000", "en", "two thousand"),
        ("1,000", "en", "one thousand"),
        ("21st", "en", "twenty-first"),
        ("50%", "en", "fifty percent"),
        ("$5", "en", "five dollars"),
        ("1919년", "ko", "천구백십구년"),
        ("3개", "ko", "세 개"),
        ("3.14", "ko", "삼 점 일사"),
        ("H2O", "ko", "에이치 이 오"),
        ("2번,", "ko", "이번,"),
    ],
)
def test_numbers_years_and_symbols_are_written_out_before_synthesis(
    word: str, language: str, spoken: str
) -> None:
    assert speak_word(word, language) == spoken


@pytest.mark.parametrize(
    ("language", "card", "said"), [("ko", "2", "2번, 서울"), ("en", "B", "B: Seoul")]
)
def test_a_choice_is_spoken_with_the_label_its_card_shows(
    language: str, card: str, said: str
) -> None:
    assert card_label(language, 1) == card
    assert spoken_line(language, 1, "서울" if language == "ko" else "Seoul") == said
    assert said.startswith(card)


def test_the_mapping_stays_word_by_word() -> None:
    words = spoken_words("In 1919 it rained.", "en")
    assert [w.written for w in words] == ["In", "1919", "it", "rained."]
    assert spoken_text(words) == "In nineteen nineteen it rained."


def test_voice_word_times_give_each_written_word_its_span() -> None:
    line = spoken_words("In 1919 it", "en")  # 1919 is two spoken words
    phrase = PhraseTiming("In nineteen nineteen it", 1.0, 3.0)
    voice = [
        WordTiming("In", 1.0, 1.2, 0),
        WordTiming("nineteen", 1.3, 1.8, 0),
        WordTiming("nineteen", 1.8, 2.4, 0),
        WordTiming("it", 2.5, 3.0, 0),
    ]
    timed = written_times([line], [phrase], voice)
    assert [(w.text, w.start, w.end) for w in timed] == [
        ("In", 1.0, 1.2),
        ("1919", 1.3, 2.4),
        ("it", 2.5, 3.0),
    ]


def test_without_voice_word_times_the_phrase_is_shared_by_syllables() -> None:
    line = spoken_words("훈민정음 왕", "ko")
    phrase = PhraseTiming("훈민정음 왕", 2.0, 4.5)
    timed = written_times([line], [phrase], [])
    assert timed == split_by_syllables(line, phrase, 0)
    assert [syllables(w.spoken) for w in line] == [4, 1]
    assert timed[0].start == 2.0
    assert timed[0].end == pytest.approx(4.0)  # 4 of 5 syllables of 2.5 s
    assert timed[1].end == pytest.approx(4.5)


def test_caption_groups_hold_two_to_four_words_and_never_cross_a_line() -> None:
    words = [TimedWord(f"w{k}", k, k + 1, 0) for k in range(9)]
    words += [TimedWord("Done.", 9, 10, 1), TimedWord("Next", 10, 11, 2), TimedWord("x", 11, 12, 2)]
    groups = group_words(words, "en")
    assert [i for g in groups for i in g] == list(range(len(words)))
    assert all(len(g) <= MAX_GROUP_WORDS for g in groups)
    for group in groups:
        assert len({words[i].line for i in group}) == 1
    # A line of nine words: no one-word leftover flashing by.
    assert all(len(g) >= 2 for g in groups if words[g[0]].line == 0)


def test_caption_files_time_every_group_and_each_word_in_vtt() -> None:
    first = (TimedWord("Hello", 0.5, 0.9, 0), TimedWord("<world>", 1.0, 1.6, 0))
    second = (TimedWord("1919", 61.25, 62.0, 1),)
    groups = [Group(first, 0.5, 1.6), Group(second, 61.25, 62.0)]
    assert captions.srt(groups) == (
        "1\n00:00:00,500 --> 00:00:01,600\nHello <world>\n\n"
        "2\n00:01:01,250 --> 00:01:02,000\n1919\n"
    )
    assert captions.vtt(groups) == (
        "WEBVTT\n\n"
        "00:00:00.500 --> 00:00:01.600\nHello <00:00:01.000>&lt;world&gt;\n\n"
        "00:01:01.250 --> 00:01:02.000\n1919\n"
    )
