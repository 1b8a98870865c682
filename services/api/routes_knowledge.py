"""``/v1/knowledge``: add, replace or delete a knowledge document."""

from __future__ import annotations

import orjson
from fastapi import FastAPI, Request
from pydantic import TypeAdapter
from starlette.responses import Response

from schemas.serializer import subject_for
from services.api.auth import KNOWLEDGE_WRITE
from services.api.errors import error_responses
from services.api.gateway import (
    Gateway,
    idempotency_key,
    parse_body,
    require_json,
    traced_headers,
)
from services.api.idempotency import Answer
from services.api.models import KnowledgeAccepted, KnowledgeDeletion, KnowledgeIn
from services.api.openapi import write_operation
from services.api.records import (
    KNOWLEDGE_EVENT,
    knowledge_record,
    request_basis,
    submission_ids,
)
from streams.events import now

_KNOWLEDGE: TypeAdapter[KnowledgeIn] = TypeAdapter(KnowledgeIn)
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


def knowledge_routes(app: FastAPI, gw: Gateway) -> None:
    """Register the routes on ``app`` itself: an included ``APIRouter`` adds a routing layer
    to every request (measurable on the hot path)."""
    serde = gw.deps.serde
    topic = gw.deps.config.topic("knowledge.ingested")
    subject = subject_for(topic)

    @app.post(
        "/v1/knowledge",
        tags=["knowledge"],
        status_code=202,
        response_description="Accepted: the broker acknowledged the event(s).",
        response_model=KnowledgeAccepted,
        summary="Add, replace or delete a knowledge document",
        description="Publishes one `KnowledgeDocumentIngested` event keyed by `document_id` "
        "(a compacted topic: the latest version of a document wins). Send "
        '`{"document_id": ..., "deleted": true}` to delete. Field errors are located under the '
        'branch, e.g. `["body", "document", "content"]`.',
        responses=error_responses(401, 403, 413, 415, 422, 503),
        openapi_extra=write_operation("KnowledgeIn", _EXAMPLES),
    )
    async def submit_knowledge(request: Request) -> Response:
        headers = request.headers
        principal = gw.authorize(headers, KNOWLEDGE_WRITE)
        require_json(headers)
        key = idempotency_key(headers)
        body = await request.body()
        doc = parse_body(_KNOWLEDGE, body)

        async def compute() -> Answer:
            basis = request_basis(key, body)
            ids = submission_ids(KNOWLEDGE_EVENT, principal.producer, basis, 0, doc.document_id)
            record = knowledge_record(doc, ids, principal.producer, now())
            value = serde.encode(subject, KNOWLEDGE_EVENT, record)
            headers_out = traced_headers(
                topic, ids.entity_id, headers, attribute="munjero.document_id"
            )
            await gw.publish([(topic, ids.entity_id.encode(), value, headers_out)])
            accepted = {
                "document_id": ids.entity_id,
                "event_id": ids.event_id,
                "deleted": isinstance(doc, KnowledgeDeletion),
                "content_sha256": record["content_sha256"],
            }
            return Answer(202, orjson.dumps(accepted))

        return await gw.respond(request, principal, key, body, compute)
