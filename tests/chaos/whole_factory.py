"""g. The whole factory stopped by Ctrl-C, as a user stops it, and started again.

``munjero up`` runs in a session of its own, like a shell job; a "Ctrl-C" is SIGINT to that
process group (what a terminal sends). The first start is stopped while its workers are still
starting (before readiness), and started again. Problems go in through the public API with the
development key the banner prints; the factory is stopped ``stops`` times at moments drawn with
``seed`` (every other stop waits until an ffmpeg encode of this factory is running, so renders
are interrupted mid-encode; the first stop mid-stream is a double Ctrl-C, "stop at once"), and
started again on the same data directory each time. After the
last start the auditor (``tests.chaos.auditor``: its own read_committed consumer, never the
system's counters) waits until every problem has its k scripts, each script a render and each
render a published short, then the factory is stopped cleanly and its own ClickHouse is opened
to check that no row is counted twice.

Checked: 0 lost problems, scripts, renders or shorts; no (problem, arm) with two scripts; no
render published twice; no dead letter; ``count() FINAL`` == distinct event ids on every table;
every stop exits 0 within ``max_stop_s`` with no ERROR line or traceback in the factory's output
or its workers' logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from connectors.registry_client import HttpSchemaRegistry
from factory.discovery import read_endpoints
from schemas.serializer import AvroSerde
from streams.settings import Settings
from tests.chaos import auditor
from tests.chaos.scenarios import REPO, Report, _body
from tests.factories import problem_event

MUNJERO = [sys.executable, "-m", "factory.cli"]
#: What counts as noise on a clean stop: error records and tracebacks.
NOISE = re.compile(r'"level":\s*"(ERROR|CRITICAL)"|^ERROR|Traceback \(most recent call last\)')
TABLES = ("problems_submitted", "scripts_drafted", "renders_completed", "shorts_published")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stop:
    moment: str  # "random" or "mid-render"
    seconds: float  # from the SIGINT to the exit of the whole process group
    exit_code: int
    noise: list[str]
    twice: bool = False  # a second Ctrl-C while it stopped: "stop at once"


@dataclass
class Up:
    """One ``munjero up`` process; its output read line by line as it comes."""

    data: Path
    env: dict[str, str]
    tag: str
    command: tuple[str, ...] = ("up", "--without-monitoring")
    ready_line: str = "Ctrl-C to stop"  # the banner's last line
    lines: list[str] = field(default_factory=list)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    starting: asyncio.Event = field(default_factory=asyncio.Event)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    key: str = ""
    proc: asyncio.subprocess.Process | None = None
    _reader: asyncio.Task[None] | None = None
    _log_sizes: dict[Path, int] = field(default_factory=dict)

    async def start(self, timeout: float, *, until_starting: bool = False) -> None:
        """Start and wait for the banner, or with ``until_starting`` only for the line saying
        the workers are starting (the window before readiness)."""
        self._log_sizes = {p: p.stat().st_size for p in (self.data / "logs").glob("*.log")}
        self.proc = await asyncio.create_subprocess_exec(
            *MUNJERO, *self.command,
            env=self.env, cwd=REPO, start_new_session=True,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        self._reader = asyncio.create_task(self._read())
        async with asyncio.timeout(timeout):
            event = self.starting if until_starting else self.ready
            waiter = asyncio.create_task(event.wait())
            done, _ = await asyncio.wait(
                {waiter, self._reader}, return_when=asyncio.FIRST_COMPLETED
            )
            if waiter not in done:
                raise RuntimeError(f"munjero up ({self.tag}) exited early:\n{self.tail()}")

    async def _read(self) -> None:
        assert self.proc is not None
        assert self.proc.stdout is not None
        with (self.data.parent / f"up-{self.tag}.log").open("w", encoding="utf-8") as out:
            async for raw in self.proc.stdout:
                line = raw.decode(errors="replace").rstrip("\n")
                self.lines.append(line)
                out.write(line + "\n")
                out.flush()  # readable while the factory runs
                found = re.search(r"API key \(dev\)\s+(\S+)", line)
                if found:
                    self.key = found.group(1)
                if line.startswith("starting:"):  # workers launched, not yet ready
                    self.starting.set()
                if line.startswith(self.ready_line):
                    self.ready.set()
                if line.startswith("stopping..."):
                    self.stopping.set()

    def tail(self, n: int = 40) -> str:
        return "\n".join(self.lines[-n:])

    async def interrupt(self, moment: str, timeout: float = 60.0, *, twice: bool = False) -> Stop:
        """Ctrl-C: SIGINT to the process group; wait for the whole group to be gone. With
        ``twice``, a second Ctrl-C once it says it is stopping."""
        assert self.proc is not None
        assert self._reader is not None
        started = time.monotonic()
        os.killpg(self.proc.pid, signal.SIGINT)
        if twice:
            await asyncio.wait_for(self.stopping.wait(), timeout)
            with contextlib.suppress(ProcessLookupError):  # it may have finished already
                os.killpg(self.proc.pid, signal.SIGINT)
        code = await asyncio.wait_for(self.proc.wait(), timeout)
        await asyncio.wait_for(self._reader, timeout)
        while _group_alive(self.proc.pid):  # children may outlive their parent by a moment
            if time.monotonic() - started > timeout:
                break
            await asyncio.sleep(0.05)
        seconds = time.monotonic() - started
        return Stop(moment, seconds, code, self.noise(), twice)

    def kill(self) -> None:
        """SIGKILL the whole group if it still runs (its workers die with it: PDEATHSIG)."""
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)

    def noise(self) -> list[str]:
        out = [line for line in self.lines if NOISE.search(line)]
        for path in sorted((self.data / "logs").glob("*.log")):
            with path.open("rb") as f:
                f.seek(self._log_sizes.get(path, 0))
                text = f.read().decode(errors="replace")
            out += [f"{path.name}: {line}" for line in text.splitlines() if NOISE.search(line)]
        return out


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def encoding(data: Path) -> bool:
    """An ffmpeg of this factory (its environment names our data directory) is running."""
    needle = f"MUNJERO_DATA_DIR={data}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if b"ffmpeg" not in (entry / "cmdline").read_bytes().split(b"\0")[0]:
                continue
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                return True
        except OSError:
            continue
    return False


async def until_encoding(data: Path, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if encoding(data):
            return True
        await asyncio.sleep(0.1)  # /proc has no event to await
    return False


async def submit(api_url: str, key: str, indices: range) -> list[str]:
    ids = []
    async with httpx.AsyncClient(base_url=api_url, timeout=30.0) as client:
        for i in indices:
            body = _body(problem_event(i))
            body["problem_id"] = f"{body['problem_id']}-g{os.getpid()}"
            response = await client.post(
                "/v1/problems", json=body, headers={"Authorization": f"Bearer {key}"}
            )
            response.raise_for_status()
            ids.append(str(response.json()["problem_id"]))
    return ids


async def published_per_status_route(
    api_url: str, key: str, ids: list[str], k: int, deadline: float
) -> dict[str, int]:
    """What a producer sees after the restarts: each problem's published count from
    ``GET /v1/problems/{id}``, asked until all show ``k`` (the sink lands rows a moment after
    Kafka has them) or the deadline passes."""
    shown: dict[str, int] = {}
    async with httpx.AsyncClient(
        base_url=api_url, headers={"Authorization": f"Bearer {key}"}, timeout=30.0
    ) as client:
        while True:
            for problem_id in ids:
                response = await client.get(f"/v1/problems/{problem_id}")
                steps = response.json().get("steps", []) if response.status_code == 200 else []
                published = [s for s in steps if s.get("step") == "published"]
                shown[problem_id] = int(published[0].get("count") or 0) if published else 0
            if all(n == k for n in shown.values()) or time.monotonic() > deadline:
                return shown
            await asyncio.sleep(1.0)  # the warehouse is a remote state: ask again


@dataclass
class Progress:
    drafts: auditor.DraftAudit
    unrendered: list[str]
    publish: auditor.PublishAudit
    dead: list[auditor.DeadLetter]

    @property
    def done(self) -> bool:
        return not (self.drafts.lost or self.unrendered or self.publish.lost_renders)


async def audit(settings: Settings, data: Path, problems: list[str], k: int) -> Progress:
    found = read_endpoints(data)
    assert found is not None, "the running factory announced no endpoints"
    registry = HttpSchemaRegistry(found.schema_registry_url)
    serde = AvroSerde(registry)
    try:

        async def read(name: str) -> list[auditor.Audited]:
            return await auditor.read_topic(
                found.kafka_bootstrap_servers, settings.topic(name), serde
            )

        scripts = await read("scripts.drafted")
        renders = await read("renders.completed")
        shorts = await read("shorts.published")
        dlq = [r for name in _dlq_topics(settings) for r in await read(name)]
    finally:
        await registry.close()
    wanted = set(problems)
    ours = [s for s in scripts if s.record is not None and s.record["problem_id"] in wanted]
    script_ids = {s.record["script_id"] for s in ours if s.record is not None}
    rendered = {r.record["script_id"] for r in renders if r.record is not None}
    render_ids = {
        r.record["render_id"]
        for r in renders
        if r.record is not None and r.record["script_id"] in script_ids
    }
    return Progress(
        auditor.audit_drafts(problems, ours, k),
        sorted(script_ids - rendered),
        auditor.audit_publish(render_ids, shorts),
        auditor.dead_letters(dlq),
    )


def _dlq_topics(settings: Settings) -> list[str]:
    from streams.catalogue import ALL_TOPICS, TopicRole

    return [spec.name for spec in ALL_TOPICS if spec.role is TopicRole.DLQ]


def factory_env(data: Path) -> dict[str, str]:
    """The environment of a factory of its own on ``data``: free ports, its own embedded
    broker (kept in ``data`` across starts), fast retries."""
    env = {
        **os.environ,
        "MUNJERO_DATA_DIR": str(data),
        "MUNJERO_API_PORT": str(free_port()),
        "MUNJERO_CLICKHOUSE_HTTP_PORT": str(free_port()),
        "MUNJERO_RETRY_DELAY_FACTOR": "0.01",
    }
    for name in [n for n in env if n.startswith("MUNJERO_KAFKA_BOOTSTRAP")]:
        del env[name]
    return env


async def scenario_g(
    work: Path,
    *,
    problems: int,
    stops: int,
    timeout: float,
    seed: int = 7,
    max_stop_s: float = 10.0,
    ready_timeout: float = 300.0,
    startup_stop: bool = True,
    double_stop: bool = True,
) -> Report:
    report = Report("g. whole factory: SIGINT to its process group, restarted each time")
    rng = random.Random(seed)
    data = work / "factory"
    env = factory_env(data)
    settings = Settings(data_dir=data)
    k = settings.draft_variants_per_problem
    stopped: list[Stop] = []
    ids: list[str] = []
    deadline = time.monotonic() + timeout
    up = Up(data, env, "0")
    try:
        if startup_stop:
            # Ctrl-C while the workers start (models loading, readiness not yet passed): an
            # ordered stop like any other, then a fresh start on the same data directory.
            await up.start(ready_timeout, until_starting=True)
            await asyncio.sleep(rng.uniform(0.5, 3.0))  # some moment of the workers' start
            stopped.append(await up.interrupt("during start-up"))
            up = Up(data, env, "1")
        await up.start(ready_timeout)
        found = read_endpoints(data)
        assert found is not None
        ids = await submit(found.api_url, up.key, range(problems))
        for n in range(stops):
            moment = "mid-render" if n % 2 == 1 else "random"
            if moment == "mid-render":
                if not await until_encoding(data, 240):
                    moment = "random (no encode started in 240 s)"
            else:
                await asyncio.sleep(rng.uniform(0.5, 8.0))  # a random moment of the stream
            # The first stop at a random moment is a double Ctrl-C (stop at once): the audit
            # after the last start shows that it too loses nothing.
            twice = double_stop and n == 0
            stopped.append(await up.interrupt(moment + (", twice" if twice else ""), twice=twice))
            up = Up(data, env, str(n + 2))
            await up.start(ready_timeout)
        progress = await audit(settings, data, ids, k)
        while not progress.done and time.monotonic() < deadline:
            await asyncio.sleep(2.0)  # end-to-end completion is a remote state: audit again
            progress = await audit(settings, data, ids, k)
        shown = await published_per_status_route(found.api_url, up.key, ids, k, deadline)
        stopped.append(await up.interrupt("clean, after the audit"))
    finally:
        up.kill()  # a failed scenario must not leave a factory running on its data directory

    whole = sum(n == k for n in shown.values())
    report.figures["GET /v1/problems/{id} shows k of k published"] = f"{whole} of {len(ids)}"
    report.check(whole == len(ids), f"status route short of {k} published: {shown}")
    for i, stop in enumerate(stopped, 1):
        report.figures[f"stop {i} ({stop.moment})"] = (
            f"exit {stop.exit_code} after {stop.seconds:.1f} s, {len(stop.noise)} ERROR lines"
        )
        # A second Ctrl-C exits 130 at once (0 if the stop had already finished); its workers
        # are killed, so only an ordered stop promises a quiet log.
        codes = (0, 130) if stop.twice else (0,)
        report.check(stop.exit_code in codes, f"stop {i}: exit code {stop.exit_code}")
        report.check(stop.seconds <= max_stop_s, f"stop {i}: {stop.seconds:.1f} s > {max_stop_s}")
        report.check(stop.twice or not stop.noise, f"stop {i}: {stop.noise[:3]}")
    report.figures["problems"] = len(ids)
    report.figures["scripts"] = progress.drafts.scripts_distinct
    report.figures["renders published"] = progress.publish.renders - len(
        progress.publish.lost_renders
    )
    report.check(progress.drafts.lost == 0, f"problems without k scripts: {progress.drafts.lost}")
    report.check(progress.drafts.duplicate_effects == 0, "a (problem, arm) has two scripts")
    report.check(not progress.unrendered, f"scripts never rendered: {progress.unrendered[:3]}")
    report.check(not progress.publish.lost_renders, "renders never published")
    report.check(not progress.publish.published_twice, "a render was published twice")
    report.check(not progress.dead, f"dead letters: {progress.dead[:3]}")
    await _clickhouse(report, settings, data)
    return report


async def _clickhouse(report: Report, settings: Settings, data: Path) -> None:
    """The factory's own ClickHouse, opened after its clean stop: nothing counted twice."""
    from connectors.warehouse.chdb_adapter import ChdbWarehouse

    warehouse = ChdbWarehouse(data / "chdb")
    try:
        counts = await auditor.clickhouse_counts(warehouse, settings.clickhouse_database, TABLES)
    finally:
        await warehouse.close()
    for c in counts:
        report.figures[f"ch.{c.table}"] = (
            f"rows={c.rows} final={c.final} distinct_event_ids={c.distinct_ids}"
        )
        report.check(c.double_counted == 0, f"{c.table}: {c.double_counted} double-counted rows")


def main() -> int:
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problems", type=int, default=300)
    parser.add_argument("--stops", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=4 * 3600)
    parser.add_argument("--work", type=Path)
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        work = args.work or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        report = asyncio.run(
            scenario_g(work, problems=args.problems, stops=args.stops, timeout=args.timeout)
        )
        print(report.render())
        print(json.dumps({"failures": report.failures}))
        return 1 if report.failures else 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
