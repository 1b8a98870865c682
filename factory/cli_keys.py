"""``munjero keys``: list, create, revoke and rotate producer API keys.

Keys live hashed in ``MUNJERO_API_KEYS_FILE`` (default ``data_dir/api-keys.json``); every API
process reading that file refuses a revoked or expired key on its next request. A new key is
printed once on stdout (so ``KEY=$(munjero keys create ...)`` works) and never stored.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated

import typer
from rich.table import Table

from factory.cli_support import console, fail, print_json
from factory.devkey import replace_if_dev_key
from services.api.auth import (
    DASHBOARD_READ,
    DEFAULT_SCOPES,
    KNOWLEDGE_WRITE,
    PROBLEMS_READ,
    PROBLEMS_WRITE,
    SCOPES,
    ApiKeyStore,
    KeyFileError,
)
from services.api.deps import key_usage_path
from streams.settings import Settings

keys_cli = typer.Typer(
    help="Producer API keys: list, create, revoke, rotate.", no_args_is_help=True
)


class Scope(StrEnum):
    """What a key may do (``services.api.auth.SCOPES``; a test keeps the two equal)."""

    PROBLEMS_WRITE = PROBLEMS_WRITE
    PROBLEMS_READ = PROBLEMS_READ
    KNOWLEDGE_WRITE = KNOWLEDGE_WRITE
    DASHBOARD_READ = DASHBOARD_READ


_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
SCOPE_HELP = (
    f"repeat for several; one of {', '.join(sorted(SCOPES))} (default: {', '.join(DEFAULT_SCOPES)})"
)


def parse_duration(value: str | None, option: str) -> timedelta | None:
    """``90d``, ``12h``, ``30m``, ``2w``, ``45s`` -> a timedelta (None passes through)."""
    if value is None:
        return None
    found = _DURATION.match(value.strip())
    if found is None or int(found.group(1)) == 0:
        raise typer.BadParameter(
            f"{value!r} is not a duration: use e.g. 90d, 12h, 30m, 2w", param_hint=f"'{option}'"
        )
    return timedelta(**{_UNITS[found.group(2)]: int(found.group(1))})


def _store() -> tuple[Settings, ApiKeyStore]:
    settings = Settings()
    try:
        store = ApiKeyStore.load(
            settings.resolved_api_keys_file, usage_path=key_usage_path(settings)
        )
    except (KeyFileError, OSError) as exc:  # a broken or unreadable file: say which, no stack
        fail(str(exc), code=1)
    return settings, store


def _when(value: datetime | None) -> str:
    return "–" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


@keys_cli.command("list")
def keys_list(
    as_json: Annotated[bool, typer.Option("--json", help="one JSON document")] = False,
) -> None:
    """Every key with its producer, scopes, state, creation, expiry and last use."""
    _, store = _store()
    keys = store.list_keys()
    if as_json:
        print_json([k.to_json() for k in keys])
        return
    table = Table("key id", "producer", "label", "scopes", "state", "created", "expires",
                  "last used")  # fmt: skip
    for k in keys:
        r = k.record
        colour = "green" if k.state == "active" else "red"
        table.add_row(
            r.key_id, r.producer, r.label, " ".join(sorted(r.scopes)), f"[{colour}]{k.state}[/]",
            _when(r.created_at), _when(r.expires_at), _when(k.last_used_at),
        )  # fmt: skip
    console().print(table)


@keys_cli.command("create")
def keys_create(
    producer: Annotated[str, typer.Option(help="who uses the key (recorded on every event)")],
    scope: Annotated[list[Scope] | None, typer.Option(help=SCOPE_HELP)] = None,
    label: Annotated[str, typer.Option(help="a note for keys list, e.g. the script using it")] = "",
    expires_in: Annotated[
        str | None, typer.Option(help="lifetime such as 90d, 12h, 30m (default: no expiry)")
    ] = None,
) -> None:
    """Create an API key and print it once: only its hash is stored."""
    _, store = _store()
    lifetime = parse_duration(expires_in, "--expires-in")
    expires = None if lifetime is None else datetime.now(UTC) + lifetime
    try:
        scopes = [s.value for s in scope] if scope else DEFAULT_SCOPES
        plaintext = store.create_key(producer, scopes, label=label, expires_at=expires)
    except ValueError as exc:
        fail(str(exc))
    typer.echo(plaintext)
    typer.echo("Copy the key now: only its hash is kept.", err=True)


def _known(store: ApiKeyStore, key_id: str) -> None:
    if store.get(key_id) is None:
        ids = ", ".join(k.record.key_id for k in store.list_keys() if k.state == "active") or "none"
        fail(f"no API key {key_id!r} (active keys: {ids}; munjero keys list shows all)")


@keys_cli.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="the key id, as keys list shows")],
) -> None:
    """Revoke a key: every API process refuses it from its next request on."""
    _, store = _store()
    _known(store, key_id)
    record = store.revoke(key_id)
    typer.echo(f"revoked {record.key_id} ({record.producer})")


@keys_cli.command("rotate")
def keys_rotate(
    key_id: Annotated[str, typer.Argument(help="the key id, as keys list shows")],
    grace: Annotated[
        str | None,
        typer.Option(help="keep the old key working this long (e.g. 1h) while clients switch"),
    ] = None,
    expires_in: Annotated[
        str | None, typer.Option(help="lifetime of the new key (default: the old key's)")
    ] = None,
) -> None:
    """Issue a new key with the same producer and scopes; revoke the old one (now, or after
    --grace). Prints the new key once."""
    settings, store = _store()
    _known(store, key_id)
    lifetime = parse_duration(expires_in, "--expires-in")
    try:
        plaintext = store.rotate(
            key_id,
            grace=parse_duration(grace, "--grace"),
            expires_at=None if lifetime is None else datetime.now(UTC) + lifetime,
        )
    except ValueError as exc:
        fail(str(exc))
    typer.echo(plaintext)
    if replace_if_dev_key(settings.data_dir, key_id, plaintext):
        typer.echo("This was the development key: munjero up prints the new one.", err=True)
    typer.echo("Copy the key now: only its hash is kept.", err=True)
