"""API key lifecycle: expiry, revocation seen at once by every process reading the file,
rotation with and without grace, last-used times, and the development key of `munjero up`."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from factory.cli_keys import Scope
from factory.devkey import DEV_LABEL, dev_key_path, ensure_dev_key, replace_if_dev_key
from services.api.auth import SCOPES, ApiKeyStore, key_id_of
from services.api.errors import Unauthenticated

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _stores(tmp_path: Path, clock: Clock, n: int = 2) -> list[ApiKeyStore]:
    """``n`` processes reading one key file (and one usage log)."""
    return [
        ApiKeyStore.load(tmp_path / "keys.json", usage_path=tmp_path / "usage.sqlite3", clock=clock)
        for _ in range(n)
    ]


def test_a_revocation_is_refused_by_the_next_request_of_every_reader(
    tmp_path: Path, clock: Clock
) -> None:
    api_a, api_b, cli = _stores(tmp_path, clock, 3)
    key = cli.create_key("importer", ["problems:write"])
    assert api_a.authenticate(key).producer == "importer"
    assert api_b.authenticate(key).producer == "importer"
    cli.revoke(key_id_of(key) or "")
    for api in (api_a, api_b):
        with pytest.raises(Unauthenticated, match="revoked"):
            api.authenticate(f"Bearer {key}")
        with pytest.raises(Unauthenticated, match="revoked"):
            api.principal(key_id_of(key) or "")  # what a dashboard session checks


def test_a_key_stops_working_when_it_expires(tmp_path: Path, clock: Clock) -> None:
    api, cli = _stores(tmp_path, clock)
    key = cli.create_key("temp", ["problems:read"], expires_at=T0 + timedelta(hours=1))
    principal = api.authenticate(key)
    assert principal.expires_at == T0 + timedelta(hours=1)
    clock.now = T0 + timedelta(minutes=59)
    api.authenticate(key)
    clock.now = T0 + timedelta(hours=1)
    with pytest.raises(Unauthenticated, match="expired"):
        api.authenticate(key)
    (info,) = cli.list_keys()
    assert info.state == "expired"
    with pytest.raises(ValueError, match="future"):
        cli.create_key("temp", ["problems:read"], expires_at=T0)


def test_rotation_revokes_the_old_key_and_keeps_producer_scopes_and_lifetime(
    tmp_path: Path, clock: Clock
) -> None:
    api, cli = _stores(tmp_path, clock)
    old = cli.create_key("importer", ["problems:write", "problems:read"], label="nightly job",
                         expires_at=T0 + timedelta(days=90))  # fmt: skip
    clock.now = T0 + timedelta(days=10)
    new = cli.rotate(key_id_of(old) or "")
    with pytest.raises(Unauthenticated, match="revoked"):
        api.authenticate(old)
    principal = api.authenticate(new)
    assert (principal.producer, principal.scopes) == (
        "importer",
        frozenset({"problems:write", "problems:read"}),
    )
    assert principal.expires_at == clock.now + timedelta(days=90)
    record = cli.get(principal.key_id)
    assert record is not None
    assert record.label == "nightly job"
    with pytest.raises(ValueError, match="revoked"):
        cli.rotate(key_id_of(old) or "")


def test_rotation_with_grace_keeps_the_old_key_until_the_grace_ends(
    tmp_path: Path, clock: Clock
) -> None:
    api, cli = _stores(tmp_path, clock)
    old = cli.create_key("importer", ["problems:write"])
    new = cli.rotate(key_id_of(old) or "", grace=timedelta(hours=1))
    clock.now = T0 + timedelta(minutes=30)
    api.authenticate(old)
    api.authenticate(new)
    clock.now = T0 + timedelta(hours=1)
    with pytest.raises(Unauthenticated, match="expired"):
        api.authenticate(old)
    assert api.authenticate(new).expires_at is None


def test_last_use_is_recorded_by_each_process_and_read_by_the_cli(
    tmp_path: Path, clock: Clock
) -> None:
    api_a, api_b, cli = _stores(tmp_path, clock, 3)
    key = cli.create_key("importer", ["problems:write"])
    other = cli.create_key("unused", ["problems:write"])
    api_a.authenticate(key)
    clock.now = T0 + timedelta(minutes=5)
    api_b.authenticate(key)
    api_a.usage.close()
    api_b.usage.close()
    used = {i.record.key_id: i.last_used_at for i in cli.list_keys()}
    assert used == {key_id_of(key): T0 + timedelta(minutes=5), key_id_of(other): None}


def test_the_file_keeps_only_hashes_and_what_old_readers_need(tmp_path: Path, clock: Clock) -> None:
    (cli,) = _stores(tmp_path, clock, 1)
    key = cli.create_key("importer", ["problems:write"])
    cli.revoke(key_id_of(key) or "")
    path = tmp_path / "keys.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    (entry,) = json.loads(path.read_text())["keys"]
    assert key.split("_", 2)[2] not in path.read_text()
    # An API of the previous release (blue-green) reads "disabled" and nothing else.
    assert entry["disabled"] is True
    assert entry["revoked_at"] == T0.isoformat()


def test_a_key_file_of_the_previous_release_is_read(tmp_path: Path, clock: Clock) -> None:
    (cli,) = _stores(tmp_path, clock, 1)
    key = cli.create_key("importer", ["problems:write"])
    path = tmp_path / "keys.json"
    data = json.loads(path.read_text())
    for entry in data["keys"]:
        for field in ("label", "expires_at", "revoked_at"):
            del entry[field]
    path.write_text(json.dumps(data))
    api = ApiKeyStore.load(path, clock=clock)
    assert api.authenticate(key).producer == "importer"
    data["keys"][0]["disabled"] = True
    path.write_text(json.dumps(data))
    with pytest.raises(Unauthenticated, match="revoked"):
        api.authenticate(key)


def test_the_cli_offers_exactly_the_scopes_the_api_knows() -> None:
    assert {s.value for s in Scope} == SCOPES


# --- the development key of `munjero up` ----------------------------------------------------------


def _dev_keys(store: ApiKeyStore) -> list[str]:
    return [
        i.record.key_id
        for i in store.list_keys()
        if i.record.label == DEV_LABEL and i.state == "active"
    ]


def test_two_starts_leave_one_development_key(tmp_path: Path, clock: Clock) -> None:
    (store,) = _stores(tmp_path, clock, 1)
    first = ensure_dev_key(store, tmp_path)
    second = ensure_dev_key(store, tmp_path)
    assert first.created
    assert not second.created
    assert second.plaintext == first.plaintext
    assert _dev_keys(store) == [first.key_id]
    assert len(store.list_keys()) == 1
    assert stat.S_IMODE(dev_key_path(tmp_path).stat().st_mode) == 0o600
    assert store.authenticate(first.plaintext).scopes == SCOPES


def test_a_revoked_or_lost_development_key_is_replaced_not_added(
    tmp_path: Path, clock: Clock
) -> None:
    (store,) = _stores(tmp_path, clock, 1)
    first = ensure_dev_key(store, tmp_path)
    store.revoke(first.key_id)
    second = ensure_dev_key(store, tmp_path)
    assert second.created
    assert second.key_id != first.key_id
    assert _dev_keys(store) == [second.key_id]
    # The file is gone: the key in the store can never be printed again, so it is revoked.
    dev_key_path(tmp_path).unlink()
    third = ensure_dev_key(store, tmp_path)
    assert _dev_keys(store) == [third.key_id]
    with pytest.raises(Unauthenticated):
        store.authenticate(second.plaintext)


def test_rotating_the_development_key_updates_what_up_prints(tmp_path: Path, clock: Clock) -> None:
    (store,) = _stores(tmp_path, clock, 1)
    dev = ensure_dev_key(store, tmp_path)
    other = store.create_key("importer", ["problems:write"])
    assert not replace_if_dev_key(tmp_path, key_id_of(other) or "", "mj_x_y")
    new = store.rotate(dev.key_id)
    assert replace_if_dev_key(tmp_path, dev.key_id, new)
    again = ensure_dev_key(store, tmp_path)
    assert (again.plaintext, again.created) == (new, False)
    assert _dev_keys(store) == [again.key_id]
