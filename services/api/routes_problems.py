"""``/v1/problems``: submit one problem or a batch (status reads: ``routes_status.py``)."""

from __future__ import annotations

import logging

import orjson
from fastapi import FastAPI, Request
from pydantic import TypeAdapter
from starlette.datastructures import Headers
from starlette.responses import Response

from schemas.serializer import subject_for
from services.api.auth import PROBLEMS_WRITE, Principal
from services.api.errors import error_responses
from services.api.gateway import (
    Gateway,
    idempotency_key,
    parse_body,
    require_json,
    traced_headers,
)
from services.api.idempotency import Answer
from services.api.models import (
    PROBLEM_EXAMPLE,
    BatchAccepted,
    ProblemAccepted,
    ProblemBatch,
    ProblemIn,
)
from services.api.openapi import write_operation
from services.api.records import (
    PROBLEM_EVENT,
    Ids,
    problem_record,
    request_basis,
    submission_ids,
)
from streams.events import now
from streams.ports.producer import Message

log = logging.getLogger(__name__)

_PROBLEM = TypeAdapter(ProblemIn)
_BATCH = TypeAdapter(ProblemBatch)
_WRITE_ERRORS = error_responses(401, 403, 413, 415, 422, 503)


def _accepted(ids: Ids) -> dict[str, str]:
    return {
        "problem_id": ids.entity_id,
        "event_id": ids.event_id,
        "status_url": f"/v1/problems/{ids.entity_id}",
    }


def problems_routes(app: FastAPI, gw: Gateway) -> None:
    """Register the routes on ``app`` itself: an included ``APIRouter`` adds a routing layer
    to every request (measurable on the hot path)."""
    config = gw.deps.config
    serde = gw.deps.serde
    topic = config.topic("problems.submitted")
    subject = subject_for(topic)
    batch_context = {"max_batch": config.max_batch}

    def encode(
        problem: ProblemIn,
        ids: Ids,
        principal: Principal,
        headers: Headers,
        *,
        own_trace: bool = False,
    ) -> Message:
        record = problem_record(problem, ids, principal.producer, now())
        value = serde.encode(subject, PROBLEM_EVENT, record)
        trace = traced_headers(topic, ids.entity_id, headers, own_trace=own_trace)
        # Keyed by problem_id: every event of one problem stays in one partition, in order.
        return (topic, ids.entity_id.encode(), value, trace)

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
        require_json(headers)
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
        description=f"Up to {config.max_batch} problems in one request. Either every "
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
        require_json(headers)
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
            # Each problem's journey is a trace of its own, linked to this request's span: the
            # journey query of one problem must not return the whole batch.
            await gw.publish(
                [
                    encode(p, i, principal, headers, own_trace=True)
                    for p, i in zip(batch.problems, ids, strict=True)
                ]
            )
            accepted = [_accepted(i) for i in ids]
            return Answer(202, orjson.dumps({"count": len(accepted), "problems": accepted}))

        return await gw.respond(request, principal, key, body, compute)
