"""Speech-length estimates for a script, before any audio exists.

Assumed rates (the renderer uses espeak-ng at its default speed, 175 "words" per minute):
- Korean: ~7 syllables per second. Every Hangul syllable block is one syllable; numbers are
  counted as read in Sino-Korean (1443 -> 천사백사십삼, 6 syllables); Latin letters, which in
  Korean quizzes are mostly symbols spelled out (H2O, Fe), count one syllable each.
- English: ~2.7 words per second, a calm narration pace (espeak-ng's nominal 175 wpm is 2.9/s,
  and quiz voice-overs run slower). Numbers count as the words they are read as, capped at
  four ("1945" -> "nineteen forty-five").
- A short pause between consecutive spoken parts (hook, question, choices, ...), because TTS
  and the video cut both leave a gap there.
Punctuation inside a part is not modelled: the rates already average over ordinary sentences.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

KO_SYLLABLES_PER_SECOND = 7.0
EN_WORDS_PER_SECOND = 2.7
PAUSE_BETWEEN_PARTS_SECONDS = 0.3

_HANGUL = re.compile(r"[\uac00-\ud7a3\u3131-\u318e]")
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
_LATIN = re.compile(r"[A-Za-z]")
_EN_WORD = re.compile(r"[A-Za-z\u00c0-\u024f]+(?:['\u2019][A-Za-z]+)*")


def _sino_korean_syllables(integer: int) -> int:
    """Syllables of a non-negative integer read in Sino-Korean (2024 -> 이천이십사 = 5)."""
    if integer == 0:
        return 1  # 영
    count = 0
    group_index = 0
    while integer:
        group = integer % 10_000
        for place in range(4):  # ones, 십, 백, 천 inside each 만-group
            digit = group // 10**place % 10
            if digit == 0:
                continue
            # "십", not "일십": a leading 1 before a place word is silent.
            count += 1 if place == 0 or digit == 1 else 2
        if group and group_index:
            count += 1  # 만, 억, 조
        integer //= 10_000
        group_index += 1
    return count


def _ko_number_syllables(token: str) -> int:
    whole, _, fraction = token.replace(",", "").partition(".")
    syllables = _sino_korean_syllables(int(whole))
    if fraction:
        syllables += 1 + len(fraction)  # 점 + one syllable per digit (0.25 -> 영점이오)
    return syllables


def _en_number_words(token: str) -> int:
    whole, _, fraction = token.replace(",", "").partition(".")
    words = max(1, min(len(whole.lstrip("0")) or 1, 4))
    if fraction:
        words += 1 + len(fraction)  # "point" + one word per digit
    return words


def korean_syllables(text: str) -> int:
    """Spoken syllables of Korean text under the rules in the module docstring."""
    numbers = sum(_ko_number_syllables(m) for m in _NUMBER.findall(text))
    return len(_HANGUL.findall(text)) + numbers + len(_LATIN.findall(text))


def english_words(text: str) -> int:
    """Spoken words of English text (numbers counted as their spoken words)."""
    numbers = sum(_en_number_words(m) for m in _NUMBER.findall(text))
    return len(_EN_WORD.findall(text)) + numbers


def estimate_speech_seconds(text: str, language: str) -> float:
    """Seconds to speak ``text`` in ``language`` ("ko" or "en") at the assumed rates."""
    if language == "ko":
        return korean_syllables(text) / KO_SYLLABLES_PER_SECOND
    if language == "en":
        return english_words(text) / EN_WORDS_PER_SECOND
    raise ValueError(f"no speech rate for language {language!r}")


def estimate_script_seconds(parts: Iterable[str], language: str, countdown_seconds: int) -> float:
    """Seconds of a whole script: every non-empty spoken part, the pauses between them and
    the silent countdown."""
    spoken = [part for part in parts if part.strip()]
    speech = sum(estimate_speech_seconds(part, language) for part in spoken)
    pauses = PAUSE_BETWEEN_PARTS_SECONDS * max(0, len(spoken) - 1)
    return speech + pauses + countdown_seconds
