"""One root exception. The exception *type* decides the route of a failed event.

``RetriableError`` -> the next ``<topic>.retry.<n>`` tier (then the DLQ when tiers run out).
``FatalError``     -> straight to ``<topic>.dlq``: retrying cannot help (bad bytes, bad schema,
                      a validation failure). Any exception that is neither is treated as
                      retriable, because an unknown failure is more often a transient one and the
                      tiers still end in the DLQ.
"""

from __future__ import annotations

from schemas.errors import (
    FatalError,
    MunjeroError,
    RegistryUnavailableError,
    RetriableError,
    SchemaRegistryError,
    SerializationError,
    UnknownSchemaError,
)

__all__ = [
    "BrokerUnavailableError",
    "FatalError",
    "MunjeroError",
    "RegistryUnavailableError",
    "RetriableError",
    "SchemaRegistryError",
    "SerializationError",
    "UnknownSchemaError",
    "ValidationError",
]


class ValidationError(FatalError):
    """A decoded event that violates a business rule of its step."""


class BrokerUnavailableError(RetriableError):
    """The Kafka broker did not answer in time."""
