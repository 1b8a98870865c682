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

import numpy as np

from agents.drafting.arms import ARMS, EXPERIMENT_ID
from agents.experiments.bandit import experiment_record, thompson_weights
from agents.experiments.stats import ArmCounts, beta_binomial, decide
from connectors.warehouse.port import Warehouse
from streams import dashboards

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
    seed: int = 7


def arm_counts(rows: Sequence[Record], arm_ids: Sequence[str]) -> list[ArmCounts]:
    """Every arm of the experiment, zero counts for arms with no observed short yet (pure)."""
    by_arm = {r["arm_id"]: r for r in rows}
    out = []
    for arm_id in arm_ids:
        row = by_arm.get(arm_id)
        out.append(
            ArmCounts(
                arm_id=arm_id,
                shorts=int(row["shorts"]) if row else 0,
                successes=float(row["clicks"]) if row else 0.0,
                trials=float(row["impressions"]) if row else 0.0,
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
        counts = arm_counts(rows, self.arm_ids)
        fingerprint = hashlib.sha256(
            json.dumps([(c.arm_id, c.shorts, c.successes, c.trials) for c in counts]).encode()
        ).hexdigest()
        if fingerprint == self._last_inputs:
            return None
        # Seeded by the inputs: the same evidence always gives the same weights (replayable).
        rng = np.random.default_rng(int(fingerprint[:12], 16) ^ self.config.seed)
        weights = thompson_weights(
            counts, rng=rng, burn_in_shorts=self.config.burn_in_shorts, floor=self.config.floor
        )
        decision = decide(
            self.experiment_id,
            METRIC,
            counts,
            min_shorts_per_arm=self.config.burn_in_shorts,
            alpha=self.config.alpha,
        )
        chance = beta_binomial(counts) if any(c.trials for c in counts) else {}
        record = experiment_record(self.experiment_id, METRIC, counts, weights, decision, chance)
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
