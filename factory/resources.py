"""Heavy clients a worker process shares between its agents, opened on first use.

On the embedded default the vector engine keeps its data directory to one process, so the
indexing agent (writer) and the drafting agent (reader) must share one store: they run in one
worker group ("content") and get the store from here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from connectors.media.ffmpeg import Ffmpeg
from streams.settings import Settings

if TYPE_CHECKING:
    from agents.metrics_poller import Clock
    from agents.render.pipeline import Renderer
    from connectors.browser.chromium import ChromiumRenderer
    from connectors.simulator.channel import SimulatedChannel
    from streams.ports.analytics import AnalyticsSource
    from streams.ports.artifacts import ArtifactStore
    from streams.ports.embeddings import Embedder
    from streams.ports.publishing import VideoPublisher
    from streams.ports.text import Tokenizer
    from streams.ports.tts import TextToSpeech
    from streams.ports.vectors import VectorStore


class Resources:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # Set by the worker as its stop begins, before anything here is closed.
        self.stopping = False
        self._store: VectorStore | None = None
        self._embedder: Embedder | None = None
        self._cross_embedder: Embedder | None = None
        self._tokenizer: Tokenizer | None = None
        self._artifacts: ArtifactStore | None = None
        self._browser: ChromiumRenderer | None = None
        self._tts: TextToSpeech | None = None
        self._renderer: Renderer | None = None
        self._clock: Clock | None = None
        self._channel: SimulatedChannel | None = None
        self._video_publisher: VideoPublisher | None = None
        self._analytics: AnalyticsSource | None = None

    @property
    def vector_store(self) -> VectorStore:
        if self._store is None:
            from connectors.vectors.factory import open_vector_store

            key = self.settings.qdrant_api_key
            self._store = open_vector_store(
                self.settings.qdrant_url,
                key.get_secret_value() if key else None,
                self.settings.data_dir / "qdrant",
            )
        return self._store

    @property
    def _cache_bytes(self) -> int:
        return int(self.settings.embedding_cache_mb * (1 << 20))

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            from connectors.embeddings.factory import open_embedder

            self._embedder = open_embedder(self.settings.embedder, self._cache_bytes)
        return self._embedder

    @property
    def cross_embedder(self) -> Embedder | None:
        """The cross-lingual embedder (None when disabled); the primary one when they are the
        same model, so it is loaded once."""
        name = self.settings.crosslingual_embedder
        if not name:
            return None
        if name == self.settings.embedder:
            return self.embedder
        if self._cross_embedder is None:
            from connectors.embeddings.factory import open_embedder

            self._cross_embedder = open_embedder(name, self._cache_bytes)
        return self._cross_embedder

    @property
    def tokenizer(self) -> Tokenizer:
        if self._tokenizer is None:
            from connectors.text.kiwi import KiwiTokenizer

            self._tokenizer = KiwiTokenizer()
        return self._tokenizer

    @property
    def artifacts(self) -> ArtifactStore:
        if self._artifacts is None:
            from connectors.artifacts.factory import artifact_store_for

            self._artifacts = artifact_store_for(self.settings)
        return self._artifacts

    @property
    def browser(self) -> ChromiumRenderer:
        if self._browser is None:
            from agents.render.scenes import ASSET_ORIGIN
            from connectors.browser.chromium import ChromiumRenderer

            logo = self.settings.brand_logo_path
            self._browser = ChromiumRenderer(
                asset_origin=ASSET_ORIGIN, assets={"logo": logo} if logo else {}
            )
        return self._browser

    @property
    def tts(self) -> TextToSpeech:
        if self._tts is None:
            from connectors.tts.factory import open_tts
            from factory.config import tts_config

            self._tts = open_tts(tts_config(self.settings))
        return self._tts

    @property
    def renderer(self) -> Renderer:
        if self._renderer is None:
            from agents.render.pipeline import Renderer
            from factory.config import render_config, theme_from_settings

            s = self.settings
            self._renderer = Renderer(
                browser=self.browser,
                media=Ffmpeg(),
                tts=self.tts,
                store=self.artifacts,
                theme=theme_from_settings(s),
                config=render_config(s),
                concurrency=s.render_concurrency,
            )
        return self._renderer

    @property
    def clock(self) -> Clock:
        """Wall-clock time, on YouTube and on the simulator alike: every time in an event is a
        real one (the simulator compresses only its audience's ages, ``channel_time_scale``)."""
        if self._clock is None:
            from connectors.simulator.clock import SimClock

            self._clock = SimClock(datetime.now(UTC), 1.0)
        return self._clock

    @property
    def channel_time_scale(self) -> float:
        """Channel seconds per wall-clock second: the simulator's speed, 1 on YouTube."""
        return 1.0 if self.settings.publishes_to_youtube else self.settings.sim_speed

    def _simulated_channel(self) -> SimulatedChannel:
        if self._channel is None:
            from agents.drafting.arms import ARMS
            from connectors.simulator.audience import AudienceModel
            from connectors.simulator.channel import SimulatedChannel
            from connectors.simulator.config import effects_from_setting

            effects = effects_from_setting(self.settings.sim_effects, [a.arm_id for a in ARMS])
            self._channel = SimulatedChannel(
                self.settings.data_dir / "simulator" / "channel.db",
                self.clock,
                AudienceModel(self.settings.sim_seed, effects=effects),
            )
        return self._channel

    @property
    def video_publisher(self) -> VideoPublisher:
        if self._video_publisher is None:
            if self.settings.publishes_to_youtube:
                from connectors.youtube.factory import open_youtube_publisher

                self._video_publisher = open_youtube_publisher(self.settings)
            else:
                self._video_publisher = self._simulated_channel()
        return self._video_publisher

    @property
    def analytics_source(self) -> AnalyticsSource:
        if self._analytics is None:
            if self.settings.publishes_to_youtube:
                from connectors.youtube.factory import open_youtube_analytics

                self._analytics = open_youtube_analytics(self.settings)
            else:
                from connectors.simulator.analytics import SimulatedAnalytics

                channel = self._simulated_channel()
                self._analytics = SimulatedAnalytics(
                    channel, channel.model, speed=self.settings.sim_speed
                )
        return self._analytics

    async def close(self) -> None:
        for closable in (self._video_publisher, self._analytics):
            if closable is not None:
                await closable.close()
        self._video_publisher = self._analytics = self._channel = None
        store, self._store = self._store, None
        if store is not None:
            await store.close()
        browser, self._browser = self._browser, None
        if browser is not None:
            await browser.close()
        tts, self._tts = self._tts, None
        if tts is not None:
            await tts.close()
        artifacts, self._artifacts = self._artifacts, None
        if artifacts is not None:
            await artifacts.close()
