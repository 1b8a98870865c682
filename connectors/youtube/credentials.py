"""OAuth user credentials of the channel: a long-lived refresh token, exchanged for access tokens
by google-auth whenever the current one is missing or expired."""

from __future__ import annotations

from google.oauth2.credentials import Credentials

GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL, not a secret
# The consent the channel's refresh token needs. upload: videos.insert. readonly: videos.list /
# channels.list / playlistItems.list, which the publisher uses for health checks and to look for
# a video a lost session may have created. force-ssl: captions.insert / captions.list (the
# caption track); a token without it still publishes, and its shorts go up without captions,
# the 403 recorded (docs/decisions.md, "Caption tracks").
SCOPES = (
    "https://www.googleapis.com/auth/youtube.upload",
    "https://www.googleapis.com/auth/youtube.readonly",
    "https://www.googleapis.com/auth/youtube.force-ssl",
)


def channel_credentials(
    client_id: str,
    client_secret: str,
    refresh_token: str,
    *,
    token_uri: str = GOOGLE_TOKEN_URI,
) -> Credentials:
    """Credentials that refresh themselves at ``token_uri`` (a fake server's ``/token`` in
    tests). No access token is given: the first request refreshes one."""
    # google-auth ships hints but leaves this constructor unannotated.
    return Credentials(  # type: ignore[no-untyped-call]
        token=None,
        refresh_token=refresh_token,
        token_uri=token_uri,
        client_id=client_id,
        client_secret=client_secret,
        # No scopes on the refresh request: it then yields every scope the token was granted.
        # Naming a list would narrow the access token to it, and naming a scope the token was
        # never granted (force-ssl, on tokens consented before captions) risks the refresh
        # itself, i.e. every upload, for the sake of the caption track.
        scopes=None,
    )
