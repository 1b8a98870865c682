"""The sink's pure batching: inserts per table, dedup tokens, commit offsets, flush policy."""

from __future__ import annotations

from services.sink.batch import Backoff, Batch, FlushPolicy, dedup_token

COLS = ("a", "b")


def test_one_insert_per_table_with_a_token_naming_its_slices() -> None:
    batch = Batch()
    for offset in (10, 11, 12):
        batch.add("t1", 0, offset, 0.0, "db.x", COLS, (offset, "r"))
    batch.add("t1", 1, 5, 0.0, "db.x", COLS, (5, "r"))
    batch.add("t1", 1, 6, 0.0, "db.ingest_errors", ("e",), ("bad",))
    batch.add("t2", 0, 0, 0.0)  # a tombstone: an offset, no row
    inserts = {i.table: i for i in batch.inserts()}
    assert set(inserts) == {"db.x", "db.ingest_errors"}
    assert inserts["db.x"].dedup_token == "t1:0:10-12+t1:1:5-6"
    assert inserts["db.x"].rows == [(10, "r"), (11, "r"), (12, "r"), (5, "r")]
    assert inserts["db.ingest_errors"].dedup_token == "t1:1:5-6"
    assert inserts["db.ingest_errors"].columns == ("e",)
    assert batch.commit_offsets() == {("t1", 0): 13, ("t1", 1): 7, ("t2", 0): 1}
    assert len(batch) == 6


def test_a_rebuilt_batch_has_the_same_tokens() -> None:
    def build(order: list[int]) -> list[str]:
        batch = Batch()
        for p in order:
            batch.add("topic", p, 100 + p, 0.0, "x", COLS, (p, p))
        return [i.dedup_token for i in batch.inserts()]

    assert build([0, 1, 2]) == build([2, 0, 1])


def test_long_tokens_become_digests_within_the_port_limit() -> None:
    slices = [f"t{'x' * 40}.topic:{p}:0-9" for p in range(30)]
    token = dedup_token(slices)
    assert token.startswith("sha256:")
    assert len(token) < 512
    assert token == dedup_token(list(reversed(slices)))
    assert dedup_token(["a:0:1-2"]) == "a:0:1-2"


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


def test_encoded_records_make_their_own_insert_per_table_beside_the_rows() -> None:
    """A table can get payloads for ClickHouse to decode and rows Python decoded in one batch:
    two inserts with different tokens (``avro:`` prefix), one commit covering both."""
    batch = Batch()
    batch.add_offsets("t1", 0, 10, 12, 3, 0.0)
    batch.add_encoded("t1", 0, "db.x", "topic.one", COLS, ["m10", "m12"])
    batch.add_rows("t1", 0, "db.x", COLS, [(11, "old schema")])
    batch.add_offsets("t1", 1, 5, 5, 1, 0.0)
    batch.add_encoded("t1", 1, "db.x", "topic.one", COLS, ["m5"])
    batch.add_encoded("t1", 1, "db.y", "topic.two", COLS, [])  # nothing: no insert
    (rows,) = batch.inserts()
    (encoded,) = batch.encoded_inserts()
    assert (rows.table, rows.rows, rows.dedup_token) == ("db.x", [(11, "old schema")], "t1:0:10-12")
    assert encoded.table == "db.x"
    assert encoded.topic_name == "topic.one"
    assert encoded.records == ["m10", "m12", "m5"]
    assert encoded.dedup_token == "avro:t1:0:10-12+t1:1:5-5"
    assert encoded.dedup_token != rows.dedup_token
    assert batch.commit_offsets() == {("t1", 0): 13, ("t1", 1): 6}
