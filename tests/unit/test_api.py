"""The producer API over in-memory fakes: auth, validation, limits, idempotency, outages."""

from __future__ import annotations

import asyncio
import json
import stat
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from observability.readiness import ReadinessCheck, broker_canary_check
from schemas.registry import InMemorySchemaRegistry
from schemas.serializer import AvroSerde
from services.api.app import create_app
from services.api.auth import ApiKeyStore
from services.api.deps import ApiDeps, api_config, build_default_deps
from services.api.errors import Unauthenticated
from services.api.idempotency import (
    Answer,
    InMemoryIdempotencyStore,
    KeyedLocks,
    SqliteIdempotencyStore,
    StoredAnswer,
)
from services.api.status import InMemoryStatusReader
from streams.errors import BrokerUnavailableError
from streams.ports.producer import Message
from streams.ports.warehouse import WarehouseError
from streams.settings import Settings

ALL_SCOPES = ["problems:write", "problems:read", "knowledge:write"]
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


class FakePublisher:
    """Records what it was asked to publish; can stall, fail or time out like a dead broker."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.attempted: list[Message] = []
        self.calls = 0
        self.outage = False
        self.delay = 0.0
        self.fail_with: Exception | None = None

    async def publish_many(
        self, messages: Sequence[Message], *, timeout: float | None = None
    ) -> None:
        self.calls += 1
        self.attempted.extend(messages)
        if self.outage:
            await asyncio.sleep(timeout or 0.0)
            raise BrokerUnavailableError("broker did not acknowledge: timed out")
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail_with is not None:
            raise self.fail_with
        self.messages.extend(messages)


def problem(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "language": "ko",
        "subject": "한국사",
        "question": "조선을 건국한 인물은?",
        "choices": ["이성계", "왕건", "세종"],
        "answer_index": 0,
    }
    body.update(overrides)
    return body


@dataclass
class Api:
    client: httpx.AsyncClient
    publisher: FakePublisher
    serde: AvroSerde
    deps: ApiDeps
    status: InMemoryStatusReader
    key: str  # every scope
    settings: Settings

    def auth(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.key}"}

    async def decode(self, message: Message) -> dict[str, Any]:
        return (await self.serde.decode(message[2])).record


@pytest.fixture
def api_settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        api_max_batch=5,
        api_max_body_bytes=8192,
        api_broker_timeout_s=0.05,
        topic_namespace="unit.",
    )


@pytest.fixture
async def api(api_settings: Settings) -> AsyncIterator[Api]:
    serde = AvroSerde(InMemorySchemaRegistry())
    publisher = FakePublisher()
    status = InMemoryStatusReader()
    deps = await build_default_deps(api_settings, publisher, serde, status)
    key = deps.keys.create_key("quiz-importer", ALL_SCOPES)
    transport = httpx.ASGITransport(create_app(deps), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield Api(client, publisher, serde, deps, status, key, api_settings)
    await deps.aclose()


# --- authentication and scopes ---------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer nonsense"},
        {"Authorization": "Bearer mj_000000000000_wrongsecret"},
        {"X-API-Key": "mj_"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ],
)
async def test_missing_or_invalid_key_is_401_with_challenge(
    api: Api, headers: dict[str, str]
) -> None:
    r = await api.client.post("/v1/problems", json=problem(), headers=headers)
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert r.json()["code"] == "unauthorized"
    assert api.publisher.calls == 0


async def test_wrong_secret_of_a_known_key_is_401(api: Api) -> None:
    key_id = api.key.split("_")[1]
    r = await api.client.post(
        "/v1/problems", json=problem(), headers=api.auth(f"mj_{key_id}_{'A' * 43}")
    )
    assert r.status_code == 401


async def test_x_api_key_header_is_accepted(api: Api) -> None:
    r = await api.client.post("/v1/problems", json=problem(), headers={"X-API-Key": api.key})
    assert r.status_code == 202


async def test_key_without_scope_is_403(api: Api) -> None:
    reader = api.deps.keys.create_key("dashboard", ["problems:read"])
    r = await api.client.post("/v1/problems", json=problem(), headers=api.auth(reader))
    assert r.status_code == 403
    assert "problems:write" in r.json()["detail"]
    r = await api.client.post(
        "/v1/knowledge", json={"document_id": "d", "deleted": True}, headers=api.auth(reader)
    )
    assert r.status_code == 403
    writer = api.deps.keys.create_key("importer", ["problems:write"])
    r = await api.client.get("/v1/problems/p1", headers=api.auth(writer))
    assert r.status_code == 403
    assert api.publisher.calls == 0


def test_keys_are_stored_hashed_in_a_private_file(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    plaintext = ApiKeyStore.load(path).create_key("ops", ["problems:read"])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    secret = plaintext.split("_", 2)[2]
    assert secret not in text
    entry = json.loads(text)["keys"][0]
    assert set(entry) == {
        "key_id", "producer", "sha256", "scopes", "created_at", "label", "expires_at",
        "revoked_at", "disabled",
    }  # fmt: skip
    assert plaintext.startswith(f"mj_{entry['key_id']}_")
    with pytest.raises(ValueError, match="unknown scopes"):
        ApiKeyStore.load(path).create_key("ops", ["admin"])


def test_running_store_sees_keys_created_and_revoked_by_another_process(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    running = ApiKeyStore.load(path)  # the API, started before the key exists
    cli = ApiKeyStore.load(path)
    key = cli.create_key("late", ["problems:write"])
    assert running.authenticate(f"Bearer {key}").producer == "late"
    cli.revoke(key.split("_")[1])
    # The very next request: no reload interval to wait out.
    with pytest.raises(Unauthenticated, match="revoked"):
        running.authenticate(key)


# --- submitting problems -----------------------------------------------------------------------


async def test_problem_is_published_as_one_event_keyed_by_problem_id(api: Api) -> None:
    r = await api.client.post(
        "/v1/problems",
        json=problem(problem_id="kh-1", tags=[" 조선 "]),
        headers={**api.auth(), "traceparent": TRACEPARENT},
    )
    assert r.status_code == 202
    body = r.json()
    assert body["problem_id"] == "kh-1"
    assert body["status_url"] == "/v1/problems/kh-1" == r.headers["location"]
    [message] = api.publisher.messages
    topic, key, _, headers = message
    assert topic == "unit.problems.submitted"
    assert key == b"kh-1"
    assert ("traceparent", TRACEPARENT.encode()) in list(headers)
    record = await api.decode(message)
    assert record["meta"]["event_id"] == body["event_id"]
    assert record["meta"]["producer"].startswith("munjero-api@")
    assert record["meta"]["causation_id"] is None
    assert record["meta"]["correlation_id"] not in (body["event_id"], "")
    assert record["submitted_by"] == "quiz-importer"
    assert record["tags"] == ["조선"]
    assert record["choices"] == ["이성계", "왕건", "세종"]


async def test_generated_ids_are_deterministic_so_a_blind_retry_deduplicates(api: Api) -> None:
    first = (await api.client.post("/v1/problems", json=problem(), headers=api.auth())).json()
    again = (await api.client.post("/v1/problems", json=problem(), headers=api.auth())).json()
    other = (
        await api.client.post(
            "/v1/problems", json=problem(question="다른 문제?"), headers=api.auth()
        )
    ).json()
    assert first == again
    assert other["problem_id"] != first["problem_id"]
    assert other["event_id"] != first["event_id"]


async def test_invalid_traceparent_is_not_propagated(api: Api) -> None:
    headers = {**api.auth(), "traceparent": "00-" + "0" * 32 + "-00f067aa0ba902b7-01"}
    assert (await api.client.post("/v1/problems", json=problem(), headers=headers)).is_success
    assert list(api.publisher.messages[0][3]) == []


@pytest.mark.parametrize(
    ("overrides", "loc", "fragment"),
    [
        ({"answer_index": 3}, ["body", "answer_index"], "out of range"),
        ({"answer_index": "0"}, ["body", "answer_index"], "valid integer"),
        ({"language": "fr"}, ["body", "language"], "'ko' or 'en'"),
        ({"question": "   "}, ["body", "question"], "at least 1 character"),
        ({"question": "가" * 1001}, ["body", "question"], "at most 1000"),
        ({"choices": ["only one"]}, ["body", "choices"], "at least 2"),
        ({"choices": [str(i) for i in range(7)]}, ["body", "choices"], "at most 6"),
        ({"choices": ["Yes", "yes "]}, ["body", "choices"], "distinct"),
        ({"choices": ["a", ""]}, ["body", "choices", 1], "at least 1 character"),
        ({"problem_id": "has space"}, ["body", "problem_id"], "pattern"),
        ({"difficulty": "insane"}, ["body", "difficulty"], "'easy', 'medium' or 'hard'"),
        ({"tags": ["t"] * 17}, ["body", "tags"], "at most 16"),
        ({"colour": "red"}, ["body", "colour"], "Extra inputs"),
        ({"explanation": "x" * 2001}, ["body", "explanation"], "at most 2000"),
        # Text that cannot be shown as written (streams/text.py): the character is named.
        ({"choices": ["\u202e5491", "1945"]}, ["body", "choices", 0], "U+202E RIGHT-TO-LEFT"),
        ({"question": "stu\u200bpid?"}, ["body", "question"], "U+200B ZERO WIDTH SPACE"),
        ({"tags": ["\u3164"]}, ["body", "tags", 0], "U+3164 HANGUL FILLER"),
        ({"subject": "Z" + "\u0301" * 9}, ["body", "subject"], "more than 4 combining marks"),
        ({"choices": ["1945", "\uff11\uff19\uff14\uff15"]}, ["body", "choices"], "distinct"),
    ],
)
async def test_invalid_problem_is_422_naming_the_field(
    api: Api, overrides: dict[str, Any], loc: list[Any], fragment: str
) -> None:
    r = await api.client.post("/v1/problems", json=problem(**overrides), headers=api.auth())
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "validation_failed"
    [error] = [e for e in body["detail"] if e["loc"] == loc]
    assert fragment in error["msg"]
    assert api.publisher.calls == 0


async def test_problem_text_is_published_in_nfc(api: Api) -> None:
    decomposed = "\u1112\u1161\u11ab\u1100\u116e\u11a8\u1109\u1161"  # 한국사 typed as jamo
    r = await api.client.post(
        "/v1/problems", json=problem(subject=decomposed, choices=["ㅋㅋ", "x²"]), headers=api.auth()
    )
    assert r.status_code == 202, r.text
    record = await api.decode(api.publisher.messages[0])
    assert record["subject"] == "한국사"
    assert record["choices"] == ["ㅋㅋ", "x²"]  # NFC keeps compatibility forms as written


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/v1/problems", "text/plain"),
        ("/v1/problems", None),
        ("/v1/problems", "application/x-www-form-urlencoded"),
        ("/v1/problems", "application/json; charset=latin-1"),
        ("/v1/problems:batch", "text/plain; charset=utf-8"),
        ("/v1/knowledge", "text/markdown"),
    ],
)
async def test_a_body_not_declared_json_is_415(
    api: Api, path: str, content_type: str | None
) -> None:
    body = {"problems": [problem()]} if path.endswith("batch") else problem()
    headers = api.auth()
    if content_type is not None:
        headers["Content-Type"] = content_type
    r = await api.client.post(path, content=json.dumps(body).encode(), headers=headers)
    assert r.status_code == 415, r.text
    assert r.json()["code"] == "unsupported_media_type"
    assert "application/json" in r.json()["detail"]
    assert api.publisher.calls == 0


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=UTF-8", "application/merge+json"]
)
async def test_json_media_types_are_accepted(api: Api, content_type: str) -> None:
    headers = {**api.auth(), "Content-Type": content_type}
    r = await api.client.post("/v1/problems", content=json.dumps(problem()), headers=headers)
    assert r.status_code == 202, r.text


async def test_malformed_json_is_422(api: Api) -> None:
    r = await api.client.post(
        "/v1/problems",
        content=b"{not json",
        headers={**api.auth(), "content-type": "application/json"},
    )
    assert r.status_code == 422


# --- batches -----------------------------------------------------------------------------------


async def test_batch_publishes_all_in_one_call_and_answers_in_order(api: Api) -> None:
    batch = {"problems": [problem(problem_id=f"b-{i}") for i in range(3)] + [problem()]}
    r = await api.client.post("/v1/problems:batch", json=batch, headers=api.auth())
    assert r.status_code == 202
    body = r.json()
    assert body["count"] == 4
    assert [p["problem_id"] for p in body["problems"]][:3] == ["b-0", "b-1", "b-2"]
    assert api.publisher.calls == 1
    records = [await api.decode(m) for m in api.publisher.messages]
    assert [r["meta"]["event_id"] for r in records] == [p["event_id"] for p in body["problems"]]
    assert len({r["meta"]["correlation_id"] for r in records}) == 4


async def test_batch_errors_are_located_by_item_index(api: Api) -> None:
    batch = {"problems": [problem(), problem(answer_index=9), problem(language="de")]}
    r = await api.client.post("/v1/problems:batch", json=batch, headers=api.auth())
    assert r.status_code == 422
    locs = [e["loc"] for e in r.json()["detail"]]
    assert locs == [["body", "problems", 1, "answer_index"], ["body", "problems", 2, "language"]]
    assert api.publisher.calls == 0


async def test_batch_over_the_limit_and_duplicate_ids_are_422(api: Api) -> None:
    # Six invalid items: the size is refused before any item is validated.
    r = await api.client.post(
        "/v1/problems:batch", json={"problems": [{"language": "xx"}] * 6}, headers=api.auth()
    )
    assert r.status_code == 422
    [error] = r.json()["detail"]
    assert error["loc"] == ["body", "problems"]
    assert "at most 5" in error["msg"]
    dup = {"problems": [problem(problem_id="x"), problem(problem_id="x")]}
    r = await api.client.post("/v1/problems:batch", json=dup, headers=api.auth())
    assert r.status_code == 422
    assert "repeats problem_id" in r.json()["detail"][0]["msg"]
    r = await api.client.post("/v1/problems:batch", json={"problems": []}, headers=api.auth())
    assert r.status_code == 422
    assert api.publisher.calls == 0


# --- body size ---------------------------------------------------------------------------------


async def test_declared_oversized_body_is_413_before_anything_else(api: Api) -> None:
    r = await api.client.post(
        "/v1/problems",
        content=b"x" * 9000,
        headers={"content-type": "application/json"},  # no key: the limit comes first
    )
    assert r.status_code == 413
    assert r.json()["code"] == "payload_too_large"


async def test_streamed_body_without_length_is_cut_at_the_limit(api: Api) -> None:
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(100):
            sent += 1
            yield b"x" * 1024

    r = await api.client.post(
        "/v1/problems",
        content=endless(),
        headers={**api.auth(), "content-type": "application/json"},
    )
    assert r.status_code == 413
    assert sent < 100  # the app stopped reading at the limit


async def test_streamed_body_under_the_limit_is_accepted(api: Api) -> None:
    data = json.dumps(problem()).encode()

    async def chunks() -> AsyncIterator[bytes]:
        yield data[:10]
        yield data[10:]

    r = await api.client.post(
        "/v1/problems", content=chunks(), headers={**api.auth(), "content-type": "application/json"}
    )
    assert r.status_code == 202


# --- idempotency -------------------------------------------------------------------------------


async def test_same_idempotency_key_replays_the_first_answer(api: Api) -> None:
    headers = {**api.auth(), "Idempotency-Key": "req-1"}
    first = await api.client.post("/v1/problems", json=problem(), headers=headers)
    second = await api.client.post("/v1/problems", json=problem(), headers=headers)
    assert first.status_code == second.status_code == 202
    assert first.content == second.content
    assert second.headers["idempotent-replayed"] == "true"
    assert second.headers["location"] == first.headers["location"]
    assert len(api.publisher.messages) == 1


async def test_same_key_with_another_body_is_refused(api: Api) -> None:
    headers = {**api.auth(), "Idempotency-Key": "req-2"}
    assert (await api.client.post("/v1/problems", json=problem(), headers=headers)).is_success
    r = await api.client.post("/v1/problems", json=problem(answer_index=1), headers=headers)
    assert r.status_code == 422
    assert r.json()["code"] == "idempotency_key_reused"
    batch = {"problems": [problem()]}
    r = await api.client.post("/v1/problems:batch", json=batch, headers=headers)
    assert r.json()["code"] == "idempotency_key_reused"  # one key never serves two endpoints
    assert len(api.publisher.messages) == 1


async def test_keys_are_scoped_per_producer(api: Api) -> None:
    other = api.deps.keys.create_key("another-team", ["problems:write"])
    for key in (api.key, other):
        r = await api.client.post(
            "/v1/problems", json=problem(), headers={**api.auth(key), "Idempotency-Key": "same"}
        )
        assert r.status_code == 202
        assert "idempotent-replayed" not in r.headers
    assert len(api.publisher.messages) == 2


async def test_concurrent_duplicates_publish_once(api: Api) -> None:
    api.publisher.delay = 0.05  # keep the first request in flight while the others arrive
    headers = {**api.auth(), "Idempotency-Key": "burst"}
    answers = await asyncio.gather(
        *(api.client.post("/v1/problems", json=problem(), headers=headers) for _ in range(5))
    )
    assert {r.status_code for r in answers} == {202}
    assert len({r.content for r in answers}) == 1
    assert sum("idempotent-replayed" in r.headers for r in answers) == 4
    assert api.publisher.calls == 1


async def test_idempotency_key_longer_than_255_is_422(api: Api) -> None:
    headers = {**api.auth(), "Idempotency-Key": "k" * 256}
    r = await api.client.post("/v1/problems", json=problem(), headers=headers)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]


# --- broker outage -----------------------------------------------------------------------------


async def test_broker_timeout_is_503_with_retry_after_and_nothing_recorded(api: Api) -> None:
    api.publisher.outage = True
    headers = {**api.auth(), "Idempotency-Key": "during-outage"}
    r = await api.client.post("/v1/problems", json=problem(), headers=headers)
    assert r.status_code == 503
    assert int(r.headers["retry-after"]) >= 1
    assert r.json()["code"] == "unavailable"
    r = await api.client.post(
        "/v1/problems:batch",
        json={"problems": [problem(), problem(question="둘?")]},
        headers=api.auth(),
    )
    assert r.status_code == 503
    assert api.publisher.messages == []
    # The 503 was not stored: the retry publishes, with the ids of the failed first attempt.
    api.publisher.outage = False
    r = await api.client.post("/v1/problems", json=problem(), headers=headers)
    assert r.status_code == 202
    first_try = await api.decode(api.publisher.attempted[0])
    assert first_try["meta"]["event_id"] == r.json()["event_id"]
    assert first_try["problem_id"] == r.json()["problem_id"]


async def test_unexpected_error_is_500_without_internals(api: Api) -> None:
    api.publisher.fail_with = RuntimeError("password=hunter2 at db.internal:5432")
    r = await api.client.post("/v1/problems", json=problem(), headers=api.auth())
    assert r.status_code == 500
    assert r.json()["code"] == "internal_error"
    assert "hunter2" not in r.text
    assert "Traceback" not in r.text


# --- knowledge ---------------------------------------------------------------------------------


async def test_knowledge_document_and_deletion(api: Api) -> None:
    doc = {
        "title": "조선",
        "subject": "한국사",
        "language": "ko",
        "content_type": "text/markdown",
        "content": "# 조선\n1392년 건국.",
        "tags": ["조선"],
    }
    r = await api.client.post("/v1/knowledge", json=doc, headers=api.auth())
    assert r.status_code == 202
    accepted = r.json()
    assert accepted["deleted"] is False
    r = await api.client.post(
        "/v1/knowledge",
        json={"document_id": accepted["document_id"], "deleted": True},
        headers=api.auth(),
    )
    assert r.status_code == 202
    assert r.json()["deleted"] is True
    upsert, deletion = [await api.decode(m) for m in api.publisher.messages]
    assert api.publisher.messages[0][0] == "unit.knowledge.ingested"
    assert api.publisher.messages[0][1] == accepted["document_id"].encode()
    assert upsert["content_sha256"] == accepted["content_sha256"]
    assert upsert["content"] == doc["content"]
    assert upsert["deleted"] is False
    assert deletion["deleted"] is True
    assert deletion["document_id"] == accepted["document_id"]


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"deleted": True}, ["body", "deletion", "document_id"]),
        ({"document_id": "d", "deleted": True, "content": "x"}, ["body", "deletion", "content"]),
        (
            {"subject": "s", "language": "ko", "content_type": "text/plain"},
            ["body", "document", "content"],
        ),
        (
            {"subject": "s", "language": "ko", "content_type": "application/pdf", "content": "x"},
            ["body", "document", "content_type"],
        ),
        (
            {"subject": "s", "language": "ko", "content_type": "text/plain", "content": "  "},
            ["body", "document", "content"],
        ),
    ],
)
async def test_invalid_knowledge_is_422(api: Api, body: dict[str, Any], loc: list[str]) -> None:
    r = await api.client.post("/v1/knowledge", json=body, headers=api.auth())
    assert r.status_code == 422
    assert loc in [e["loc"] for e in r.json()["detail"]]


# --- status, health, OpenAPI ------------------------------------------------------------------


async def test_problem_status(api: Api) -> None:
    api.status.set(
        "kh-1",
        {"problem_id": "kh-1", "steps": [{"step": "submitted", "status": "done", "at": None}]},
    )
    r = await api.client.get("/v1/problems/kh-1", headers=api.auth())
    assert r.status_code == 200
    assert r.json()["steps"][0] == {"step": "submitted", "status": "done", "at": None}
    assert [s["status"] for s in r.json()["steps"][1:]] == ["pending"] * 3
    r = await api.client.get("/v1/problems/unknown", headers=api.auth())
    assert r.status_code == 404
    assert r.json()["code"] == "not_found"


async def test_problem_status_store_outage_is_503(api: Api) -> None:
    class DownReader:
        async def problem_status(self, problem_id: str) -> dict[str, Any] | None:
            raise WarehouseError("clickhouse at 10.0.0.7:8123 refused")

    api.deps.status_reader = DownReader()
    r = await api.client.get("/v1/problems/kh-1", headers=api.auth())
    assert r.status_code == 503
    assert r.headers["retry-after"] == "1"
    assert "10.0.0.7" not in r.text


async def test_healthz_needs_nothing(api: Api) -> None:
    api.publisher.outage = True
    r = await api.client.get("/healthz")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"


async def test_readyz_reports_each_check(api_settings: Settings) -> None:
    publisher = FakePublisher()

    async def ok() -> None:
        return None

    async def warehouse_down() -> None:
        raise ConnectionRefusedError("clickhouse:8123 refused")

    async def hangs() -> None:
        await asyncio.sleep(10)

    serde = AvroSerde(InMemorySchemaRegistry())
    checks = [
        broker_canary_check(publisher, "unit.munjero.health", source="unit", timeout_s=0.05),
        ReadinessCheck("registry", ok),
    ]

    def app_with(extra: list[ReadinessCheck]) -> httpx.AsyncClient:
        deps = ApiDeps(
            config=api_config(api_settings),
            publisher=publisher,
            serde=serde,
            keys=ApiKeyStore.load(api_settings.resolved_api_keys_file),
            idempotency=InMemoryIdempotencyStore(),
            status_reader=InMemoryStatusReader(),
            ready_checks=checks + extra,
        )
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(create_app(deps)), base_url="http://a"
        )

    async with app_with([]) as client:
        r = await client.get("/readyz")
    assert r.status_code == 200
    assert r.json()["status"] == "ready"
    assert set(r.json()["checks"]) == {"broker", "registry"}
    assert r.json()["checks"]["broker"]["status"] == "ok"
    assert isinstance(r.json()["checks"]["broker"]["latency_ms"], float)
    assert publisher.messages[0][0] == "unit.munjero.health"

    publisher.outage = True
    extra = [ReadinessCheck("warehouse", warehouse_down), ReadinessCheck("slow", hangs, 0.05)]
    async with app_with(extra) as client:
        r = await client.get("/readyz")
    assert r.status_code == 503
    checks_out = r.json()["checks"]
    assert checks_out["registry"]["status"] == "ok"
    assert checks_out["broker"]["status"] == "fail"
    assert "ConnectionRefusedError" in checks_out["warehouse"]["error"]
    assert "no answer within" in checks_out["slow"]["error"]


async def test_openapi_lists_every_route_with_security_and_limits(api: Api) -> None:
    r = await api.client.get("/openapi.json")
    assert r.status_code == 200
    spec = r.json()
    assert set(spec["paths"]) == {
        "/v1/problems",
        "/v1/problems:batch",
        "/v1/problems/{problem_id}",
        "/v1/problems/{problem_id}/variants/{script_id}/{kind}",
        "/v1/knowledge",
        "/healthz",
        "/readyz",
    }
    assert set(spec["components"]["securitySchemes"]) == {"bearer", "apiKey"}
    schemas = spec["components"]["schemas"]
    assert schemas["ProblemBatch"]["properties"]["problems"]["maxItems"] == 5
    post = spec["paths"]["/v1/problems"]["post"]
    assert {"202", "401", "403", "413", "415", "422", "503"} <= set(post["responses"])
    assert post["requestBody"]["content"]["application/json"]["examples"]
    assert any(p["name"] == "Idempotency-Key" for p in post["parameters"])


# --- the idempotency store itself -------------------------------------------------------------


async def test_sqlite_store_survives_reopen_and_expires(tmp_path: Path) -> None:
    path = tmp_path / "idem.sqlite3"
    store = SqliteIdempotencyStore(path, ttl_s=60)
    await store.put("p\x1fk", StoredAnswer("fp", Answer(202, b"{}", {"Location": "/x"}), 1e12))
    await store.close()
    reopened = SqliteIdempotencyStore(path, ttl_s=60)
    stored = await reopened.get("p\x1fk")
    assert stored is not None
    assert stored.answer.headers == {"Location": "/x"}
    await reopened.put("old", StoredAnswer("fp", Answer(202, b"{}"), 0.0))
    assert await reopened.get("old") is None
    await reopened.close()


async def test_keyed_locks_are_dropped_when_released() -> None:
    locks = KeyedLocks()
    async with locks.hold("a"), locks.hold("b"):
        assert len(locks) == 2
    assert len(locks) == 0
