"""What the voice is given to say (pure): each written word of a phrase and its spoken form.

Voices read digits and symbols badly (Piper and espeak-ng say "1919" as "nineteen hundred
nineteen", espeak-ng's Korean reads Latin letters in English), so numbers, years and symbols are
written out as words before synthesis. The mapping stays word by word: a caption shows the
written word ("1919") while the voice's times come from its spoken words ("nineteen
nineteen"), so the renderer can tell when each written word is heard.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_SINO_DIGITS = ("영", "일", "이", "삼", "사", "오", "육", "칠", "팔", "구")
_SINO_PLACES = ("", "십", "백", "천")
_SINO_GROUPS = ("", "만", "억", "조")
# Native Korean numbers are used before these counters ("세 개", "스무 살").
_NATIVE_COUNTERS = (
    "개",
    "명",
    "살",
    "마리",
    "시간",
    "번째",
    "가지",
    "권",
    "잔",
    "대",
    "사람",
    "시",
)
_NATIVE_ONES = ("", "한", "두", "세", "네", "다섯", "여섯", "일곱", "여덟", "아홉")
_NATIVE_TENS = ("", "열", "스물", "서른", "마흔", "쉰", "예순", "일흔", "여든", "아흔")

_EN_ONES = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen",
)  # fmt: skip
_EN_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_EN_SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"))
_EN_ORDINAL = {
    "one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
    "nine": "ninth", "twelve": "twelfth",
}  # fmt: skip

# Symbols read as words, per language; units only where a number precedes them.
_SYMBOLS = {
    "ko": {
        "%": "퍼센트", "+": "더하기", "=": "는", "×": "곱하기", "÷": "나누기", "&": "그리고",
        "°C": "도", "℃": "도", "°": "도", "~": "에서", "km": "킬로미터", "kg": "킬로그램",
        "cm": "센티미터", "mm": "밀리미터", "m": "미터", "g": "그램", "L": "리터",
    },
    "en": {
        "%": "percent", "+": "plus", "=": "equals", "×": "times", "÷": "divided by",
        "&": "and", "°C": "degrees Celsius", "℃": "degrees Celsius", "°F": "degrees Fahrenheit",
        "°": "degrees", "km": "kilometers", "kg": "kilograms", "cm": "centimeters",
        "mm": "millimeters", "m": "meters", "g": "grams", "L": "liters", "$": "dollars",
    },
}  # fmt: skip
# Latin letters inside Korean text (H2O, DNA) are spelled the way Koreans say them.
_KO_LETTERS = dict(
    zip(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        (
            "에이",
            "비",
            "씨",
            "디",
            "이",
            "에프",
            "지",
            "에이치",
            "아이",
            "제이",
            "케이",
            "엘",
            "엠",
            "엔",
            "오",
            "피",
            "큐",
            "알",
            "에스",
            "티",
            "유",
            "브이",
            "더블유",
            "엑스",
            "와이",
            "제트",
        ),
        strict=True,
    )
)
_TOKEN = re.compile(r"(\d+(?:,\d{3})*(?:\.\d+)?)|([A-Za-z]+)|(°C|°F|[%+=×÷&°℃~$])|(\s+)|(.)", re.S)
_EN_ORDINAL_SUFFIX = re.compile(r"^(\d+)(st|nd|rd|th)$")


@dataclass(frozen=True)
class SpokenWord:
    """One written word of a phrase and what the voice says for it (never empty)."""

    written: str
    spoken: str


def sino_korean(number: int) -> str:
    """``number`` in Sino-Korean words: 1919 -> 천구백십구, 20000 -> 이만."""
    if number == 0:
        return _SINO_DIGITS[0]
    groups: list[str] = []
    group_index = 0
    while number:
        group = number % 10_000
        if group:
            words = ""
            for place in range(3, -1, -1):
                digit = group // 10**place % 10
                if digit == 0:
                    continue
                # "십", "백", "천" without a leading "일"; "만" likewise when it stands alone.
                words += ("" if digit == 1 and place else _SINO_DIGITS[digit]) + _SINO_PLACES[place]
            if group == 1 and group_index == 1:
                words = ""
            groups.append(words + _SINO_GROUPS[group_index])
        number //= 10_000
        group_index += 1
    return "".join(reversed(groups))


def native_korean(number: int) -> str | None:
    """``number`` (1..99) in native Korean before a counter: 3 -> 세, 20 -> 스무."""
    if not 1 <= number <= 99:
        return None
    tens, ones = divmod(number, 10)
    if tens == 2 and ones == 0:
        return "스무"
    return _NATIVE_TENS[tens] + _NATIVE_ONES[ones]


def english_number(number: int) -> str:
    """``number`` in English words: 1443 -> one thousand four hundred forty-three."""
    if number < 20:
        return _EN_ONES[number]
    if number < 100:
        tens, ones = divmod(number, 10)
        return _EN_TENS[tens] + (f"-{_EN_ONES[ones]}" if ones else "")
    if number < 1000:
        hundreds, rest = divmod(number, 100)
        return f"{_EN_ONES[hundreds]} hundred" + (f" {english_number(rest)}" if rest else "")
    for scale, name in _EN_SCALES:
        if number >= scale:
            high, rest = divmod(number, scale)
            return f"{english_number(high)} {name}" + (f" {english_number(rest)}" if rest else "")
    raise AssertionError("unreachable")


def english_year(number: int) -> str:
    """A year as said aloud: 1919 -> nineteen nineteen, 1905 -> nineteen oh five, 2000 -> two
    thousand, 2024 -> twenty twenty-four."""
    if not 1100 <= number <= 2099 or number % 1000 < 10 or 2000 <= number < 2010:
        return english_number(number)
    high, low = divmod(number, 100)
    if low == 0:
        return f"{english_number(high)} hundred"
    return f"{english_number(high)} " + (f"oh {_EN_ONES[low]}" if low < 10 else english_number(low))


def english_ordinal(number: int) -> str:
    words = english_number(number)
    head, sep, last = words.rpartition(" ") if " " in words else ("", "", words)
    stem, dash, tail = last.rpartition("-")
    target = tail if dash else last
    if target in _EN_ORDINAL:
        spoken = _EN_ORDINAL[target]
    elif target.endswith("y"):
        spoken = target[:-1] + "ieth"
    else:
        spoken = target + "th"
    last = f"{stem}-{spoken}" if dash else spoken
    return f"{head}{sep}{last}"


def _decimal(token: str, language: str, *, year: bool) -> str:
    whole, _, fraction = token.replace(",", "").partition(".")
    value = int(whole)
    if language == "ko":
        words = sino_korean(value)
        if fraction:
            words += " 점 " + "".join(_SINO_DIGITS[int(d)] for d in fraction)
        return words
    words = english_year(value) if year and not fraction else english_number(value)
    if fraction:
        words += " point " + " ".join(_EN_ONES[int(d)] for d in fraction)
    return words


def speak_word(word: str, language: str) -> str:
    """The spoken form of one written word (punctuation kept where it marks a pause)."""
    if language == "en":
        ordinal = _EN_ORDINAL_SUFFIX.match(word.strip(".,!?;:"))
        if ordinal:
            tail = word[len(word.rstrip(".,!?;:")) :]
            return english_ordinal(int(ordinal.group(1))) + tail
    symbols = _SYMBOLS.get(language, _SYMBOLS["en"])
    if language == "en":
        word = re.sub(r"\$(\d+(?:,\d{3})*(?:\.\d+)?)", r"\1 dollars", word)
    parts: list[str] = []
    tokens = list(_TOKEN.finditer(word))
    for index, match in enumerate(tokens):
        number, letters, symbol, _space, other = match.groups()
        after = word[match.end() :]
        if number is not None:
            year = language == "en" and len(number) == 4 and "," not in number
            counter = next((c for c in _NATIVE_COUNTERS if after.startswith(c)), None)
            native = native_korean(int(number)) if language == "ko" and counter else None
            if native is not None and "." not in number:
                parts.append(native + " ")
            else:
                # A Korean particle or counter stays glued to its number: "2번" -> "이번".
                glued = language == "ko" and bool(re.match(r"[가-힣]", after))
                parts.append(_decimal(number, language, year=year) + ("" if glued else " "))
        elif letters is not None:
            previous = tokens[index - 1].group(1) if index else None
            if previous is not None and letters in symbols:
                parts.append(symbols[letters] + " ")  # a unit: "5km"
            elif language == "ko":
                parts.append(" ".join(_KO_LETTERS.get(ch.upper(), ch) for ch in letters) + " ")
            elif letters == "A" and not after:
                # Voices read a lone capital A as the letter; before a word it is the article.
                # A label ("A:", "A.") keeps its punctuation and stays the letter.
                parts.append("a")
            else:
                parts.append(letters)
        elif symbol is not None:
            parts.append(" " + symbols.get(symbol, "") + " ")
        elif other is not None:
            parts.append(other)
    spoken = " ".join("".join(parts).split())
    spoken = re.sub(r" (?=[.,!?;:])", "", spoken)
    return spoken if spoken.strip(" .,!?;:") else word


def spoken_words(phrase: str, language: str) -> list[SpokenWord]:
    """Every whitespace-separated word of ``phrase`` with its spoken form."""
    return [SpokenWord(word, speak_word(word, language)) for word in phrase.split()]


def spoken_text(words: Sequence[SpokenWord]) -> str:
    return " ".join(w.spoken for w in words)
