"""Errors grouped by fingerprint in ClickHouse, derived from ``otel_logs`` (pure SQL text).

The embedded default's answer to Sentry's issue list: every ERROR (or worse) log record that
carries ``munjero.error.fingerprint`` (``streams.telemetry.errors.exception_attributes``) feeds a
materialized view into ``error_groups``, one ``AggregatingMergeTree`` row per fingerprint and
day: occurrences, first and last seen, and the latest occurrence's type, message and service
and the latest agent, topic and problem id given (``argMax`` by timestamp, not ``anyLast``,
which after merges returns whichever part came last rather than the newest record).

Redelivery. Log records reach ClickHouse through Kafka at least once, and a materialized view
sees every inserted block: a batch inserted twice (the log sink crashed between insert and
commit; ``otel_logs`` has no deduplication window, so its insert token does not stop that)
would count twice with ``countState``. Occurrences are therefore ``uniqExact`` of a hash of
the whole record (nanosecond timestamp, trace and span ids, service, body, attributes), as the
funnel counts distinct business ids (``warehouse.analytics``): a redelivered record adds
nothing, two real occurrences differ at least by their timestamps. The price is 8 bytes per
occurrence in the aggregate state, bounded by the daily buckets' TTL (the logs' retention).

The view only sees inserts made after it exists: records already in ``otel_logs`` when it is
first created are not grouped (``backfill_sql`` does that, by hand, if wanted).
"""

from __future__ import annotations

from observability.clickhouse_traces import DEFAULT_TTL_DAYS, LOGS_TABLE, _check_days, logs_ddl
from streams.telemetry.errors import FINGERPRINT_ATTRIBUTE
from warehouse import dashboards
from warehouse.tables import ident

ERROR_GROUPS = "error_groups"
ERROR_GROUPS_VIEW = "error_groups_mv"
ERROR_SEVERITY = 17  # OpenTelemetry SeverityNumber of ERROR; FATAL is 21
# Dashboard query name (``dashboards/error_groups.sql``): {db:Identifier}, {limit:UInt32}.
ERROR_GROUPS_DASHBOARD = "error_groups"

# Column of error_groups -> the log attribute whose latest value it keeps.
LATEST = {"exception_type": "exception.type", "message": "exception.message"}
# The same, but the latest non-empty value: an occurrence outside a step (no agent, topic or
# problem, e.g. logged by the API) must not blank what the step occurrences said.
LATEST_GIVEN = {
    "agent": "munjero.agent",
    "topic": "munjero.topic",
    "problem_id": "munjero.problem_id",
}
_TS = "DateTime64(9)"


def _error_groups_sql() -> str:
    return dashboards.query_text(ERROR_GROUPS_DASHBOARD)


# The groups, most recently seen first: {db:Identifier}, {limit:UInt32}. One text for the
# dashboard and anyone else (it lives in dashboards/ with the analysts' other queries).
ERROR_GROUPS_SQL = _error_groups_sql()


def _q(database: str, name: str) -> str:
    return f"{ident(database)}.{ident(name)}"


def error_groups_table(database: str, *, ttl_days: int = DEFAULT_TTL_DAYS) -> str:
    _check_days(ttl_days)
    latest = "".join(
        f"    {ident(c)} AggregateFunction(argMax, String, {_TS}),\n"
        for c in (*LATEST, "service", *LATEST_GIVEN)
    )
    return (
        f"CREATE TABLE IF NOT EXISTS {_q(database, ERROR_GROUPS)}\n(\n"
        "    `day` Date,\n"
        "    `fingerprint` String,\n"
        "    `occurrences` AggregateFunction(uniqExact, UInt64),\n"
        f"    `first_seen` AggregateFunction(min, {_TS}),\n"
        f"    `last_seen` AggregateFunction(max, {_TS}),\n"
        f"{latest.rstrip().rstrip(',')}\n"
        ")\nENGINE = AggregatingMergeTree\n"
        "PARTITION BY toYYYYMM(`day`)\nORDER BY (`fingerprint`, `day`)\n"
        f"TTL `day` + INTERVAL {ttl_days} DAY\n"
        "COMMENT 'Error log records per fingerprint and day (fed by error_groups_mv)'"
    )


def _select(database: str) -> str:
    def attr(key: str) -> str:
        # Keys are constants of this package, never outside input.
        return f"LogAttributes['{key}']"

    latest = "".join(
        f"       argMaxState({attr(key)}, Timestamp) AS {ident(column)},\n"
        for column, key in LATEST.items()
    )
    given = ",\n".join(
        f"       argMaxStateIf({attr(key)}, Timestamp, {attr(key)} != '') AS {ident(column)}"
        for column, key in LATEST_GIVEN.items()
    )
    return (
        f"SELECT toDate(Timestamp) AS `day`, {attr(FINGERPRINT_ATTRIBUTE)} AS `fingerprint`,\n"
        "       uniqExactState(cityHash64(Timestamp, TraceId, SpanId, ServiceName, Body,\n"
        "                                 LogAttributes)) AS `occurrences`,\n"
        "       minState(Timestamp) AS `first_seen`, maxState(Timestamp) AS `last_seen`,\n"
        f"{latest}"
        "       argMaxState(toString(ServiceName), Timestamp) AS `service`,\n"
        f"{given}\n"
        f"FROM {_q(database, LOGS_TABLE)}\n"
        f"WHERE SeverityNumber >= {ERROR_SEVERITY} AND {attr(FINGERPRINT_ATTRIBUTE)} != ''\n"
        "GROUP BY `day`, `fingerprint`"
    )  # identifiers pass through ident; no value is formatted in


def error_groups_view(database: str) -> str:
    return (
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {_q(database, ERROR_GROUPS_VIEW)}\n"
        f"TO {_q(database, ERROR_GROUPS)} AS\n{_select(database)}"
    )


def backfill_sql(database: str) -> str:
    """Group the records already in ``otel_logs``, e.g. once after the view is first created
    on an existing data directory. Safe to repeat and to overlap the view: occurrences are
    distinct records, so a record grouped twice still counts once."""
    return f"INSERT INTO {_q(database, ERROR_GROUPS)}\n{_select(database)}"


def error_groups_statements(database: str, *, ttl_days: int = DEFAULT_TTL_DAYS) -> list[str]:
    """Every statement, in order, idempotent: the logs table (so this runs standalone; a
    no-op when it exists), the groups table, then the view over the logs."""
    return [
        logs_ddl(f"{database}.{LOGS_TABLE}", ttl_days=ttl_days),
        error_groups_table(database, ttl_days=ttl_days),
        error_groups_view(database),
    ]
