"""Kafka client authentication, one identity per process.

In Kubernetes every service connects as its own Strimzi ``KafkaUser`` (SCRAM-SHA-512 over TLS)
whose ACLs allow exactly its topics and groups (k8s/base/kafka/users.yaml). A process has one
identity, so the options are set once at start (``configure``) and every client the process
creates (producers, consumers, admin clients, Faust) takes them from ``client_options()``. The
embedded broker needs none: the defaults are plaintext without SASL.
"""

from __future__ import annotations

import ssl
from typing import Any

from streams.settings import Settings

_options: dict[str, Any] = {}


def options_for(settings: Settings) -> dict[str, Any]:
    """aiokafka keyword arguments for ``settings`` (pure, apart from loading CA files)."""
    protocol = settings.kafka_security_protocol
    opts: dict[str, Any] = {"security_protocol": protocol}
    if protocol in ("SSL", "SASL_SSL"):
        context = ssl.create_default_context(cafile=settings.kafka_ssl_cafile)
        opts["ssl_context"] = context
    if protocol.startswith("SASL_"):
        if not (settings.kafka_sasl_username and settings.kafka_sasl_password):
            raise ValueError(
                f"{protocol} needs MUNJERO_KAFKA_SASL_USERNAME and MUNJERO_KAFKA_SASL_PASSWORD"
            )
        opts["sasl_mechanism"] = settings.kafka_sasl_mechanism
        opts["sasl_plain_username"] = settings.kafka_sasl_username
        opts["sasl_plain_password"] = settings.kafka_sasl_password.get_secret_value()
    return opts


def configure(settings: Settings) -> None:
    """Make ``settings``' identity the one every client of this process uses."""
    _options.clear()
    _options.update(options_for(settings))


def client_options() -> dict[str, Any]:
    """Keyword arguments to pass to every aiokafka client (empty: plaintext)."""
    return dict(_options)


def faust_credentials(settings: Settings) -> Any:
    """Faust's ``broker_credentials`` for ``settings`` (``None``: plaintext)."""
    import faust

    protocol = settings.kafka_security_protocol
    if protocol.startswith("SASL_"):
        opts = options_for(settings)
        return faust.SASLCredentials(
            username=opts["sasl_plain_username"],
            password=opts["sasl_plain_password"],
            mechanism=opts["sasl_mechanism"],
            ssl_context=opts.get("ssl_context"),
        )
    if protocol == "SSL":
        return faust.SSLCredentials(options_for(settings)["ssl_context"])
    return None
