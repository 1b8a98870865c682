"""``/v1/problems``: submit one problem, a batch, and read a problem's pipeline status."""

# No `from __future__ import annotations`: FastAPI must evaluate the annotations of the route
# closures, which refer to local names (the scope dependencies).

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Depends, Header, Path, Request
from fastapi.exceptions import RequestValidationError
from starlette.responses import Response

from connectors.api.auth import PROBLEMS_READ, PROBLEMS_WRITE, Principal
from connectors.api.errors import NotFound, error_responses, json_response
from connectors.api.gateway import Gateway, IdempotencyKey, TraceParent, trace_headers
from connectors.api.idempotency import Answer
from connectors.api.models import (
    PROBLEM_EXAMPLE,
    BatchAccepted,
    ProblemAccepted,
    ProblemBatch,
    ProblemIn,
    ProblemStatus,
)
from connectors.api.ports import Message
from connectors.api.records import (
    PROBLEM_EVENT,
    Ids,
    problem_record,
    request_basis,
    submission_ids,
)
from schemas.serializer import subject_for
from streams.events import now

PROBLEM_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"


def _accepted(ids: Ids) -> dict[str, str]:
    return {
        "problem_id": ids.entity_id,
        "event_id": ids.event_id,
        "status_url": f"/v1/problems/{ids.entity_id}",
    }


def problems_router(gw: Gateway) -> APIRouter:
    settings = gw.deps.settings
    serde = gw.deps.serde
    topic = settings.topic("problems.submitted")
    subject = subject_for(topic)
    max_batch = settings.api_max_batch
    writer = gw.requires(PROBLEMS_WRITE)
    reader = gw.requires(PROBLEMS_READ)
    router = APIRouter(prefix="/v1/problems", tags=["problems"])

    def encode(problem: ProblemIn, ids: Ids, principal: Principal, headers: Any) -> Message:
        record = problem_record(problem, ids, principal.producer, now())
        # Keyed by problem_id: every event of one problem stays in one partition, in order.
        return (
            topic,
            ids.entity_id.encode(),
            serde.encode(subject, PROBLEM_EVENT, record),
            headers,
        )

    @router.post(
        "",
        status_code=202,
        response_model=ProblemAccepted,
        summary="Submit one problem",
        description="Validates the problem and publishes one `ProblemSubmitted` event keyed by "
        "`problem_id`. 202 means the broker acknowledged it; the pipeline runs asynchronously "
        "(follow `status_url`).",
        responses=error_responses(401, 403, 413, 422, 503),
    )
    async def submit_problem(
        request: Request,
        problem: Annotated[
            ProblemIn, Body(openapi_examples={"korean": {"value": PROBLEM_EXAMPLE}})
        ],
        principal: Annotated[Principal, Depends(writer)],
        idempotency_key: IdempotencyKey = None,
        traceparent: TraceParent = None,
        tracestate: Annotated[str | None, Header(include_in_schema=False)] = None,
    ) -> Response:
        body = await request.body()

        async def compute() -> Answer:
            basis = request_basis(idempotency_key, body)
            ids = submission_ids(PROBLEM_EVENT, principal.producer, basis, 0, problem.problem_id)
            headers = trace_headers(traceparent, tracestate)
            await gw.publish([encode(problem, ids, principal, headers)])
            accepted = _accepted(ids)
            return Answer(202, orjson.dumps(accepted), {"Location": accepted["status_url"]})

        return await gw.respond(request, principal, idempotency_key, body, compute)

    async def batch_limit(request: Request) -> None:
        """Refuse an oversized batch before validating hundreds of items in it. The parsed JSON
        is cached on the request, so FastAPI's own body parsing does not repeat the work."""
        try:
            parsed = await request.json()
        except ValueError:
            return  # FastAPI reports malformed JSON itself
        items = parsed.get("problems") if isinstance(parsed, dict) else None
        if isinstance(items, list) and len(items) > max_batch:
            raise RequestValidationError(
                [
                    {
                        "type": "too_long",
                        "loc": ("body", "problems"),
                        "msg": f"a batch holds at most {max_batch} problems, got {len(items)}: "
                        "split it into several requests",
                    }
                ]
            )

    @router.post(
        ":batch",
        status_code=202,
        response_model=BatchAccepted,
        summary="Submit a batch of problems (all or nothing)",
        description=f"Up to {max_batch} problems in one request. Either every problem is "
        "accepted (202, ids in request order) or none is (4xx/503). Field errors are located "
        'as `["body", "problems", <index>, <field>]`.',
        responses=error_responses(401, 403, 413, 422, 503),
    )
    async def submit_batch(
        request: Request,
        batch: ProblemBatch,
        principal: Annotated[Principal, Depends(writer)],
        _limit: Annotated[None, Depends(batch_limit)],
        idempotency_key: IdempotencyKey = None,
        traceparent: TraceParent = None,
        tracestate: Annotated[str | None, Header(include_in_schema=False)] = None,
    ) -> Response:
        body = await request.body()

        async def compute() -> Answer:
            basis = request_basis(idempotency_key, body)
            headers = trace_headers(traceparent, tracestate)
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

        return await gw.respond(request, principal, idempotency_key, body, compute)

    @router.get(
        "/{problem_id}",
        response_model=ProblemStatus,
        summary="Pipeline status of a problem",
        description="The steps the problem has gone through, as the analytics store sees them "
        "(it lags the broker by up to a few seconds). 404 until the submission is ingested.",
        responses=error_responses(401, 403, 404, 422),
    )
    async def problem_status(
        problem_id: Annotated[str, Path(pattern=PROBLEM_ID_PATTERN)],
        _principal: Annotated[Principal, Depends(reader)],
    ) -> Response:
        status = await gw.deps.status_reader.problem_status(problem_id)
        if status is None:
            raise NotFound(f"no problem {problem_id!r} (yet): it may still be on its way")
        return json_response(200, status)

    return router
