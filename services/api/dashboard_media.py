"""A short's video or storyboard, served from the artifact store.

The request names only a short id and a kind. The object is found through the warehouse
(``shorts_published`` -> its script -> the latest ``renders_completed`` /
``renders_storyboarded`` row -> its URI), and the URI is served only when it lies inside the
configured store: nothing from the request ever becomes a path or a key.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Literal

from starlette.background import BackgroundTask
from starlette.responses import FileResponse, Response

from connectors.artifacts.local import LocalArtifactStore
from streams.ports.artifacts import ArtifactStore
from streams.ports.warehouse import Warehouse

Kind = Literal["video", "storyboard"]
TABLES: dict[Kind, str] = {"video": "renders_completed", "storyboard": "renders_storyboarded"}
# The newest render of the short's script wins: a re-render replaces what viewers see.
_URI_SQL = (
    "SELECT uri FROM {db:Identifier}.{table:Identifier} "
    "WHERE script_id IN (SELECT script_id FROM {db:Identifier}.shorts_published "
    "WHERE short_id = {short:String}) "
    "ORDER BY occurred_at DESC LIMIT 1"
)
# Content-addressed objects never change, but a short may point at a new render later.
CACHE_CONTROL = "private, max-age=300"


async def artifact_uri(
    warehouse: Warehouse, database: str, short_id: str, kind: Kind
) -> str | None:
    """The URI of the short's latest video or storyboard, or None."""
    rows = await warehouse.query(
        _URI_SQL, {"db": database, "table": TABLES[kind], "short": short_id}
    )
    return str(rows[0]["uri"]) if rows else None


async def artifact_response(store: ArtifactStore, key: str) -> Response | None:
    """A response streaming the object under ``key``, or None when there is no such object.

    Local: the file itself (``FileResponse`` answers Range requests, which video seeking
    needs). Elsewhere (S3): downloaded to a temporary file, checked against its SHA-256 by
    the store, streamed, then removed.
    """
    stored = await store.head(key)
    if stored is None:
        return None
    headers = {"Cache-Control": CACHE_CONTROL, "X-Content-Type-Options": "nosniff"}
    if isinstance(store, LocalArtifactStore):
        return FileResponse(store.object_path(key), media_type=stored.content_type, headers=headers)
    tmp = Path(tempfile.mkdtemp(prefix="munjero-media-"))
    try:
        path = await store.open_path(key, tmp / "object")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return FileResponse(
        path,
        media_type=stored.content_type,
        headers=headers,
        background=BackgroundTask(shutil.rmtree, tmp, ignore_errors=True),
    )
