"""The status cache: kept until the rows of its problem land (or its TTL passes), never keeping
a read that raced an invalidation, bounded."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from services.api.status import StatusDict
from services.api.status_cache import CachedStatusReader
from services.sink.batch import Insert
from services.sink.sink import landed_ids


class CountingReader:
    """Documents by problem id, counting reads; ``hold`` makes reads wait for ``release``."""

    def __init__(self) -> None:
        self.docs: dict[str, StatusDict] = {}
        self.reads = 0
        self.hold = False
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def problem_status(self, problem_id: str) -> StatusDict | None:
        self.reads += 1
        doc = self.docs.get(problem_id)
        if self.hold:
            self.started.set()
            await self.release.wait()
        return doc


def _doc(problem_id: str, *variants: tuple[str, str | None], step: str = "drafted") -> StatusDict:
    return {
        "problem_id": problem_id,
        "last_step": step,
        "variants": [
            {"script_id": s, "short": None if short is None else {"short_id": short}}
            for s, short in variants
        ],
    }


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_a_document_is_read_once_until_its_problem_lands() -> None:
    reader = CountingReader()
    reader.docs["p1"] = _doc("p1", ("s1", None))
    cache = CachedStatusReader(reader, ttl_s=None)
    first = await cache.problem_status("p1")
    assert await cache.problem_status("p1") == first
    assert (reader.reads, cache.hits) == (1, 1)

    reader.docs["p1"] = _doc("p1", ("s1", None), step="rendered")
    cache.invalidate({"p2", "s9"})  # another problem's rows
    assert (await cache.problem_status("p1"))["last_step"] == "drafted"
    cache.invalidate({"p1"})
    assert (await cache.problem_status("p1"))["last_step"] == "rendered"
    assert reader.reads == 2


@pytest.mark.parametrize("landed", ["s2", "short-2"])
async def test_rows_keyed_by_a_script_or_short_drop_their_problem(landed: str) -> None:
    """Metrics are keyed by short, dead letters by the record key: no problem id in them."""
    reader = CountingReader()
    reader.docs["p1"] = _doc("p1", ("s1", None), ("s2", "short-2"))
    reader.docs["p2"] = _doc("p2", ("s3", None))
    cache = CachedStatusReader(reader, ttl_s=None)
    await cache.problem_status("p1")
    await cache.problem_status("p2")
    cache.invalidate({landed})
    assert len(cache) == 1
    await cache.problem_status("p1")
    await cache.problem_status("p2")
    assert reader.reads == 3


async def test_a_read_in_flight_while_its_rows_land_is_answered_but_not_kept() -> None:
    reader = CountingReader()
    reader.docs["p1"] = _doc("p1", ("s1", None))
    cache = CachedStatusReader(reader, ttl_s=None)
    reader.hold = True
    pending = asyncio.create_task(cache.problem_status("p1"))
    await reader.started.wait()
    # A script of p1 not in the document yet lands: it carries the problem id.
    cache.invalidate({"s-new", "p1"})
    reader.release.set()
    assert await pending == reader.docs["p1"]
    assert len(cache) == 0
    reader.hold = False
    await cache.problem_status("p1")
    assert len(cache) == 1
    await cache.problem_status("p1")
    assert reader.reads == 2


async def test_a_read_in_flight_while_other_rows_land_is_kept() -> None:
    reader = CountingReader()
    reader.docs["p1"] = _doc("p1", ("s1", "short-1"))
    cache = CachedStatusReader(reader, ttl_s=None)
    reader.hold = True
    pending = asyncio.create_task(cache.problem_status("p1"))
    await reader.started.wait()
    cache.invalidate({"p2", "s2"})
    reader.release.set()
    await pending
    assert len(cache) == 1


async def test_a_ttl_bounds_staleness_without_a_sink() -> None:
    reader = CountingReader()
    reader.docs["p1"] = _doc("p1")
    clock = Clock()
    cache = CachedStatusReader(reader, ttl_s=2.0, clock=clock)
    await cache.problem_status("p1")
    clock.now += 1.9
    await cache.problem_status("p1")
    assert reader.reads == 1
    clock.now += 0.2
    await cache.problem_status("p1")
    assert reader.reads == 2


async def test_ttl_zero_turns_the_cache_off_and_unknown_problems_are_never_kept() -> None:
    reader = CountingReader()
    reader.docs["p1"] = _doc("p1")
    off = CachedStatusReader(reader, ttl_s=0)
    await off.problem_status("p1")
    await off.problem_status("p1")
    assert (reader.reads, len(off)) == (2, 0)
    on = CachedStatusReader(reader, ttl_s=None)
    assert await on.problem_status("unknown") is None
    assert len(on) == 0


async def test_the_least_recently_read_document_goes_first() -> None:
    reader = CountingReader()
    for p in ("p1", "p2", "p3"):
        reader.docs[p] = _doc(p, (f"s-{p}", None))
    cache = CachedStatusReader(reader, ttl_s=None, max_entries=2)
    await cache.problem_status("p1")
    await cache.problem_status("p2")
    await cache.problem_status("p1")  # p2 is now the least recent
    await cache.problem_status("p3")
    assert len(cache) == 2
    reads = reader.reads
    await cache.problem_status("p1")
    assert reader.reads == reads
    await cache.problem_status("p2")
    assert reader.reads == reads + 1
    cache.invalidate({"s-p2"})  # the index follows evictions
    assert len(cache) == 1


async def test_a_failed_read_is_not_kept() -> None:
    class Failing:
        async def problem_status(self, problem_id: str) -> Any:
            raise RuntimeError("warehouse down")

    cache = CachedStatusReader(Failing(), ttl_s=None)
    with pytest.raises(RuntimeError):
        await cache.problem_status("p1")
    assert len(cache) == 0


def test_the_sink_names_problems_scripts_shorts_and_dead_letter_keys() -> None:
    inserts = [
        Insert(
            "db.scripts_drafted",
            ("event_id", "problem_id", "script_id"),
            [("e1", "p1", "s1"), ("e2", "p1", "s2")],
            "t",
        ),
        Insert("db.metrics_observed", ("event_id", "short_id", "views"), [("e3", "h1", 3)], "t"),
        Insert("db.dead_letters", ("event_id", "original_key"), [("e4", b"s3"), ("e5", None)], "t"),
        Insert("db.experiments_updated", ("event_id", "experiment_id"), [("e6", "x")], "t"),
    ]
    assert landed_ids(inserts) == {"p1", "s1", "s2", "h1", "s3"}


async def test_a_landing_rereads_a_polled_problem_once_and_its_polls_share_that_read() -> None:
    reader = CountingReader()
    reader.docs["p1"] = _doc("p1", ("s1", None))
    cache = CachedStatusReader(reader, ttl_s=None)
    await cache.problem_status("p1")
    reader.docs["p1"] = _doc("p1", ("s1", None), step="rendered")
    reader.hold = True
    cache.invalidate({"s1"})  # the render of s1 landed: p1 is read again at once
    await reader.started.wait()
    polls = [asyncio.create_task(cache.problem_status("p1")) for _ in range(3)]
    await asyncio.sleep(0)
    reader.release.set()
    assert [(await p)["last_step"] for p in polls] == ["rendered"] * 3
    assert reader.reads == 2
    reader.hold = False
    assert (await cache.problem_status("p1"))["last_step"] == "rendered"
    assert reader.reads == 2


async def test_a_shared_read_overtaken_by_a_landing_is_read_again_by_those_who_came_after() -> None:
    """p1 is not kept yet, so a landing keyed by its short cannot be traced to it at once."""
    reader = CountingReader()
    reader.docs["p1"] = _doc("p1", ("s1", "h1"))
    cache = CachedStatusReader(reader, ttl_s=None)
    reader.hold = True
    first = asyncio.create_task(cache.problem_status("p1"))
    await reader.started.wait()
    cache.invalidate({"h1"})  # metrics of h1 landed while the read ran
    second = asyncio.create_task(cache.problem_status("p1"))
    await asyncio.sleep(0)
    reader.docs["p1"] = _doc("p1", ("s1", "h1"), step="measured")
    reader.release.set()
    assert (await first)["last_step"] == "drafted"  # asked before the landing
    assert (await second)["last_step"] == "measured"
    assert reader.reads == 2
    assert len(cache) == 1
