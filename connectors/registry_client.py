"""``SchemaRegistry`` over Confluent's REST API: the embedded registry, Confluent Schema
Registry, Karapace or Apicurio's ccompat endpoint alike.

Ids and texts are cached for the life of the client: a registered id never changes meaning, so
after warm-up encoding and decoding never touch the network.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from schemas.registry import canonical
from streams.errors import RegistryUnavailableError, SchemaRegistryError, UnknownSchemaError

_CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
_ACCEPT = (
    "application/vnd.schemaregistry.v1+json, application/vnd.schemaregistry+json, application/json"
)


def _segment(name: str) -> str:
    return quote(name, safe="")


def _cache_key(schema: str) -> str:
    try:
        return canonical(schema)
    except ValueError:  # not JSON: the registry will say so, with its own error code
        return schema


class HttpSchemaRegistry:
    """An async Confluent REST client implementing the ``SchemaRegistry`` port."""

    def __init__(
        self,
        base_url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        auth = httpx.BasicAuth(username, password or "") if username is not None else None
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/",
            auth=auth,
            timeout=timeout,
            transport=transport,
            headers={"Accept": _ACCEPT},
        )
        self._ids: dict[tuple[str, str], int] = {}  # (subject, canonical schema) -> id
        self._texts: dict[int, str] = {}

    async def _call(self, method: str, path: str, body: Any = None, **params: str) -> Any:
        """One request; the project's errors for every way it can fail."""
        try:
            response = await self._http.request(
                method,
                path,
                json=body,
                params=params or None,
                headers={"Content-Type": _CONTENT_TYPE} if body is not None else None,
            )
        except httpx.TransportError as exc:  # connect/read errors and timeouts
            raise RegistryUnavailableError(
                f"schema registry at {self._http.base_url} unreachable: {exc!r}", status=503
            ) from exc
        if response.is_success:
            return response.json() if response.content else None
        try:
            error = response.json()
            code, message = int(error["error_code"]), str(error["message"])
        except (ValueError, KeyError, TypeError):
            code, message = response.status_code, response.text[:200]
        text = f"{method} {path}: {response.status_code} {message} (error {code})"
        if response.status_code >= 500:
            # A registry that answers 5xx is down for our purposes: retriable, not fatal.
            raise RegistryUnavailableError(text, status=response.status_code, error_code=code)
        raise SchemaRegistryError(text, status=response.status_code, error_code=code)

    async def register(self, subject: str, schema: str) -> int:
        """Register ``schema`` under ``subject``; its global id. Idempotent and cached."""
        key = (subject, _cache_key(schema))
        cached = self._ids.get(key)
        if cached is not None:
            return cached
        answer = await self._call(
            "POST", f"subjects/{_segment(subject)}/versions", {"schema": schema}
        )
        schema_id = int(answer["id"])
        self._ids[key] = schema_id
        self._texts.setdefault(schema_id, schema)
        return schema_id

    async def schema_by_id(self, schema_id: int) -> str:
        """The schema text of ``schema_id``; ``UnknownSchemaError`` if the registry has none."""
        cached = self._texts.get(schema_id)
        if cached is not None:
            return cached
        try:
            answer = await self._call("GET", f"schemas/ids/{schema_id}")
        except RegistryUnavailableError:
            raise
        except SchemaRegistryError as exc:
            if exc.status == 404:
                raise UnknownSchemaError(f"schema id {schema_id} is not registered") from exc
            raise
        text = str(answer["schema"])
        self._texts[schema_id] = text
        return text

    async def check_compatibility(
        self, subject: str, schema: str, version: int | str = "latest"
    ) -> bool:
        """Whether ``schema`` may follow ``version`` of ``subject`` under the subject's level."""
        answer = await self._call(
            "POST",
            f"compatibility/subjects/{_segment(subject)}/versions/{version}",
            {"schema": schema},
        )
        return bool(answer["is_compatible"])

    async def subject_versions(self, subject: str) -> list[int]:
        """The live versions of ``subject``, oldest first; [] if the subject is unknown."""
        try:
            answer = await self._call("GET", f"subjects/{_segment(subject)}/versions")
        except RegistryUnavailableError:
            raise
        except SchemaRegistryError as exc:
            if exc.error_code == 40401:
                return []
            raise
        return [int(version) for version in answer]

    async def set_compatibility(self, level: str, subject: str | None = None) -> str:
        """Set the compatibility level of ``subject``, or the global one; the level now set."""
        path = "config" if subject is None else f"config/{_segment(subject)}"
        answer = await self._call("PUT", path, {"compatibility": level.upper()})
        return str(answer["compatibility"])

    async def close(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()
