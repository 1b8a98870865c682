"""The one aiokafka method the idle-fetch wait wraps still has the shape it was written for."""

from __future__ import annotations

import inspect

from aiokafka.consumer.fetcher import Fetcher

from streams import idle_fetch


def test_library_method_has_the_wrapped_shape() -> None:
    original = idle_fetch._ORIGINAL
    assert tuple(inspect.signature(original).parameters) == idle_fetch.EXPECTED_PARAMETERS
    assert inspect.iscoroutinefunction(original)


def test_installed_wrapper_replaces_the_library_method() -> None:
    idle_fetch.honour_fetch_max_wait(250)  # conftest installed it already; idempotent
    assert Fetcher._proc_fetch_request is idle_fetch._proc_fetch_request_waiting
    assert idle_fetch.idle_wait_s() == 0.25
