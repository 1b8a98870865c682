"""Scripts drafted by the production drafting step (``agents.draft.DraftStep``), for tests and
benchmarks that need realistic ScriptDrafted records without a broker."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from agents.draft import DraftStep, Fact

Record = dict[str, Any]


class StaticFacts:
    """A fact source that always answers the same facts."""

    def __init__(self, facts: Sequence[Fact]) -> None:
        self._facts = list(facts)

    async def facts(self, problem: Record) -> list[Fact]:
        return list(self._facts)


def drafted(
    problem: Record,
    *,
    k: int = 3,
    facts: Sequence[Fact] = (),
    grounding_min_score: float = 1.1,
    banned_words: Sequence[str] = (),
) -> list[Record]:
    """The ScriptDrafted records ``DraftStep`` emits for ``problem`` (template writer, K arms).

    Runs the step on its own event loop in a helper thread, so it works from synchronous code
    and from inside a running test loop alike.
    """
    step = DraftStep(
        k=k,
        retriever=StaticFacts(facts) if facts else None,
        grounding_min_score=grounding_min_score,
        banned_words=banned_words,
    )
    with ThreadPoolExecutor(max_workers=1) as pool:
        emits = pool.submit(asyncio.run, step(problem)).result()
    return [dict(emit.record) for emit in emits]
