"""``/v1/knowledge``: add, replace or delete a knowledge document."""

# No `from __future__ import annotations`: FastAPI must evaluate the annotations of the route
# closures, which refer to local names (the scope dependencies).

from typing import Annotated

import orjson
from fastapi import APIRouter, Body, Depends, Header, Request
from starlette.responses import Response

from connectors.api.auth import KNOWLEDGE_WRITE, Principal
from connectors.api.errors import error_responses
from connectors.api.gateway import Gateway, IdempotencyKey, TraceParent, trace_headers
from connectors.api.idempotency import Answer
from connectors.api.models import KnowledgeAccepted, KnowledgeDeletion, KnowledgeIn
from connectors.api.records import (
    KNOWLEDGE_EVENT,
    knowledge_record,
    request_basis,
    submission_ids,
)
from schemas.serializer import subject_for
from streams.events import now

_EXAMPLES = {
    "document": {
        "summary": "Add or replace a document",
        "value": {
            "document_id": "joseon-founding",
            "title": "조선의 건국",
            "subject": "한국사",
            "language": "ko",
            "content_type": "text/markdown",
            "content": "# 조선의 건국\n1392년 이성계가 조선을 세웠다.",
            "tags": ["조선"],
        },
    },
    "deletion": {
        "summary": "Delete a document",
        "value": {"document_id": "joseon-founding", "deleted": True},
    },
}


def knowledge_router(gw: Gateway) -> APIRouter:
    serde = gw.deps.serde
    topic = gw.deps.settings.topic("knowledge.ingested")
    subject = subject_for(topic)
    writer = gw.requires(KNOWLEDGE_WRITE)
    router = APIRouter(tags=["knowledge"])

    @router.post(
        "/v1/knowledge",
        status_code=202,
        response_model=KnowledgeAccepted,
        summary="Add, replace or delete a knowledge document",
        description="Publishes one `KnowledgeDocumentIngested` event keyed by `document_id` "
        "(a compacted topic: the latest version of a document wins). Send "
        '`{"document_id": ..., "deleted": true}` to delete. Field errors are located under the '
        'branch, e.g. `["body", "document", "content"]`.',
        responses=error_responses(401, 403, 413, 422, 503),
    )
    async def submit_knowledge(
        request: Request,
        doc: Annotated[KnowledgeIn, Body(openapi_examples=_EXAMPLES)],
        principal: Annotated[Principal, Depends(writer)],
        idempotency_key: IdempotencyKey = None,
        traceparent: TraceParent = None,
        tracestate: Annotated[str | None, Header(include_in_schema=False)] = None,
    ) -> Response:
        body = await request.body()

        async def compute() -> Answer:
            basis = request_basis(idempotency_key, body)
            ids = submission_ids(KNOWLEDGE_EVENT, principal.producer, basis, 0, doc.document_id)
            record = knowledge_record(doc, ids, principal.producer, now())
            value = serde.encode(subject, KNOWLEDGE_EVENT, record)
            headers = trace_headers(traceparent, tracestate)
            await gw.publish([(topic, ids.entity_id.encode(), value, headers)])
            accepted = {
                "document_id": ids.entity_id,
                "event_id": ids.event_id,
                "deleted": isinstance(doc, KnowledgeDeletion),
                "content_sha256": record["content_sha256"],
            }
            return Answer(202, orjson.dumps(accepted))

        return await gw.respond(request, principal, idempotency_key, body, compute)

    return router
