"""Finding the running factory from its data directory.

``munjero up`` (and ``munjero demo``) start a broker on a free port, serve the registry inside
the API process and so on; the addresses change on every start. The process that owns
``data_dir`` writes them to ``data_dir/factory.json`` when everything is up and removes the
file when it stops, so client commands (``dlq``, ``topics``, ``doctor``, ``sql``) find the
factory without flags. A file left by a process that died (its pid is gone) is ignored.

Settings from the environment always win: with ``MUNJERO_KAFKA_BOOTSTRAP_SERVERS`` set, the
file is not consulted for the broker.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from streams.settings import Settings

FILE_NAME = "factory.json"


@dataclass(frozen=True)
class Endpoints:
    """Where the parts of one running factory answer."""

    kafka_bootstrap_servers: str
    schema_registry_url: str
    api_url: str
    pid: int = field(default_factory=os.getpid)
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    # Further addresses other parts announce (e.g. a ClickHouse HTTP interface).
    extra: Mapping[str, str] = field(default_factory=dict)


class NoRunningFactory(LookupError):
    """Nothing to talk to: no environment configuration and no live factory in data_dir."""


def endpoints_path(data_dir: Path) -> Path:
    return data_dir / FILE_NAME


def announce(data_dir: Path, endpoints: Endpoints) -> Callable[[], None]:
    """Write ``endpoints`` for clients to find; returns the function that withdraws them."""
    path = endpoints_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{FILE_NAME}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(asdict(endpoints), indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)

    def withdraw() -> None:
        current = read_endpoints(data_dir)
        if current is not None and current.pid == endpoints.pid:  # not a newer factory's file
            path.unlink(missing_ok=True)

    return withdraw


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def read_endpoints(data_dir: Path) -> Endpoints | None:
    """The endpoints of the factory running on ``data_dir``, or None (none, or it died)."""
    try:
        raw: dict[str, Any] = json.loads(endpoints_path(data_dir).read_text(encoding="utf-8"))
        found = Endpoints(
            kafka_bootstrap_servers=str(raw["kafka_bootstrap_servers"]),
            schema_registry_url=str(raw["schema_registry_url"]),
            api_url=str(raw["api_url"]),
            pid=int(raw["pid"]),
            started_at=str(raw.get("started_at", "")),
            extra={str(k): str(v) for k, v in (raw.get("extra") or {}).items()},
        )
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None
    return found if _alive(found.pid) else None


def with_running_factory(settings: Settings) -> Settings:
    """``settings`` with the broker and registry of the running factory filled in where the
    environment left them unset; unchanged when nothing runs."""
    found = read_endpoints(settings.data_dir)
    if found is None:
        return settings
    update: dict[str, Any] = {}
    if not settings.kafka_bootstrap_servers:
        update["kafka_bootstrap_servers"] = found.kafka_bootstrap_servers
    if not settings.schema_registry_url:
        update["schema_registry_url"] = found.schema_registry_url
    return settings.model_copy(update=update) if update else settings


def require_broker(settings: Settings) -> Settings:
    """Settings that name a broker and a registry (from the environment or the running
    factory); ``NoRunningFactory`` with what to do otherwise."""
    resolved = with_running_factory(settings)
    if not resolved.kafka_bootstrap_servers or not resolved.schema_registry_url:
        raise NoRunningFactory(
            f"no running factory in {settings.data_dir} (start munjero up, or set "
            "MUNJERO_KAFKA_BOOTSTRAP_SERVERS and MUNJERO_SCHEMA_REGISTRY_URL)"
        )
    return resolved


def api_url(settings: Settings) -> str:
    """The API of the running factory, else the configured host and port."""
    found = read_endpoints(settings.data_dir)
    return found.api_url if found is not None else f"http://{settings.api_host}:{settings.api_port}"
