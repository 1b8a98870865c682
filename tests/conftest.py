"""Shared fixtures. Integration tests use the real embedded broker; each test gets its own
topic namespace and consumer groups, so tests never see each other's events."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.broker import EmbeddedBroker
from streams.idle_fetch import honour_fetch_max_wait
from streams.settings import Settings

# Every consumer of the test process waits after an empty fetch, as the CLI's processes do:
# otherwise each idle consumer of a test spins on the embedded broker (docs/broker.md).
honour_fetch_max_wait(Settings().kafka_idle_fetch_wait_ms)


@pytest.fixture(scope="session")
def broker_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap servers of the broker under test.

    ``MUNJERO_TEST_KAFKA_BOOTSTRAP`` points the suite at any broker (e.g. a real Kafka);
    otherwise one embedded noida-db is started for the session.
    """
    external = os.environ.get("MUNJERO_TEST_KAFKA_BOOTSTRAP")
    if external:
        yield external
        return
    with EmbeddedBroker(tmp_path_factory.mktemp("broker")) as broker:
        yield broker.bootstrap_servers


@pytest.fixture
def namespace() -> str:
    """A unique topic/group prefix for one test."""
    return f"t{uuid.uuid4().hex[:10]}."


@pytest.fixture(scope="session")
def voice_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One phrase cache and one unpacked voice model for the session: the offline voices cost
    ~1 s of CPU per second of Korean speech, so each phrase is spoken once per run."""
    return tmp_path_factory.mktemp("voices")


@pytest.fixture
def settings(broker_bootstrap: str, namespace: str, tmp_path: Path, voice_dir: Path) -> Settings:
    """Settings of one isolated test factory on the shared broker. The voice is espeak-ng
    (fast); tests of the voice itself and tests/integration/test_stop_abandons_render.py use
    the default offline voices (``tts="offline"``)."""
    return Settings(
        kafka_bootstrap_servers=broker_bootstrap,
        topic_namespace=namespace,
        data_dir=tmp_path / "data",
        retry_delay_factor=0.01,
        clickhouse_http_port=0,  # tests run side by side: never the fixed 8123
        tts="espeak",
        tts_cache_dir=voice_dir / "cache",
        tts_model_dir=voice_dir / "models",
    )
