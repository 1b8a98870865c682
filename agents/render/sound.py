"""The short's sound design, synthesised here (pure numpy; nothing downloaded, no sample
files): a soft music bed, countdown ticks, a reveal sting and a pop for each choice.

The bed is a warm four-chord progression (I-V-vi-IV, the most familiar one in pop) played as a
soft electric-piano arpeggio over a sustained pad, at 96 beats per minute. Every note has an
attack and a decay, the harmonics roll off, and the loop is phase-continuous, so it never
clicks; the mix ducks it under the voice (``audio.py``), and it fills every pause, so the
soundtrack has no stretch of silence.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

RATE = 48_000
BPM = 96.0
# C major: C - G - Am - F, each chord one bar of 4 beats (MIDI note numbers).
CHORDS = ((48, 60, 64, 67), (43, 59, 62, 67), (45, 60, 64, 69), (41, 60, 65, 69))
Samples = npt.NDArray[np.float32]


def _hz(note: float) -> float:
    return float(440.0 * 2 ** ((note - 69) / 12))


def _tone(freq: float, length: int, *, decay: float, harmonics: Sequence[float]) -> Samples:
    t = np.arange(length, dtype=np.float32) / RATE
    wave = np.zeros(length, dtype=np.float32)
    for k, amp in enumerate(harmonics, start=1):
        wave += amp * np.sin(2 * np.pi * freq * k * t, dtype=np.float32)
    attack = np.minimum(1.0, t / 0.008)  # 8 ms: no click, still a pluck
    return (wave * attack * np.exp(-decay * t)).astype(np.float32)


def music_bed(seconds: float) -> Samples:
    """``seconds`` of the bed, mono float in [-1, 1] at ``RATE`` (peaks ~0.5)."""
    length = round(seconds * RATE)
    beat = 60.0 / BPM
    bar = 4 * beat
    bars = int(seconds / bar) + 1
    # Room for the last bar's ringing notes; cut to ``length`` at the end.
    out = np.zeros(round((bars + 2) * bar * RATE), dtype=np.float32)
    for b in range(bars):
        chord = CHORDS[b % len(CHORDS)]
        start = round(b * bar * RATE)
        # The pad: the chord held for the bar, slow attack and release (a breath, not a beep).
        pad_len = round(bar * RATE * 1.15)
        t = np.arange(pad_len, dtype=np.float32) / RATE
        envelope = np.minimum(1.0, t / 0.35) * np.minimum(1.0, (bar * 1.15 - t) / 0.4).clip(0)
        pad = np.zeros(pad_len, dtype=np.float32)
        for pitch in chord[1:]:
            pad += 0.06 * np.sin(2 * np.pi * _hz(pitch) * t, dtype=np.float32)
            pad += 0.02 * np.sin(2 * np.pi * _hz(pitch) * 2.003 * t, dtype=np.float32)
        out[start : start + pad_len] += pad * envelope
        # The bass on beats 1 and 3.
        for k in (0, 2):
            at = start + round(k * beat * RATE)
            bass = _tone(_hz(chord[0]), round(beat * 2 * RATE), decay=2.5, harmonics=(0.22, 0.06))
            out[at : at + len(bass)] += bass
        # The arpeggio on eighth notes.
        pattern = (1, 2, 3, 2, 1, 2, 3, 2)
        for k, voice in enumerate(pattern):
            at = start + round(k * beat / 2 * RATE)
            note = _tone(
                _hz(chord[voice] + 12), round(beat * RATE), decay=6.0, harmonics=(0.09, 0.03, 0.01)
            )
            out[at : at + len(note)] += note
    bed = out[:length]
    fade = min(length, round(0.5 * RATE))
    bed[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)  # the short ends, not the bar
    return bed


def tick(last: bool = False) -> Samples:
    """A clock tick: a short woodblock-like knock (the last one higher)."""
    freq = 1760.0 if last else 1320.0
    knock = _tone(freq, round(0.09 * RATE), decay=55.0, harmonics=(0.7, 0.0, 0.25))
    body = _tone(freq / 2, round(0.09 * RATE), decay=40.0, harmonics=(0.3,))
    return (knock + body).astype(np.float32)


def sting() -> Samples:
    """The reveal: a rising major arpeggio landing on a bright chord (~1.2 s)."""
    out = np.zeros(round(1.3 * RATE), dtype=np.float32)
    for k, note in enumerate((72, 76, 79, 84)):
        at = round(k * 0.07 * RATE)
        tone = _tone(_hz(note), len(out) - at, decay=2.8, harmonics=(0.22, 0.08, 0.04, 0.02))
        out[at:] += tone
    return out


def pop() -> Samples:
    """A choice appearing: a soft upward blip."""
    length = round(0.12 * RATE)
    t = np.arange(length, dtype=np.float32) / RATE
    freq = 520.0 + 2400.0 * t
    phase = 2 * np.pi * np.cumsum(freq) / RATE
    return (0.35 * np.sin(phase) * np.exp(-28.0 * t) * np.minimum(1.0, t / 0.004)).astype(
        np.float32
    )


def effects(seconds: float, events: Sequence[tuple[float, Samples]], gain: float = 1.0) -> Samples:
    """The sound effects track: each ``(time, samples)`` placed at its time."""
    out = np.zeros(round(seconds * RATE), dtype=np.float32)
    for at_s, samples in events:
        at = round(at_s * RATE)
        if at >= len(out):
            continue
        part = samples[: len(out) - at]
        out[at : at + len(part)] += gain * part
    return out


def wav(samples: Samples) -> bytes:
    """16-bit mono WAV bytes at ``RATE``."""
    import io
    import wave

    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(pcm)
    return buffer.getvalue()
