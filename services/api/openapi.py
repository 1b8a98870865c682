"""The OpenAPI description of what the routes parse by hand (see ``gateway.py`` for why):
request bodies, the shared headers, security schemes and the runtime limits."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, TypeAdapter

from services.api.errors import ErrorBody, FieldError
from services.api.idempotency import MAX_KEY_LENGTH
from services.api.models import (
    KnowledgeDeletion,
    KnowledgeDocumentIn,
    KnowledgeIn,
    ProblemBatch,
    ProblemIn,
)

REF = "#/components/schemas/{model}"
SECURITY: list[dict[str, list[str]]] = [{"bearer": []}, {"apiKey": []}]
SECURITY_SCHEMES = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "`Authorization: Bearer mj_<key_id>_<secret>`",
    },
    "apiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "The same key in `X-API-Key` (for clients that cannot set Authorization).",
    },
}
_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Optional. A retry with the same key (same producer, same body) gets the "
    "first answer with `Idempotent-Replayed: true` and publishes nothing new. "
    "Kept 24 h; the same key with another body is a 422.",
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
}
_TRACEPARENT = {
    "name": "traceparent",
    "in": "header",
    "required": False,
    "description": "W3C trace context; copied onto the Kafka records.",
    "schema": {
        "type": "string",
        "examples": ["00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"],
    },
}


def write_operation(schema_name: str, examples: dict[str, Any]) -> dict[str, Any]:
    """``openapi_extra`` of a POST route whose JSON body is component ``schema_name``."""
    return {
        "security": SECURITY,
        "parameters": [_IDEMPOTENCY_KEY, _TRACEPARENT],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"$ref": REF.format(model=schema_name)},
                    "examples": examples,
                }
            },
        },
    }


READ_OPERATION: dict[str, Any] = {"security": SECURITY}


def _component_schemas() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    models: list[type[BaseModel]] = [
        ProblemIn,
        ProblemBatch,
        KnowledgeDocumentIn,
        KnowledgeDeletion,
        ErrorBody,
        FieldError,
    ]
    for model in models:
        schema = model.model_json_schema(ref_template=REF, mode="validation")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    union = TypeAdapter(KnowledgeIn).json_schema(ref_template=REF, mode="validation")
    union.pop("$defs", None)
    union["description"] = "A document to add or replace, or a deletion (`deleted: true`)."
    schemas["KnowledgeIn"] = union
    return schemas


def install_openapi(app: FastAPI, *, max_batch: int) -> None:
    """Complete FastAPI's generated document with the hand-parsed parts (built once, cached)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            components = schema.setdefault("components", {})
            schemas = components.setdefault("schemas", {})
            for name, definition in _component_schemas().items():
                schemas.setdefault(name, definition)
            schemas["ProblemBatch"]["properties"]["problems"]["maxItems"] = max_batch
            components["securitySchemes"] = SECURITY_SCHEMES
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
