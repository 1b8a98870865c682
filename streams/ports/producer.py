"""The outbound port the API publishes through (``KafkaEventProducer`` implements it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

Headers = Sequence[tuple[str, bytes]]
Message = tuple[str, bytes | None, bytes, Headers]


class Publisher(Protocol):
    """Sends encoded events and waits for the broker's acknowledgement."""

    async def publish_many(
        self,
        messages: Sequence[Message],
        *,
        timeout: float | None = None,
    ) -> None:
        """Send all ``messages`` and wait until the broker acknowledged every one.

        Must raise ``BrokerUnavailableError`` within about ``timeout`` seconds when the broker
        does not acknowledge. Records already handed over may still arrive later.
        """
        ...
