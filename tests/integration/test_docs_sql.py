"""Every SQL snippet of README.md, docs/ and dashboards/README.md, and every query of the
Grafana provisioning example, runs as the read-only ``analyst`` (clickhouse-connect over the
HTTP interface) against a warehouse holding the sample pipeline and the telemetry tables: a
wrong column in the docs fails the build."""

from __future__ import annotations

import asyncio
import json
import re
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import clickhouse_connect
import pytest
import yaml
from clickhouse_connect.driver.exceptions import DatabaseError

from factory.clickhouse_http import AnalystEndpoint
from observability.telemetry_sink import telemetry_statements
from tests.analyst_server import DB, sample_events, serving

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    ROOT / "dashboards" / "README.md",
]
GRAFANA = ROOT / "dashboards" / "grafana"
# A fenced block (indented inside a list item or not) and an inline query with a FROM.
_FENCE = re.compile(r"^( *)```sql\n(.*?)^\1```", re.M | re.S)
_INLINE = re.compile(r"`((?:SELECT|WITH)\b[^`\n]*\bFROM\b[^`\n]*)`")


def doc_snippets() -> list[tuple[str, str]]:
    """(where, SQL) of every snippet in the documents."""
    found = []
    for path in DOCUMENTS:
        text = path.read_text(encoding="utf-8")
        name = path.relative_to(ROOT).as_posix()
        for match in _FENCE.finditer(text):
            line = text[: match.start()].count("\n") + 1
            found.append((f"{name}:{line}", textwrap.dedent(match.group(2)).strip()))
        for match in _INLINE.finditer(text):
            line = text[: match.start()].count("\n") + 1
            found.append((f"{name}:{line}", match.group(1).strip()))
    return found


def grafana_queries() -> list[tuple[str, str]]:
    board = json.loads((GRAFANA / "munjero-analysts.json").read_text(encoding="utf-8"))
    return [
        (f"grafana panel {panel['id']}", target["rawSql"])
        for panel in board["panels"]
        for target in panel["targets"]
    ]


@pytest.fixture
async def endpoint(tmp_path: Path) -> AsyncIterator[AnalystEndpoint]:
    async with serving(tmp_path / "data", sample_events()) as (served, warehouse):
        for statement in telemetry_statements(DB, 30):
            await warehouse.execute(statement)
        yield served


def _run_all(endpoint: AnalystEndpoint, snippets: list[tuple[str, str]]) -> dict[str, str]:
    """Each snippet's error, by where it is (empty: all ran)."""
    client = clickhouse_connect.get_client(
        dsn=endpoint.url, username=endpoint.user, password=endpoint.password, database=DB
    )
    failures = {}
    try:
        for where, sql in snippets:
            try:
                client.query(sql)
            except DatabaseError as exc:
                failures[where] = str(exc).splitlines()[0]
    finally:
        client.close()
    return failures


def test_the_extractor_finds_the_runbook_and_readme_queries() -> None:
    where = {w.split(":")[0] for w, _ in doc_snippets()}
    assert {"README.md", "docs/runbook.md"} <= where
    sql = [s for _, s in doc_snippets()]
    assert any("munjero.dead_letters" in s and "occurred_at" in s for s in sql)
    assert any("otel_traces" in s for s in sql)


async def test_every_sql_snippet_of_the_docs_runs(endpoint: AnalystEndpoint) -> None:
    snippets = doc_snippets()
    assert len(snippets) >= 5
    assert await asyncio.to_thread(_run_all, endpoint, snippets) == {}


async def test_a_wrong_column_fails(endpoint: AnalystEndpoint) -> None:
    # The runbook's query as it was: the same runner must catch it.
    wrong = (
        "SELECT error_class, count() FROM munjero.dead_letters "
        "WHERE failed_at > now() - INTERVAL 1 HOUR GROUP BY 1"
    )
    failures = await asyncio.to_thread(_run_all, endpoint, [("old runbook", wrong)])
    assert "code: 47" in failures["old runbook"]  # UNKNOWN_IDENTIFIER


def test_grafana_provisioning_structure() -> None:
    datasources = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "munjero-clickhouse.yaml").read_text()
    )
    assert datasources["apiVersion"] == 1
    (source,) = datasources["datasources"]
    assert source["type"] == "grafana-clickhouse-datasource"
    data: dict[str, Any] = source["jsonData"]
    assert (data["host"], data["port"], data["protocol"], data["secure"]) == (
        "127.0.0.1", 8123, "http", False,
    )  # fmt: skip
    assert (data["username"], data["defaultDatabase"]) == ("analyst", DB)
    assert source["secureJsonData"]["password"] == "$MUNJERO_ANALYST_PASSWORD"  # never in git
    # The plugin sends its query timeout as max_execution_time: at most the analyst's limit.
    from streams.settings import Settings

    assert float(data["queryTimeout"]) <= Settings().clickhouse_http_max_execution_s

    providers = yaml.safe_load(
        (GRAFANA / "provisioning" / "dashboards" / "munjero.yaml").read_text()
    )
    assert providers["apiVersion"] == 1
    (provider,) = providers["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"]

    board = json.loads((GRAFANA / "munjero-analysts.json").read_text())
    assert board["uid"]
    assert board["title"]
    assert board["panels"]
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        assert panel["datasource"]["uid"] == source["uid"]
        assert {"h", "w", "x", "y"} <= panel["gridPos"].keys()
        for target in panel["targets"]:
            assert target["datasource"] == {"type": source["type"], "uid": source["uid"]}
            assert target["rawSql"]
            assert target["refId"]


async def test_every_grafana_query_runs_and_labels_simulated_rows(
    endpoint: AnalystEndpoint,
) -> None:
    queries = grafana_queries()
    assert await asyncio.to_thread(_run_all, endpoint, queries) == {}
    for where, sql in queries:
        if "shorts_published" in sql or "short_performance" in sql:
            assert "simulated" in sql, where
