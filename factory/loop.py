"""The feedback loop over simulated days (``munjero demo --days N``).

Each simulated day: problems from the sample bank get their variant arms from the drafting
agent's own ``choose_arms`` with the current weights; every variant is published to the
simulated channel; the metrics poller's windows are observed on the simulated clock and
written to ClickHouse (chdb, the real schema); the evaluator runs the real SQL
(``dashboards/experiment_arms.sql``), statistics and Thompson sampling and produces the
``ExperimentUpdated`` record whose weights drive the next day.

What it leaves out, on purpose: rendering (each short would cost ~8 s of CPU; the simulator
never looks at the pixels) and the Kafka hops between these steps (the agents that run them in
the factory are tested on the embedded broker). A uniform-allocation run with the same seed is
the baseline for regret.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from agents.drafting.arms import ARMS, EXPERIMENT_ID, choose_arms
from agents.evaluator import EvaluatorConfig, ExperimentEvaluator
from agents.metrics_schedule import WINDOWS, due_windows, metrics_record
from connectors.arm_weights import weights_from
from connectors.simulator.analytics import SimulatedAnalytics
from connectors.simulator.audience import ArmEffect, AudienceModel
from connectors.simulator.channel import SimulatedChannel
from connectors.simulator.clock import ManualClock
from connectors.warehouse.chdb_adapter import ChdbWarehouse
from connectors.warehouse.schema import ensure_schema
from factory.samples import load_sample_problems
from schemas.records import MetricsObserved, ShortPublished
from streams import events
from streams.ports.publishing import Upload
from warehouse.rows import mapper_for_topic

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
DB = "munjero"


@dataclass
class DayReport:
    day: int
    shorts: int
    best_share: float  # share of today's shorts made with the true best arm
    regret: float  # cumulative expected views lost against always using the best arm
    decision: str | None = None


@dataclass
class LoopReport:
    policy: str
    best_arm: str
    days: list[DayReport] = field(default_factory=list)

    @property
    def regret(self) -> float:
        return self.days[-1].regret if self.days else 0.0


@dataclass(frozen=True)
class LoopConfig:
    days: int = 30
    problems_per_day: int = 8
    variants: int = 3
    seed: int = 7
    window: str = "24h"
    burn_in_shorts: int = 10
    floor: float = 0.02
    alpha: float = 0.05
    effects: dict[str, ArmEffect] | None = None


async def run_policy(config: LoopConfig, *, adaptive: bool, work: Path) -> LoopReport:
    model = (
        AudienceModel(config.seed, effects=config.effects)
        if config.effects
        else AudienceModel(config.seed)
    )
    arm_ids = [arm.arm_id for arm in ARMS]
    best = model.true_best_arm(arm_ids)
    clock = ManualClock(START)
    channel = SimulatedChannel(work / "channel.db", clock, model)
    analytics = SimulatedAnalytics(channel, model)
    warehouse = ChdbWarehouse(str(work / "chdb"))
    await ensure_schema(warehouse, DB)
    video = work / "short.mp4"
    video.write_bytes(b"\0" * 64)  # the simulator checks the file exists, not its pixels
    published: list[ShortPublished] = []
    observed: set[tuple[str, str]] = set()
    weights: dict[str, float] | None = None
    latest: list[dict[str, Any]] = []

    async def capture(_key: str, record: dict[str, Any]) -> None:
        latest.append(record)

    evaluator = ExperimentEvaluator(
        warehouse,
        capture,
        EvaluatorConfig(
            database=DB,
            window=config.window,
            burn_in_shorts=config.burn_in_shorts,
            floor=config.floor,
            alpha=config.alpha,
        ),
    )
    report = LoopReport("thompson" if adaptive else "uniform", best)
    bank = load_sample_problems()
    regret = 0.0
    decision: str | None = None
    try:
        for day in range(config.days):
            today: list[str] = []
            for p in range(config.problems_per_day):
                problem_id = f"loop-{day}-{p}-{bank[(day * 31 + p) % len(bank)]['problem_id']}"
                for arm in choose_arms(problem_id, ARMS, weights, config.variants):
                    short = await _publish(channel, clock, video, problem_id, arm.arm_id)
                    published.append(short)
                    today.append(arm.arm_id)
            clock.advance(timedelta(days=1))
            rows = await _observe(analytics, published, observed, clock.now())
            await _load(warehouse, rows)
            for row in rows:
                if row["window"] == "7d":
                    gap = model.expected_ctr(best) - model.expected_ctr(row["arm_id"])
                    regret += gap * row["impressions"]
            if adaptive:
                record = await evaluator.evaluate()
                if record is not None:
                    weights = weights_from(record)
                    decision = record.get("decision")
            share = sum(a == best for a in today) / len(today)
            report.days.append(DayReport(day + 1, len(today), share, regret, decision))
    finally:
        await warehouse.close()
        await channel.close()
    return report


async def _publish(
    channel: SimulatedChannel, clock: ManualClock, video: Path, problem_id: str, arm_id: str
) -> ShortPublished:
    key = events.derived_id(problem_id, arm_id, "render")
    out = await channel.publish(
        Upload(
            idempotency_key=key,
            video_path=video,
            title=problem_id,
            description="",
            labels={"experiment_id": EXPERIMENT_ID, "arm_id": arm_id, "duration_seconds": "30"},
        )
    )
    meta = events.meta(event_id=events.derived_id(key, "publish"), correlation_id=problem_id)
    meta["occurred_at"] = clock.now()
    return {
        "meta": meta, "short_id": meta["event_id"], "render_id": key, "script_id": key,
        "problem_id": problem_id, "experiment_id": EXPERIMENT_ID, "arm_id": arm_id,
        "platform": out.platform, "video_id": out.video_id, "url": out.url, "title": problem_id,
        "published_at": out.published_at, "simulated": True,
    }  # fmt: skip


async def _observe(
    analytics: SimulatedAnalytics,
    shorts: Sequence[ShortPublished],
    observed: set[tuple[str, str]],
    now: datetime,
) -> list[MetricsObserved]:
    """Every window that fell due, observed at its own moment (as the poller does)."""
    offsets = dict(WINDOWS)
    rows = []
    for short in shorts:
        done = {w for (s, w) in observed if s == short["short_id"]}
        if len(done) == len(WINDOWS):
            continue
        for window in due_windows(short["published_at"], now, done):
            as_of = short["published_at"] + offsets[window]
            metrics = await analytics.snapshot(short["video_id"], short["published_at"], as_of)
            rows.append(metrics_record(short, window, metrics, observed_at=as_of))
            observed.add((short["short_id"], window))
    return rows


async def _load(warehouse: ChdbWarehouse, records: Sequence[Mapping[str, Any]]) -> None:
    if not records:
        return
    mapper = mapper_for_topic("metrics.observed")
    now = datetime.now(UTC)
    rows = [mapper.row(r, "loop.metrics.observed", 0, i, now) for i, r in enumerate(records)]
    await warehouse.insert(f"{DB}.{mapper.table}", mapper.columns, rows)


async def run_loop(config: LoopConfig) -> tuple[LoopReport, LoopReport]:
    """The adaptive loop and the uniform baseline, same seed, same audience."""
    with tempfile.TemporaryDirectory(prefix="munjero-loop-") as tmp:
        adaptive_dir, uniform_dir = Path(tmp) / "thompson", Path(tmp) / "uniform"
        adaptive_dir.mkdir()
        uniform_dir.mkdir()
        adaptive = await run_policy(config, adaptive=True, work=adaptive_dir)
        uniform = await run_policy(config, adaptive=False, work=uniform_dir)
    return adaptive, uniform


def main_loop(config: LoopConfig) -> tuple[LoopReport, LoopReport]:
    return asyncio.run(run_loop(config))
