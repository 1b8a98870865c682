"""``TextToSpeech`` over the Debian ``espeak-ng`` binary: offline, robotic, fast (~10-30 ms a
phrase), used by the embedded factory and tests.

One process per phrase, not one for the whole narration: espeak-ng reports no word or sentence
positions in its audio, so the exact span of each phrase is only known if each is spoken alone
and the pieces are joined here, sample by sample.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from array import array
from collections.abc import Mapping, Sequence

from streams.ports.tts import (
    SAMPLE_WIDTH,
    Pcm,
    PhraseTiming,
    Speech,
    TtsOutputError,
    TtsRejectedError,
    TtsTimeoutError,
    TtsUnavailableError,
    read_pcm,
    validate_phrases,
    write_wav,
)

DEFAULT_VOICES: Mapping[str, str] = {"ko": "ko", "en": "en-us"}
_CHECK_PHRASE = {"ko": "확인", "en": "check"}
# espeak-ng pads every utterance with ~0.33 s of silence; left in, the caption of a phrase would
# linger into the gap and the configured pause would really be pause + 0.33 s.
SILENCE_LEVEL = 64  # |sample| at or below this (about -54 dBFS) counts as silence
EDGE_MARGIN_S = 0.01  # kept around the voiced part so onsets and decays are not clipped


class EspeakTts:
    """Speaks with ``espeak-ng`` subprocesses, at most ``concurrency`` at a time."""

    name = "espeak-ng"

    def __init__(
        self,
        rate_wpm: int = 165,
        pause_s: float = 0.12,
        voices: Mapping[str, str] = DEFAULT_VOICES,
        timeout_s: float = 20,
        *,
        concurrency: int = 4,
        executable: str = "espeak-ng",
        trim_silence: bool = True,
    ) -> None:
        if rate_wpm <= 0 or pause_s < 0 or timeout_s <= 0 or concurrency <= 0:
            raise ValueError("rate_wpm, timeout_s and concurrency must be > 0, pause_s >= 0")
        self._rate_wpm = rate_wpm
        self._pause_s = pause_s
        self._voices = dict(voices)
        self._timeout_s = timeout_s
        self._executable = executable
        self._trim = trim_silence
        self._slots = asyncio.Semaphore(concurrency)

    def __repr__(self) -> str:
        return f"EspeakTts(rate_wpm={self._rate_wpm}, voices={self._voices!r})"

    async def synthesize(self, phrases: Sequence[str], language: str) -> Speech:
        voice = self._voice(language)
        texts = validate_phrases(phrases)
        tasks = [asyncio.ensure_future(self._speak(text, voice)) for text in texts]
        try:
            pieces = await asyncio.gather(*tasks)
        except BaseException:
            # gather leaves the other phrases running; cancelling kills their processes now
            # instead of letting them speak into a result nobody will read.
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        return join_phrases(texts, pieces, self._pause_s)

    async def check(self) -> None:
        for language in self._voices:
            await self.synthesize([_CHECK_PHRASE.get(language, "check")], language)

    async def close(self) -> None:
        # Nothing outlives a call: every process is awaited (or killed) inside ``_speak``.
        return None

    def _voice(self, language: str) -> str:
        try:
            return self._voices[language]
        except KeyError:
            raise TtsRejectedError(
                f"espeak-ng has no voice for language {language!r}; "
                f"supported: {', '.join(sorted(self._voices))}"
            ) from None

    async def _speak(self, text: str, voice: str) -> Pcm:
        # The text goes through stdin, never argv: a phrase such as "-v xx" or "--help" can then
        # only ever be spoken, and no length limit of the command line applies.
        argv = [self._executable, "--stdout", "--stdin", "-v", voice, "-s", str(self._rate_wpm)]
        async with self._slots:
            try:
                process = await asyncio.create_subprocess_exec(
                    *argv,
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                    # Its own session: a terminal's Ctrl-C stops the worker, not its children.
                    start_new_session=True,
                )
            except OSError as exc:
                # A missing binary is a broken deployment, not a bad phrase: retrying after the
                # image is fixed succeeds, so the event must not be dead-lettered at once.
                raise TtsUnavailableError(f"cannot start {self._executable}: {exc}") from exc
            try:
                stdout, stderr = await asyncio.wait_for(
                    process.communicate(text.encode()), self._timeout_s
                )
            except TimeoutError:
                await _kill(process)
                raise TtsTimeoutError(
                    f"espeak-ng did not finish within {self._timeout_s} s"
                ) from None
            except BaseException:
                await _kill(process)  # cancelled: leave no orphan speaking into a closed pipe
                raise
        pcm = _result(process.returncode, stdout, stderr)
        return trim_silence(pcm) if self._trim else pcm


async def _kill(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    await process.wait()


def _result(returncode: int | None, stdout: bytes, stderr: bytes) -> Pcm:
    reason = stderr.decode(errors="replace").strip()[:200]
    if returncode is not None and returncode < 0:
        raise TtsUnavailableError(f"espeak-ng was killed by signal {-returncode}")
    if returncode != 0:
        # Text does not make espeak-ng fail; a non-zero exit means missing voice data or
        # memory, which a fixed or restarted worker can overcome, hence retriable.
        raise TtsUnavailableError(f"espeak-ng exited with {returncode}: {reason}")
    if not stdout:
        raise TtsOutputError(f"espeak-ng wrote no audio: {reason}")
    return read_pcm(stdout)


def trim_silence(pcm: Pcm, level: int = SILENCE_LEVEL, margin_s: float = EDGE_MARGIN_S) -> Pcm:
    """``pcm`` without its leading and trailing silence (empty if nothing is louder)."""
    samples = array("h", pcm.samples)
    if sys.byteorder == "big":
        samples.byteswap()  # WAV samples are little-endian
    loud = [index for index, value in enumerate(samples) if abs(value) > level]
    if not loud:
        return Pcm(b"", pcm.sample_rate)
    margin = round(margin_s * pcm.sample_rate)
    first = max(loud[0] - margin, 0)
    last = min(loud[-1] + 1 + margin, len(samples))
    return Pcm(pcm.samples[first * SAMPLE_WIDTH : last * SAMPLE_WIDTH], pcm.sample_rate)


def join_phrases(texts: Sequence[str], pieces: Sequence[Pcm], pause_s: float) -> Speech:
    """One WAV of ``pieces`` separated by ``pause_s`` of silence, with exact phrase spans."""
    if not pieces or len(texts) != len(pieces):
        raise ValueError("one piece of audio per phrase is required")
    rate = pieces[0].sample_rate
    if any(piece.sample_rate != rate for piece in pieces):
        raise TtsOutputError("espeak-ng answered with different sample rates for one voice")
    pause_frames = round(pause_s * rate)
    silence = b"\x00" * (pause_frames * SAMPLE_WIDTH)
    timings: list[PhraseTiming] = []
    chunks: list[bytes] = []
    offset = 0  # in frames: seconds are derived once, so rounding never accumulates
    for index, (text, piece) in enumerate(zip(texts, pieces, strict=True)):
        if index:
            chunks.append(silence)
            offset += pause_frames
        chunks.append(piece.samples)
        timings.append(PhraseTiming(text, offset / rate, (offset + piece.frames) / rate))
        offset += piece.frames
    pcm = Pcm(b"".join(chunks), rate)
    return Speech(write_wav(pcm), rate, offset / rate, tuple(timings))
