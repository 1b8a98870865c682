"""The experiment catalogue and the deterministic weighted choice of arms."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from agents.drafting.arms import (
    ARMS,
    CTA_STYLES,
    EXPERIMENT_ID,
    HOOK_STYLES,
    Arm,
    arm_by_id,
    choose_arms,
)

IDS = [f"problem-{i:05d}" for i in range(2000)]
REPO = Path(__file__).resolve().parents[2]


def test_catalogue_is_the_full_factorial() -> None:
    assert EXPERIMENT_ID == "hook-cta-v1"
    assert len(ARMS) == len(HOOK_STYLES) * len(CTA_STYLES) == 12
    assert {(a.hook_style, a.cta_style) for a in ARMS} == {
        (h, c) for h in HOOK_STYLES for c in CTA_STYLES
    }
    assert "question_first+follow" in {a.arm_id for a in ARMS}
    assert all(a.experiment_id == EXPERIMENT_ID for a in ARMS)


def test_arm_is_frozen_and_found_by_id() -> None:
    arm = arm_by_id("story+see_part2")
    assert arm == Arm("story", "see_part2")
    with pytest.raises(AttributeError):
        arm.hook_style = "challenge"  # type: ignore[misc]
    with pytest.raises(KeyError):
        arm_by_id("story+nothing")


def test_same_problem_same_arms() -> None:
    weights = {"challenge+follow": 3.0, "story+follow": 0.5}
    for pid in IDS[:50]:
        assert choose_arms(pid, ARMS, weights, 3) == choose_arms(pid, ARMS, weights, 3)


def test_choice_does_not_depend_on_catalogue_order() -> None:
    for pid in IDS[:50]:
        assert choose_arms(pid, ARMS, None, 4) == choose_arms(pid, ARMS[::-1], None, 4)


def test_choice_is_stable_across_processes() -> None:
    # Python's hash() is salted per process; a stable hash must give the same arms anyway.
    code = (
        "from agents.drafting.arms import ARMS, choose_arms;"
        "print([a.arm_id for a in choose_arms('ko-hist-001', ARMS, None, 3)])"
    )
    runs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            cwd=REPO,
            env={"PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2")
    }
    assert len(runs) == 1
    assert runs.pop().strip() == str([a.arm_id for a in choose_arms("ko-hist-001", ARMS, None, 3)])


def test_different_problems_get_different_arms() -> None:
    firsts = Counter(choose_arms(pid, ARMS, None, 1)[0].arm_id for pid in IDS)
    assert set(firsts) == {a.arm_id for a in ARMS}


@pytest.mark.parametrize("k", [1, 3, 12])
def test_without_replacement(k: int) -> None:
    for pid in IDS[:200]:
        chosen = choose_arms(pid, ARMS, None, k)
        assert len(chosen) == k
        assert len(set(chosen)) == k


def test_k_is_capped_and_never_negative() -> None:
    assert sorted(a.arm_id for a in choose_arms("p", ARMS, None, 50)) == sorted(
        a.arm_id for a in ARMS
    )
    assert choose_arms("p", ARMS, None, 0) == []
    assert choose_arms("p", ARMS, None, -1) == []
    assert choose_arms("p", [], None, 3) == []
    # A duplicated arm in the input still counts once.
    assert len(choose_arms("p", [*ARMS[:2], ARMS[0]], None, 3)) == 2


def test_uniform_without_weights() -> None:
    counts = Counter(a.arm_id for pid in IDS for a in choose_arms(pid, ARMS, None, 1))
    expected = len(IDS) / len(ARMS)  # ~167 each
    assert all(0.6 * expected < n < 1.4 * expected for n in counts.values())
    assert choose_arms("p", ARMS, {}, 3) == choose_arms("p", ARMS, None, 3)


def test_heavier_arm_is_chosen_far_more_often() -> None:
    heavy, light = "challenge+comment_answer", "story+follow"
    weights = {a.arm_id: 1.0 for a in ARMS} | {heavy: 10.0}
    firsts = Counter(choose_arms(pid, ARMS, weights, 1)[0].arm_id for pid in IDS)
    # Expected share of the heavy arm: 10/21 ~ 48%; of any other: 1/21 ~ 5%.
    assert 0.40 < firsts[heavy] / len(IDS) < 0.56
    assert firsts[heavy] > 5 * firsts[light]
    # With k=3 the heavy arm is in almost every draw, the light one in a minority.
    in_three = Counter(a.arm_id for pid in IDS for a in choose_arms(pid, ARMS, weights, 3))
    assert in_three[heavy] > 0.8 * len(IDS)
    assert in_three[light] < 0.35 * len(IDS)


def test_zero_and_negative_weights_are_never_chosen_when_avoidable() -> None:
    allowed = {"question_first+follow", "story+see_part2", "challenge+follow"}
    weights = {a.arm_id: (1.0 if a.arm_id in allowed else 0.0) for a in ARMS}
    weights["surprising_fact+follow"] = -2.0
    for pid in IDS[:500]:
        assert {a.arm_id for a in choose_arms(pid, ARMS, weights, 3)} == allowed


def test_zero_weight_arms_fill_up_to_k_after_the_positive_ones() -> None:
    weights = {a.arm_id: 0.0 for a in ARMS} | {"story+follow": 1.0}
    for pid in IDS[:100]:
        chosen = choose_arms(pid, ARMS, weights, 4)
        assert len(set(chosen)) == 4
        assert chosen[0].arm_id == "story+follow"
    # All weights zero: still k distinct arms, fillers varying by problem.
    all_zero = {a.arm_id: 0.0 for a in ARMS}
    fills = {tuple(choose_arms(pid, ARMS, all_zero, 2)) for pid in IDS[:100]}
    assert len(fills) > 10


def test_missing_arm_gets_the_mean_weight_and_bad_weights_count_as_zero() -> None:
    # Only two arms have weights; the other ten get their mean (2.0) and stay in play.
    weights = {"story+follow": 1.0, "challenge+follow": 3.0}
    chosen = Counter(a.arm_id for pid in IDS for a in choose_arms(pid, ARMS, weights, 1))
    assert len(chosen) == len(ARMS)
    nan_weights = {a.arm_id: 1.0 for a in ARMS} | {"story+follow": float("nan")}
    nan_weights["challenge+follow"] = float("inf")
    for pid in IDS[:300]:
        ids = {a.arm_id for a in choose_arms(pid, ARMS, nan_weights, 3)}
        assert not ids & {"story+follow", "challenge+follow"}
