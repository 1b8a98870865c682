"""The embedded schema registry: the subset of Confluent Schema Registry's REST API that Avro
producers, consumers and operators use, over ``RegistryStore``.

Mount ``registry_router(store)`` under a prefix of another FastAPI app, or serve
``create_registry_app(db_path)`` alone. Confluent clients (confluent-kafka, ClickHouse's
AvroConfluent format, kcat) talk to it unchanged.

Deliberate differences from Confluent: Avro only (``schemaType`` JSON/PROTOBUF get 422); no
schema references, contexts, modes or rule sets; ``DELETE /subjects/{s}`` is a soft delete
unless ``?permanent=true`` follows one, and even then schema ids stay resolvable.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from schemas.compatibility import DEFAULT_LEVEL, CompatibilityLevel, check, parse
from services.registry.store import RegistryStore, StoredVersion
from streams.errors import SchemaRegistryError

MEDIA_TYPE = "application/vnd.schemaregistry.v1+json"


class RegistryJSONResponse(JSONResponse):
    media_type = MEDIA_TYPE


class RegistryHTTPError(Exception):
    """An error answered as Confluent's ``{"error_code": ..., "message": ...}``."""

    def __init__(self, status: int, error_code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.error_code, self.message = status, error_code, message


def _subject_not_found(subject: str) -> RegistryHTTPError:
    return RegistryHTTPError(404, 40401, f"Subject '{subject}' not found.")


class _ConfluentRoute(APIRoute):
    """Answers errors in Confluent's shape. A route class rather than an exception handler,
    because handlers belong to the app and this router is mounted inside other apps."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def confluent_errors(request: Request) -> Response:
            try:
                return await handler(request)
            except RegistryHTTPError as exc:
                status, code, message = exc.status, exc.error_code, exc.message
            except SchemaRegistryError as exc:
                status, code, message = exc.status, exc.error_code, str(exc)
            return RegistryJSONResponse({"error_code": code, "message": message}, status)

        return confluent_errors


def _flag(request: Request, name: str) -> bool:
    # Confluent's Python client sends Python reprs: ?verbose=False
    return request.query_params.get(name, "false").lower() == "true"


def _version_id(text: str) -> int | None:
    """A version path segment: an int >= 1, or latest/-1 (``None``)."""
    if text in ("latest", "-1"):
        return None
    if text.isdigit() and 1 <= int(text) <= 2**31 - 1:
        return int(text)
    raise RegistryHTTPError(
        422,
        42202,
        f"The specified version '{text}' is not a valid version id. Allowed values are"
        ' between [1, 2^31-1] and the string "latest"',
    )


def _schema_id(text: str) -> int:
    if not text.isdigit():
        raise RegistryHTTPError(404, 40403, f"Schema {text} not found")
    return int(text)


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        raise RegistryHTTPError(400, 400, "request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise RegistryHTTPError(422, 422, "request body must be a JSON object")
    return body


async def _schema_body(request: Request) -> str:
    """The schema of a register/lookup/compatibility request, validated, in compact form."""
    body = await _json_body(request)
    schema_type = body.get("schemaType") or "AVRO"
    if schema_type != "AVRO":
        raise RegistryHTTPError(422, 42201, f"schemaType {schema_type} is not supported: AVRO only")
    if body.get("references"):
        raise RegistryHTTPError(422, 42201, "schema references are not supported")
    text = body.get("schema")
    if not isinstance(text, str):
        raise RegistryHTTPError(422, 42201, "the request has no 'schema' string")
    parse(text)
    # Compact, key order kept: what Confluent answers too; same bytes for every client.
    return json.dumps(json.loads(text), ensure_ascii=False, separators=(",", ":"))


def _level(text: Any) -> CompatibilityLevel:
    try:
        if not isinstance(text, str):  # absent must not read as "None" -> NONE
            raise ValueError(text)
        return CompatibilityLevel(text.upper())
    except ValueError:
        raise RegistryHTTPError(
            422,
            42203,
            "Invalid compatibility level. Valid values are "
            + ", ".join(level.value for level in CompatibilityLevel),
        ) from None


def _version_json(found: StoredVersion) -> dict[str, Any]:
    return {
        "subject": found.subject,
        "version": found.version,
        "id": found.schema_id,
        "schema": found.schema,
    }


def registry_router(store: RegistryStore) -> APIRouter:
    """The Confluent-compatible REST API over ``store``, to mount under any prefix."""
    router = APIRouter(route_class=_ConfluentRoute, default_response_class=RegistryJSONResponse)

    def level_of(subject: str) -> CompatibilityLevel:
        configured = store.compatibility(subject) or store.compatibility()
        return CompatibilityLevel(configured) if configured else DEFAULT_LEVEL

    def version_or_404(subject: str, version: str, *, deleted: bool = False) -> StoredVersion:
        wanted = _version_id(version)
        if not store.versions(subject, deleted=deleted):
            raise _subject_not_found(subject)
        found = store.version(subject, wanted, deleted=deleted)
        if found is None:
            raise RegistryHTTPError(404, 40402, f"Version {version} not found.")
        return found

    @router.get("/")
    async def root() -> dict[str, Any]:
        return {}

    @router.get("/schemas/types")
    async def schema_types() -> list[str]:
        return ["AVRO"]

    @router.get("/subjects")
    async def subjects(request: Request) -> list[str]:
        return store.subjects(deleted=_flag(request, "deleted"))

    @router.post("/subjects/{subject}/versions")
    async def register(subject: str, request: Request) -> dict[str, Any]:
        schema = await _schema_body(request)
        with store.transaction():
            existing = store.find(subject, schema)
            if existing is not None:
                return {"id": existing.schema_id}
            level = level_of(subject)
            previous = [(v.version, v.schema) for v in store.versions(subject)]
            problems = check(schema, previous, level)
            if problems:
                raise RegistryHTTPError(
                    409,
                    409,
                    f"Schema being registered is incompatible with an earlier schema for subject"
                    f' "{subject}" ({level.value}), details: {problems}',
                )
            return {"id": store.add_version(subject, schema).schema_id}

    @router.post("/subjects/{subject}")
    async def lookup(subject: str, request: Request) -> dict[str, Any]:
        schema = await _schema_body(request)
        deleted = _flag(request, "deleted")
        if not store.versions(subject, deleted=deleted):
            raise _subject_not_found(subject)
        found = store.find(subject, schema, deleted=deleted)
        if found is None:
            raise RegistryHTTPError(404, 40403, "Schema not found")
        return _version_json(found)

    @router.get("/subjects/{subject}/versions")
    async def versions(subject: str, request: Request) -> list[int]:
        found = store.versions(subject, deleted=_flag(request, "deleted"))
        if not found:
            raise _subject_not_found(subject)
        return [item.version for item in found]

    @router.get("/subjects/{subject}/versions/{version}")
    async def get_version(subject: str, version: str, request: Request) -> dict[str, Any]:
        return _version_json(version_or_404(subject, version, deleted=_flag(request, "deleted")))

    @router.get("/subjects/{subject}/versions/{version}/schema")
    async def get_version_schema(subject: str, version: str) -> Response:
        return Response(version_or_404(subject, version).schema, media_type=MEDIA_TYPE)

    @router.delete("/subjects/{subject}")
    async def delete_subject(subject: str, request: Request) -> list[int]:
        with store.transaction():
            if not _flag(request, "permanent"):
                if not store.versions(subject):
                    if store.versions(subject, deleted=True):
                        raise RegistryHTTPError(404, 40404, f"Subject '{subject}' was soft deleted")
                    raise _subject_not_found(subject)
                return store.soft_delete(subject)
            if store.versions(subject):
                raise RegistryHTTPError(
                    404, 40405, f"Subject '{subject}' was not deleted first before being purged"
                )
            if not store.versions(subject, deleted=True):
                raise _subject_not_found(subject)
            return store.hard_delete(subject)

    @router.get("/schemas/ids/{schema_id}")
    async def schema_by_id(schema_id: str) -> dict[str, Any]:
        # ?subject= is accepted and ignored: without contexts an id is global.
        text = store.schema(_schema_id(schema_id))
        if text is None:
            raise RegistryHTTPError(404, 40403, f"Schema {schema_id} not found")
        return {"schema": text}

    @router.get("/schemas/ids/{schema_id}/versions")
    async def schema_versions(schema_id: str, request: Request) -> list[dict[str, Any]]:
        found = _schema_id(schema_id)
        if store.schema(found) is None:
            raise RegistryHTTPError(404, 40403, f"Schema {schema_id} not found")
        usages = store.usages(found, deleted=_flag(request, "deleted"))
        return [{"subject": subject, "version": version} for subject, version in usages]

    @router.get("/schemas/ids/{schema_id}/subjects")
    async def schema_subjects(schema_id: str, request: Request) -> list[str]:
        found = _schema_id(schema_id)
        if store.schema(found) is None:
            raise RegistryHTTPError(404, 40403, f"Schema {schema_id} not found")
        usages = store.usages(found, deleted=_flag(request, "deleted"))
        return sorted({subject for subject, _ in usages})

    async def compatibility(subject: str, version: str | None, request: Request) -> dict[str, Any]:
        schema = await _schema_body(request)
        wanted = None if version is None else _version_id(version)
        live = store.versions(subject)
        if not live and (version is None or wanted is None):
            # Confluent (>= 5.5): nothing registered yet, so anything is compatible.
            return {"is_compatible": True, "messages": []}
        if not live:
            raise _subject_not_found(subject)
        if version is None:
            against = live
        else:
            found = store.version(subject, wanted)
            if found is None:
                raise RegistryHTTPError(404, 40402, f"Version {version} not found.")
            against = [found]
        problems = check(schema, [(v.version, v.schema) for v in against], level_of(subject))
        verbose = _flag(request, "verbose")
        return {"is_compatible": not problems, "messages": problems if verbose else []}

    @router.post("/compatibility/subjects/{subject}/versions/{version}")
    async def compatibility_with(subject: str, version: str, request: Request) -> dict[str, Any]:
        return await compatibility(subject, version, request)

    @router.post("/compatibility/subjects/{subject}/versions")
    async def compatibility_with_all(subject: str, request: Request) -> dict[str, Any]:
        return await compatibility(subject, None, request)

    @router.get("/config")
    async def get_global_config() -> dict[str, Any]:
        return {"compatibilityLevel": store.compatibility() or DEFAULT_LEVEL.value}

    @router.put("/config")
    async def put_global_config(request: Request) -> dict[str, Any]:
        level = _level((await _json_body(request)).get("compatibility"))
        store.set_compatibility(level.value)
        return {"compatibility": level.value}

    @router.get("/config/{subject}")
    async def get_subject_config(subject: str, request: Request) -> dict[str, Any]:
        configured = store.compatibility(subject)
        if configured is None and _flag(request, "defaultToGlobal"):
            configured = store.compatibility() or DEFAULT_LEVEL.value
        if configured is None:
            raise RegistryHTTPError(
                404,
                40408,
                f"Subject '{subject}' does not have subject-level compatibility configured",
            )
        return {"compatibilityLevel": configured}

    @router.put("/config/{subject}")
    async def put_subject_config(subject: str, request: Request) -> dict[str, Any]:
        level = _level((await _json_body(request)).get("compatibility"))
        store.set_compatibility(level.value, subject)
        return {"compatibility": level.value}

    @router.delete("/config/{subject}")
    async def delete_subject_config(subject: str) -> dict[str, Any]:
        configured = store.compatibility(subject)
        if configured is None:
            raise _subject_not_found(subject)
        store.delete_compatibility(subject)
        return {"compatibilityLevel": configured}

    return router


def create_registry_app(db_path: str | Path) -> FastAPI:
    """A standalone registry on the SQLite file ``db_path`` (``:memory:`` for tests)."""
    store = RegistryStore(db_path)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        store.close()

    app = FastAPI(title="munjero schema registry", lifespan=lifespan)
    app.include_router(registry_router(store))
    return app
