"""A dead-lettered poison record, read by a generic tool: Debian's ``kcat``, run with the
command docs/runbook.md gives operators, prints Kafka Connect's ``__connect.errors.*`` headers of
the record the processor wrote to the embedded broker, with no schema registry and no code of
ours involved in reading it."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from connectors.kafka import KafkaEventProducer, ensure_topics
from factory.config import processor_config
from schemas.registry import InMemorySchemaRegistry
from schemas.serializer import AvroSerde
from streams.catalogue import topic
from streams.kafka_auth import KafkaClientConfig
from streams.processor import StepProcessor
from streams.routing import H_ATTEMPT, MAX_STACKTRACE_BYTES, Message
from streams.settings import Settings
from streams.step import Emit
from tests.integration.kafka_helpers import committed_consumer, consume_until

pytestmark = pytest.mark.integration

SPEC = topic("problems.submitted")
KNOWN = (
    "__connect.errors.topic", "__connect.errors.partition", "__connect.errors.offset",
    "__connect.errors.connector.name", "__connect.errors.exception.class.name",
    "__connect.errors.exception.message", "__connect.errors.exception.stacktrace",
    H_ATTEMPT, "traceparent", "tracestate",
)  # fmt: skip


RUNBOOK = Path(__file__).resolve().parents[2] / "docs" / "runbook.md"


def runbook_kcat(physical_topic: str) -> str:
    """The runbook's kcat line, as written but for the topic: this test's DLQ topic carries the
    test's namespace prefix. The broker comes from ``$MUNJERO_KAFKA_BOOTSTRAP_SERVERS``."""
    (line,) = [x for x in RUNBOOK.read_text().splitlines() if x.startswith("kcat -C ")]
    assert '-b "$MUNJERO_KAFKA_BOOTSTRAP_SERVERS"' in line
    assert f" -t {SPEC.dlq_topic} " in line
    return line.replace(f" -t {SPEC.dlq_topic} ", f" -t {shlex.quote(physical_topic)} ")


def kcat_headers(line: str, bootstrap: str) -> dict[str, str]:
    """kcat's ``%h`` output of the topic's one record, parsed. kcat prints ``k=v`` pairs joined
    by commas; a stack trace holds commas too, so pairs are split before known keys."""
    if shutil.which("kcat") is None:
        pytest.fail("kcat is missing: `make setup` installs it (Debian package kcat)")
    env = {**os.environ, "MUNJERO_KAFKA_BOOTSTRAP_SERVERS": bootstrap}
    # The runbook's command, run by bash as an operator would.
    done = subprocess.run(
        ["bash", "-c", line], capture_output=True, text=True, timeout=60, check=False, env=env
    )
    assert done.returncode == 0, done.stderr
    keys = "|".join(re.escape(k) for k in KNOWN)
    pairs = re.split(rf",(?=(?:{keys})=)", done.stdout.removesuffix("\n"))
    return dict(pair.split("=", 1) for pair in pairs)


async def never_called(record: dict[str, object]) -> list[Emit]:
    raise AssertionError("a poison record never reaches the step")


async def test_kcat_prints_the_error_headers_of_a_dead_lettered_poison_record(
    settings: Settings,
) -> None:
    bootstrap = settings.kafka_bootstrap_servers or ""
    await ensure_topics(
        KafkaClientConfig(bootstrap),
        [SPEC, topic(SPEC.dlq_topic)],
        namespace=settings.topic_namespace,
    )
    physical = settings.topic(SPEC.name)
    # The poison: bytes that are not Confluent wire format at all.
    raw = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await raw.start()
    try:
        await raw.send_and_wait(physical, b"\x07not avro", key=b"p-1")
    finally:
        await raw.stop()
    consumer = await committed_consumer(settings, SPEC.name)
    try:
        (record,) = await consume_until(consumer, lambda rs: len(rs) >= 1)
    finally:
        await consumer.stop()

    publisher = KafkaEventProducer(KafkaClientConfig(bootstrap))
    await publisher.start()
    try:
        processor = StepProcessor(
            agent="draft",
            spec=SPEC,
            step=never_called,
            serde=AvroSerde(InMemorySchemaRegistry()),
            publisher=publisher,
            config=processor_config(settings),
        )
        outcome = await processor.process(
            Message(
                record.topic, record.partition, record.offset, record.key, record.value,
                tuple(record.headers),
            )
        )  # fmt: skip
    finally:
        await publisher.stop()
    assert outcome.kind == "dlq"

    headers = kcat_headers(runbook_kcat(settings.topic(SPEC.dlq_topic)), bootstrap)
    assert headers["__connect.errors.topic"] == physical
    assert headers["__connect.errors.partition"] == str(record.partition)
    assert headers["__connect.errors.offset"] == str(record.offset)
    assert headers["__connect.errors.connector.name"] == "draft"
    assert headers["__connect.errors.exception.class.name"] == "schemas.errors.SerializationError"
    assert "magic byte" in headers["__connect.errors.exception.message"]
    stack = headers["__connect.errors.exception.stacktrace"]
    assert stack.startswith("Traceback (most recent call last):")
    assert stack.rstrip().endswith(headers["__connect.errors.exception.message"])
    assert len(stack.encode()) <= MAX_STACKTRACE_BYTES
    assert headers[H_ATTEMPT] == "1"  # fatal: dead-lettered at the first attempt
