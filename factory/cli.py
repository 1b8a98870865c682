"""``munjero``: the command line of the factory."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from factory.cli_keys import keys_cli
from factory.cli_sql import dashboards_cli, sql
from factory.cli_support import (
    CliConsole,
    OneLineErrors,
    check_event_topic,
    fail,
    print_json,
    print_version,
)
from streams.settings import Settings

if TYPE_CHECKING:
    from schemas.serializer import AvroSerde

cli = typer.Typer(
    name="munjero",
    help="Munjero Shorts Factory: quiz problems in, YouTube Shorts out.",
    no_args_is_help=True,
    add_completion=False,
    cls=OneLineErrors,  # a user mistake is one line and exit code 2 (factory/cli_support.py)
)
dlq_cli = typer.Typer(help="Inspect and replay dead letters.", no_args_is_help=True)
topics_cli = typer.Typer(help="The topic catalogue.", no_args_is_help=True)
cli.add_typer(dlq_cli, name="dlq")
cli.add_typer(topics_cli, name="topics")
cli.add_typer(keys_cli, name="keys")
cli.add_typer(dashboards_cli, name="dashboards")
cli.command()(sql)
console = CliConsole()  # unlimited width when piped: nothing is cut


@cli.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="print the version and exit", is_eager=True, callback=print_version
        ),
    ] = False,
) -> None:
    """Munjero Shorts Factory: quiz problems in, YouTube Shorts out."""


def _client_settings() -> Settings:
    """Settings of a command that talks to a running factory: the broker and registry from the
    environment, else from the factory running on the data dir (factory/discovery.py)."""
    from factory.discovery import NoRunningFactory, require_broker

    try:
        return require_broker(_settings())
    except NoRunningFactory as exc:
        fail(str(exc))


def _settings() -> Settings:
    from observability.telemetry import configure_logging
    from streams import kafka_auth
    from streams.idle_fetch import honour_fetch_max_wait

    settings = Settings()
    kafka_auth.client_config(settings)  # a SASL identity without its password fails here
    honour_fetch_max_wait(settings.kafka_idle_fetch_wait_ms)  # no busy polling (broker.md)
    # JSON lines from the start; the process's telemetry set-up adds trace shipping later.
    configure_logging(settings, "munjero-cli")
    return settings


@cli.command()
def demo(
    problems: Annotated[int, typer.Option(help="how many sample problems to submit (0: all)")] = 0,
    timeout: Annotated[float, typer.Option(help="seconds to wait for the pipeline")] = 120.0,
    renders: Annotated[int, typer.Option(help="rendered shorts to wait for (0: none)")] = 2,
    days: Annotated[
        int, typer.Option(help="instead: run the feedback loop over N simulated days")
    ] = 0,
) -> None:
    """Start everything on embedded defaults, submit the sample bank, print a summary.

    With --days N: the learning loop on the channel simulator (docs/experiments.md).
    """
    if days > 0:
        from factory.loop_report import run_and_print

        raise typer.Exit(run_and_print(_settings(), days))
    from factory.demo import run_demo

    code = asyncio.run(run_demo(_settings(), limit=problems, timeout=timeout, renders=renders))
    raise typer.Exit(code)


@cli.command()
def evaluator() -> None:
    """Run the A/B evaluator alone (needs broker, registry and ClickHouse URLs in the env)."""
    from factory.standalone import run_evaluator_process

    try:
        asyncio.run(run_evaluator_process(_settings()))
    except ValueError as exc:  # missing configuration: say what, no traceback
        typer.echo(f"munjero evaluator: {exc}", err=True)
        raise typer.Exit(2) from None


@cli.command()
def up(
    with_monitoring: Annotated[
        bool,
        typer.Option(
            "--with-monitoring/--without-monitoring",
            help="run Debian's Prometheus and Alertmanager (the alerting) next to the factory",
        ),
    ] = True,
) -> None:
    """Run broker, registry, API, workers and sink until Ctrl-C."""
    from factory.supervisor import run_up
    from services.api.auth import KeyFileError

    try:
        asyncio.run(run_up(_settings(), with_monitoring=with_monitoring))
    except KeyFileError as exc:  # a hand-edited key file: name it, no stack
        fail(str(exc), code=1)


@cli.command()
def api() -> None:
    """Run the producer API alone (broker, registry and ClickHouse URLs from the env)."""
    from factory.standalone import run_api_process

    try:
        asyncio.run(run_api_process(_settings()))
    except ValueError as exc:
        typer.echo(f"munjero api: {exc}", err=True)
        raise typer.Exit(2) from None


@cli.command()
def registry(
    host: Annotated[str, typer.Option(help="interface to bind")] = "0.0.0.0",  # noqa: S104
    port: Annotated[int, typer.Option(help="port to bind")] = 8081,
) -> None:
    """Run the Confluent-compatible schema registry alone (SQLite under MUNJERO_DATA_DIR)."""
    from factory.standalone import run_registry_process

    asyncio.run(run_registry_process(_settings(), host, port))


@cli.command()
def worker(group: Annotated[str, typer.Argument(help="agent group, e.g. content")]) -> None:
    """Run one agent group (a Faust worker). Needs broker and registry URLs in the env."""
    from factory.worker import run_worker

    try:
        run_worker(_settings(), group)
    except ValueError as exc:  # unknown group or missing configuration
        typer.echo(f"munjero worker: {exc}", err=True)
        raise typer.Exit(2) from None
    except Exception:
        # A worker's log is JSON lines (data_dir/logs/worker-*.log): its crash goes there as one
        # JSON record with the stack, not as a box-drawn terminal traceback.
        logging.getLogger("munjero.worker").critical("worker %s crashed", group, exc_info=True)
        raise typer.Exit(1) from None


@cli.command()
def doctor(
    url: Annotated[
        str | None,
        typer.Option(help="API base URL (default: the running factory's, else MUNJERO_API_*)"),
    ] = None,
) -> None:
    """Run every readiness check of a running factory and print each one's status and latency.

    The same checks as GET /readyz: a canary round trip through the broker, the schema
    registry, a ClickHouse write, a Qdrant search and each worker's own checks (browser launch).
    Exit code 1 when anything is not ready, 2 when the API does not answer.
    """
    import httpx

    from factory.discovery import api_url

    settings = _settings()
    base = url or api_url(settings)
    try:
        answer = httpx.get(f"{base}/readyz", timeout=15.0)
    except httpx.HTTPError as exc:
        typer.echo(f"munjero doctor: the API at {base} does not answer ({exc})", err=True)
        raise typer.Exit(2) from None
    report = answer.json()
    table = Table(title=f"munjero doctor: {base} is {report.get('status', '?')}")
    for column in ("check", "status", "latency ms"):
        table.add_column(column)
    table.add_column("detail", overflow="fold")  # a failing check's reason, whole
    for name, check in report.get("checks", {}).items():
        _doctor_row(table, name, check)
        for worker, checks in (check.get("details") or {}).items():
            if isinstance(checks, dict) and "status" not in checks:
                for sub, result in checks.items():
                    _doctor_row(table, f"  {worker} {sub}", result)
            elif isinstance(checks, dict):
                _doctor_row(table, f"  {worker}", checks)
    console.print(table)
    raise typer.Exit(0 if answer.status_code == 200 else 1)


def _doctor_row(table: Table, name: str, check: dict[str, object]) -> None:
    status = str(check.get("status", "?"))
    colour = "green" if status == "ok" else "red"
    table.add_row(
        name,
        f"[{colour}]{status}[/]",
        str(check.get("latency_ms", "")),
        str(check.get("error", "")),
    )


@topics_cli.command("list")
def topics_list(
    as_json: Annotated[bool, typer.Option("--json", help="one JSON document")] = False,
) -> None:
    """Print the catalogue, with the topic configs as Kafka names them."""
    from streams.catalogue import ALL_TOPICS

    rows = [
        {
            "topic": spec.name,
            "key": spec.key,
            "schema": spec.value_schema,
            "partitions": spec.partitions,
            **spec.config(),  # cleanup.policy, retention.ms (-1: forever)
        }
        for spec in ALL_TOPICS
    ]
    if as_json:
        print_json(rows)
        return
    table = Table("topic", "key", "schema", "partitions", "cleanup.policy", "retention.ms")
    for row in rows:
        table.add_row(*(str(row[c]) for c in ("topic", "key", "schema", "partitions",
                                              "cleanup.policy", "retention.ms")))  # fmt: skip
    console.print(table)


@topics_cli.command("create")
def topics_create() -> None:
    """Create every catalogue topic that is missing (idempotent)."""
    from connectors.kafka import ensure_topics
    from streams.kafka_auth import client_config

    settings = _client_settings()
    created = asyncio.run(
        ensure_topics(client_config(settings), namespace=settings.topic_namespace)
    )
    console.print(f"created {len(created)} topic(s)")


_TOPIC_HELP = "event topic, e.g. problems.submitted (not its .dlq)"


@dlq_cli.command("list")
def dlq_list(
    topic: Annotated[str, typer.Option(help=_TOPIC_HELP, callback=check_event_topic)],
    as_json: Annotated[bool, typer.Option("--json", help="one JSON document")] = False,
) -> None:
    """Show every dead letter of an event topic."""
    from factory.dlq import read_dead_letters

    settings = _client_settings()

    async def run() -> None:
        serde = _serde(settings)
        consumer, letters = await read_dead_letters(settings, topic, serde)
        await consumer.stop()
        if as_json:
            print_json([dl.summary() for dl in letters])
            return
        table = Table("dlq offset", "origin", "attempts", "error")
        for dl in letters:
            origin = f"{dl.original_topic}[{dl.original_partition}]@{dl.original_offset}"
            table.add_row(
                str(dl.offset), origin, str(dl.attempts), f"{dl.error_class}: {dl.error_message}"
            )
        console.print(table)

    asyncio.run(run())


@dlq_cli.command("replay")
def dlq_replay(
    topic: Annotated[str, typer.Option(help=_TOPIC_HELP, callback=check_event_topic)],
    limit: Annotated[int | None, typer.Option(help="replay at most this many", min=1)] = None,
) -> None:
    """Re-publish dead letters to their original topic (after the cause is fixed)."""
    from factory.dlq import replay

    settings = _client_settings()
    count = asyncio.run(replay(settings, topic, _serde(settings), limit=limit))
    console.print(f"replayed {count} dead letter(s) to {topic}")


def _serde(settings: Settings) -> AvroSerde:
    from connectors.registry_client import HttpSchemaRegistry
    from schemas.serializer import AvroSerde

    return AvroSerde(HttpSchemaRegistry(settings.schema_registry_url or ""))


def main() -> None:
    cli(prog_name="munjero")


if __name__ == "__main__":
    main()
