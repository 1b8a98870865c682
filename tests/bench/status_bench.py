"""One ``GET /v1/problems/{id}`` read from chdb: the warehouse status reader (every variant with
its render, publication, metrics and dead letters) against the ``pipeline_status`` view alone
(what the status read was before it listed variants), interleaved so both see the same load; and
the status cache in front of the reader answering a poll between two landings.

``python -m tests.bench.status_bench [N]`` (N reads of each, default 200). Prints wall time
percentiles and CPU time per read (the process's, chdb's threads included: steadier than wall
time on a shared machine).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from connectors.warehouse.chdb_adapter import ChdbWarehouse
from connectors.warehouse.schema import ensure_schema
from connectors.warehouse.status import WarehouseStatusReader
from services.api.status_cache import CachedStatusReader
from tests import sample_events as samples
from tests.warehouse_loader import Event, load_events

DB = "munjero"


def _events() -> tuple[list[Event], list[str]]:
    """Every sample problem with three variants, each rendered, published and measured."""
    loaded: list[Event] = []
    ids = []
    for n, problem in enumerate(samples.PROBLEMS):
        submitted = samples.problem_submitted(problem, n)
        loaded.append(submitted)
        for arm in samples.ARMS:
            drafted = samples.script_drafted(submitted[2], arm)
            render = samples.render_completed(drafted[2])
            short = samples.short_published(render[2])
            loaded += [drafted, render, short, samples.metrics_observed(short[2], "1h", 0)]
        ids.append(submitted[2]["problem_id"])
    return loaded, ids


async def main(n: int) -> None:
    loaded, ids = _events()
    with tempfile.TemporaryDirectory() as root:
        warehouse = ChdbWarehouse(Path(root) / "chdb")
        await ensure_schema(warehouse, DB)
        await load_events(warehouse, loaded, DB)
        reader = WarehouseStatusReader(warehouse, DB)

        async def view_only(problem_id: str) -> Any:
            return await warehouse.query(
                f"SELECT * FROM `{DB}`.pipeline_status WHERE problem_id = {{pid:String}}",
                {"pid": problem_id},
            )

        cache = CachedStatusReader(reader, ttl_s=None)  # as munjero up serves it between landings
        reads: dict[str, Callable[[str], Awaitable[Any]]] = {
            "pipeline_status view alone (before)": view_only,
            "status reader, all variants (now)": reader.problem_status,
            "status cache, a poll between landings (issue 18)": cache.problem_status,
        }
        wall: dict[str, list[float]] = {name: [] for name in reads}
        cpu = dict.fromkeys(reads, 0.0)
        for read in reads.values():  # warm up
            await read(ids[0])
        for problem_id in ids:  # the cache holds every problem, as after a first poll
            await cache.problem_status(problem_id)
        for i in range(n):
            for name, read in reads.items():
                started, cpu_started = time.perf_counter(), time.process_time()
                await read(ids[i % len(ids)])
                wall[name].append((time.perf_counter() - started) * 1000)
                cpu[name] += time.process_time() - cpu_started
        for name, times in wall.items():
            times.sort()
            print(
                f"{name}: p50 {statistics.median(times):.2f} ms, p90 {times[int(n * 0.9) - 1]:.2f}"
                f" ms, p99 {times[int(n * 0.99) - 1]:.2f} ms, CPU {cpu[name] / n * 1000:.2f} ms"
                f" per read ({n} reads over {len(ids)} problems of 3 published variants)"
            )
        await warehouse.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200))
