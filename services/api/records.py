"""Pure mapping from validated requests to event records, and the ids they carry.

Ids are deterministic functions of the request, so a retry reproduces them:

* the *basis* of a request is its Idempotency-Key when it has one, else the SHA-256 of its body;
* a missing ``problem_id`` / ``document_id`` is ``uuid5(producer, basis, index)``;
* ``event_id`` is ``uuid5(producer, basis, index, entity id)``;
* ``correlation_id`` (the pipeline run) is ``uuid5(event_id)``: new for every submission, but the
  same for a retry of it.

Why this matters: a publish that times out may still land on the broker later (the producer
keeps the records it already handed to the client library). The client sees 503 and retries; the
retry publishes the same event ids, and downstream deduplication on ``event_id`` collapses the
two. Including the entity id in ``event_id`` keeps two different problems from ever sharing one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.api.models import KnowledgeDeletion, KnowledgeDocumentIn, ProblemIn
from streams import __version__
from streams.events import derived_id, meta

API_PRODUCER = f"munjero-api@{__version__}"
PROBLEM_EVENT = "ProblemSubmitted"
KNOWLEDGE_EVENT = "KnowledgeDocumentIngested"

Record = dict[str, Any]


def request_basis(idempotency_key: str | None, body: bytes) -> str:
    """What makes two requests "the same submission"."""
    if idempotency_key is not None:
        return f"key:{idempotency_key}"
    return f"sha256:{hashlib.sha256(body).hexdigest()}"


@dataclass(frozen=True)
class Ids:
    entity_id: str
    event_id: str
    correlation_id: str


def submission_ids(
    event_type: str, producer: str, basis: str, index: int, client_id: str | None
) -> Ids:
    """The ids of item ``index`` of a request (see the module docstring)."""
    position = str(index)
    entity_id = client_id or derived_id(event_type, "entity", producer, basis, position)
    event_id = derived_id(event_type, producer, basis, position, entity_id)
    return Ids(entity_id, event_id, derived_id("run", event_id))


def problem_record(problem: ProblemIn, ids: Ids, submitted_by: str, at: datetime) -> Record:
    """The ProblemSubmitted record of one accepted problem."""
    return {
        "meta": meta(
            event_id=ids.event_id,
            correlation_id=ids.correlation_id,
            causation_id=None,  # a submission starts a run: nothing caused it inside the system
            occurred_at=at,
            producer=API_PRODUCER,
        ),
        "problem_id": ids.entity_id,
        "language": problem.language,
        "subject": problem.subject,
        "question": problem.question,
        "choices": problem.choices,
        "answer_index": problem.answer_index,
        "explanation": problem.explanation,
        "difficulty": problem.difficulty,
        "tags": problem.tags,
        "submitted_by": submitted_by,
    }


def content_sha256(content: str) -> str:
    return hashlib.sha256(content.encode()).hexdigest()


def knowledge_record(
    doc: KnowledgeDocumentIn | KnowledgeDeletion, ids: Ids, submitted_by: str, at: datetime
) -> Record:
    """The KnowledgeDocumentIngested record of a document or of its deletion."""
    record: Record = {
        "meta": meta(
            event_id=ids.event_id,
            correlation_id=ids.correlation_id,
            causation_id=None,
            occurred_at=at,
            producer=API_PRODUCER,
        ),
        "document_id": ids.entity_id,
        "submitted_by": submitted_by,
    }
    if isinstance(doc, KnowledgeDeletion):
        # A tombstone-like event: the indexer only needs the id; the contract's required strings
        # are empty and the hash is that of the empty content.
        record.update(
            title="",
            subject="",
            language="",
            content_type="",
            content="",
            content_sha256=content_sha256(""),
            tags=[],
            deleted=True,
        )
    else:
        record.update(
            title=doc.title,
            subject=doc.subject,
            language=doc.language,
            content_type=doc.content_type,
            content=doc.content,
            content_sha256=content_sha256(doc.content),
            tags=doc.tags,
            deleted=False,
        )
    return record
