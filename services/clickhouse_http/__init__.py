"""ClickHouse's HTTP interface, served by the process that owns the embedded warehouse (chdb).

Analysts point their own ClickHouse tools (clickhouse-connect, curl, Grafana's ClickHouse
plugin) at it as at a server; the ``analyst`` user is read-only (docs/clickhouse.md).
"""
