"""The same DDL for a replicated ClickHouse server cluster (pure SQL text).

The generators (``tables``, ``views``, ``analytics``, ``kafka_engine``) write single-node
statements: what chdb runs on the embedded default. ``on_cluster`` turns one of them into its
cluster form for the server, which the Altinity operator runs as one shard of replicas with
ClickHouse Keeper (k8s/base/clickhouse):

* ``ON CLUSTER '{cluster}'`` after the object's name, so the DDL Job's statement runs on every
  replica, whichever one it connected to;
* ``<X>MergeTree(args)`` becomes ``Replicated<X>MergeTree('/clickhouse/tables/{shard}/{database}/
  {table}', '{replica}', args)``: parts replicate through Keeper and a replica that was down
  catches up; ``{cluster}``, ``{shard}`` and ``{replica}`` are macros the operator defines on
  every replica, ``{database}``/``{table}`` are expanded by the server;
* insert deduplication uses ``replicated_deduplication_window`` instead of the non-replicated
  setting of the same meaning.

A statement of a kind this module does not know raises, so a new generator cannot silently
produce a table that exists on one replica only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TARGET = re.compile(
    r"\A(?:CREATE(?: OR REPLACE)? (?:DATABASE|TABLE|VIEW|MATERIALIZED VIEW)(?: IF NOT EXISTS)?"
    r"|ALTER TABLE) `[A-Za-z_][A-Za-z0-9_]*`(?:\.`[A-Za-z_][A-Za-z0-9_]*`)?"
)
_MERGE_TREE = re.compile(r"ENGINE = (?!Replicated)(\w*MergeTree)\b(?:\(([^()]*)\))?")


@dataclass(frozen=True)
class Cluster:
    """Where the server DDL runs; the defaults are the Altinity operator's macros."""

    name: str = "{cluster}"
    keeper_path: str = "/clickhouse/tables/{shard}/{database}/{table}"
    replica: str = "{replica}"


def _quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def on_cluster(statement: str, cluster: Cluster | None) -> str:
    """``statement`` for ``cluster`` (unchanged when ``cluster`` is ``None``: chdb)."""
    if cluster is None:
        return statement
    target = _TARGET.match(statement)
    if target is None:
        raise ValueError(f"no cluster form for: {statement.splitlines()[0]}")
    head, rest = statement[: target.end()], statement[target.end() :]
    rest = _MERGE_TREE.sub(lambda m: _replicated(m, cluster), rest)
    rest = rest.replace("non_replicated_deduplication_window", "replicated_deduplication_window")
    return f"{head} ON CLUSTER {_quoted(cluster.name)}{rest}"


def _replicated(match: re.Match[str], cluster: Cluster) -> str:
    kind, args = match.group(1), match.group(2)
    params = [_quoted(cluster.keeper_path), _quoted(cluster.replica)]
    if args:
        params.append(args)
    return f"ENGINE = Replicated{kind}({', '.join(params)})"
