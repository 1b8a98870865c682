"""The embedded factory (what `munjero up` runs, without workers) started twice on one data dir:
one development key across starts, `munjero keys revoke` refusing the next request, and the CLI
finding the running factory through the data dir instead of flags."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping

import httpx
import pytest
from typer.testing import CliRunner

from connectors.broker import free_port
from factory.cli import cli
from factory.devkey import DEV_LABEL
from factory.discovery import read_endpoints
from factory.supervisor import running_factory
from services.api.auth import ApiKeyStore, key_id_of
from streams.settings import Settings

pytestmark = pytest.mark.integration


def _cli_env(settings: Settings) -> Mapping[str, str | None]:
    """What an operator's shell has: the data dir (and this test's topic namespace), no
    broker or registry address."""
    return {
        "MUNJERO_DATA_DIR": str(settings.data_dir),
        "MUNJERO_TOPIC_NAMESPACE": settings.topic_namespace,
        "MUNJERO_KAFKA_BOOTSTRAP_SERVERS": None,
        "MUNJERO_SCHEMA_REGISTRY_URL": None,
        "MUNJERO_API_KEYS_FILE": None,
    }


async def _munjero(settings: Settings, *args: str) -> tuple[int, str, str]:
    # In a thread: the command is blocking and the factory it talks to runs on this loop.
    result = await asyncio.to_thread(CliRunner().invoke, cli, list(args), env=_cli_env(settings))
    return result.exit_code, result.stdout, result.stderr


def _dev_keys(settings: Settings) -> list[str]:
    store = ApiKeyStore.load(settings.resolved_api_keys_file)
    return [
        k.record.key_id
        for k in store.list_keys()
        if k.record.label == DEV_LABEL and k.state == "active"
    ]


async def test_two_starts_one_dev_key_revocation_at_once_and_discovery(settings: Settings) -> None:
    async with running_factory(settings, port=free_port(), with_workers=False) as first:
        assert first.dev_key_created
        found = read_endpoints(settings.data_dir)
        assert found is not None
        assert (found.api_url, found.kafka_bootstrap_servers) == (
            first.api_url,
            first.settings.kafka_bootstrap_servers,
        )
        # No broker flag or variable: the CLI reads the data dir.
        code, out, err = await _munjero(settings, "dlq", "list", "--topic", "problems.submitted",
                                        "--json")  # fmt: skip
        assert code == 0, err
        assert json.loads(out) == []
    assert read_endpoints(settings.data_dir) is None  # withdrawn at a clean stop

    async with running_factory(settings, port=free_port(), with_workers=False) as second:
        assert second.dev_key == first.dev_key
        assert not second.dev_key_created
        assert _dev_keys(settings) == [key_id_of(first.dev_key)]

        headers = {"Authorization": f"Bearer {second.dev_key}"}
        async with httpx.AsyncClient(base_url=second.api_url, headers=headers) as client:
            assert (await client.get("/v1/problems/never-submitted")).status_code == 404
            code, out, err = await _munjero(settings, "keys", "revoke",
                                            key_id_of(second.dev_key) or "")  # fmt: skip
            assert code == 0, err
            refused = await client.get("/v1/problems/never-submitted")
            assert refused.status_code == 401
            assert "revoked" in refused.json()["detail"]
            code, out, _ = await _munjero(settings, "keys", "list", "--json")
            (listed,) = json.loads(out)
            assert listed["state"] == "revoked"
            assert listed["last_used_at"] is not None  # the API recorded its use
