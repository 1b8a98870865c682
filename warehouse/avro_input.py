"""What ClickHouse needs to decode a topic's Kafka payloads itself (pure: no I/O).

The embedded sink hands chdb the payloads of a batch as they came off Kafka, framed in the
Confluent wire format, and lets ``FORMAT AvroConfluent`` decode them (writer schemas come from
the registry; ClickHouse caches them). The projection onto the raw table is the production Kafka
engine's (``warehouse.kafka_engine``), except for the Kafka coordinates: a file has no virtual
``_topic``/``_offset`` columns, so the sink passes them as array parameters indexed by the
record's position (``_row``, 1-based).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from warehouse.kafka_engine import column_expressions, kafka_columns
from warehouse.tables import ident, table_for_topic

FORMAT = "AvroConfluent"

SINK_COORDINATES = {
    "_topic": "{topics:Array(String)}[{topic_of:Array(UInt16)}[_row]]",
    "_partition": "{partitions:Array(Int32)}[_row]",
    "_offset": "{offsets:Array(Int64)}[_row]",
    "_ingested_at": "{ingested_at:DateTime64(3, 'UTC')}",
}


@cache
def avro_input(topic_name: str) -> tuple[str, tuple[str, ...]]:
    """``(structure, expressions)`` of a catalogue topic: the input's columns as ClickHouse's Avro
    reader sees the current contract, and per raw-table column its expression over them."""
    table = table_for_topic(topic_name)
    structure = ", ".join(f"{ident(n)} {t}" for n, t in kafka_columns(table.event_type))
    return structure, tuple(column_expressions(table, SINK_COORDINATES))


def coordinates(records: Sequence[tuple[str, int, int]], ingested_at: datetime) -> dict[str, Any]:
    """The parameters ``SINK_COORDINATES`` read, for ``(topic, partition, offset)`` per record in
    the order their payloads are concatenated."""
    topics: dict[str, int] = {}
    topic_of = [topics.setdefault(t, len(topics) + 1) for t, _, _ in records]
    return {
        "topics": list(topics),
        "topic_of": topic_of,
        "partitions": [p for _, p, _ in records],
        "offsets": [o for _, _, o in records],
        "ingested_at": ingested_at,
    }
