"""The soundtrack with real ffmpeg and espeak-ng: music ducks under the voice, loudness lands
on the target, and a brand logo is the one asset the browser may load."""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from agents.render import audio
from agents.render.scenes import ASSET_ORIGIN, SceneSpec, scene_html
from connectors.browser.chromium import ChromiumRenderer
from connectors.media import ffmpeg
from connectors.tts.espeak import EspeakTts
from factory.config import theme_from_settings
from streams.ports.tts import Pcm, read_pcm, write_wav
from streams.settings import Settings
from tests.factories import problem_event

pytestmark = pytest.mark.integration

GAP_S = 3.0


def _stereo(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth()) == (2, 2)
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
        return data.astype(np.float64), w.getframerate()


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x**2))) if len(x) else 0.0


@pytest.fixture
async def narration(tmp_path: Path) -> tuple[Path, float, float]:
    """Speech, then GAP_S of silence, then speech; returns (wav, gap start, gap end)."""
    speech = await EspeakTts().synthesize(
        ["오늘의 퀴즈를 풀어 볼까요?", "정답을 맞혀 보세요"], "ko"
    )
    pcm = read_pcm(speech.wav)
    silence = b"\0" * (round(GAP_S * pcm.sample_rate) * 2)
    path = tmp_path / "narration.wav"
    path.write_bytes(write_wav(Pcm(pcm.samples + silence + pcm.samples, pcm.sample_rate)))
    start = pcm.frames / pcm.sample_rate
    return path, start, start + GAP_S


async def test_music_is_ducked_under_the_voice(
    tmp_path: Path, narration: tuple[Path, float, float]
) -> None:
    voice_path, gap_start, gap_end = narration
    music = tmp_path / "music.wav"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=220:duration=4",
         "-ac", "2", str(music)],
        check=True,
    )  # fmt: skip
    duration = gap_end + gap_start  # speech, pause, the same speech again
    mixed, voice = tmp_path / "mixed.wav", tmp_path / "voice.wav"
    await ffmpeg.run(audio.mix_args(voice_path, music, mixed, duration), timeout_s=30)
    await ffmpeg.run(audio.mix_args(voice_path, None, voice, duration), timeout_s=30)
    with_music, rate = _stereo(mixed)
    alone, _ = _stereo(voice)
    n = min(len(with_music), len(alone))
    bed = (with_music[:n] - alone[:n])[:, 0]  # what the music adds, sample by sample

    def window(a: float, b: float) -> np.ndarray:
        return bed[int(a * rate) : int(b * rate)]

    # Skip the compressor's release around the edges of the pause.
    speaking = _rms(window(0.2, gap_start - 0.1))
    pausing = _rms(window(gap_start + 0.6, gap_end - 0.1))
    assert pausing > 0, "the music is missing"
    assert pausing / speaking > 3.0  # ducked by more than ~10 dB while someone speaks
    # The music was looped: it still plays after its own 4 s ended.
    assert _rms(window(duration - 1.0, duration - 0.2)) > 0


async def test_soundtrack_is_normalised_to_the_target(
    tmp_path: Path, narration: tuple[Path, float, float]
) -> None:
    voice_path, _, gap_end = narration
    mixed, final = tmp_path / "mixed.wav", tmp_path / "final.wav"
    await ffmpeg.run(audio.mix_args(voice_path, None, mixed, gap_end + 2), timeout_s=30)
    _, err = await ffmpeg.run_full(audio.measure_args(mixed), timeout_s=30)
    before, _ = audio.parse_ebur128(err.decode())
    for target in (-14.0, -20.0):
        gain = audio.gain_db(before, target)
        _, err = await ffmpeg.run_full(audio.normalise_args(mixed, final, gain), timeout_s=30)
        reported, _ = audio.parse_ebur128(err.decode())
        # Measured again, independently of the pass that wrote it.
        _, err = await ffmpeg.run_full(audio.measure_args(final), timeout_s=30)
        measured, peak = audio.parse_ebur128(err.decode())
        assert measured == pytest.approx(target, abs=1.0)
        assert reported == pytest.approx(measured, abs=0.2)
        assert peak <= -1.0  # the limiter keeps the ceiling (dBFS sample peak)


async def test_the_brand_logo_is_served_and_nothing_else_loads(tmp_path: Path) -> None:
    logo = tmp_path / "logo.png"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=c=0x00ff00:s=72x72", "-frames:v", "1",
         str(logo)],
        check=True,
    )  # fmt: skip
    from tests.drafts import drafted

    script = drafted(problem_event(0), k=1)[0]
    browser = ChromiumRenderer(asset_origin=ASSET_ORIGIN, assets={"logo": logo})
    try:
        async with browser.job() as job:
            html = scene_html(
                SceneSpec("hook"), script, theme_from_settings(Settings()), has_logo=True
            )
            _, boxes = await job.screenshot(html, measure=(".brand img",))
            blocked = list(job.blocked)
            width = await job.page.evaluate(
                "() => document.querySelector('.brand img').naturalWidth"
            )
    finally:
        await browser.close()
    assert blocked == []
    assert width == 72  # the image really loaded from our asset route
    (_, box), *_ = boxes
    assert box.height == 72


async def test_a_peaky_mix_is_brought_to_the_target_despite_the_limiter(tmp_path: Path) -> None:
    """Quiet speech-like noise under loud clicks (the countdown's ticks): the gain to -14 LUFS
    drives the clicks into the limiter, which takes back loudness; one pass lands short."""
    from agents.render.pipeline import normalise
    from connectors.media.ffmpeg import Ffmpeg

    rate, seconds = 48_000, 20
    rng = np.random.default_rng(7)
    signal = rng.normal(0.0, 0.02, rate * seconds)  # noise some 20 dB under the target
    signal[:: rate // 4] = 0.99  # four full-scale clicks a second
    pcm = (np.clip(signal, -1, 1) * 32767).astype("<i2").tobytes()
    mixed, final = tmp_path / "mixed.wav", tmp_path / "final.wav"
    mixed.write_bytes(write_wav(Pcm(pcm, rate)))

    # What one pass gives (the old behaviour): short of the target by more than the gate allows.
    _, err = await ffmpeg.run_full(audio.measure_args(mixed), timeout_s=60)
    measured, _ = audio.parse_ebur128(err.decode())
    _, err = await ffmpeg.run_full(
        audio.normalise_args(mixed, final, audio.gain_db(measured, -14.0)), timeout_s=60
    )
    one_pass, _ = audio.parse_ebur128(err.decode())
    assert one_pass < -14.0 - audio.NORMALISE_TOLERANCE_LU

    lufs = await normalise(Ffmpeg(), mixed, final, -14.0, 60)
    assert lufs == pytest.approx(-14.0, abs=audio.NORMALISE_TOLERANCE_LU)
    _, err = await ffmpeg.run_full(audio.measure_args(final), timeout_s=60)
    assert audio.parse_ebur128(err.decode())[0] == pytest.approx(lufs, abs=0.2)
