"""The render timeline (pure): caption phrases, narration, scene slots, and caption cues."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import pytest

from agents.render.layout import MAX_SECONDS
from agents.render.phrases import MAX_CHARS, split_phrases
from agents.render.plan import (
    LEAD_IN_S,
    MAX_CAPTION_GAP_S,
    TAIL_S,
    Line,
    Timeline,
    _cues,
    build_timeline,
    narration,
)
from streams.errors import ValidationError
from streams.ports.tts import PhraseTiming
from tests.drafts import drafted
from tests.factories import problem_event

KO, KO_NO_PREFACE, EN = 0, 2, 45  # indices into the sample bank
EPS = 1.5e-3  # slot and cue times are rounded to the millisecond


def script(index: int, **overrides: Any) -> dict[str, Any]:
    record = dict(drafted(problem_event(index), k=1)[0])
    record.update(overrides)
    return record


def speak(
    lines: Sequence[Line], *, per_char: float = 0.08, pause: float = 0.12, scene_pause: float = 0.5
) -> tuple[list[PhraseTiming], float]:
    """Fake TTS timings: each phrase takes time by its length, with longer pauses at scenes."""
    timings: list[PhraseTiming] = []
    t = 0.05
    for i, line in enumerate(lines):
        if i:
            t += scene_pause if line.scene != lines[i - 1].scene else pause
        end = t + 0.3 + per_char * len(line.text)
        timings.append(PhraseTiming(line.text, round(t, 3), round(end, 3)))
        t = end
    return timings, round(t + 0.1, 3)


def timeline_for(index: int, countdown: int = 3) -> tuple[list[Line], list[PhraseTiming], Timeline]:
    lines = narration(script(index))
    timings, speech_s = speak(lines)
    return lines, timings, build_timeline(lines, timings, speech_s, countdown)


# phrases


@pytest.mark.parametrize(
    ("text", "language"),
    [
        (
            "세종대왕은 1443년에 훈민정음을 창제하고 1446년에 반포했으며 백성이 쉽게 익혀 쓰도록 "
            "만든 글자는 오늘날까지 전해지고 있습니다 그래서 우리는 매년 한글날을 기념합니다",
            "ko",
        ),
        (
            "The Berlin Wall was built in nineteen sixty one and opened on the ninth of November "
            "nineteen eighty nine after weeks of peaceful protest across the whole of East Germany",
            "en",
        ),
    ],
)
def test_long_text_is_cut_to_the_caption_limit_without_losing_words(
    text: str, language: str
) -> None:
    phrases = split_phrases(text, language)
    assert len(phrases) > 1
    assert all(len(p) <= MAX_CHARS[language] for p in phrases)
    assert " ".join(phrases).split() == text.split()


def test_sentences_stay_whole_and_only_a_long_one_is_cut_at_its_clauses() -> None:
    # A voice shapes intonation per phrase: a short sentence is one breath.
    assert split_phrases("Short one. Another, then more!", "en") == [
        "Short one.",
        "Another, then more!",
    ]
    long = "A clause that goes on for a while, " * 3 + "and then it ends."
    assert split_phrases(long, "en") == [
        "A clause that goes on for a while,",
        "A clause that goes on for a while,",
        "A clause that goes on for a while,",
        "and then it ends.",
    ]


def test_an_unbroken_token_longer_than_the_limit_is_cut_hard() -> None:
    token = "x" * (MAX_CHARS["en"] * 2 + 5)
    phrases = split_phrases(token, "en")
    assert [len(p) for p in phrases] == [MAX_CHARS["en"], MAX_CHARS["en"], 5]
    assert "".join(phrases) == token


def test_a_labelled_choice_is_not_cut_at_its_full_stop() -> None:
    assert split_phrases("B. 서울", "ko", sentences=False) == ["B. 서울"]
    # The contrast: as prose the same text would be cut after "B."
    assert split_phrases("B. 서울", "ko") == ["B.", "서울"]


def test_unknown_language_uses_the_latin_limit() -> None:
    text = "word " * 30
    assert all(len(p) <= MAX_CHARS["en"] for p in split_phrases(text, "fr"))


def test_blank_text_has_no_phrases() -> None:
    assert split_phrases("   ", "ko") == []


# narration


@pytest.mark.parametrize("index", [KO, KO_NO_PREFACE, EN])
def test_narration_speaks_every_scene_in_order(index: int) -> None:
    record = script(index)
    lines = narration(record)
    scenes = [line.scene for line in lines]
    order = list(dict.fromkeys(scenes))
    assert order == ["hook", "question", "choices", "reveal", "cta"]
    # Each scene is one contiguous run of phrases.
    assert len([a for a, b in itertools.pairwise(scenes) if a != b]) == 4
    limit = MAX_CHARS[record["language"]]
    assert all(len(line.text) <= limit for line in lines)


def test_narration_reads_each_choice_whole_with_its_label() -> None:
    lines = narration(script(KO, choices=["부산", "서울", "대전. 세종", "광주"]))
    choices = [line.text for line in lines if line.scene == "choices"]
    # Korean cards number the choices and the voice says the number as it is shown.
    assert choices == ["1번, 부산", "2번, 서울", "3번, 대전. 세종", "4번, 광주"]
    lines = narration(script(EN, choices=["Busan", "Seoul. Sejong", "Daejeon", "Gwangju"]))
    choices = [line.text for line in lines if line.scene == "choices"]
    assert choices == ["A: Busan", "B: Seoul. Sejong", "C: Daejeon", "D: Gwangju"]


def test_a_blank_preface_adds_nothing() -> None:
    with_preface = narration(script(KO))
    without = narration(script(KO, preface=""))
    assert [line for line in with_preface if line.scene == "hook"][:-1] == [
        line for line in without if line.scene == "hook"
    ]
    assert len(without) == len(with_preface) - 1


@pytest.mark.parametrize("field", ["hook", "question", "answer_reveal"])
def test_a_scene_with_nothing_to_say_is_rejected(field: str) -> None:
    overrides: dict[str, Any] = {field: "  "}
    # The hook scene also speaks the preface, the reveal also the explanation.
    overrides.update({"hook": {"preface": ""}, "answer_reveal": {"explanation": ""}}.get(field, {}))
    with pytest.raises(ValidationError, match="nothing to say"):
        narration(script(KO, **overrides))


def test_no_choices_is_rejected() -> None:
    with pytest.raises(ValidationError, match="choices"):
        narration(script(KO, choices=[]))


def test_more_choices_than_labels_is_rejected() -> None:
    with pytest.raises(ValidationError, match="more than 8"):
        narration(script(EN, choices=[str(n) for n in range(9)]))


# build_timeline


@pytest.mark.parametrize("index", [KO, KO_NO_PREFACE, EN])
@pytest.mark.parametrize("countdown", [1, 3, 5])
def test_slots_are_contiguous_and_cover_the_whole_video(index: int, countdown: int) -> None:
    _, _, timeline = timeline_for(index, countdown)
    slots = timeline.slots
    assert slots[0].start == 0.0
    for a, b in itertools.pairwise(slots):
        assert b.start == pytest.approx(a.end, abs=EPS), (a, b)
        assert a.duration > 0
    assert slots[-1].end == pytest.approx(timeline.duration, abs=EPS)


@pytest.mark.parametrize("countdown", [1, 3, 5, 10])
def test_countdown_ticks_down_once_a_second_between_choices_and_reveal(countdown: int) -> None:
    _, _, timeline = timeline_for(KO, countdown)
    scenes = [slot.scene for slot in timeline.slots]
    ticks = [slot for slot in timeline.slots if slot.scene == "countdown"]
    assert [slot.tick for slot in ticks] == list(range(countdown, 0, -1))
    assert all(slot.duration == 1.0 for slot in ticks)
    first = scenes.index("countdown")
    assert scenes[first - 1] == "choices"
    assert scenes[first : first + countdown] == ["countdown"] * countdown
    reveal = timeline.slots[first + countdown]
    assert reveal.scene == "reveal"
    assert reveal.start == pytest.approx(ticks[-1].end, abs=EPS)
    assert timeline.gap_s == pytest.approx(countdown + 0.2)


@pytest.mark.parametrize("index", [KO, EN])
def test_no_caption_shows_during_the_countdown(index: int) -> None:
    _, _, timeline = timeline_for(index)
    ticks = [slot for slot in timeline.slots if slot.scene == "countdown"]
    start, end = ticks[0].start, ticks[-1].end
    for cue in timeline.cues:
        assert cue.end <= start + EPS or cue.start >= end - EPS, cue


def test_the_audio_is_cut_in_the_pause_after_the_last_choice() -> None:
    lines, timings, timeline = timeline_for(EN)
    last = max(i for i, line in enumerate(lines) if line.scene == "choices")
    assert timings[last].end < timeline.split_s < timings[last + 1].start
    assert timeline.lead_in_s == LEAD_IN_S


def test_cues_are_the_spoken_times_shifted_by_lead_in_and_countdown() -> None:
    lines, timings, timeline = timeline_for(KO, 4)
    assert [cue.text for cue in timeline.cues] == [line.text for line in lines]
    for cue, t in zip(timeline.cues, timings, strict=True):
        shift = LEAD_IN_S + (timeline.gap_s if t.start >= timeline.split_s else 0.0)
        assert cue.start == pytest.approx(t.start + shift, abs=EPS)


def test_duration_is_lead_in_speech_countdown_and_tail() -> None:
    lines = narration(script(EN))
    timings, speech_s = speak(lines)
    timeline = build_timeline(lines, timings, speech_s, 3)
    assert timeline.duration == pytest.approx(LEAD_IN_S + speech_s + 3.2 + TAIL_S, abs=EPS)


def test_narration_too_long_for_a_short_is_rejected() -> None:
    lines = narration(script(KO))
    timings, _ = speak(lines)
    speech_ok = MAX_SECONDS - 0.5 - LEAD_IN_S - 3.2 - TAIL_S - 0.01
    build_timeline(lines, timings, speech_ok, 3)  # just under: accepted
    with pytest.raises(ValidationError, match="under 60s"):
        build_timeline(lines, timings, speech_ok + 0.05, 3)


@pytest.mark.parametrize("countdown", [0, -1, 11])
def test_countdown_outside_its_range_is_rejected(countdown: int) -> None:
    lines = narration(script(KO))
    timings, speech_s = speak(lines)
    with pytest.raises(ValidationError, match="countdown"):
        build_timeline(lines, timings, speech_s, countdown)


def test_timings_must_match_phrases() -> None:
    lines = narration(script(KO))
    timings, speech_s = speak(lines)
    with pytest.raises(ValueError, match="phrases"):
        build_timeline(lines, timings[:-1], speech_s, 3)


def test_choices_as_the_last_phrase_cut_at_its_end() -> None:
    lines = [Line("hook", "hi"), Line("question", "q?"), Line("choices", "A. x")]
    timings = [PhraseTiming("hi", 0, 1), PhraseTiming("q?", 1.5, 2.5), PhraseTiming("A. x", 3, 4)]
    timeline = build_timeline(lines, timings, 4.2, 2)
    assert timeline.split_s == 4
    assert [slot.scene for slot in timeline.slots] == [
        "hook",
        "question",
        "choices",
        "countdown",
        "countdown",
    ]
    assert timeline.slots[-1].end == pytest.approx(timeline.duration - TAIL_S - 0.2, abs=EPS)


# _cues


def test_a_short_pause_within_a_scene_is_bridged() -> None:
    gap = MAX_CAPTION_GAP_S - 0.05
    cues = _cues([("hook", "a", 1.0, 2.0), ("hook", "b", 2.0 + gap, 3.0)])
    assert cues[0].end == cues[1].start == pytest.approx(2.0 + gap)


def test_a_long_pause_within_a_scene_is_not_bridged() -> None:
    cues = _cues([("hook", "a", 1.0, 2.0), ("hook", "b", 2.0 + MAX_CAPTION_GAP_S, 3.0)])
    assert cues[0].end == 2.0


def test_a_pause_before_the_next_scene_is_never_bridged() -> None:
    cues = _cues([("hook", "a", 1.0, 2.0), ("question", "b", 2.05, 3.0)])
    assert cues[0].end == 2.0
    assert [c.text for c in cues] == ["a", "b"]


def test_overlapping_phrases_are_not_stretched_backwards() -> None:
    cues = _cues([("hook", "a", 1.0, 2.0), ("hook", "b", 1.9, 3.0)])
    assert cues[0].end == 2.0


@pytest.mark.parametrize("index", [KO, KO_NO_PREFACE, EN])
def test_no_caption_crosses_a_scene_change(index: int) -> None:
    lines, _, timeline = timeline_for(index)
    for line, cue in zip(lines, timeline.cues, strict=True):
        slot = next(s for s in timeline.slots if s.scene == line.scene)
        assert slot.start - EPS <= cue.start, (cue, slot)
        assert cue.end <= slot.end + EPS, (cue, slot)
