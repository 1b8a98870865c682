"""Config slices: the small frozen configs components take, derived from the one settings model
here, at the composition root (components never see ``Settings``)."""

from __future__ import annotations

from agents.render.compose import Encoding
from agents.render.pipeline import RenderConfig
from agents.render.theme import Theme
from connectors.arm_weights import ArmWeightsConfig
from connectors.tts.factory import TtsConfig
from observability.telemetry_sink import TelemetrySinkConfig
from services.sink.sink import SinkConfig
from streams.kafka_auth import client_config
from streams.ports.tts import parse_chain
from streams.processor import ProcessorConfig
from streams.settings import Settings


def theme_from_settings(settings: Settings) -> Theme:
    """The brand theme of every scene."""
    return Theme(
        name=settings.brand_name,
        primary=settings.brand_primary,
        secondary=settings.brand_secondary,
        accent=settings.brand_accent,
        text=settings.brand_text,
        font=settings.brand_font,
        logo_path=settings.brand_logo_path,
    )


def processor_config(settings: Settings) -> ProcessorConfig:
    """Physical topic names and retry delays of every step processor."""
    return ProcessorConfig(
        topic_namespace=settings.topic_namespace,
        retry_delay_factor=settings.retry_delay_factor,
    )


def render_config(settings: Settings) -> RenderConfig:
    """Encoding, loudness, music and the time limit of one render."""
    return RenderConfig(
        target_lufs=settings.render_loudness_lufs,
        encoding=Encoding(preset=settings.render_x264_preset, crf=settings.render_crf),
        music=settings.render_music_path,
        timeout_s=settings.render_timeout_s,
    )


def tts_config(settings: Settings) -> TtsConfig:
    """The voice chain, its providers' keys, the phrase cache and where models are unpacked."""
    google, azure = settings.tts_api_key, settings.tts_azure_key
    return TtsConfig(
        chain=parse_chain(settings.tts),
        rate_wpm=settings.tts_rate_wpm,
        google_key=google.get_secret_value() if google else None,
        google_url=settings.tts_url,
        azure_key=azure.get_secret_value() if azure else None,
        azure_url=settings.tts_azure_url,
        cache_dir=settings.tts_cache_dir or settings.data_dir / "tts-cache",
        model_dir=settings.tts_model_dir or settings.data_dir / "models",
    )


def sink_config(settings: Settings) -> SinkConfig:
    """The ClickHouse sink's group, namespace, database and flush policy."""
    return SinkConfig(
        kafka=client_config(settings),
        group_id=settings.group("sink"),
        database=settings.clickhouse_database,
        topic_namespace=settings.topic_namespace,
        batch_size=settings.sink_batch_size,
        flush_ms=settings.sink_flush_ms,
        registry_url=_registry_for_clickhouse(settings),
    )


def _registry_for_clickhouse(settings: Settings) -> str | None:
    """The registry URL chdb may fetch writer schemas from, or None when Python must decode:
    another decoder asked for, no HTTP registry, or one behind a login (its password would
    travel in SQL text)."""
    url = settings.schema_registry_url
    if settings.sink_decoder != "clickhouse" or not url or settings.schema_registry_user:
        return None
    return url if url.startswith(("http://", "https://")) else None


def telemetry_sink_config(settings: Settings) -> TelemetrySinkConfig:
    """The telemetry sink's group, span and log topics, database and retention."""
    return TelemetrySinkConfig(
        kafka=client_config(settings),
        group_id=settings.group("telemetry-sink"),
        spans_topic=settings.topic("otel.spans"),
        logs_topic=settings.topic("otel.logs"),
        database=settings.clickhouse_database,
        retention_days=settings.telemetry_retention_days,
    )


def arm_weights_config(settings: Settings) -> ArmWeightsConfig:
    """Where drafting reads the experiments' arm weights."""
    return ArmWeightsConfig(
        kafka=client_config(settings), topic=settings.topic("experiments.updated")
    )
