"""The embedded registry over real HTTP: every endpoint and error code, through the project's
client (``HttpSchemaRegistry``) and through raw requests as any Confluent client sends them."""

# Fixtures imported from registry_fixtures are redefined as parameters: that is how pytest
# injects them.
# ruff: noqa: F811
from __future__ import annotations

import json
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from connectors.registry_client import HttpSchemaRegistry
from schemas.contracts import schema_text
from services.registry.server import MEDIA_TYPE, registry_router
from services.registry.store import RegistryStore
from streams.errors import RegistryUnavailableError, SchemaRegistryError, UnknownSchemaError
from tests.integration.registry_fixtures import (  # noqa: F401  (fixtures)
    fresh_registry_url,
    registry_url,
    running_registry,
    subject,
)

pytestmark = pytest.mark.integration


def record(*fields: dict[str, Any], name: str = "Thing") -> str:
    return json.dumps({"type": "record", "name": name, "namespace": "t", "fields": list(fields)})


ID = {"name": "id", "type": "string"}
COLOUR_DEFAULT = {"name": "colour", "type": "string", "default": "red"}
COLOUR = {"name": "colour", "type": "string"}
V1 = record(ID)
V2 = record(ID, COLOUR_DEFAULT)
V2_NO_DEFAULT = record(ID, COLOUR)


@pytest.fixture
async def client(registry_url: str) -> AsyncIterator[HttpSchemaRegistry]:
    registry = HttpSchemaRegistry(registry_url)
    yield registry
    await registry.close()


@pytest.fixture
def http(registry_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=registry_url, timeout=5) as raw:
        yield raw


def post(http: httpx.Client, path: str, schema: str, **extra: Any) -> httpx.Response:
    return http.post(
        path,
        content=json.dumps({"schema": schema, **extra}),
        headers={"Content-Type": MEDIA_TYPE},
    )


def error_of(response: httpx.Response) -> tuple[int, int]:
    body = response.json()
    assert set(body) == {"error_code", "message"}
    assert body["message"]
    return response.status_code, body["error_code"]


# -- the client ---------------------------------------------------------------------------


async def test_register_is_idempotent_and_ids_are_global(
    client: HttpSchemaRegistry, registry_url: str, subject: str
) -> None:
    text = schema_text("ProblemSubmitted")
    first = await client.register(subject, text)
    # Same schema, different whitespace, fresh client (no cache): same id, no new version.
    other = HttpSchemaRegistry(registry_url)
    try:
        assert await other.register(subject, json.dumps(json.loads(text), indent=2)) == first
        assert await other.subject_versions(subject) == [1]
        assert await other.register(subject + "-copy", text) == first
        assert json.loads(await other.schema_by_id(first)) == json.loads(text)
    finally:
        await other.close()


async def test_unknown_id_raises_unknown_schema(client: HttpSchemaRegistry) -> None:
    with pytest.raises(UnknownSchemaError):
        await client.schema_by_id(987_654)


async def test_incompatible_registration_is_refused_with_409(
    client: HttpSchemaRegistry, subject: str
) -> None:
    first = await client.register(subject, V1)
    with pytest.raises(SchemaRegistryError) as refused:
        await client.register(subject, V2_NO_DEFAULT)
    assert (refused.value.status, refused.value.error_code) == (409, 409)
    assert "colour" in str(refused.value)
    second = await client.register(subject, V2)
    assert second != first
    assert await client.subject_versions(subject) == [1, 2]


async def test_invalid_schema_is_422_42201(client: HttpSchemaRegistry, subject: str) -> None:
    bad_default = record({"name": "n", "type": "int", "default": "one"})
    for text in ("{not json", '{"type": "record"}', bad_default):
        with pytest.raises(SchemaRegistryError) as refused:
            await client.register(subject, text)
        assert (refused.value.status, refused.value.error_code) == (422, 42201)
    assert await client.subject_versions(subject) == []


async def test_check_compatibility(client: HttpSchemaRegistry, subject: str) -> None:
    assert await client.check_compatibility(subject, V2_NO_DEFAULT)  # nothing registered yet
    await client.register(subject, V1)
    assert await client.check_compatibility(subject, V2)
    assert not await client.check_compatibility(subject, V2_NO_DEFAULT)
    assert not await client.check_compatibility(subject, V2_NO_DEFAULT, version=1)
    with pytest.raises(SchemaRegistryError) as missing:
        await client.check_compatibility(subject, V2, version=7)
    assert missing.value.error_code == 40402


async def test_subject_level_overrides_global(client: HttpSchemaRegistry, subject: str) -> None:
    await client.register(subject, V1)
    assert await client.set_compatibility("none", subject) == "NONE"
    await client.register(subject, V2_NO_DEFAULT)  # would be refused under BACKWARD
    with pytest.raises(SchemaRegistryError) as refused:
        await client.set_compatibility("SIDEWAYS", subject)
    assert (refused.value.status, refused.value.error_code) == (422, 42203)


async def test_unreachable_registry_is_retriable() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, never listening: connection refused
        registry = HttpSchemaRegistry(f"http://127.0.0.1:{port}", timeout=1)
        with pytest.raises(RegistryUnavailableError):
            await registry.schema_by_id(1)
        await registry.close()


async def test_silent_registry_times_out_as_unavailable() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # the kernel completes the handshake; nobody ever answers
        registry = HttpSchemaRegistry(f"http://127.0.0.1:{silent.getsockname()[1]}", timeout=0.3)
        with pytest.raises(RegistryUnavailableError):
            await registry.register("s-value", V1)
        await registry.close()


async def test_server_errors_are_retriable_and_auth_is_sent() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(500, json={"error_code": 50001, "message": "store down"})

    registry = HttpSchemaRegistry(
        "http://registry.invalid", username="u", password="p", transport=httpx.MockTransport(answer)
    )
    with pytest.raises(RegistryUnavailableError) as down:
        await registry.schema_by_id(3)
    await registry.close()
    assert (down.value.status, down.value.error_code) == (500, 50001)
    assert seen[0].headers["Authorization"] == "Basic dTpw"


async def test_router_mounts_under_a_prefix() -> None:
    app = FastAPI()
    app.include_router(registry_router(RegistryStore(":memory:")), prefix="/registry")
    registry = HttpSchemaRegistry(
        "http://api.test/registry", transport=httpx.ASGITransport(app=app)
    )
    schema_id = await registry.register("p-value", V1)
    assert await registry.subject_versions("p-value") == [1]
    fresh = HttpSchemaRegistry("http://api.test/registry", transport=httpx.ASGITransport(app=app))
    assert json.loads(await fresh.schema_by_id(schema_id)) == json.loads(V1)
    await registry.close()
    await fresh.close()


def test_ids_survive_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "registry.db"
    with running_registry(db) as url, httpx.Client(base_url=url) as http:
        schema_id = post(http, "/subjects/a-value/versions", V1).json()["id"]
    with running_registry(db) as url:
        again = httpx.get(f"{url}/schemas/ids/{schema_id}")
        assert json.loads(again.json()["schema"]) == json.loads(V1)
        assert httpx.get(f"{url}/subjects/a-value/versions").json() == [1]


# -- raw endpoints ------------------------------------------------------------------------


def test_register_answers_id_in_confluent_media_type(http: httpx.Client, subject: str) -> None:
    response = post(http, f"/subjects/{subject}/versions", V1, schemaType="AVRO", references=[])
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(MEDIA_TYPE)
    assert set(response.json()) == {"id"}


def test_only_avro_is_accepted(http: httpx.Client, subject: str) -> None:
    for extra in ({"schemaType": "PROTOBUF"}, {"schemaType": "JSON"}):
        response = post(http, f"/subjects/{subject}/versions", V1, **extra)
        assert error_of(response) == (422, 42201)
    not_json = http.post(f"/subjects/{subject}/versions", content=b"{oops")
    assert not_json.status_code == 400


def test_lookup(http: httpx.Client, subject: str) -> None:
    assert error_of(post(http, f"/subjects/{subject}", V1)) == (404, 40401)
    schema_id = post(http, f"/subjects/{subject}/versions", V1).json()["id"]
    found = post(http, f"/subjects/{subject}", json.dumps(json.loads(V1), indent=4)).json()
    assert found == {"subject": subject, "id": schema_id, "version": 1, "schema": found["schema"]}
    assert json.loads(found["schema"]) == json.loads(V1)
    assert error_of(post(http, f"/subjects/{subject}", V2)) == (404, 40403)


def test_versions_and_version_lookup(http: httpx.Client, subject: str) -> None:
    assert error_of(http.get(f"/subjects/{subject}/versions")) == (404, 40401)
    assert error_of(http.get(f"/subjects/{subject}/versions/latest")) == (404, 40401)
    first = post(http, f"/subjects/{subject}/versions", V1).json()["id"]
    second = post(http, f"/subjects/{subject}/versions", V2).json()["id"]
    assert http.get(f"/subjects/{subject}/versions").json() == [1, 2]
    for version in ("latest", "-1", "2"):
        body = http.get(f"/subjects/{subject}/versions/{version}").json()
        assert (body["subject"], body["version"], body["id"]) == (subject, 2, second)
    assert http.get(f"/subjects/{subject}/versions/1").json()["id"] == first
    raw = http.get(f"/subjects/{subject}/versions/1/schema")
    assert raw.json() == json.loads(V1)
    assert error_of(http.get(f"/subjects/{subject}/versions/3")) == (404, 40402)
    for bad in ("0", "abc", "-2"):
        assert error_of(http.get(f"/subjects/{subject}/versions/{bad}")) == (422, 42202)


def test_schema_by_id_endpoints(http: httpx.Client, subject: str) -> None:
    mine = record(ID, name=f"Only{uuid.uuid4().hex}")  # ids are global: other tests share V1
    schema_id = post(http, f"/subjects/{subject}/versions", mine).json()["id"]
    post(http, f"/subjects/{subject}-b/versions", mine)
    body = http.get(f"/schemas/ids/{schema_id}", params={"subject": subject}).json()
    assert json.loads(body["schema"]) == json.loads(mine)
    assert http.get(f"/schemas/ids/{schema_id}/versions").json() == [
        {"subject": subject, "version": 1},
        {"subject": f"{subject}-b", "version": 1},
    ]
    assert http.get(f"/schemas/ids/{schema_id}/subjects").json() == [subject, f"{subject}-b"]
    assert error_of(http.get("/schemas/ids/424242")) == (404, 40403)
    assert error_of(http.get("/schemas/ids/424242/versions")) == (404, 40403)
    assert error_of(http.get("/schemas/ids/nope")) == (404, 40403)


def test_soft_then_permanent_delete(http: httpx.Client, subject: str) -> None:
    schema_id = post(http, f"/subjects/{subject}/versions", V1).json()["id"]
    post(http, f"/subjects/{subject}/versions", V2)
    assert error_of(http.delete(f"/subjects/{subject}", params={"permanent": "true"})) == (
        404,
        40405,
    )
    assert http.delete(f"/subjects/{subject}").json() == [1, 2]
    assert subject not in http.get("/subjects").json()
    assert subject in http.get("/subjects", params={"deleted": "true"}).json()
    assert error_of(http.get(f"/subjects/{subject}/versions")) == (404, 40401)
    assert http.get(f"/subjects/{subject}/versions", params={"deleted": "true"}).json() == [1, 2]
    # Bytes already on a topic still carry the id: it must stay resolvable.
    assert http.get(f"/schemas/ids/{schema_id}").status_code == 200
    assert error_of(http.delete(f"/subjects/{subject}")) == (404, 40404)
    # Deleted versions no longer constrain the subject.
    assert post(http, f"/subjects/{subject}/versions", V2_NO_DEFAULT).status_code == 200
    http.delete(f"/subjects/{subject}")
    assert http.delete(f"/subjects/{subject}", params={"permanent": "true"}).json() == [1, 2, 3]
    assert subject not in http.get("/subjects", params={"deleted": "true"}).json()
    assert error_of(http.delete(f"/subjects/{subject}")) == (404, 40401)
    assert http.get(f"/schemas/ids/{schema_id}").status_code == 200


def test_compatibility_endpoint(http: httpx.Client, subject: str) -> None:
    path = f"/compatibility/subjects/{subject}/versions"
    assert post(http, f"{path}/latest", V2_NO_DEFAULT).json()["is_compatible"] is True
    assert error_of(post(http, f"{path}/1", V2)) == (404, 40401)
    post(http, f"/subjects/{subject}/versions", V1)
    assert post(http, f"{path}/latest", V2).json() == {"is_compatible": True, "messages": []}
    quiet = post(http, f"{path}/1", V2_NO_DEFAULT).json()
    assert quiet == {"is_compatible": False, "messages": []}
    loud = http.post(
        f"{path}/latest",
        params={"verbose": "true"},
        json={"schema": V2_NO_DEFAULT},
    ).json()
    assert loud["is_compatible"] is False
    assert any("colour" in message for message in loud["messages"])
    assert post(http, f"{path}/latest?verbose=False", V2).json()["is_compatible"] is True
    assert error_of(post(http, f"{path}/2", V2)) == (404, 40402)
    assert error_of(post(http, f"{path}/zero", V2)) == (422, 42202)
    assert error_of(post(http, f"{path}/latest", "{]")) == (422, 42201)


def test_transitive_levels_check_every_version(http: httpx.Client, subject: str) -> None:
    post(http, f"/subjects/{subject}/versions", V1)
    post(http, f"/subjects/{subject}/versions", V2)
    # colour exists in v2, so plain BACKWARD (latest only) accepts dropping its default ...
    assert post(http, f"/compatibility/subjects/{subject}/versions", V2_NO_DEFAULT).json()[
        "is_compatible"
    ]
    http.put(f"/config/{subject}", json={"compatibility": "BACKWARD_TRANSITIVE"})
    # ... but v1 data has no colour at all.
    assert not post(http, f"/compatibility/subjects/{subject}/versions", V2_NO_DEFAULT).json()[
        "is_compatible"
    ]
    assert error_of(post(http, f"/subjects/{subject}/versions", V2_NO_DEFAULT)) == (409, 409)


def test_forward_and_full_levels(http: httpx.Client, subject: str) -> None:
    http.put(f"/config/{subject}", json={"compatibility": "FORWARD"})
    post(http, f"/subjects/{subject}/versions", V2_NO_DEFAULT)
    # Dropping colour: new data lacks it and the old reader has no default for it.
    assert error_of(post(http, f"/subjects/{subject}/versions", V1)) == (409, 409)
    http.put(f"/config/{subject}", json={"compatibility": "FULL"})
    optional = record(ID, COLOUR, {"name": "size", "type": "int", "default": 0})
    assert post(http, f"/subjects/{subject}/versions", optional).status_code == 200
    required = record(ID, COLOUR, {"name": "weight", "type": "int"})
    assert error_of(post(http, f"/subjects/{subject}/versions", required)) == (409, 409)


def test_config(fresh_registry_url: str) -> None:
    with httpx.Client(base_url=fresh_registry_url) as http:
        assert http.get("/config").json() == {"compatibilityLevel": "BACKWARD"}
        assert error_of(http.get("/config/s-value")) == (404, 40408)
        fallback = http.get("/config/s-value", params={"defaultToGlobal": "true"})
        assert fallback.json() == {"compatibilityLevel": "BACKWARD"}
        assert http.put("/config", json={"compatibility": "FULL"}).json() == {
            "compatibility": "FULL"
        }
        assert http.get("/config").json() == {"compatibilityLevel": "FULL"}
        assert http.put("/config/s-value", json={"compatibility": "none"}).json() == {
            "compatibility": "NONE"
        }
        assert http.get("/config/s-value").json() == {"compatibilityLevel": "NONE"}
        assert error_of(http.put("/config", json={"compatibility": "SOMETIMES"})) == (422, 42203)
        assert error_of(http.put("/config/s-value", json={})) == (422, 42203)
        assert http.delete("/config/s-value").json() == {"compatibilityLevel": "NONE"}
        assert error_of(http.delete("/config/s-value")) == (404, 40401)
        # Global FULL now governs the subject.
        post(http, "/subjects/s-value/versions", V1)
        assert error_of(post(http, "/subjects/s-value/versions", V2_NO_DEFAULT)) == (409, 409)


def test_subjects_list(fresh_registry_url: str) -> None:
    with httpx.Client(base_url=fresh_registry_url) as http:
        assert http.get("/subjects").json() == []
        post(http, "/subjects/b-value/versions", V1)
        post(http, "/subjects/a-value/versions", V1)
        assert http.get("/subjects").json() == ["a-value", "b-value"]
        assert http.get("/schemas/types").json() == ["AVRO"]
