"""Thompson-sampling weights, the ExperimentUpdated record and the policy simulation."""

from __future__ import annotations

import numpy as np
import pytest
from fastavro.validation import validate

from agents.experiments.bandit import experiment_record, thompson_weights
from agents.experiments.simulate import compare_policies, simulate_policy
from agents.experiments.stats import ArmCounts, Decision, beta_binomial
from connectors.arm_weights import weights_from
from schemas.contracts import parsed_schema

CTR = {"a": 0.045, "b": 0.05, "c": 0.055, "d": 0.065}


def arms(shorts: int, scale: float = 1.0) -> list[ArmCounts]:
    return [
        ArmCounts("a", shorts, 450 * scale, 10_000 * scale),
        ArmCounts("b", shorts, 500 * scale, 10_000 * scale),
        ArmCounts("c", shorts, 540 * scale, 10_000 * scale),
    ]


def test_uniform_during_burn_in() -> None:
    burn = arms(30)
    burn[0] = ArmCounts("a", 29, 450, 10_000)
    assert thompson_weights(burn, burn_in_shorts=30) == {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}
    assert thompson_weights(arms(30), burn_in_shorts=30) != {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}


@pytest.mark.parametrize("scale", [0.1, 1.0, 10.0, 100.0])
def test_floor_and_sum(scale: float) -> None:
    weights = thompson_weights(arms(50, scale), burn_in_shorts=30, floor=0.05)
    assert sum(weights.values()) == pytest.approx(1, abs=1e-12)
    assert min(weights.values()) >= 0.05 - 1e-12


def test_concentrates_on_the_best_arm_as_evidence_grows() -> None:
    shares = [thompson_weights(arms(50, s), burn_in_shorts=30)["c"] for s in (0.1, 1, 10, 100)]
    assert shares == sorted(shares)
    assert shares[0] < 0.6
    assert shares[-1] == pytest.approx(1 - 2 * 0.02, abs=1e-6)  # all but the floors


def test_sampled_weights_agree_with_exact() -> None:
    exact = thompson_weights(arms(50), burn_in_shorts=30)
    sampled = thompson_weights(arms(50), burn_in_shorts=30, rng=np.random.default_rng(1))
    for arm_id, w in exact.items():
        # Binomial SE of a 10k-draw estimate is <= 0.005.
        assert sampled[arm_id] == pytest.approx(w, abs=0.015)


def test_invalid_floor() -> None:
    with pytest.raises(ValueError, match="floor"):
        thompson_weights(arms(50), floor=0.4)


def test_record_is_a_valid_experiment_update() -> None:
    counts = arms(50)
    weights = thompson_weights(counts, burn_in_shorts=30)
    chance = {k: c for k, (c, _) in beta_binomial(counts).items()}
    decision = Decision(None, "no arm separates yet")
    record = experiment_record("hook-cta-v1", "ctr", counts, weights, decision, chance)
    assert validate(record, parsed_schema("ExperimentUpdated"), raise_errors=True)
    assert weights_from(record) == weights
    assert record["meta"]["correlation_id"] == "hook-cta-v1"
    assert record["decision"] is None
    bare = experiment_record("e", "ctr", counts, weights, Decision("c", "won"), correlation_id="x")
    assert validate(bare, parsed_schema("ExperimentUpdated"), raise_errors=True)
    assert bare["arms"][0]["chance_to_win"] is None
    assert bare["decision"] == "c"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_simulated_thompson_beats_uniform(seed: int) -> None:
    thompson, uniform = compare_policies(CTR, seed=seed)
    assert len(thompson.best_share) == 30
    early, late = np.mean(thompson.best_share[:3]), np.mean(thompson.best_share[-10:])
    print(
        f"seed {seed}: best-arm share {early:.2f} -> {late:.2f}; regret "
        f"{thompson.cumulative_regret[-1]:.0f} vs uniform {uniform.cumulative_regret[-1]:.0f}"
    )
    assert late > early + 0.3
    assert np.mean(uniform.best_share[-10:]) < 0.4
    assert thompson.cumulative_regret[-1] < 0.5 * uniform.cumulative_regret[-1]
    assert all(np.diff(thompson.cumulative_regret) >= 0)


def test_simulation_is_reproducible() -> None:
    first = simulate_policy(CTR, policy="thompson", seed=9, days=5)
    again = simulate_policy(CTR, policy="thompson", seed=9, days=5)
    assert first == again
