"""The sink's pure batching: slices, dedup tokens, commit offsets, flush policy, backoff."""

from __future__ import annotations

from agents.sink_batch import Backoff, Batch, FlushPolicy

COLS = ("a", "b")


def test_one_insert_per_slice_and_table_with_a_coordinate_token() -> None:
    batch = Batch()
    for offset in (10, 11, 12):
        batch.add("t1", 0, offset, 0.0, "db.x", COLS, (offset, "r"))
    batch.add("t1", 1, 5, 0.0, "db.x", COLS, (5, "r"))
    batch.add("t1", 1, 6, 0.0, "db.ingest_errors", ("e",), ("bad",))
    batch.add("t2", 0, 0, 0.0)  # a tombstone: an offset, no row
    inserts = {(i.table, i.dedup_token): i for i in batch.inserts()}
    assert set(inserts) == {
        ("db.x", "t1:0:10-12"),
        ("db.x", "t1:1:5-6"),
        ("db.ingest_errors", "t1:1:5-6"),
    }
    assert inserts[("db.x", "t1:0:10-12")].rows == [(10, "r"), (11, "r"), (12, "r")]
    assert inserts[("db.ingest_errors", "t1:1:5-6")].columns == ("e",)
    assert batch.commit_offsets() == {("t1", 0): 13, ("t1", 1): 7, ("t2", 0): 1}
    assert len(batch) == 6


def test_dropping_lost_partitions_forgets_only_their_records() -> None:
    batch = Batch()
    batch.add("t", 0, 3, 1.0, "x", COLS, (1, 2))
    batch.add("t", 0, 9, 1.0, "x", COLS, (1, 2))  # a compaction gap in between
    batch.add("t", 1, 0, 1.0, "x", COLS, (1, 2))
    batch.drop_partitions({("t", 0)})
    assert len(batch) == 1
    assert batch.commit_offsets() == {("t", 1): 1}
    batch.drop_partitions({("t", 1)})
    assert len(batch) == 0
    assert batch.opened_at is None


def test_flush_is_due_when_full_or_old_enough() -> None:
    policy = FlushPolicy(max_records=3, max_wait_s=0.25)
    batch = Batch()
    assert not policy.due(batch, 100.0)
    assert policy.fetch_timeout_s(batch, 100.0) == 0.25
    batch.add("t", 0, 0, 100.0, "x", COLS, (1, 2))
    assert not policy.due(batch, 100.1)
    assert abs(policy.fetch_timeout_s(batch, 100.1) - 0.15) < 1e-9
    assert policy.room(batch) == 2
    assert policy.due(batch, 100.25)
    batch.add("t", 0, 1, 100.0, "x", COLS, (1, 2))
    batch.add("t", 0, 2, 100.0, "x", COLS, (1, 2))
    assert policy.due(batch, 100.0)
    assert policy.room(batch) == 1  # never ask Kafka for zero records


def test_backoff_doubles_up_to_a_cap_and_resets() -> None:
    backoff = Backoff(initial_s=0.5, max_s=3.0)
    assert [backoff.next_delay() for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    backoff.reset()
    assert backoff.next_delay() == 0.5
