"""``/v1/problems``: submit one problem, a batch, and read a problem's pipeline status."""

from __future__ import annotations

import logging
from typing import Annotated

import orjson
from fastapi import FastAPI, Path, Request
from pydantic import TypeAdapter
from starlette.datastructures import Headers
from starlette.responses import Response

from schemas.serializer import subject_for
from services.api.auth import PROBLEMS_READ, PROBLEMS_WRITE, Principal
from services.api.errors import NotFound, ServiceUnavailable, error_responses, json_response
from services.api.gateway import Gateway, idempotency_key, parse_body, traced_headers
from services.api.idempotency import Answer
from services.api.models import (
    PROBLEM_EXAMPLE,
    BatchAccepted,
    ProblemAccepted,
    ProblemBatch,
    ProblemIn,
    ProblemStatus,
)
from services.api.openapi import READ_OPERATION, write_operation
from services.api.records import (
    PROBLEM_EVENT,
    Ids,
    problem_record,
    request_basis,
    submission_ids,
)
from streams.errors import RetriableError
from streams.events import now
from streams.ports.producer import Message

log = logging.getLogger(__name__)

PROBLEM_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
_PROBLEM = TypeAdapter(ProblemIn)
_BATCH = TypeAdapter(ProblemBatch)
_WRITE_ERRORS = error_responses(401, 403, 413, 422, 503)


def _accepted(ids: Ids) -> dict[str, str]:
    return {
        "problem_id": ids.entity_id,
        "event_id": ids.event_id,
        "status_url": f"/v1/problems/{ids.entity_id}",
    }


def problems_routes(app: FastAPI, gw: Gateway) -> None:
    """Register the routes on ``app`` itself: an included ``APIRouter`` adds a routing layer
    to every request (measurable on the hot path)."""
    settings = gw.deps.settings
    serde = gw.deps.serde
    topic = settings.topic("problems.submitted")
    subject = subject_for(topic)
    batch_context = {"max_batch": settings.api_max_batch}

    def encode(problem: ProblemIn, ids: Ids, principal: Principal, headers: Headers) -> Message:
        record = problem_record(problem, ids, principal.producer, now())
        value = serde.encode(subject, PROBLEM_EVENT, record)
        # Keyed by problem_id: every event of one problem stays in one partition, in order.
        return (topic, ids.entity_id.encode(), value, traced_headers(topic, ids.entity_id, headers))

    @app.post(
        "/v1/problems",
        tags=["problems"],
        status_code=202,
        response_description="Accepted: the broker acknowledged the event(s).",
        response_model=ProblemAccepted,
        summary="Submit one problem",
        description="Validates the problem and publishes one `ProblemSubmitted` event keyed by "
        "`problem_id`. 202 means the broker acknowledged it; the pipeline runs asynchronously "
        "(follow `status_url`, also in `Location`).",
        responses=_WRITE_ERRORS,
        openapi_extra=write_operation("ProblemIn", {"korean": {"value": PROBLEM_EXAMPLE}}),
    )
    async def submit_problem(request: Request) -> Response:
        headers = request.headers
        principal = gw.authorize(headers, PROBLEMS_WRITE)
        key = idempotency_key(headers)
        body = await request.body()
        problem = parse_body(_PROBLEM, body)

        async def compute() -> Answer:
            basis = request_basis(key, body)
            ids = submission_ids(PROBLEM_EVENT, principal.producer, basis, 0, problem.problem_id)
            await gw.publish([encode(problem, ids, principal, headers)])
            accepted = _accepted(ids)
            return Answer(202, orjson.dumps(accepted), {"Location": accepted["status_url"]})

        return await gw.respond(request, principal, key, body, compute)

    @app.post(
        "/v1/problems:batch",
        tags=["problems"],
        status_code=202,
        response_description="Accepted: the broker acknowledged the event(s).",
        response_model=BatchAccepted,
        summary="Submit a batch of problems (all or nothing)",
        description=f"Up to {settings.api_max_batch} problems in one request. Either every "
        "problem is accepted (202, ids in request order) or none is (4xx/503). Field errors are "
        'located as `["body", "problems", <index>, <field>]`.',
        responses=_WRITE_ERRORS,
        openapi_extra=write_operation(
            "ProblemBatch", {"one": {"value": {"problems": [PROBLEM_EXAMPLE]}}}
        ),
    )
    async def submit_batch(request: Request) -> Response:
        headers = request.headers
        principal = gw.authorize(headers, PROBLEMS_WRITE)
        key = idempotency_key(headers)
        body = await request.body()
        batch = parse_body(_BATCH, body, batch_context)

        async def compute() -> Answer:
            basis = request_basis(key, body)
            ids = [
                submission_ids(PROBLEM_EVENT, principal.producer, basis, index, p.problem_id)
                for index, p in enumerate(batch.problems)
            ]
            # One publish_many: the whole batch is acknowledged or the request fails. "Nothing
            # half-written" is a promise about what the client is told, not about the log: on a
            # timeout some records may already be on the broker (or arrive later). The client
            # gets 503 and retries; the retry derives the same problem and event ids from the
            # Idempotency-Key or the body hash, so downstream deduplication on event_id collapses
            # whatever part of the first attempt landed.
            await gw.publish(
                [encode(p, i, principal, headers) for p, i in zip(batch.problems, ids, strict=True)]
            )
            accepted = [_accepted(i) for i in ids]
            return Answer(202, orjson.dumps({"count": len(accepted), "problems": accepted}))

        return await gw.respond(request, principal, key, body, compute)

    @app.get(
        "/v1/problems/{problem_id}",
        tags=["problems"],
        response_model=ProblemStatus,
        summary="Pipeline status of a problem",
        description="The steps the problem has gone through, as the analytics store sees them "
        "(it lags the broker by up to a few seconds). 404 until the submission is ingested.",
        responses=error_responses(401, 403, 404, 422, 503),
        openapi_extra=READ_OPERATION,
    )
    async def problem_status(
        request: Request, problem_id: Annotated[str, Path(pattern=PROBLEM_ID_PATTERN)]
    ) -> Response:
        gw.authorize(request.headers, PROBLEMS_READ)
        try:
            status = await gw.deps.status_reader.problem_status(problem_id)
        except RetriableError as exc:  # e.g. WarehouseError: the store is down, not the request
            log.warning("status of %s unavailable: %s", problem_id, exc)
            raise ServiceUnavailable("pipeline status is unavailable right now") from exc
        if status is None:
            raise NotFound(f"no problem {problem_id!r} (yet): it may still be on its way")
        return json_response(200, status)
