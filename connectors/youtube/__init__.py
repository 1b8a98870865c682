"""YouTube Data API v3 publisher: resumable, crash-safe, quota-aware uploads of rendered shorts.

``publisher.YouTubePublisher`` implements ``streams.ports.publishing.VideoPublisher``. A SQLite
ledger (``ledger.py``) makes every idempotency key upload at most one video, across crashes;
``quota.py`` keeps the daily unit budget, so a full budget means waiting, never failing.
"""
