"""``GET /v1/problems/{id}``: a problem's status per step and per variant, and each variant's
video and storyboard, served here so a producer needs nothing but the API and its key."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import FastAPI, Path, Request
from starlette.responses import Response

from services.api.auth import PROBLEMS_READ
from services.api.dashboard_media import artifact_response
from services.api.errors import NotFound, ServiceUnavailable, error_responses, json_response
from services.api.gateway import Gateway
from services.api.openapi import READ_OPERATION
from services.api.status import MediaKind, StatusDict, media_uri, present
from services.api.status_models import ProblemStatus
from streams.errors import RetriableError

log = logging.getLogger(__name__)

PROBLEM_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
# Script ids are uuids today; the pattern only keeps paths and odd bytes out.
SCRIPT_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
_MEDIA = {
    "video": {"video/mp4": {"schema": {"type": "string", "format": "binary"}}},
    "storyboard": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}},
}


def status_routes(app: FastAPI, gw: Gateway) -> None:
    """Register the status and media routes on ``app``."""
    expected = gw.deps.config.expected_variants

    async def read(problem_id: str) -> StatusDict:
        try:
            status = await gw.deps.status_reader.problem_status(problem_id)
        except RetriableError as exc:  # e.g. WarehouseError: the store is down, not the request
            log.warning("status of %s unavailable: %s", problem_id, exc)
            raise ServiceUnavailable("pipeline status is unavailable right now") from exc
        if status is None:
            raise NotFound(f"no problem {problem_id!r} (yet): it may still be on its way")
        return status

    @app.get(
        "/v1/problems/{problem_id}",
        tags=["problems"],
        response_model=ProblemStatus,
        summary="Pipeline status of a problem and each of its variants",
        description="Per step, over all variants (`done` only when every expected variant did "
        "it), and per variant: its arm, script id, each step's status and time, the video and "
        "storyboard URLs (served by this API), the published video's id and URL, the latest "
        "metrics and any dead letter with its reason. Read from the analytics store, which lags "
        "the broker by up to a few seconds; 404 until the submission is ingested.",
        responses=error_responses(401, 403, 404, 422, 503),
        openapi_extra=READ_OPERATION,
    )
    async def problem_status(
        request: Request, problem_id: Annotated[str, Path(pattern=PROBLEM_ID_PATTERN)]
    ) -> Response:
        gw.authorize(request.headers, PROBLEMS_READ)
        return json_response(200, present(await read(problem_id), expected))

    @app.get(
        "/v1/problems/{problem_id}/variants/{script_id}/{kind}",
        tags=["problems"],
        summary="A variant's rendered video or storyboard",
        description="`kind` is `video` (MP4, answers Range requests) or `storyboard` (JPEG): "
        "the latest render of the variant's script. 404 until it is rendered.",
        responses={
            200: {"description": "The file.", "content": _MEDIA["video"] | _MEDIA["storyboard"]},
            **error_responses(401, 403, 404, 422, 503),
        },
        openapi_extra=READ_OPERATION,
    )
    async def variant_media(
        request: Request,
        problem_id: Annotated[str, Path(pattern=PROBLEM_ID_PATTERN)],
        script_id: Annotated[str, Path(pattern=SCRIPT_ID_PATTERN)],
        kind: MediaKind,
    ) -> Response:
        gw.authorize(request.headers, PROBLEMS_READ)
        uri = media_uri(await read(problem_id), script_id, kind)
        store = gw.deps.artifacts
        # Only a URI the warehouse recorded, and only inside the configured store, is served:
        # nothing from the request becomes a path or a key.
        key = None if uri is None or store is None else store.key_for_uri(uri)
        if store is None or key is None:
            raise NotFound(f"no {kind} of variant {script_id!r} of problem {problem_id!r} (yet)")
        try:
            response = await artifact_response(store, key)
        except RetriableError as exc:  # the store is unreachable, or the bytes were mid-swap
            log.warning("artifact %s unavailable: %s", key, exc)
            raise ServiceUnavailable(f"the {kind} is unavailable right now") from exc
        if response is None:
            raise NotFound(f"the {kind} of variant {script_id!r} is not in the store (yet)")
        return response
