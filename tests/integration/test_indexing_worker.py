"""The content worker (indexing + drafting) as a real process: Markdown/HTML documents become
chunks in the embedded vector store; a changed document leaves no stale chunks; a deletion
removes them; a problem on the same subject is drafted citing the indexed fact."""

# ruff: noqa: F811 - pytest injects imported fixtures by name
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer

from connectors.embeddings.factory import open_embedder
from connectors.kafka import KafkaEventProducer, ensure_topics
from connectors.registry_client import HttpSchemaRegistry
from connectors.vectors.edge_adapter import EdgeVectorStore
from schemas.serializer import AvroSerde, subject_for
from streams import events
from streams.kafka_auth import KafkaClientConfig
from streams.settings import Settings
from tests.integration.kafka_helpers import consume_until
from tests.integration.registry_fixtures import registry_url  # noqa: F401
from tests.integration.worker_process import start_worker, stop_worker

pytestmark = pytest.mark.integration

V1 = """# 조선의 발명품

## 측우기
측우기는 1441년 세종 때 만들어진 강우량 측정 기구이다. 비의 양을 재어 농사에 활용했다.

## 자격루
자격루는 장영실이 만든 자동 물시계이다. 정해진 시각에 스스로 소리를 내어 시간을 알렸다.

## 앙부일구
앙부일구는 솥 모양의 해시계이다. 그림자로 시각과 절기를 함께 알 수 있었다.
"""
V2 = """# 조선의 발명품

## 측우기
측우기는 1441년 세종 때 만들어진 강우량 측정 기구이다.
"""
HTML = "<h1>Capitals</h1><p>Canberra is the capital city of Australia.</p>"


def document(doc_id: str, content: str, *, content_type: str, deleted: bool = False) -> Any:
    return {
        "meta": events.meta(correlation_id=events.new_id()),
        "document_id": doc_id,
        "title": doc_id,
        "subject": "history" if content_type == "text/markdown" else "geography",
        "language": "ko" if content_type == "text/markdown" else "en",
        "content_type": content_type,
        "content": content,
        "content_sha256": hashlib.sha256(content.encode()).hexdigest(),
        "tags": ["sample"],
        "deleted": deleted,
        "submitted_by": "tests",
    }


async def test_ingest_reingest_delete_and_poison(
    settings: Settings, registry_url: str, tmp_path: Path
) -> None:
    settings = settings.model_copy(update={"schema_registry_url": registry_url})
    assert settings.kafka_bootstrap_servers
    await ensure_topics(
        KafkaClientConfig(settings.kafka_bootstrap_servers), namespace=settings.topic_namespace
    )
    serde = AvroSerde(HttpSchemaRegistry(registry_url))
    source = settings.topic("knowledge.ingested")
    docs = [
        document("inventions", V1, content_type="text/markdown"),
        document("capitals", HTML, content_type="text/html"),
        document("inventions", V2, content_type="text/markdown"),
        document("capitals", "", content_type="text/html", deleted=True),
        document("scan", "%PDF-1.7", content_type="application/pdf"),
    ]
    producer = KafkaEventProducer(KafkaClientConfig(settings.kafka_bootstrap_servers))
    await producer.start()
    try:
        await producer.publish_many(
            [
                (
                    source,
                    d["document_id"].encode(),
                    await serde.encode_async(subject_for(source), "KnowledgeDocumentIngested", d),
                    (),
                )
                for d in docs
            ]
        )
    finally:
        await producer.stop()

    worker = start_worker(settings, "content", tmp_path / "indexing.log")
    indexed_consumer = AIOKafkaConsumer(
        settings.topic("knowledge.indexed"),
        settings.topic("knowledge.ingested.dlq"),
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
    )
    await indexed_consumer.start()
    try:
        records = await consume_until(indexed_consumer, lambda rs: len(rs) >= 5, timeout=90)
        # Knowledge is indexed: a problem on the same subject is drafted citing it.
        drafted = await _draft_one(settings, serde)
    finally:
        await indexed_consumer.stop()
        stop_worker(worker)

    decoded = [(await serde.decode(r.value)) for r in records]
    indexed = {}
    for d in decoded:
        if d.event_type == "KnowledgeIndexed":
            indexed.setdefault(d.record["document_id"], []).append(d.record)
    (failed,) = [d.record for d in decoded if d.event_type == "StepFailed"]
    assert failed["fatal"] is True
    assert "unsupported content type" in failed["error_message"]

    v1, v2 = indexed["inventions"]
    assert v1["chunk_count"] >= 1
    assert v2["removed_chunks"] == v1["chunk_count"]
    assert v2["chunk_count"] == 1
    added, removed = indexed["capitals"]
    assert added["chunk_count"] == 1
    assert removed["deleted"] is True
    assert removed["chunk_count"] == 0
    assert removed["removed_chunks"] == 1

    (chunk_id,) = v2["chunk_ids"]
    assert {d["problem_id"] for d in drafted} == {"rain-gauge"}
    for script in drafted:
        assert [c["chunk_id"] for c in script["citations"]] == [chunk_id]
        assert script["citations"][0]["score"] >= settings.retrieval_min_score
        assert "강우량 측정 기구" in script["explanation"]  # grounded in the indexed fact

    store = EdgeVectorStore(settings.data_dir / "qdrant")
    try:
        collection = settings.qdrant_collection
        assert await store.count(collection, document_id="inventions") == 1
        assert await store.count(collection, document_id="capitals") == 0
        embedder = open_embedder(settings.embedder)
        query = embedder.embed_queries(["비의 양을 재는 조선 시대 기구는?"])[0]
        hits = await store.search(collection, list(map(float, query)), language="ko", limit=3)
        assert [h.chunk_id for h in hits] == v2["chunk_ids"]
        assert "측우기" in hits[0].payload["text"]
    finally:
        await store.close()


async def _draft_one(settings: Settings, serde: AvroSerde) -> list[Any]:
    problem = {
        "meta": events.meta(correlation_id=events.new_id()),
        "problem_id": "rain-gauge",
        "language": "ko",
        "subject": "history",
        "question": "세종 때 비의 양을 재려고 만든 기구는 무엇일까요?",
        "choices": ["측우기", "자격루", "앙부일구"],
        "answer_index": 0,
        "explanation": "정답은 측우기입니다.",
        "difficulty": "easy",
        "tags": [],
        "submitted_by": "tests",
    }
    source = settings.topic("problems.submitted")
    producer = KafkaEventProducer(KafkaClientConfig(settings.kafka_bootstrap_servers or ""))
    await producer.start()
    try:
        value = await serde.encode_async(subject_for(source), "ProblemSubmitted", problem)
        await producer.publish(source, b"rain-gauge", value)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        settings.topic("scripts.drafted"),
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        k = settings.draft_variants_per_problem
        records = await consume_until(consumer, lambda rs: len(rs) >= k, timeout=60)
    finally:
        await consumer.stop()
    return [(await serde.decode(r.value, expected="ScriptDrafted")).record for r in records]
