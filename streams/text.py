"""Unicode hygiene for untrusted text (pure): the same rules at the API, at every step that
decodes producer text, and in the renderer.

- **Normal form NFC** for what is stored and drawn: it composes decomposed input (Hangul typed
  as jamo on macOS becomes syllables) and changes nothing a reader can see. NFKC would also
  turn ``x²`` into ``x2`` and the compatibility jamo ``ㅋ`` into a conjoining jamo that fonts
  draw as half a syllable (docs/decisions.md).
- **Comparison key** :func:`fold` (NFKC, case-folded, default-ignorables removed): what two
  strings *look* like for the guardrails, so ``１９４５`` repeats ``1945`` and ``stu\\u200bpid``
  is ``stupid``.
- **Refused**: bidi controls (they reorder what is drawn: ``A: \\u202e5491`` shows "1945"),
  invisible format characters (zero-width space, soft hyphen, word joiner, BOM, tag
  characters, Hangul fillers...), control characters other than tab and newlines, surrogates
  and private-use code points; the zero-width joiner only inside emoji sequences.
- **Capped**: at most :data:`MAX_MARKS` non-spacing or enclosing marks on one character
  (stacked marks, "Zalgo", draw far outside their line).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

NORMAL_FORM: Literal["NFC"] = "NFC"
# Thai (vowel + tone), Hebrew (point + dagesh + cantillation), Devanagari and the emoji keycap
# (VS16 + U+20E3) need at most 3-4 after NFC; Zalgo text uses 5-50.
MAX_MARKS = 4

ZWJ = "\u200d"
BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
# Emoji presentation selectors and skin-tone modifiers may sit between an emoji and a ZWJ.
_EMOJI_TAILS = frozenset({"\ufe0e", "\ufe0f", *map(chr, range(0x1F3FB, 0x1F400))})
_VARIATION_SELECTORS = ((0xFE00, 0xFE0F), (0xE0100, 0xE01EF))
# Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt): drawn as nothing. The
# ones in category Cf are refused by category; these are the rest (Hangul fillers, Mongolian
# and Khmer invisibles, the combining grapheme joiner, variation selectors).
_IGNORABLE_NOT_CF = (
    (0x034F, 0x034F), (0x115F, 0x1160), (0x17B4, 0x17B5), (0x180B, 0x180F), (0x3164, 0x3164),
    (0xFE00, 0xFE0F), (0xFFA0, 0xFFA0), (0xE0100, 0xE0FFF),
)  # fmt: skip
_ALLOWED_CONTROLS = frozenset("\t\n\r")


@dataclass(frozen=True)
class TextProblem:
    """One reason a text is refused: which character, where, and why."""

    position: int
    char: str
    reason: str

    def __str__(self) -> str:
        name = unicodedata.name(self.char, "unnamed")
        return f"U+{ord(self.char):04X} {name} at position {self.position}: {self.reason}"


class UnsafeTextError(ValueError):
    """Text that must not be shown: the message names every offending character."""

    def __init__(self, problems: Iterable[TextProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


def _in(code: int, ranges: tuple[tuple[int, int], ...]) -> bool:
    return any(lo <= code <= hi for lo, hi in ranges)


def is_ignorable(char: str) -> bool:
    """Default_Ignorable_Code_Point: a character fonts draw as nothing."""
    code = ord(char)
    if unicodedata.category(char) == "Cf":
        # Cf characters that are visible signs, not ignorables (Arabic number signs etc.).
        return not (0x0600 <= code <= 0x0605 or code in (0x06DD, 0x070F, 0x08E2, 0x110BD))
    return _in(code, _IGNORABLE_NOT_CF)


def _is_mark(char: str) -> bool:
    # Spacing marks (Mc) take their own room; only these stack on their base.
    return unicodedata.category(char) in ("Mn", "Me")


def _emoji_side(text: str, index: int, step: int) -> bool:
    """Is the nearest character from ``index`` in direction ``step`` (skipping presentation
    selectors and skin tones) a symbol, as inside an emoji ZWJ sequence?"""
    while 0 <= index < len(text) and text[index] in _EMOJI_TAILS:
        index += step
    return 0 <= index < len(text) and unicodedata.category(text[index]) == "So"


def _reason(text: str, index: int) -> str | None:
    char = text[index]
    category = unicodedata.category(char)
    if char in BIDI_CONTROLS:
        return "a bidi control: it reorders how the text around it is drawn"
    if char == ZWJ:
        if _emoji_side(text, index - 1, -1) and _emoji_side(text, index + 1, 1):
            return None
        return "a zero-width joiner outside an emoji sequence is invisible"
    if category == "Cc" and char not in _ALLOWED_CONTROLS:
        return "a control character"
    if category == "Cs":
        return "a lone surrogate is not text"
    if category == "Co":
        return "a private-use character has no meaning any font agrees on"
    if category == "Cf":
        return "an invisible format character"
    if is_ignorable(char) and not _in(ord(char), _VARIATION_SELECTORS):
        return "an invisible character"
    return None


def problems(text: str) -> list[TextProblem]:
    """Every reason ``text`` (already normalised) must not be shown; empty: it may."""
    found = [
        TextProblem(i, text[i], reason)
        for i in range(len(text))
        if (reason := _reason(text, i)) is not None
    ]
    run = 0
    for i, char in enumerate(text):
        run = run + 1 if _is_mark(char) else 0
        if run == MAX_MARKS + 1:  # report each stack once, at its first mark too many
            found.append(
                TextProblem(i, char, f"more than {MAX_MARKS} combining marks on one character")
            )
    return sorted(found, key=lambda p: p.position)


def normalise(text: str) -> str:
    return unicodedata.normalize(NORMAL_FORM, text)


def clean(text: str) -> str:
    """``text`` in NFC; raises :class:`UnsafeTextError` naming what cannot be shown."""
    normal = normalise(text)
    found = problems(normal)
    if found:
        raise UnsafeTextError(found)
    return normal


def sanitise(text: str) -> str:
    """``text`` in NFC with every refused character removed and mark stacks cut to
    :data:`MAX_MARKS`: for long documents, where one stray soft hyphen must not refuse it."""
    normal = normalise(text)
    drop = {i for i in range(len(normal)) if _reason(normal, i) is not None}
    kept: list[str] = []
    run = 0
    for i, char in enumerate(normal):
        run = run + 1 if _is_mark(char) else 0
        if i in drop or run > MAX_MARKS:
            continue
        kept.append(char)
    return "".join(kept)


def columns(text: str) -> int:
    """Width in Latin-letter columns: wide and fullwidth (CJK, Hangul) characters count two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def visible(text: str) -> str:
    """What a reader sees, as plain characters: ignorables dropped, compatibility forms folded
    (NFKC: ``１９４５`` is ``1945``). For comparisons only, never for display."""
    return unicodedata.normalize("NFKC", "".join(c for c in text if not is_ignorable(c)))


def fold(text: str) -> str:
    """The comparison key: what a reader would take for the same text, in any case
    (like Unicode's NFKC_Casefold)."""
    return unicodedata.normalize("NFKC", visible(text).casefold())
