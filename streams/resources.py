"""Heavy clients a worker process shares between its agents, opened on first use.

On the embedded default the vector engine keeps its data directory to one process, so the
indexing agent (writer) and the drafting agent (reader) must share one store: they run in one
worker group ("content") and get the store from here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from streams.settings import Settings

if TYPE_CHECKING:
    from agents.render.pipeline import Renderer
    from connectors.artifacts.port import ArtifactStore
    from connectors.browser.chromium import ChromiumRenderer
    from connectors.embeddings.port import Embedder
    from connectors.tts.port import TextToSpeech
    from connectors.vectors.port import VectorStore


class Resources:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._store: VectorStore | None = None
        self._embedder: Embedder | None = None
        self._artifacts: ArtifactStore | None = None
        self._browser: ChromiumRenderer | None = None
        self._tts: TextToSpeech | None = None
        self._renderer: Renderer | None = None

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
    def embedder(self) -> Embedder:
        if self._embedder is None:
            from connectors.embeddings.factory import open_embedder

            self._embedder = open_embedder(self.settings.embedder)
        return self._embedder

    @property
    def artifacts(self) -> ArtifactStore:
        if self._artifacts is None:
            from connectors.artifacts.factory import open_artifact_store

            s = self.settings
            self._artifacts = open_artifact_store(
                s.artifacts_url,
                local_root=s.data_dir / "artifacts",
                access_key=s.artifacts_access_key,
                secret_key=s.artifacts_secret_key.get_secret_value()
                if s.artifacts_secret_key
                else None,
                endpoint_url=s.artifacts_endpoint_url,
            )
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

            s = self.settings
            self._tts = open_tts(
                s.tts,
                api_key=s.tts_api_key.get_secret_value() if s.tts_api_key else None,
                base_url=s.tts_url,
                rate_wpm=s.tts_rate_wpm,
            )
        return self._tts

    @property
    def renderer(self) -> Renderer:
        if self._renderer is None:
            from agents.render.compose import Encoding
            from agents.render.pipeline import RenderConfig, Renderer
            from agents.render.theme import Theme

            s = self.settings
            self._renderer = Renderer(
                browser=self.browser,
                tts=self.tts,
                store=self.artifacts,
                theme=Theme.from_settings(s),
                config=RenderConfig(
                    target_lufs=s.render_loudness_lufs,
                    encoding=Encoding(preset=s.render_x264_preset, crf=s.render_crf),
                    music=s.render_music_path,
                    timeout_s=s.render_timeout_s,
                ),
                concurrency=s.render_concurrency,
            )
        return self._renderer

    async def close(self) -> None:
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
