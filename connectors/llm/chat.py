"""A client of any OpenAI-compatible ``/chat/completions`` endpoint (OpenAI, vLLM, Ollama,
llama.cpp server, ...), asking for a JSON-object reply.

Errors follow the project's retriable/fatal split: anything that may pass on a later attempt
(network trouble, timeouts, 5xx, 429 rate limits) is a ``RetriableError``; a request the
server rejects (bad key, unknown model, malformed request) or a reply that is not a
chat completion is an ``LLMError``, which repeating the same request will not fix.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Any

import httpx

from streams.ports.llm import (
    ChatClient,
    LLMError,
    LLMTimeoutError,
    LLMUnavailableError,
    Message,
)

__all__ = [
    "ChatClient",
    "ChatCompletionsClient",
    "LLMError",
    "LLMTimeoutError",
    "LLMUnavailableError",
    "Message",
]


def _body_excerpt(response: httpx.Response) -> str:
    # Error bodies can be whole HTML pages; a short excerpt is enough to diagnose.
    return response.text[:200].strip()


class ChatCompletionsClient:
    """``ChatClient`` over HTTP. Use as an async context manager, or call ``aclose``."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        model: str,
        timeout_s: float = 30.0,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._model = model
        self._base_url = base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # The key lives only in the client's default headers: never in repr() or error text.
        self._http = httpx.AsyncClient(
            base_url=self._base_url,
            headers=headers,
            timeout=timeout_s,
            transport=transport,
        )

    @property
    def model(self) -> str:
        return self._model

    def __repr__(self) -> str:
        return f"ChatCompletionsClient(base_url={self._base_url!r}, model={self._model!r})"

    async def __aenter__(self) -> ChatCompletionsClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def complete(self, messages: Sequence[Message], *, temperature: float = 0.7) -> str:
        payload = {
            "model": self._model,
            "messages": [dict(message) for message in messages],
            "temperature": temperature,
            "response_format": {"type": "json_object"},
        }
        try:
            response = await self._http.post("/chat/completions", json=payload)
        except httpx.TimeoutException as exc:
            raise LLMTimeoutError(f"chat completion timed out: {type(exc).__name__}") from exc
        except httpx.TransportError as exc:
            raise LLMUnavailableError(f"chat endpoint unreachable: {exc!r}") from exc
        status = response.status_code
        if status == 429 or status >= 500:
            raise LLMUnavailableError(
                f"chat endpoint answered HTTP {status}: {_body_excerpt(response)}", status=status
            )
        if status >= 400:
            raise LLMError(
                f"chat endpoint rejected the request, HTTP {status}: {_body_excerpt(response)}",
                status=status,
            )
        return _first_content(response)


def _first_content(response: httpx.Response) -> str:
    try:
        body: Any = response.json()
        content = body["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise LLMError(
            f"not a chat completion: {_body_excerpt(response)!r}", status=response.status_code
        ) from exc
    if not isinstance(content, str):
        raise LLMError("chat completion without text content", status=response.status_code)
    return content
