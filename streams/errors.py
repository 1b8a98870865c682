"""One root exception. The exception *type* decides the route of a failed event.

``RetriableError`` -> the next ``<topic>.retry.<n>`` tier (then the DLQ when tiers run out).
``FatalError``     -> straight to ``<topic>.dlq``: retrying cannot help (bad bytes, bad schema,
                      a validation failure). Any exception that is neither is treated as
                      retriable, because an unknown failure is more often a transient one and the
                      tiers still end in the DLQ.
"""

from __future__ import annotations


class MunjeroError(Exception):
    """Root of every error this project raises on purpose."""


class RetriableError(MunjeroError):
    """A transient failure: the same input may succeed later."""


class FatalError(MunjeroError):
    """The input can never succeed; route it to the dead-letter topic with the reason."""


class SerializationError(FatalError):
    """Bytes that are not a valid event for the schema they claim."""


class UnknownSchemaError(SerializationError):
    """The wire header names a schema id the registry does not know."""


class ValidationError(FatalError):
    """A decoded event that violates a business rule of its step."""


class SchemaRegistryError(MunjeroError):
    """The registry refused a request (incompatible schema, unknown subject, ...)."""

    def __init__(self, message: str, *, status: int = 500, error_code: int = 50001) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code


class RegistryUnavailableError(RetriableError, SchemaRegistryError):
    """The registry could not be reached; decoding can be retried later."""


class BrokerUnavailableError(RetriableError):
    """The Kafka broker did not answer in time."""


class WarehouseError(RetriableError):
    """ClickHouse refused or failed a statement; batches are retried, never dropped."""


class RenderCrashedError(RetriableError):
    """Chromium or ffmpeg died (signal, lost connection, timeout): a fresh attempt may succeed."""


class RenderRejectedError(FatalError):
    """The render itself is wrong (a template error, an ffmpeg error on our inputs, a failed
    quality gate): the same input would fail again, so it goes to the dead letters."""
