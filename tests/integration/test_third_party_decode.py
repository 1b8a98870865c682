"""Third parties read our bytes and we read theirs: Confluent's Python serdes through our
registry, and the Apache Avro reference library on the body after the 5-byte header."""

# Fixtures imported from registry_fixtures are redefined as parameters: that is how pytest
# injects them.
# ruff: noqa: F811
from __future__ import annotations

import io
import json
import struct
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import avro.io
import avro.schema
import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from connectors.registry_client import HttpSchemaRegistry
from schemas.contracts import EVENT_TYPES, schema_text
from schemas.serializer import AvroSerde, subject_for
from tests.integration.registry_fixtures import registry_url  # noqa: F401  (fixture)

pytestmark = pytest.mark.integration

T0 = datetime(2025, 3, 14, 9, 26, 53, 589_000, tzinfo=UTC)


def problem() -> dict[str, Any]:
    return {
        "meta": {
            "event_id": str(uuid.uuid4()),
            "occurred_at": T0,
            "correlation_id": str(uuid.uuid4()),
            "causation_id": None,
            "producer": "munjero-api@0.1.0",
        },
        "problem_id": "prob-kor-0042",
        "language": "ko",
        "subject": "과학",
        "question": "물의 화학식은?",
        "choices": ["H2O", "CO2", "NaCl", "O2"],
        "answer_index": 0,
        "explanation": "수소 원자 둘과 산소 원자 하나.",
        "difficulty": None,
        "tags": ["화학"],
        "submitted_by": "producer:quiz-bank",
    }


def failure() -> dict[str, Any]:
    return {
        "meta": {
            "event_id": str(uuid.uuid4()),
            "occurred_at": T0,
            "correlation_id": str(uuid.uuid4()),
            "causation_id": str(uuid.uuid4()),
            "producer": "munjero-worker@0.1.0",
        },
        "agent": "render",
        "original_topic": "scripts.drafted",
        "source_topic": "scripts.drafted.retry.1",
        "original_partition": 0,
        "original_offset": 42,
        "original_key": b"script-1",
        "original_value": b"\x00\x00\x00\x00\x07body",
        "original_headers": [{"key": "traceparent", "value": b"00-abc-def-01"}],
        "error_class": "streams.errors.BrokerUnavailableError",
        "error_message": "timed out",
        "attempts": 2,
        "fatal": False,
    }


@pytest.fixture
def topic() -> str:
    return f"t{uuid.uuid4().hex[:10]}.problems.submitted"


@pytest.fixture
async def serde(registry_url: str) -> AsyncIterator[AvroSerde]:
    registry = HttpSchemaRegistry(registry_url)
    yield AvroSerde(registry)
    await registry.close()


@pytest.fixture
def confluent(registry_url: str) -> Iterator[SchemaRegistryClient]:
    client = SchemaRegistryClient({"url": registry_url})
    yield client
    client.close()


async def test_confluent_deserializer_reads_our_bytes(
    serde: AvroSerde, confluent: SchemaRegistryClient, topic: str
) -> None:
    record = problem()
    data = await serde.encode_async(subject_for(topic), "ProblemSubmitted", record)

    decoded = AvroDeserializer(confluent)(data, SerializationContext(topic, MessageField.VALUE))

    assert decoded == record


async def test_we_read_confluent_serializer_bytes(
    serde: AvroSerde, confluent: SchemaRegistryClient, topic: str
) -> None:
    record = problem()
    serializer = AvroSerializer(confluent, schema_text("ProblemSubmitted"))
    data = serializer(record, SerializationContext(topic, MessageField.VALUE))

    decoded = await serde.decode(data, expected="ProblemSubmitted")

    assert decoded.record == record
    # Confluent registered the very same text: one global id for both producers.
    await serde.prepare([(subject_for(topic), "ProblemSubmitted")])
    assert decoded.schema_id == serde.schema_id(subject_for(topic), "ProblemSubmitted")


@pytest.mark.parametrize(
    ("event_type", "make"), [("ProblemSubmitted", problem), ("StepFailed", failure)]
)
async def test_apache_avro_reads_the_body_after_the_header(
    serde: AvroSerde, confluent: SchemaRegistryClient, topic: str, event_type: str, make: Any
) -> None:
    record = make()
    data = await serde.encode_async(subject_for(topic), event_type, record)
    magic, schema_id = struct.unpack(">bI", data[:5])
    assert magic == 0
    # The writer schema comes from the registry by id, as any third party would get it.
    writer_text = confluent.get_schema(schema_id).schema_str
    assert writer_text is not None
    writer = avro.schema.parse(writer_text)

    decoded = avro.io.DatumReader(writer).read(avro.io.BinaryDecoder(io.BytesIO(data[5:])))

    assert decoded == record


def test_every_event_schema_parses_in_apache_avro() -> None:
    for event_type in EVENT_TYPES:
        parsed = avro.schema.parse(schema_text(event_type))
        assert json.loads(str(parsed))["name"] == event_type
