"""The factory's topology, declared once: which processes exist, which steps each runs on which
topics, which resources it opens and which readiness checks it must pass.

Everything else reads this: ``munjero worker GROUP`` binds a group's steps
(``factory.worker``), the supervisor spawns one process per worker group and waits for their
readiness, the Kubernetes generator derives Deployments and Kafka ACLs from it
(``factory.generate``), and ``docs/architecture.md`` shows it as a table
(``python -m factory.topology``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from agents import draft, index, metrics_poller, publish
from agents.render import agent as render
from factory import steps
from streams.settings import Settings


@dataclass(frozen=True)
class StepBinding:
    """One step: its agent name, the topic it consumes (retry tiers follow from the catalogue),
    the topics it produces, and how it is built."""

    agent: str
    consumes: str
    produces: tuple[str, ...]
    build: Callable[[steps.StepContext], steps.BuiltStep]
    #: Events handled at once (and so the largest batch); a function of the settings.
    concurrency: Callable[[Settings], int] = lambda _s: 1
    #: Largest batch taken from Kafka (None: the binding's default).
    batch_max: Callable[[Settings], int | None] = lambda _s: None


@dataclass(frozen=True)
class ProcessGroup:
    """One kind of process: a worker group (a Faust app and consumer group) or a service."""

    name: str
    why: str
    steps: tuple[StepBinding, ...] = ()
    #: Resources it opens (names of ``factory.resources.Resources`` properties).
    resources: tuple[str, ...] = ()
    #: Readiness checks its ``/readyz`` runs (``factory.readiness``).
    readiness: tuple[str, ...] = ()
    #: Topics it produces outside any step (the API's intake, the evaluator's weights).
    produces: tuple[str, ...] = ()
    #: Topics it reads outside a consumer group (assign-and-seek readers).
    reads: tuple[str, ...] = ()

    @property
    def consumes(self) -> tuple[str, ...]:
        return tuple(b.consumes for b in self.steps)

    @property
    def all_produced(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys([*(t for b in self.steps for t in b.produces), *self.produces]))


INDEX = StepBinding(
    agent=index.AGENT,
    consumes="knowledge.ingested",
    produces=("knowledge.indexed",),
    build=steps.build_index,
)
DRAFT = StepBinding(
    agent=draft.AGENT,
    consumes="problems.submitted",
    produces=("scripts.drafted",),
    build=steps.build_draft,
)
RENDER = StepBinding(
    agent=render.AGENT,
    consumes="scripts.drafted",
    produces=("renders.storyboarded", "renders.completed"),
    build=steps.build_render,
    concurrency=lambda s: s.render_concurrency,
    batch_max=lambda s: s.render_concurrency,
)
PUBLISH = StepBinding(
    agent=publish.AGENT,
    consumes="renders.completed",
    produces=("shorts.published",),
    build=steps.build_publish,
    # Uploads take seconds to minutes: small batches, a short redo after a crash.
    batch_max=lambda _s: 10,
)
METRICS_POLL = StepBinding(
    agent=metrics_poller.AGENT,
    consumes="shorts.published",
    produces=("metrics.observed",),
    build=steps.build_metrics_poll,
)

WORKER_GROUPS: tuple[ProcessGroup, ...] = (
    ProcessGroup(
        "content",
        why="indexing (vector-store writer) and drafting (reader) share a process: the "
        "embedded vector engine keeps its data directory to one process",
        steps=(INDEX, DRAFT),
        resources=("vector_store", "embedder"),
        readiness=("qdrant",),
        reads=("experiments.updated",),  # connectors/arm_weights.py assigns every partition
    ),
    ProcessGroup(
        "render",
        why="chromium and ffmpeg in their own process, so renders never starve drafting of "
        "the event loop, and KEDA scales it (to zero) on its own lag",
        steps=(RENDER,),
        resources=("browser", "tts", "artifacts", "renderer"),
        readiness=("browser",),
    ),
    ProcessGroup(
        "publish",
        why="uploads and the metrics schedule share the channel (simulator or YouTube credentials)",
        steps=(PUBLISH, METRICS_POLL),
        resources=("artifacts", "video_publisher", "analytics_source", "clock"),
    ),
)

SERVICES: tuple[ProcessGroup, ...] = (
    ProcessGroup(
        "api",
        why="producers' HTTP intake, the dashboard and status reads; on the embedded default "
        "also the schema registry, the ClickHouse sink and the telemetry sink (chdb keeps its "
        "data directory to one process)",
        readiness=("broker", "clickhouse", "schema_registry"),
        produces=("problems.submitted", "knowledge.ingested", "munjero.health"),
    ),
    ProcessGroup(
        "evaluator",
        why="reads ClickHouse and publishes arm weights; beside ClickHouse",
        produces=("experiments.updated",),
    ),
)


def worker_group(name: str) -> ProcessGroup:
    """The worker group called ``name``; a ValueError naming the known ones otherwise."""
    for group in WORKER_GROUPS:
        if group.name == name:
            return group
    known = ", ".join(g.name for g in WORKER_GROUPS)
    raise ValueError(f"unknown agent group {name!r}; known: {known}")


def worker_group_names() -> tuple[str, ...]:
    return tuple(g.name for g in WORKER_GROUPS)


def service(name: str) -> ProcessGroup:
    for group in (*WORKER_GROUPS, *SERVICES):
        if group.name == name:
            return group
    raise ValueError(f"unknown service {name!r}")


def markdown_table() -> str:
    """The process-topology table of ``docs/architecture.md``."""
    rows = [
        "| Process | Steps (agent: consumes → produces) | Resources | Readiness | Why |",
        "|---|---|---|---|---|",
    ]
    for group in (*WORKER_GROUPS, *SERVICES):
        kind = "worker" if group in WORKER_GROUPS else "service"
        bound = "<br>".join(
            f"{b.agent}: `{b.consumes}` → {', '.join(f'`{t}`' for t in b.produces)}"
            for b in group.steps
        ) or ("produces " + ", ".join(f"`{t}`" for t in group.produces))
        rows.append(
            f"| `{group.name}` ({kind}) | {bound} | {', '.join(group.resources) or '–'} "
            f"| {', '.join(group.readiness) or '–'} | {group.why} |"
        )
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
