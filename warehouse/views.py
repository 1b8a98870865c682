"""Views over the raw tables (pure SQL text, generated from the catalogue).

Views count distinct business ids (``uniqExact``) and take extremes (``minIf``/``argMax``), so a
duplicate row that ``ReplacingMergeTree`` has not merged away yet never counts twice, and no
``FINAL`` is needed across a ``UNION`` (which would be expensive).
"""

from __future__ import annotations

from collections.abc import Iterator

from streams.catalogue import EVENT_TOPICS, TopicSpec
from warehouse.tables import DATABASE, DEAD_LETTERS, ident, raw_tables, table_for_topic

# SQL here is assembled with f-strings from catalogue names that pass through ``ident`` (S608 is
# silenced line by line below): no value from outside the repository ever reaches this text.

PIPELINE_STATUS = "pipeline_status"

# (topic, step name, rank, the column identifying one unit of work of that step)
_STEPS = (
    ("problems.submitted", "submitted", 1, "event_id"),
    ("scripts.drafted", "drafted", 2, "script_id"),
    ("renders.completed", "rendered", 3, "render_id"),
    ("shorts.published", "published", 4, "short_id"),
)
DEAD_LETTERED = ("dead_lettered", 5)


def _q(database: str, table: str) -> str:
    return f"{ident(database)}.{ident(table)}"


def _literal_list(values: list[str]) -> str:
    # Catalogue names only (dots and letters): never user input.
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"


def _problem_lookup(spec: TopicSpec) -> str | None:
    """The raw table mapping ``spec``'s record key to a ``problem_id`` (``""``: the key is the
    problem id itself; ``None``: the topic has no problem)."""
    if spec.key == "problem_id":
        return ""
    for table in raw_tables():
        names = {c.name for c in table.columns}
        if table.order_by[0] == spec.key and "problem_id" in names:
            return table.name
    return None


def _dead_letter_selects(database: str) -> Iterator[str]:
    """Dead letters carry the failed record's key, not its problem: map key -> problem."""
    by_lookup: dict[str, list[str]] = {}
    for spec in EVENT_TOPICS:
        lookup = _problem_lookup(spec)
        if lookup is not None:
            by_lookup.setdefault(lookup, []).append(spec.name)
    step, rank = DEAD_LETTERED
    for lookup, topics in by_lookup.items():
        # original_topic is the physical name: match the catalogue name after any namespace.
        where = (
            f"arrayExists(t -> d.original_topic = t OR endsWith(d.original_topic, concat('.', t)),"
            f" {_literal_list(topics)})"
        )
        cols = f"'{step}' AS step, {rank} AS step_rank, d.occurred_at, d.event_id AS item_id"
        if lookup == "":
            yield (
                f"SELECT assumeNotNull(d.original_key) AS problem_id, {cols}\n"  # noqa: S608
                f"    FROM {_q(database, DEAD_LETTERS)} AS d\n"
                f"    WHERE d.original_key IS NOT NULL AND {where}"
            )
        else:
            key = table_for_topic(topics[0]).order_by[0]
            yield (
                f"SELECT m.problem_id AS problem_id, {cols}\n"  # noqa: S608
                f"    FROM {_q(database, DEAD_LETTERS)} AS d\n"
                f"    INNER JOIN (SELECT DISTINCT {ident(key)} AS k, problem_id"
                f" FROM {_q(database, lookup)}) AS m ON d.original_key = m.k\n"
                f"    WHERE {where}"
            )


def pipeline_status(database: str = DATABASE) -> str:
    """Per problem: when it was submitted, how far its scripts got, what failed, the last step."""
    selects = [
        f"SELECT problem_id, '{step}' AS step, {rank} AS step_rank, occurred_at,"  # noqa: S608
        f" {ident(item)} AS item_id\n    FROM {_q(database, table_for_topic(topic).name)}"
        for topic, step, rank, item in _STEPS
    ]
    selects.extend(_dead_letter_selects(database))
    union = "\n    UNION ALL\n    ".join(selects)
    return f"""CREATE OR REPLACE VIEW {_q(database, PIPELINE_STATUS)} AS
SELECT
    problem_id,
    if(countIf(step = 'submitted') > 0, minIf(occurred_at, step = 'submitted'), NULL)
        AS submitted_at,
    uniqExactIf(item_id, step = 'submitted') AS submissions,
    uniqExactIf(item_id, step = 'drafted') AS scripts_drafted,
    uniqExactIf(item_id, step = 'rendered') AS renders,
    uniqExactIf(item_id, step = 'published') AS published,
    uniqExactIf(item_id, step = 'dead_lettered') AS dead_lettered,
    argMax(step, (occurred_at, step_rank)) AS last_step,
    max(occurred_at) AS last_event_at
FROM
(
    {union}
)
GROUP BY problem_id"""  # noqa: S608


def view_statements(database: str = DATABASE) -> Iterator[str]:
    yield pipeline_status(database)
