"""The experiment evaluator: ClickHouse sufficient statistics -> A/B statistics and Thompson
weights -> ``experiments.updated`` (which the drafting agent reads).

It reads ClickHouse, so it runs where ClickHouse is reachable: in the supervisor process on the
embedded default (chdb keeps its directory to one process) and as its own Deployment with a
ClickHouse server in production (``munjero evaluator``). Aggregates are computed in SQL
(``dashboards/experiment_arms.sql``); the statistics run in Python (``agents/experiments``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from agents.drafting.arms import ARMS, EXPERIMENT_ID
from agents.experiments.bandit import experiment_record, thompson_weights
from agents.experiments.stats import (
    ArmCounts,
    ArmMoments,
    CtrArm,
    beta_binomial,
    decide,
    design_effect,
)
from streams.ports.warehouse import Warehouse
from warehouse import dashboards

log = logging.getLogger(__name__)
METRIC = "impressions_ctr"
ARM_IDS = tuple(arm.arm_id for arm in ARMS)
Record = dict[str, Any]


@dataclass(frozen=True)
class EvaluatorConfig:
    database: str
    window: str = "24h"
    burn_in_shorts: int = 10
    floor: float = 0.02
    alpha: float = 0.05
    min_trials_per_arm: float = 10_000


def ctr_arms(rows: Sequence[Record], arm_ids: Sequence[str]) -> list[CtrArm]:
    """Every arm of the experiment, zero for arms with no observed short yet (pure).

    Pooled counts (impressions, clicks) feed the guards and posteriors; per-short CTR moments
    (n, sum, sum of squares) feed the stopping rule: the short is the unit of the experiment.
    """
    by_arm = {r["arm_id"]: r for r in rows}
    out = []
    for arm_id in arm_ids:
        row = by_arm.get(arm_id)
        shorts = int(row["shorts"]) if row else 0
        trials = float(row["impressions"]) if row else 0.0
        successes = min(float(row["clicks"]), trials) if row else 0.0
        out.append(
            CtrArm(
                ArmCounts(arm_id, shorts, successes, trials),
                ArmMoments(
                    arm_id,
                    shorts,
                    float(row["ctr_sum"]) if row else 0.0,
                    float(row["ctr_sq"]) if row else 0.0,
                ),
            )
        )
    return out


class ExperimentEvaluator:
    def __init__(
        self,
        warehouse: Warehouse,
        publish: Callable[[str, Record], Awaitable[None]],
        config: EvaluatorConfig,
        *,
        arm_ids: Sequence[str] = ARM_IDS,
        experiment_id: str = EXPERIMENT_ID,
    ) -> None:
        self.warehouse = warehouse
        self.publish = publish
        self.config = config
        self.arm_ids = tuple(arm_ids)
        self.experiment_id = experiment_id
        self._last_inputs = ""
        self.updates = 0

    async def evaluate(self) -> Record | None:
        """One evaluation; publishes and returns the record when the inputs changed."""
        rows = await dashboards.run(
            self.warehouse,
            "experiment_arms",
            self.config.database,
            experiment=self.experiment_id,
            window=self.config.window,
        )
        arms = ctr_arms(rows, self.arm_ids)
        fingerprint = hashlib.sha256(
            json.dumps([(a.arm_id, a.counts.shorts, a.counts.trials, a.per_short.total)
                        for a in arms]).encode()
        ).hexdigest()  # fmt: skip
        if fingerprint == self._last_inputs:
            return None
        # Shorts differ in quality: pooled impressions overstate the evidence, so posteriors
        # use counts deflated by each arm's design effect (between-short variance).
        deflated = [a.counts.deflated(design_effect(a.counts, a.per_short)) for a in arms]
        # Exact P(best) (no rng): the same evidence always gives the same weights.
        weights = thompson_weights(
            deflated, burn_in_shorts=self.config.burn_in_shorts, floor=self.config.floor
        )
        decision = decide(
            self.experiment_id,
            METRIC,
            arms,
            min_shorts_per_arm=self.config.burn_in_shorts,
            min_trials_per_arm=self.config.min_trials_per_arm,
            alpha=self.config.alpha,
        )
        chance = (
            {arm: win for arm, (win, _) in beta_binomial(deflated).items()}
            if any(c.trials for c in deflated)
            else None
        )
        record = experiment_record(
            self.experiment_id, METRIC, [a.counts for a in arms], weights, decision, chance
        )
        await self.publish(self.experiment_id, record)
        self._last_inputs = fingerprint
        self.updates += 1
        return record

    async def run(self, every_s: float) -> None:
        while True:
            try:
                await self.evaluate()
            except asyncio.CancelledError:
                raise
            except Exception:  # ClickHouse or the broker is down: keep the last weights
                log.exception("experiment evaluation failed; retrying next round")
            await asyncio.sleep(every_s)  # a period, not a wait for an event
