"""The drafting agent as a real Faust worker process on the embedded broker."""

# ruff: noqa: F811 - pytest injects imported fixtures by name
from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from connectors.kafka import KafkaEventProducer, ensure_topics
from connectors.registry_client import HttpSchemaRegistry
from factory.dlq import read_dead_letters, replay
from schemas.serializer import AvroSerde, subject_for
from streams.kafka_auth import KafkaClientConfig
from streams.settings import Settings
from tests.factories import problem_event
from tests.integration.kafka_helpers import committed_consumer, consume_until
from tests.integration.registry_fixtures import registry_url  # noqa: F401
from tests.integration.worker_process import running_worker, start_worker, stop_worker

pytestmark = pytest.mark.integration


@pytest.fixture
async def factory(
    settings: Settings, registry_url: str, tmp_path: Path
) -> AsyncIterator[tuple[Settings, AvroSerde, KafkaEventProducer]]:
    async with running_worker(
        settings, registry_url, "content", tmp_path / "worker.log"
    ) as running:
        yield running


async def test_poison_goes_to_dlq_and_the_next_problem_is_drafted(
    factory: tuple[Settings, AvroSerde, KafkaEventProducer],
) -> None:
    settings, serde, producer = factory
    topic = settings.topic("problems.submitted")
    first, second = problem_event(0), problem_event(1)
    key = b"same-partition"  # poison sits between two good events on one partition
    await producer.publish_many(
        [
            (
                topic,
                key,
                await serde.encode_async(subject_for(topic), "ProblemSubmitted", first),
                (),
            ),
            (topic, key, b"\x00\x00\x00\x00\x07garbage-bytes", ()),
            (
                topic,
                key,
                await serde.encode_async(subject_for(topic), "ProblemSubmitted", second),
                (),
            ),
        ]
    )

    k = settings.draft_variants_per_problem
    scripts_consumer = await committed_consumer(settings, "scripts.drafted")
    dlq_consumer = await committed_consumer(settings, "problems.submitted.dlq")
    try:
        scripts = await consume_until(scripts_consumer, lambda rs: len(rs) >= 2 * k, timeout=60)
        (letter,) = await consume_until(dlq_consumer, lambda rs: len(rs) >= 1, timeout=30)
    finally:
        await scripts_consumer.stop()
        await dlq_consumer.stop()

    drafted = [(await serde.decode(r.value, expected="ScriptDrafted")).record for r in scripts]
    assert sorted({d["problem_id"] for d in drafted}) == sorted(
        [first["problem_id"], second["problem_id"]]
    )
    for problem in (first, second):
        mine = [d for d in drafted if d["problem_id"] == problem["problem_id"]]
        assert len(mine) == k
        assert len({d["arm_id"] for d in mine}) == k
        assert all(d["meta"]["causation_id"] == problem["meta"]["event_id"] for d in mine)
        assert all(d["meta"]["correlation_id"] == problem["meta"]["correlation_id"] for d in mine)
        answer = problem["choices"][problem["answer_index"]]
        assert all(answer in d["answer_reveal"] for d in mine)

    failed = (await serde.decode(letter.value, expected="StepFailed")).record
    assert failed["original_value"] == b"\x00\x00\x00\x00\x07garbage-bytes"
    assert failed["original_topic"] == topic
    assert failed["fatal"] is True
    assert failed["attempts"] == 1
    assert failed["error_class"] in ("UnknownSchemaError", "SerializationError")
    assert "7" in failed["error_message"]


async def test_retry_tier_is_held_until_due_then_processed(
    factory: tuple[Settings, AvroSerde, KafkaEventProducer],
) -> None:
    settings, serde, producer = factory
    event_topic = settings.topic("problems.submitted")
    problem = problem_event(3)
    value = await serde.encode_async(subject_for(event_topic), "ProblemSubmitted", problem)
    due_ms = int(time.time() * 1000) + 1500
    headers = [
        ("x-munjero-attempt", b"1"),
        ("x-munjero-not-before", str(due_ms).encode()),
        ("x-munjero-origin", f"{event_topic}/0/5".encode()),
        ("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
    ]
    await producer.publish(settings.topic("problems.submitted.retry.1"), b"k", value, headers)

    consumer = await committed_consumer(settings, "scripts.drafted")
    try:
        scripts = await consume_until(
            consumer, lambda rs: len(rs) >= settings.draft_variants_per_problem, timeout=60
        )
    finally:
        await consumer.stop()
    # Nothing was drafted before the backoff had passed (record timestamps are broker-set).
    assert min(r.timestamp for r in scripts) >= due_ms
    # The trace continues: same trace id, each draft's parent is its own publish span.
    parents = [dict(r.headers)["traceparent"].decode().split("-") for r in scripts]
    assert {trace for _, trace, _, _ in parents} == {"0af7651916cd43dd8448eb211c80319c"}
    assert len({span for _, _, span, _ in parents}) == len(scripts)
    assert "b7ad6b7169203331" not in {span for _, _, span, _ in parents}


async def test_dlq_replay_republishes_original_bytes_once(
    factory: tuple[Settings, AvroSerde, KafkaEventProducer],
) -> None:
    settings, serde, producer = factory
    topic = settings.topic("problems.submitted")
    poison = b"\x00\x00\x00\x00\x09still-garbage"
    await producer.publish(topic, b"p-key", poison, [("traceparent", b"00-aa-bb-01")])
    dlq_consumer = await committed_consumer(settings, "problems.submitted.dlq")
    try:
        letters = await consume_until(dlq_consumer, lambda rs: len(rs) >= 1, timeout=30)
        assert await replay(settings, "problems.submitted", serde) == 1
        # The replayed copy fails again (it is still garbage) and is dead-lettered a 2nd time.
        letters += await consume_until(dlq_consumer, lambda rs: len(rs) >= 1, timeout=30)
    finally:
        await dlq_consumer.stop()
    # The replay group remembers its progress: only the new dead letter is pending.
    pending_consumer, pending = await read_dead_letters(
        settings, "problems.submitted", serde, group="dlq-replay"
    )
    await pending_consumer.stop()
    assert [p.offset for p in pending] == [letters[1].offset]

    source = await committed_consumer(settings, "problems.submitted")
    try:
        records = await consume_until(source, lambda rs: len(rs) >= 2, timeout=10)
    finally:
        await source.stop()
    assert [r.value for r in records] == [poison, poison]
    assert records[1].key == b"p-key"
    assert list(records[1].headers) == [("traceparent", b"00-aa-bb-01")]
    second = (await serde.decode(letters[1].value, expected="StepFailed")).record
    assert second["original_offset"] == records[1].offset


async def test_arm_weights_from_experiments_updated_steer_drafting(
    settings: Settings, registry_url: str, tmp_path: Path
) -> None:
    """The update is on the topic before the worker starts: the worker must load it before
    drafting anything (no race with the problems that are already waiting)."""
    from agents.drafting.arms import ARMS, EXPERIMENT_ID
    from streams import events

    settings = settings.model_copy(update={"schema_registry_url": registry_url})
    assert settings.kafka_bootstrap_servers
    await ensure_topics(
        KafkaClientConfig(settings.kafka_bootstrap_servers), namespace=settings.topic_namespace
    )
    serde = AvroSerde(HttpSchemaRegistry(registry_url))
    producer = KafkaEventProducer(KafkaClientConfig(settings.kafka_bootstrap_servers))
    await producer.start()
    favoured = [arm.arm_id for arm in ARMS[:3]]
    update = {
        "meta": events.meta(correlation_id=events.new_id()),
        "experiment_id": EXPERIMENT_ID,
        "metric": "impressions_ctr",
        "arms": [
            {
                "arm_id": arm.arm_id,
                "weight": 1.0 if arm.arm_id in favoured else 0.0,
                "shorts": 10,
                "successes": 1.0,
                "trials": 10.0,
                "chance_to_win": None,
            }
            for arm in ARMS
        ],
        "decision": None,
        "reason": "test",
    }
    exp_topic = settings.topic("experiments.updated")
    source = settings.topic("problems.submitted")
    await producer.publish(
        exp_topic,
        EXPERIMENT_ID.encode(),
        await serde.encode_async(subject_for(exp_topic), "ExperimentUpdated", update),
    )
    problems = [problem_event(i) for i in range(10, 30)]
    await producer.publish_many(
        [
            (
                source,
                p["problem_id"].encode(),
                await serde.encode_async(subject_for(source), "ProblemSubmitted", p),
                (),
            )
            for p in problems
        ]
    )
    await producer.stop()
    worker = start_worker(settings, "content", tmp_path / "weights-worker.log")
    consumer = await committed_consumer(settings, "scripts.drafted")
    try:
        k = settings.draft_variants_per_problem
        records = await consume_until(consumer, lambda rs: len(rs) >= k * 20, timeout=60)
    finally:
        await consumer.stop()
        stop_worker(worker)
    arms = [(await serde.decode(r.value)).record["arm_id"] for r in records]
    assert set(arms) == set(favoured)  # zero-weight arms never drafted
