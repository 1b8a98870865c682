"""Issue 6.7 e: schemathesis (4.x) against the published OpenAPI spec of the real API process
(``tests.chaos.api_server``: real Kafka producer on the embedded broker, HTTP registry, a valid
API key with every scope). Every operation gets generated positive and negative inputs; no
response may be a 5xx and every documented response must match its schema."""

# ruff: noqa: F811 - pytest injects imported fixtures by name
from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from connectors.kafka import ensure_topics
from streams.kafka_auth import KafkaClientConfig
from streams.settings import Settings
from tests.chaos.scenarios import api_process
from tests.integration.registry_fixtures import registry_url  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MAX_EXAMPLES = int(os.environ.get("MUNJERO_SCHEMATHESIS_EXAMPLES", "25"))
CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]


async def test_no_5xx_and_no_schema_violation(
    settings: Settings, registry_url: str, tmp_path: Path
) -> None:
    settings = settings.model_copy(update={"schema_registry_url": registry_url})
    await ensure_topics(
        KafkaClientConfig(settings.kafka_bootstrap_servers or ""),
        namespace=settings.topic_namespace,
    )
    async with api_process(settings, tmp_path) as (_, url, key):
        headers = {"Authorization": f"Bearer {key}"}
        schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
        failures: list[str] = []
        tested: list[str] = []
        untestable: list[str] = []
        statuses: dict[int, int] = {}
        operations = []
        for result in schema.get_all_operations():
            # An operation schemathesis cannot read is itself a defect of the published spec.
            assert isinstance(result, Ok), f"invalid operation in the spec: {result.err()}"
            operations.append(result.ok())
        for operation, mode in itertools.product(operations, GenerationMode):
            tested.append(f"{operation.label} ({mode.value})")

            @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
            @hypothesis.settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(hypothesis.HealthCheck),
            )
            def check(case: Any) -> None:
                response = case.call_and_validate(base_url=url, headers=headers, checks=CHECKS)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

            try:
                check()
            except hypothesis.errors.Unsatisfiable:
                # No parameters and no body: nothing can be made invalid (/healthz, /readyz).
                assert mode is GenerationMode.NEGATIVE, operation.label
                untestable.append(f"{operation.label} ({mode.value})")
            except Exception as exc:  # collect every operation's failure, then fail once
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    print(f"tested: {tested}; no invalid input possible: {untestable}; statuses: {statuses}")
    assert sum(statuses.values()) >= len(tested), statuses  # the checks really ran
    assert len(untestable) < len(tested) / 2
    assert not failures, "\n\n".join(failures)
