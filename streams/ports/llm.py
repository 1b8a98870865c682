"""The language-model port: a chat model answering with one JSON-object message.

Adapter: ``connectors/llm/chat.py`` (the OpenAI-compatible chat-completions protocol).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from streams.errors import MunjeroError, RetriableError

Message = Mapping[str, str]


class LLMError(MunjeroError):
    """The endpoint rejected the request or answered with something that is not a completion."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class LLMUnavailableError(RetriableError):
    """The endpoint could not answer now (unreachable, overloaded, rate-limited)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class LLMTimeoutError(LLMUnavailableError):
    """The endpoint did not answer within the client's timeout."""


class ChatClient(Protocol):
    """A chat model that answers a conversation with one JSON-object message."""

    @property
    def model(self) -> str:
        """The model name sent with every request."""
        ...

    async def complete(self, messages: Sequence[Message], *, temperature: float = 0.7) -> str:
        """The content of the model's first reply to ``messages``.

        Raises ``LLMUnavailableError`` (retriable) or ``LLMError`` (the request cannot succeed).
        """
        ...
