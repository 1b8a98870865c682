from __future__ import annotations

import pytest
from pydantic import SecretStr

from streams.settings import Settings


def test_settings_round_trip_through_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    original = Settings(
        kafka_bootstrap_servers="a:1,b:2",
        topic_namespace="ns.",
        retry_delay_factor=0.5,
        clickhouse_password=SecretStr("s3cret"),
        draft_variants_per_problem=5,
        banned_words=("spam", "바보"),
    )
    for key, value in original.to_env().items():
        monkeypatch.setenv(key, value)
    assert Settings() == original


def test_namespace_prefixes_topics_and_groups() -> None:
    settings = Settings(topic_namespace="t1.")
    assert settings.topic("problems.submitted") == "t1.problems.submitted"
    assert settings.group("sink") == "t1.munjero.sink"


def test_invalid_values_are_rejected_with_the_field_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MUNJERO_DRAFT_VARIANTS_PER_PROBLEM", "0")
    with pytest.raises(ValueError, match="draft_variants_per_problem"):
        Settings()
