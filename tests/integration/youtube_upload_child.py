"""Publish one short from a child process, so tests can SIGKILL a real upload mid-flight.

Usage: ``python -m tests.integration.youtube_upload_child '<json config>'``; prints the
``Published`` as JSON when it finishes.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from connectors.youtube.credentials import channel_credentials
from connectors.youtube.publisher import YouTubePublisher
from connectors.youtube.quota import QuotaBudget
from streams.ports.publishing import Upload


def publisher_from(config: dict[str, Any]) -> YouTubePublisher:
    credentials = channel_credentials(
        config["client_id"],
        config["client_secret"],
        config["refresh_token"],
        token_uri=config["base_url"] + "/token",
    )
    return YouTubePublisher(
        credentials,
        base_url=config["base_url"],
        ledger_path=Path(config["ledger_path"]),
        quota=QuotaBudget(Path(config["quota_path"])),
        chunk_size=config["chunk_size"],
    )


async def main(config: dict[str, Any]) -> None:
    publisher = publisher_from(config)
    upload = Upload(
        idempotency_key=config["key"],
        video_path=Path(config["video_path"]),
        title=config["title"],
        description="child upload",
    )
    published = await publisher.publish(upload)
    await publisher.close()
    print(json.dumps({"video_id": published.video_id, "reused": published.reused}))


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
