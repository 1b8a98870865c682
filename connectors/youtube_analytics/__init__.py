"""``AnalyticsSource`` over YouTube: the Analytics API v2 (views, watch time, engagement) and
the Reporting API v1 (thumbnail impressions and their click-through rate, which the Analytics
API does not offer per video).

Both clients are built from the discovery documents shipped inside google-api-python-client
(``static_discovery=True``: no network fetch of the document) with the endpoint overridden, so
every request, token refresh aside, goes to the configured base URL.

This module holds what both clients share: the error mapping and a blocking ``execute``.
Errors: 429, 5xx, timeouts and transport failures are ``AnalyticsUnavailableError``
(retriable); any other refusal (400, 401 after a refresh, 403, 404, a refused refresh token)
is ``AnalyticsRejectedError`` (fatal) carrying Google's own message.
"""

from __future__ import annotations

import json
from typing import Any

import google.auth.exceptions
import google_auth_httplib2
import httplib2
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from streams.errors import FatalError
from streams.ports.analytics import AnalyticsUnavailableError

DEFAULT_TIMEOUT_S = 30.0


class AnalyticsRejectedError(FatalError):
    """YouTube refused the request (bad credentials, missing scope, bad parameters) or answered
    something this adapter cannot read: repeating it cannot help."""


def build_service(name: str, version: str, credentials: Any, base_url: str) -> Any:
    """A discovery client for ``name``/``version`` whose requests go to ``base_url``."""
    return build(
        name,
        version,
        credentials=credentials,
        static_discovery=True,
        cache_discovery=False,
        client_options={"api_endpoint": base_url},
    )


def _google_message(error: HttpError) -> str:
    try:
        body = json.loads(error.content.decode("utf-8", "replace"))
        message = body["error"]["message"]
        if isinstance(message, str):
            return message
    except (ValueError, KeyError, TypeError):
        pass
    return str(error.reason or error.content[:200])


def execute(request: Any, credentials: Any, timeout_s: float) -> Any:
    """Run one prepared google client request, blocking; map failures to the project's errors.

    Each call gets its own ``httplib2.Http``: httplib2 is not thread-safe and callers run this
    in ``asyncio.to_thread``, possibly several at once. No in-client retries (``num_retries=0``):
    the retry tiers of the pipeline decide when to try again.
    """
    http = google_auth_httplib2.AuthorizedHttp(credentials, http=httplib2.Http(timeout=timeout_s))
    try:
        return request.execute(http=http, num_retries=0)
    except HttpError as exc:
        status = int(exc.resp.status)
        message = f"{request.method} {request.uri.split('?')[0]}: {status} {_google_message(exc)}"
        if status == 429 or status >= 500:
            raise AnalyticsUnavailableError(message) from exc
        raise AnalyticsRejectedError(message) from exc
    except google.auth.exceptions.RefreshError as exc:
        # google-auth marks 5xx/429 answers of the token endpoint as retryable; the rest
        # (invalid_grant: revoked or wrong refresh token, wrong client secret) never heal.
        if getattr(exc, "retryable", False):
            raise AnalyticsUnavailableError(f"token refresh failed: {exc}") from exc
        raise AnalyticsRejectedError(f"token refresh refused: {exc}") from exc
    except google.auth.exceptions.TransportError as exc:
        raise AnalyticsUnavailableError(f"token endpoint unreachable: {exc}") from exc
    except (httplib2.HttpLib2Error, OSError) as exc:
        # OSError covers refused connections, resets and TimeoutError.
        raise AnalyticsUnavailableError(f"YouTube unreachable: {exc!r}") from exc
    finally:
        http.close()
