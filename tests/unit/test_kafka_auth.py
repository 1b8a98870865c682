"""Kafka client identity: what every client of a process is given."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Any

import faust
import pytest
from aiokafka import AIOKafkaConsumer
from pydantic import SecretStr

import connectors.kafka
import connectors.kafka_lag
from connectors.kafka import KafkaEventProducer, ensure_topics
from connectors.kafka_lag import consumer_lag, topic_sizes
from streams import kafka_auth
from streams.kafka_auth import KafkaClientConfig
from streams.settings import Settings

SCRAM_OVER_TLS = Settings(
    kafka_bootstrap_servers="kafka:9093",
    kafka_security_protocol="SASL_SSL",
    kafka_sasl_username="munjero-render",
    kafka_sasl_password=SecretStr("s3cret"),
)


class _Refused(Exception):
    """Raised by a recording client instead of connecting anywhere."""


def _recorder(made: list[dict[str, Any]]) -> Callable[..., Any]:
    def build(*_: Any, **kwargs: Any) -> Any:
        made.append(kwargs)
        raise _Refused

    return build


def test_plaintext_is_the_embedded_default() -> None:
    assert KafkaClientConfig("127.0.0.1:9092").kwargs() == {"bootstrap_servers": "127.0.0.1:9092"}
    embedded = kafka_auth.client_config(Settings(kafka_bootstrap_servers="127.0.0.1:9092"))
    assert embedded.kwargs() == {
        "bootstrap_servers": "127.0.0.1:9092",
        "security_protocol": "PLAINTEXT",
    }
    assert kafka_auth.faust_credentials(Settings()) is None


def test_scram_over_tls_options() -> None:
    opts = kafka_auth.client_config(SCRAM_OVER_TLS).security
    assert opts["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (opts["sasl_plain_username"], opts["sasl_plain_password"]) == (
        "munjero-render",
        "s3cret",
    )
    assert isinstance(opts["ssl_context"], ssl.SSLContext)
    credentials = kafka_auth.faust_credentials(SCRAM_OVER_TLS)
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.username == "munjero-render"


async def test_aiokafka_takes_the_identity() -> None:
    consumer = AIOKafkaConsumer(**kafka_auth.client_config(SCRAM_OVER_TLS).kwargs())
    client = consumer._client
    assert client._security_protocol == "SASL_SSL"
    assert client._sasl_plain_username == "munjero-render"
    assert isinstance(client._ssl_context, ssl.SSLContext)


async def test_every_client_is_built_with_the_identity_it_was_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[dict[str, Any]] = []
    monkeypatch.setattr(connectors.kafka, "AIOKafkaProducer", _recorder(made))
    monkeypatch.setattr(connectors.kafka, "AIOKafkaAdminClient", _recorder(made))
    monkeypatch.setattr(connectors.kafka_lag, "AIOKafkaAdminClient", _recorder(made))
    monkeypatch.setattr(connectors.kafka_lag, "AIOKafkaConsumer", _recorder(made))
    kafka = kafka_auth.client_config(SCRAM_OVER_TLS)
    with pytest.raises(_Refused):
        await KafkaEventProducer(kafka, client_id="munjero-render").start()
    with pytest.raises(_Refused):
        await ensure_topics(kafka)
    with pytest.raises(_Refused):
        await consumer_lag(kafka, ["g"])
    with pytest.raises(_Refused):
        await topic_sizes(kafka, ["t"])
    assert len(made) == 4
    for kwargs in made:
        assert kwargs["bootstrap_servers"] == "kafka:9093"
        assert kwargs["security_protocol"] == "SASL_SSL"
        assert kwargs["sasl_plain_username"] == "munjero-render"
        assert kwargs["sasl_plain_password"] == "s3cret"
        assert kwargs["ssl_context"] is kafka.security["ssl_context"]


def test_sasl_without_a_password_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="MUNJERO_KAFKA_SASL_PASSWORD"):
        kafka_auth.client_config(Settings(kafka_security_protocol="SASL_PLAINTEXT"))


def test_unknown_protocols_are_rejected_by_the_settings() -> None:
    with pytest.raises(ValueError, match="kafka_security_protocol"):
        Settings(kafka_security_protocol="KERBEROS")
