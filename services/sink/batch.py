"""The sink's batching logic (pure: no Kafka, no ClickHouse, no clock of its own).

A batch gathers rows per ``(topic, partition)`` slice. Flushing it means one insert per table,
carrying the rows of every slice of that table and a dedup token naming those slices
(``topic:partition:first-last``, joined with ``+``), then one commit of the next offset of every
slice. A retried insert carries the same token, so one whose first attempt did land is
dropped by ClickHouse.

One insert per table and not one per slice: chdb spends ~10 ms creating a part per insert on
this machine, whatever its size; with ~35 ingested partitions, per-slice inserts cost ~0.35 s
per flush of 5,000 records (~70 us per event, more than decoding it). Per table it is ~8.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

Row = tuple[Any, ...]
TP = tuple[str, int]  # (physical topic, partition)
MAX_READABLE_TOKEN = 480  # the warehouse port accepts tokens up to 512 characters


@dataclass(frozen=True)
class Insert:
    """One insert of a flush."""

    table: str
    columns: Sequence[str]
    rows: list[Row]
    dedup_token: str


@dataclass(frozen=True)
class EncodedInsert:
    """One insert of a flush whose records the warehouse decodes: the consumed records
    themselves (their payloads, and their coordinates for the rows)."""

    table: str
    topic_name: str  # the catalogue topic: which input structure and projection apply
    columns: Sequence[str]
    records: list[Any]
    dedup_token: str


@dataclass
class _Slice:
    first: int
    last: int
    rows: dict[str, list[Row]] = field(default_factory=dict)  # table -> rows
    encoded: dict[str, list[Any]] = field(default_factory=dict)  # table -> records


class Batch:
    """Records taken from Kafka since the last successful flush."""

    def __init__(self) -> None:
        self._slices: dict[TP, _Slice] = {}
        self._columns: dict[str, Sequence[str]] = {}
        self._topic_names: dict[str, str] = {}  # table -> catalogue topic of its encoded records
        self.records = 0  # every consumed record, rows or not (tombstones, errors)
        self.opened_at: float | None = None  # clock value of the first record

    def __len__(self) -> int:
        return self.records

    def add(
        self,
        topic: str,
        partition: int,
        offset: int,
        now: float,
        table: str | None = None,
        columns: Sequence[str] = (),
        row: Row | None = None,
    ) -> None:
        """Account for one consumed record; ``row`` (for ``table``) when it yields one."""
        self.add_offsets(topic, partition, offset, offset, 1, now)
        if table is not None and row is not None:
            self.add_rows(topic, partition, table, columns, [row])

    def add_offsets(
        self, topic: str, partition: int, first: int, last: int, count: int, now: float
    ) -> None:
        """Account for ``count`` consumed records of a partition, offsets ``first``..``last``."""
        if self.opened_at is None:
            self.opened_at = now
        self.records += count
        slice_ = self._slices.get((topic, partition))
        if slice_ is None:
            self._slices[(topic, partition)] = _Slice(first, last)
        else:
            # Kafka hands out a partition's records in offset order; min/max keeps the token
            # right even if a caller ever interleaves two fetches of one partition.
            slice_.first = min(slice_.first, first)
            slice_.last = max(slice_.last, last)

    def add_rows(
        self, topic: str, partition: int, table: str, columns: Sequence[str], rows: list[Row]
    ) -> None:
        """Rows for ``table`` from records already counted by ``add_offsets``."""
        if not rows:
            return
        slice_ = self._slices[(topic, partition)]
        slice_.rows.setdefault(table, []).extend(rows)
        self._columns.setdefault(table, columns)

    def add_encoded(
        self,
        topic: str,
        partition: int,
        table: str,
        topic_name: str,
        columns: Sequence[str],
        records: list[Any],
    ) -> None:
        """Records for ``table`` that the warehouse will decode, already counted by
        ``add_offsets``. Every topic feeding one table carries one event type (all dead-letter
        topics carry DeadLetter), so any of them names the table's input structure."""
        if not records:
            return
        slice_ = self._slices[(topic, partition)]
        slice_.encoded.setdefault(table, []).extend(records)
        self._columns.setdefault(table, columns)
        self._topic_names[table] = topic_name

    def encoded_inserts(self) -> list[EncodedInsert]:
        """The inserts of the records the warehouse decodes. Their tokens differ from the row
        inserts' (``avro:`` prefix): a table may get both kinds from one batch."""
        return [
            EncodedInsert(
                table,
                self._topic_names[table],
                self._columns[table],
                records,
                "avro:" + dedup_token(slices),
            )
            for table, (records, slices) in self._by_table(lambda s: s.encoded).items()
        ]

    def inserts(self) -> list[Insert]:
        """The inserts that land this batch (the commit waits for all of them)."""
        return [
            Insert(table, self._columns[table], rows, dedup_token(slices))
            for table, (rows, slices) in self._by_table(lambda s: s.rows).items()
        ]

    def _by_table(
        self, part: Callable[[_Slice], dict[str, list[Any]]]
    ) -> dict[str, tuple[list[Any], list[str]]]:
        """Per table, the items ``part`` holds in every slice, and the names of those slices
        (``topic:partition:first-last``, what a dedup token is made of)."""
        out: dict[str, tuple[list[Any], list[str]]] = {}
        for (topic, partition), slice_ in self._slices.items():
            name = f"{topic}:{partition}:{slice_.first}-{slice_.last}"
            for table, items in part(slice_).items():
                items_of, slices_of = out.setdefault(table, ([], []))
                items_of.extend(items)
                slices_of.append(name)
        return out

    def commit_offsets(self) -> dict[TP, int]:
        """Offsets to commit once every insert succeeded: the next offset of each slice."""
        return {tp: s.last + 1 for tp, s in self._slices.items()}


def dedup_token(slices: list[str]) -> str:
    """The token of an insert made of ``slices``: readable when short, a digest when long (many
    partitions of long namespaced topics); equal for equal slice sets either way."""
    token = "+".join(sorted(slices))
    if len(token) <= MAX_READABLE_TOKEN:
        return token
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class FlushPolicy:
    """Flush when the batch is full or its oldest record has waited long enough."""

    max_records: int
    max_wait_s: float

    def due(self, batch: Batch, now: float) -> bool:
        if not batch.records:
            return False
        if batch.records >= self.max_records:
            return True
        return batch.opened_at is not None and now - batch.opened_at >= self.max_wait_s

    def fetch_timeout_s(self, batch: Batch, now: float) -> float:
        """How long the next fetch may wait without delaying a due flush."""
        if batch.opened_at is None:
            return self.max_wait_s
        return max(0.0, self.max_wait_s - (now - batch.opened_at))

    def room(self, batch: Batch) -> int:
        return max(1, self.max_records - batch.records)


@dataclass
class Backoff:
    """Exponential retry delays: ``initial_s`` doubling up to ``max_s``."""

    initial_s: float = 0.2
    max_s: float = 10.0
    attempt: int = 0

    def next_delay(self) -> float:
        delay = min(self.max_s, self.initial_s * 2.0**self.attempt)
        self.attempt += 1
        return delay

    def reset(self) -> None:
        self.attempt = 0
