"""The hook x CTA experiment: its arms and the deterministic weighted choice of arms.

Each problem is drafted in K arms; the experiment evaluator later turns their measured
performance into weights, which bias (but never fully decide) the next problems' arms.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from agents.drafting.hashing import stable_int

EXPERIMENT_ID = "hook-cta-v1"

HookStyle = Literal["question_first", "surprising_fact", "challenge", "story"]
CtaStyle = Literal["follow", "comment_answer", "see_part2"]

HOOK_STYLES: tuple[HookStyle, ...] = ("question_first", "surprising_fact", "challenge", "story")
CTA_STYLES: tuple[CtaStyle, ...] = ("follow", "comment_answer", "see_part2")


@dataclass(frozen=True)
class Arm:
    """One variant of the experiment: a hook style paired with a CTA style."""

    hook_style: HookStyle
    cta_style: CtaStyle
    experiment_id: str = EXPERIMENT_ID

    @property
    def arm_id(self) -> str:
        return f"{self.hook_style}+{self.cta_style}"


# Every (hook, cta) pair: the full factorial design, so hook and CTA effects can be separated.
ARMS: tuple[Arm, ...] = tuple(Arm(hook, cta) for hook in HOOK_STYLES for cta in CTA_STYLES)


def arm_by_id(arm_id: str, arms: Sequence[Arm] = ARMS) -> Arm:
    """The arm whose ``arm_id`` is ``arm_id``; KeyError when the catalogue has none."""
    for arm in arms:
        if arm.arm_id == arm_id:
            return arm
    raise KeyError(arm_id)


def _effective_weights(arms: Sequence[Arm], weights: Mapping[str, float] | None) -> list[float]:
    """One weight per arm. Uniform without weights. An arm missing from non-empty weights gets
    the mean positive weight: a newly added arm is explored at an average rate, whatever scale
    the evaluator's weights use. Non-finite weights count as zero so a bad evaluator message
    degrades to "not preferred" instead of failing every draft."""
    if not weights:
        return [1.0] * len(arms)
    positive = [w for w in weights.values() if math.isfinite(w) and w > 0]
    default = sum(positive) / len(positive) if positive else 0.0
    result = []
    for arm in arms:
        w = weights.get(arm.arm_id, default)
        result.append(w if math.isfinite(w) and w > 0 else 0.0)
    return result


def choose_arms(
    problem_id: str,
    arms: Sequence[Arm],
    weights: Mapping[str, float] | None,
    k: int,
) -> list[Arm]:
    """K distinct arms for ``problem_id``, drawn by weight without replacement.

    Deterministic: the same problem id, arms and weights always give the same arms in the same
    order (most favoured first), so a replayed event drafts the same variants. Arms of weight
    <= 0 are only used to fill up to ``k`` when too few arms have positive weight. ``k`` is
    capped at the number of distinct arms.
    """
    # Sorting by arm_id makes the result independent of the catalogue's listing order.
    unique = sorted({arm.arm_id: arm for arm in arms}.values(), key=lambda arm: arm.arm_id)
    k = max(0, min(k, len(unique)))
    if k == 0:
        return []
    # Seeded PRNG on purpose: reproducible draws, not secrets.
    rng = random.Random(stable_int("choose_arms", problem_id))  # noqa: S311
    eff = _effective_weights(unique, weights)
    # Efraimidis-Spirakis: each arm races an exponential clock of rate w; the k earliest win.
    # That equals drawing one arm at a time proportionally to weight, without replacement.
    keyed: list[tuple[float, Arm]] = []
    zero: list[Arm] = []
    for arm, w in zip(unique, eff, strict=True):
        u = 1.0 - rng.random()  # in (0, 1], so log(u) is finite
        if w > 0:
            keyed.append((-math.log(u) / w, arm))
        else:
            zero.append(arm)
    keyed.sort(key=lambda pair: pair[0])
    chosen = [arm for _, arm in keyed[:k]]
    if len(chosen) < k:
        rng.shuffle(zero)
        chosen.extend(zero[: k - len(chosen)])
    return chosen
