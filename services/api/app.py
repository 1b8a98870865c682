"""The producer HTTP API: ``create_app(deps)`` builds the ASGI app and starts nothing.

Lifecycle (starting the Kafka producer, opening stores, closing them) belongs to the caller,
so the same app serves under uvicorn, in tests over ``httpx.ASGITransport``, and in benchmarks.
"""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from starlette.responses import Response

from observability.readiness import run_checks
from services.api.dashboard import dashboard_routes
from services.api.deps import ApiDeps
from services.api.errors import install_error_handlers, json_response
from services.api.gateway import Gateway
from services.api.limits import BodySizeLimit
from services.api.models import Liveness, Readiness
from services.api.openapi import install_openapi
from services.api.routes_knowledge import knowledge_routes
from services.api.routes_problems import problems_routes
from services.api.routes_status import status_routes
from services.api.telemetry import RequestTelemetry, instrument_server_spans
from streams import __version__

DESCRIPTION = """
Submit quiz problems and knowledge documents to the Munjero Shorts Factory.

Every accepted request becomes an Avro event on Kafka (`problems.submitted`,
`knowledge.ingested`); the pipeline then drafts, renders and publishes shorts asynchronously.

**Authentication**: `Authorization: Bearer mj_<key_id>_<secret>` or `X-API-Key`. Scopes:
`problems:write`, `problems:read`, `knowledge:write` (and `dashboard:read` for the operators'
dashboard). Keys can expire and be revoked (`munjero keys`); a revoked key is refused at once.

**Bodies** are JSON: send `Content-Type: application/json` (anything else is a 415).

**Retries**: send an `Idempotency-Key` header to make a POST safely retryable: the same key with
the same body returns the first answer (`Idempotent-Replayed: true`) and publishes nothing new.
Without a key, event ids are derived from the body, so an identical retry is deduplicated
downstream. On `503` wait `Retry-After` seconds and retry.

**Errors** share one shape: `{"detail": ..., "code": ...}`; 422 lists field errors with their
location (`["body", "problems", 3, "answer_index"]`).
"""

TAGS = [
    {"name": "problems", "description": "Quiz problems in, pipeline status out."},
    {"name": "knowledge", "description": "Documents the script writer retrieves facts from."},
    {"name": "health", "description": "Liveness and readiness probes (no authentication)."},
]


def create_app(deps: ApiDeps) -> FastAPI:
    """The API over ``deps`` (whose serde must already be prepared)."""
    app = FastAPI(
        title="Munjero producer API",
        version=__version__,
        description=DESCRIPTION,
        openapi_tags=TAGS,
        redoc_url=None,
    )
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=deps.config.max_body_bytes)
    # Outermost: the latency covers the body-size check and error handling too; the server
    # span's middleware (OpenTelemetry's) wraps even this one.
    app.add_middleware(RequestTelemetry)
    instrument_server_spans(app)
    gateway = Gateway(deps)
    problems_routes(app, gateway)
    status_routes(app, gateway)
    knowledge_routes(app, gateway)
    if deps.dashboard is not None:
        dashboard_routes(app, deps.dashboard, deps.keys)

    @app.get(
        "/healthz",
        tags=["health"],
        response_model=Liveness,
        summary="Liveness",
        description="Answers while the process serves requests; checks no dependency.",
    )
    async def healthz() -> Response:
        return json_response(200, {"status": "ok", "version": __version__})

    @app.get(
        "/readyz",
        tags=["health"],
        response_model=Readiness,
        summary="Readiness",
        description="Runs every readiness check concurrently (e.g. a canary produce to the "
        "broker, a warehouse query) and reports each one's status and latency; 503 if any fails.",
        responses={503: {"model": Readiness, "description": "At least one check failed."}},
    )
    async def readyz() -> Response:
        ready, report = await run_checks(deps.ready_checks)
        return json_response(200 if ready else 503, report)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        # Unauthenticated like the probes: in Kubernetes only the monitoring namespace may
        # reach it (NetworkPolicy); it carries counts, never payloads.
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    install_openapi(app, max_batch=deps.config.max_batch)
    return app
