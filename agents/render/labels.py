"""Choice labels, one convention per language, shown and spoken the same way.

Korean quiz shows number their choices and say "2번"; English ones letter them and say "B".
The card shows exactly what the voice says (a card "B" read as "2번" confused viewers), and
the drafting step's reveal line ("정답은 2번, ...", "The answer is B: ...") follows the same
convention (agents/drafting/phrases_*.py).
"""

from __future__ import annotations

LETTERS = "ABCDEFGH"
MAX_CHOICES = len(LETTERS)


def card_label(language: str, index: int) -> str:
    """What the card draws in a choice's badge."""
    return str(index + 1) if language == "ko" else LETTERS[index]


def spoken_line(language: str, index: int, choice: str) -> str:
    """How the narration reads a choice: "2번, 서울" / "B: London"."""
    if language == "ko":
        return f"{index + 1}번, {choice}"
    return f"{LETTERS[index]}: {choice}"
