"""YouTube adapters built from settings (the publish worker's choice when credentials are set)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from connectors.youtube.credentials import channel_credentials
from connectors.youtube.publisher import YouTubePublisher
from connectors.youtube.quota import QuotaBudget

if TYPE_CHECKING:
    from connectors.youtube_analytics.source import YouTubeAnalyticsSource
    from streams.settings import Settings

ANALYTICS_SCOPES = (
    "https://www.googleapis.com/auth/yt-analytics.readonly",
    "https://www.googleapis.com/auth/youtube.readonly",
)


def _secrets(settings: Settings) -> tuple[str, str, str]:
    if not (settings.youtube_client_id and settings.youtube_refresh_token):
        raise ValueError("MUNJERO_YOUTUBE_CLIENT_ID and MUNJERO_YOUTUBE_REFRESH_TOKEN must be set")
    secret = settings.youtube_client_secret
    return (
        settings.youtube_client_id,
        secret.get_secret_value() if secret else "",
        settings.youtube_refresh_token.get_secret_value(),
    )


def open_youtube_publisher(settings: Settings) -> YouTubePublisher:
    client_id, client_secret, refresh_token = _secrets(settings)
    state = settings.data_dir / "youtube"
    state.mkdir(parents=True, exist_ok=True)
    return YouTubePublisher(
        channel_credentials(
            client_id, client_secret, refresh_token, token_uri=settings.youtube_token_url
        ),
        base_url=settings.youtube_api_url,
        ledger_path=state / f"uploads-{settings.worker_instance}.db",
        quota=QuotaBudget(state / "quota.db", daily_units=settings.youtube_daily_quota),
    )


def open_youtube_analytics(settings: Settings) -> YouTubeAnalyticsSource:
    from google.oauth2.credentials import Credentials

    from connectors.youtube_analytics.source import YouTubeAnalyticsSource

    client_id, client_secret, refresh_token = _secrets(settings)
    credentials = Credentials(  # type: ignore[no-untyped-call]
        token=None,
        refresh_token=refresh_token,
        client_id=client_id,
        client_secret=client_secret,
        token_uri=settings.youtube_token_url,
        scopes=list(ANALYTICS_SCOPES),
    )
    return YouTubeAnalyticsSource.from_credentials(credentials)
