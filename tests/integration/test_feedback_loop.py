"""The evaluator on real ClickHouse, and the feedback loop on the simulator: evidence moves the
weights toward the true best arm, and the adaptive policy loses less than uniform."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import fastavro
import pytest

from agents.drafting.arms import ARMS, EXPERIMENT_ID
from agents.evaluator import EvaluatorConfig, ExperimentEvaluator
from agents.metrics_schedule import metrics_record
from connectors.arm_weights import weights_from
from connectors.simulator.analytics import SimulatedAnalytics
from connectors.simulator.audience import AudienceModel
from connectors.simulator.channel import SimulatedChannel
from connectors.simulator.clock import ManualClock
from connectors.warehouse.chdb_adapter import ChdbWarehouse
from connectors.warehouse.schema import ensure_schema
from factory.loop import START, LoopConfig, run_loop
from schemas.contracts import load_schema
from streams import events
from streams.ports.publishing import Upload
from tests.warehouse_loader import load_events

pytestmark = pytest.mark.integration
DB = "munjero"


@pytest.fixture
async def warehouse(tmp_path: Path) -> AsyncIterator[ChdbWarehouse]:
    wh = ChdbWarehouse(str(tmp_path / "chdb"))
    await ensure_schema(wh, DB)
    try:
        yield wh
    finally:
        await wh.close()


async def _observe_shorts(
    tmp_path: Path, warehouse: ChdbWarehouse, per_arm: int, model: AudienceModel
) -> None:
    """``per_arm`` simulated shorts of every arm, observed at 24 h, loaded like the sink does."""
    clock = ManualClock(START)
    channel = SimulatedChannel(tmp_path / "channel.db", clock, model)
    analytics = SimulatedAnalytics(channel, model)
    video = tmp_path / "v.mp4"
    video.write_bytes(b"\0")
    batch: list[tuple[str, str, dict[str, Any]]] = []
    for arm in ARMS:
        for i in range(per_arm):
            key = events.derived_id(arm.arm_id, str(i))
            out = await channel.publish(
                Upload(key, video, "t", "", labels={"arm_id": arm.arm_id,
                                                    "experiment_id": EXPERIMENT_ID})
            )  # fmt: skip
            meta = events.meta(event_id=key, correlation_id=key)
            short = {"meta": meta, "short_id": key, "video_id": out.video_id,
                     "experiment_id": EXPERIMENT_ID, "arm_id": arm.arm_id}  # fmt: skip
            as_of = out.published_at + timedelta(hours=24)
            metrics = await analytics.snapshot(out.video_id, out.published_at, as_of)
            batch.append(("metrics.observed", "MetricsObserved",
                          metrics_record(short, "24h", metrics, observed_at=as_of)))  # fmt: skip
    await load_events(warehouse, batch, DB)
    await channel.close()


async def test_evaluator_moves_weight_to_the_best_arm(
    tmp_path: Path, warehouse: ChdbWarehouse
) -> None:
    model = AudienceModel(3)
    best = model.true_best_arm([a.arm_id for a in ARMS])
    published: list[tuple[str, dict[str, Any]]] = []

    async def publish(key: str, record: dict[str, Any]) -> None:
        published.append((key, record))

    evaluator = ExperimentEvaluator(
        warehouse, publish, EvaluatorConfig(database=DB, window="24h", burn_in_shorts=10)
    )
    # Before any data: uniform weights, no winner, a burn-in reason.
    first = await evaluator.evaluate()
    assert first is not None
    uniform = weights_from(first)
    assert max(uniform.values()) == pytest.approx(min(uniform.values()))
    assert first["decision"] is None

    await _observe_shorts(tmp_path, warehouse, per_arm=60, model=model)
    record = await evaluator.evaluate()
    assert record is not None
    weights = weights_from(record)
    assert sum(weights.values()) == pytest.approx(1.0)
    assert max(weights, key=weights.__getitem__) == best
    assert min(weights.values()) >= 0.02 - 1e-9  # the exploration floor
    arms = {a["arm_id"]: a for a in record["arms"]}
    assert arms[best]["shorts"] == 60
    assert arms[best]["chance_to_win"] == max(a["chance_to_win"] for a in record["arms"])
    fastavro.validation.validate(record, fastavro.parse_schema(load_schema("ExperimentUpdated")))
    assert published[-1] == (EXPERIMENT_ID, record)
    # Same evidence again: nothing new to publish.
    assert await evaluator.evaluate() is None


async def test_the_loop_learns_the_best_arm_and_beats_uniform() -> None:
    adaptive, uniform = await run_loop(LoopConfig(days=14, problems_per_day=8, seed=7))
    assert adaptive.best_arm == uniform.best_arm
    early = sum(d.best_share for d in adaptive.days[:4]) / 4
    late = sum(d.best_share for d in adaptive.days[-4:]) / 4
    assert late > early
    assert late > 1.5 * sum(d.best_share for d in uniform.days[-4:]) / 4
    assert adaptive.regret < uniform.regret
