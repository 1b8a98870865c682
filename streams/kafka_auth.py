"""Kafka client identity: where a client connects and as whom.

In Kubernetes every service connects as its own Strimzi ``KafkaUser`` (SCRAM-SHA-512 over TLS)
whose ACLs allow exactly its topics and groups (k8s/base/kafka/users.yaml). A process has one
identity: the composition root builds one ``KafkaClientConfig`` from the settings
(``client_config``) and passes it to every client it creates (producers, consumers, admin
clients); Faust gets the same identity as ``faust_credentials``. The embedded broker needs no
options: plaintext without SASL, aiokafka's defaults.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from streams.settings import Settings


@dataclass(frozen=True)
class KafkaClientConfig:
    """The bootstrap servers and aiokafka's security keyword arguments (none: plaintext)."""

    bootstrap_servers: str
    security: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments every aiokafka client of this identity is constructed with."""
        return {"bootstrap_servers": self.bootstrap_servers, **self.security}


def options_for(settings: Settings) -> dict[str, Any]:
    """aiokafka security keyword arguments for ``settings`` (pure, apart from loading CA files)."""
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


def client_config(settings: Settings) -> KafkaClientConfig:
    """The process's Kafka identity: ``settings``' bootstrap servers and security options."""
    return KafkaClientConfig(
        settings.kafka_bootstrap_servers or "", MappingProxyType(options_for(settings))
    )


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
