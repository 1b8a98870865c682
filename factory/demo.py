"""``munjero demo``: the sample bank through the real API, progress and a ClickHouse summary."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from connectors.broker import free_port
from factory.samples import load_sample_problems
from factory.serving import SignalWatch
from factory.supervisor import RunningFactory, running_factory
from streams.settings import Settings

BATCH = 25


async def submit(client: httpx.AsyncClient, problems: list[dict[str, Any]], run: str) -> list[str]:
    """POST the problems in batches; returns their problem ids. Idempotency keys make a
    retried batch harmless."""
    ids: list[str] = []
    for start in range(0, len(problems), BATCH):
        chunk = problems[start : start + BATCH]
        for attempt in range(5):
            response = await client.post(
                "/v1/problems:batch",
                json={"problems": chunk},
                headers={"Idempotency-Key": f"demo-{run}-{start}"},
            )
            if response.status_code != 503:
                break
            await asyncio.sleep(float(response.headers.get("Retry-After", "1")) * (attempt + 1))
        response.raise_for_status()
        ids.extend(item["problem_id"] for item in response.json()["problems"])
    return ids


async def demo(factory: RunningFactory, *, limit: int, timeout: float, renders: int = 2) -> int:
    console = Console()
    settings = factory.settings
    db = settings.clickhouse_database
    warehouse = factory.warehouse
    run = uuid.uuid4().hex[:8]
    prefix = f"demo-{run}-"
    bank = load_sample_problems()
    problems = [{**p, "problem_id": prefix + p["problem_id"]} for p in bank[: limit or None]]
    k = settings.draft_variants_per_problem
    console.print(
        f"[bold]munjero demo[/] run {run}: {len(problems)} problems "
        f"({sum(p['language'] == 'ko' for p in problems)} Korean), {k} variants each"
    )
    console.print(f"  API {factory.api_url}   Kafka {settings.kafka_bootstrap_servers}")

    headers = {"Authorization": f"Bearer {factory.dev_key}"}
    async with httpx.AsyncClient(base_url=factory.api_url, headers=headers, timeout=30) as client:
        started = time.monotonic()
        ids = await submit(client, problems, run)
        console.print(f"  submitted {len(ids)} problems in {time.monotonic() - started:.2f}s")

        like = {"prefix": prefix + "%"}
        done = 0
        with Progress(
            TextColumn("  drafting"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as progress:
            task = progress.add_task("drafted", total=len(ids))
            deadline = time.monotonic() + timeout
            while done < len(ids) and time.monotonic() < deadline:
                rows = await warehouse.query(
                    f"SELECT uniqExact(problem_id) AS n FROM (SELECT problem_id FROM "  # noqa: S608
                    f"`{db}`.scripts_drafted WHERE problem_id LIKE {{prefix:String}} "
                    f"GROUP BY problem_id HAVING uniqExact(script_id) >= {k:d})",
                    like,
                )
                done = int(rows[0]["n"])
                progress.update(task, completed=done)
                if done < len(ids):
                    await asyncio.sleep(0.25)  # polling a SQL count; nothing to await instead

        rendered = await wait_for_renders(console, factory, like, renders, timeout)
        status = (await client.get(f"/v1/problems/{ids[0]}")).json()
    await print_summary(console, factory, like)
    steps = ", ".join(f"{s['step']}={s['status']}" for s in status.get("steps", []))
    console.print(f"  GET /v1/problems/{ids[0]} -> {steps}")
    if done < len(ids):
        console.print(f"[red]only {done}/{len(ids)} problems drafted within {timeout:.0f}s[/]")
        return 1
    console.print(f"[green]all {done} problems drafted[/]")
    if rendered < renders:
        console.print(f"[red]only {rendered}/{renders} shorts rendered within {timeout:.0f}s[/]")
        return 1
    return 0


async def wait_for_renders(
    console: Console, factory: RunningFactory, like: dict[str, str], want: int, timeout: float
) -> int:
    """Wait until ``want`` shorts are rendered during this run; print where they are.

    Not only this run's problems: the render worker works through ``scripts.drafted`` in
    order, so a backlog left by an earlier run (or ``munjero up``) renders first. It keeps
    going through the rest after the demo stops and resumes it on the next start.
    """
    if want <= 0:
        return 0
    db = factory.settings.clickhouse_database
    deadline = time.monotonic() + timeout
    # Only identifiers come from settings; every value is a query parameter.
    sql = (
        "SELECT r.script_id AS script_id, any(r.uri) AS uri, any(r.duration_seconds) AS seconds, "  # noqa: S608
        "any(r.render_ms) AS ms, any(r.cache_hit) AS cached, any(s.uri) AS board "
        f"FROM `{db}`.renders_completed AS r LEFT JOIN `{db}`.renders_storyboarded AS s "
        "ON s.script_id = r.script_id WHERE toUnixTimestamp64Milli(r.occurred_at) >= {since:Int64} "
        "GROUP BY r.script_id ORDER BY max(r.problem_id LIKE {prefix:String}) DESC, "
        f"min(r.occurred_at) LIMIT {want:d}"
    )
    since = {"since": int(time.time() * 1000), **like}
    rows: list[dict[str, Any]] = []
    with Progress(
        TextColumn("  rendering"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console,
    ) as progress:  # fmt: skip
        task = progress.add_task("rendered", total=want)
        while time.monotonic() < deadline:
            rows = await factory.warehouse.query(sql, since)
            progress.update(task, completed=len(rows))
            if len(rows) >= want:
                break
            await asyncio.sleep(0.5)  # polling a SQL count; nothing to await instead
    for row in rows:
        how = "cache hit" if row["cached"] else f"rendered in {int(row['ms']) / 1000:.1f}s"
        console.print(f"  short {float(row['seconds']):.1f}s ({how}): {row['uri']}", soft_wrap=True)
        if row["board"]:
            console.print(f"    storyboard: {row['board']}", soft_wrap=True)
    return len(rows)


# SQL below formats only the database identifier (from settings); every value is a parameter.
async def print_summary(console: Console, factory: RunningFactory, like: dict[str, str]) -> None:
    db = factory.settings.clickhouse_database
    query = factory.warehouse.query
    problems_in = (
        await query(
            f"SELECT uniqExact(problem_id) AS n FROM `{db}`.problems_submitted "  # noqa: S608
            "WHERE problem_id LIKE {prefix:String}",
            like,
        )
    )[0]["n"]
    arms = await query(
        f"SELECT arm_id, language, uniqExact(script_id) AS scripts FROM `{db}`.scripts_drafted "  # noqa: S608
        "WHERE problem_id LIKE {prefix:String} GROUP BY arm_id, language ORDER BY arm_id, language",
        like,
    )
    dead = await query(
        f"SELECT original_topic, error_class, uniqExact(event_id) AS n FROM `{db}`.dead_letters "  # noqa: S608
        "GROUP BY original_topic, error_class ORDER BY n DESC"
    )
    failed = sum(int(r["n"]) for r in dead)

    console.print(f"\n[bold]Summary from ClickHouse[/] (database `{db}`)")
    console.print(f"  problems in: {problems_in}    dead letters (all runs): {failed}")
    table = Table("arm", "language", "scripts", title="scripts per arm (this run)")
    for row in arms:
        table.add_row(row["arm_id"], row["language"], str(row["scripts"]))
    console.print(table)
    if dead:
        dl = Table("original topic", "error", "count", title="dead letters")
        for row in dead:
            dl.add_row(row["original_topic"], row["error_class"], str(row["n"]))
        console.print(dl)


async def run_demo(
    settings: Settings, *, limit: int = 0, timeout: float = 120.0, renders: int = 2
) -> int:
    """Start the factory, run the demo against it, stop it; the demo's exit code.

    Ctrl-C (or SIGTERM) at any moment, start-up included, is the same ordered stop as in
    ``munjero up`` and exits 0: the submitted problems are in Kafka and go on at the next
    start. A second Ctrl-C stops at once (exit 130), losing nothing either."""
    watch = SignalWatch()
    async with running_factory(settings, port=free_port(settings.api_host)) as factory:
        watch.on_second = factory.hard_stop
        finished, code = await watch.unless_stopped(
            demo(factory, limit=limit, timeout=timeout, renders=renders)
        )
        if not finished or code is None:
            Console().print("stopping... (what was submitted goes on at the next start)")
            return 0
        return code
