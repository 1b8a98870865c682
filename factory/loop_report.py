"""Printing the feedback loop's run (``munjero demo --days N``)."""

from __future__ import annotations

from rich.table import Table

from agents.drafting.arms import ARMS
from connectors.simulator.audience import AudienceModel
from connectors.simulator.config import effects_from_setting
from factory.cli_support import console as cli_console
from factory.loop import LoopConfig, main_loop
from streams.settings import Settings


def run_and_print(settings: Settings, days: int) -> int:
    console = cli_console()  # not cut to 80 columns when piped
    effects = dict(effects_from_setting(settings.sim_effects, [a.arm_id for a in ARMS]))
    config = LoopConfig(
        days=days,
        variants=settings.draft_variants_per_problem,
        seed=settings.sim_seed,
        window=settings.experiment_window,
        burn_in_shorts=settings.bandit_burn_in_shorts,
        floor=settings.bandit_floor,
        alpha=settings.decision_alpha,
        effects=effects,
    )
    model = AudienceModel(config.seed, effects=effects)
    best = model.true_best_arm([a.arm_id for a in ARMS])
    console.print(
        f"[bold]munjero demo --days {days}[/]: the feedback loop on the channel simulator "
        f"(SIMULATED audience, seed {config.seed})"
    )
    console.print(
        f"  {config.problems_per_day} problems/day x {config.variants} variant arms; "
        f"true best arm [bold]{best}[/] (expected CTR {model.expected_ctr(best):.2%}, "
        f"all-arm mean {sum(model.expected_ctr(a.arm_id) for a in ARMS) / len(ARMS):.2%})"
    )
    console.print(
        f"  a problem gets {config.variants} distinct arms, so the best arm's share of new "
        f"shorts can reach at most {1 / config.variants:.0%} (uniform: {1 / len(ARMS):.0%})"
    )
    adaptive, uniform = main_loop(config)
    table = Table(
        "day", "shorts", "best-arm share\n(thompson)", "best-arm share\n(uniform)",
        "regret\n(thompson)", "regret\n(uniform)", "decision",
        title="best-arm share of the day's new shorts; cumulative regret in expected views",
    )  # fmt: skip
    for a, u in zip(adaptive.days, uniform.days, strict=True):
        table.add_row(
            str(a.day), str(a.shorts), f"{a.best_share:.0%}", f"{u.best_share:.0%}",
            f"{a.regret:,.0f}", f"{u.regret:,.0f}", a.decision or "",
        )  # fmt: skip
    console.print(table)
    saved = 1 - adaptive.regret / uniform.regret if uniform.regret else 0.0
    console.print(
        f"  regret after {days} days: thompson {adaptive.regret:,.0f} vs uniform "
        f"{uniform.regret:,.0f} expected views ({saved:.0%} less)"
    )
    return 0
