"""Clients of large language models; the chat-completions protocol is the one spoken here."""

from connectors.llm.chat import (
    ChatClient,
    ChatCompletionsClient,
    LLMError,
    LLMTimeoutError,
    LLMUnavailableError,
)

__all__ = [
    "ChatClient",
    "ChatCompletionsClient",
    "LLMError",
    "LLMTimeoutError",
    "LLMUnavailableError",
]
