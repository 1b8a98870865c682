"""The root of the project's exceptions, and the errors of the contracts themselves.

The root lives in the bottom layer so that every layer (contracts included) raises one family:
``RetriableError`` sends a failed event to the next retry tier, ``FatalError`` straight to the
dead-letter topic (see ``streams/errors.py`` for the routing rules).
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


class SchemaRegistryError(MunjeroError):
    """The registry refused a request (incompatible schema, unknown subject, ...)."""

    def __init__(self, message: str, *, status: int = 500, error_code: int = 50001) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code


class RegistryUnavailableError(RetriableError, SchemaRegistryError):
    """The registry could not be reached; decoding can be retried later."""
