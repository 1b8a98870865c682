"""Korean morphological analysis with PyPI ``kiwipiepy`` (its model ships in the PyPI package
``kiwipiepy-model``: offline). Latin-script words come back whole (tag SL), so one analyser
serves Korean and English text."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from importlib.metadata import version
from typing import Any

from streams.ports.text import Kind, Token

# Sejong tag set (kiwipiepy docs) -> the port's coarse classes. Unlisted tags are "other".
_KINDS: dict[str, Kind] = {
    "NNG": "noun",
    "XR": "noun",
    "NNP": "name",
    "SN": "number",
    "NR": "number",
    "SL": "latin",
    "SH": "noun",  # Hanja
    "VV": "verb",
    "VA": "verb",
}


class KiwiTokenizer:
    """``Tokenizer`` over kiwipiepy. The model (~100 MB) loads on first use, once."""

    def __init__(self) -> None:
        self._kiwi: Any = None
        # Two agents of one worker may tokenise at once from their threads; loading twice
        # would double the memory.
        self._lock = threading.Lock()
        self._name = f"kiwi@{version('kiwipiepy')}"

    @property
    def name(self) -> str:
        return self._name

    def _analyser(self) -> Any:
        with self._lock:
            if self._kiwi is None:
                from kiwipiepy import Kiwi

                self._kiwi = Kiwi(num_workers=-1)  # -1: the calling thread only
            return self._kiwi

    def tokenize(self, texts: Sequence[str]) -> list[list[Token]]:
        kiwi = self._analyser()
        return [[_token(t.form, str(t.tag)) for t in kiwi.tokenize(text)] for text in texts]


def _token(form: str, tag: str) -> Token:
    kind = _KINDS.get(tag.split("-")[0], "other")
    if kind == "number":
        # In Latin-script text kiwipiepy keeps a sentence's full stop on a number ("1969."):
        # the number is what a question would match.
        form = form.rstrip(".,")
    return Token(form, kind)
