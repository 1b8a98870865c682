"""Kafka client identity: what every client of a process is given."""

from __future__ import annotations

import ssl

import faust
import pytest
from pydantic import SecretStr

from streams import kafka_auth
from streams.settings import Settings


def test_plaintext_is_the_embedded_default() -> None:
    assert kafka_auth.options_for(Settings()) == {"security_protocol": "PLAINTEXT"}
    assert kafka_auth.faust_credentials(Settings()) is None


def test_scram_over_tls_gives_every_client_the_same_identity() -> None:
    settings = Settings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_username="munjero-render",
        kafka_sasl_password=SecretStr("s3cret"),
    )
    opts = kafka_auth.options_for(settings)
    assert opts["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (opts["sasl_plain_username"], opts["sasl_plain_password"]) == (
        "munjero-render",
        "s3cret",
    )
    assert isinstance(opts["ssl_context"], ssl.SSLContext)
    kafka_auth.configure(settings)
    try:
        assert kafka_auth.client_options()["sasl_plain_username"] == "munjero-render"
    finally:
        kafka_auth.configure(Settings())
    assert kafka_auth.client_options() == {"security_protocol": "PLAINTEXT"}
    credentials = kafka_auth.faust_credentials(settings)
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.username == "munjero-render"


def test_sasl_without_a_password_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="MUNJERO_KAFKA_SASL_PASSWORD"):
        kafka_auth.options_for(Settings(kafka_security_protocol="SASL_PLAINTEXT"))


def test_unknown_protocols_are_rejected_by_the_settings() -> None:
    with pytest.raises(ValueError, match="kafka_security_protocol"):
        Settings(kafka_security_protocol="KERBEROS")
