"""A real registry over HTTP: the embedded server under uvicorn on a free loopback port.

Import the fixtures into a test module (``from tests.integration.registry_fixtures import
registry_url, ...``). ``registry_url`` is shared by a module's tests, so they must use their own
subjects (``subject``); ``fresh_registry_url`` is a private server for tests that change global
state (the global compatibility level, the list of all subjects).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from services.registry.server import create_registry_app
from tests.servers import serve_in_thread


@contextmanager
def running_registry(db_path: Path | str) -> Iterator[str]:
    """Serve a registry in a background thread; yield its base URL once it answers."""
    with serve_in_thread(create_registry_app(db_path), name="registry server") as url:
        yield url


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
