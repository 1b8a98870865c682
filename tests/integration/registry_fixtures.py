"""A real registry over HTTP: the embedded server under uvicorn on a free loopback port.

Import the fixtures into a test module (``from tests.integration.registry_fixtures import
registry_url, ...``). ``registry_url`` is shared by a module's tests, so they must use their own
subjects (``subject``); ``fresh_registry_url`` is a private server for tests that change global
state (the global compatibility level, the list of all subjects).
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn

from connectors.registry_server import create_registry_app


@contextmanager
def running_registry(db_path: Path | str) -> Iterator[str]:
    """Serve a registry in a background thread; yield its base URL once it answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Binding here and handing the socket to uvicorn leaves no window for another process to
    # take the port between choosing and listening.
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_registry_app(db_path), log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    try:
        while True:
            try:
                if httpx.get(f"{url}/", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the registry server did not start")
            time.sleep(0.02)  # polling interval, not synchronisation
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture(scope="module")
def registry_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a registry shared by the tests of one module (SQLite file, WAL)."""
    with running_registry(tmp_path_factory.mktemp("registry") / "registry.db") as url:
        yield url


@pytest.fixture
def fresh_registry_url(tmp_path: Path) -> Iterator[str]:
    """Base URL of a registry of this test alone."""
    with running_registry(tmp_path / "registry.db") as url:
        yield url


@pytest.fixture
def subject() -> str:
    """A subject no other test uses."""
    return f"t{uuid.uuid4().hex[:10]}.problems-value"
