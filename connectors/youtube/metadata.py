"""The ``videos.insert`` body for an :class:`Upload`: pure, so its limits are unit-testable.

The limits are YouTube's: a title of at most 100 characters without ``<`` or ``>``, a description
of at most 5000 bytes, tags of at most 500 characters in all. Breaking one is a 400 after the
whole file was sent, so they are enforced here, before any byte leaves.
"""

from __future__ import annotations

from typing import Any

from streams.ports.publishing import Upload

TITLE_MAX_CHARS = 100
DESCRIPTION_MAX_BYTES = 5000
TAGS_MAX_CHARS = 500
SHORTS_TAG = "#shorts"
KEY_PREFIX = "munjero:"
# YouTube rejects angle brackets in titles and descriptions (invalidTitle/invalidDescription).
_ANGLE_BRACKETS = str.maketrans({"<": "‹", ">": "›"})


def key_line(idempotency_key: str) -> str:
    """The last line of every description: the video itself carries its idempotency key."""
    return f"{KEY_PREFIX}{idempotency_key}"


def shorts_title(title: str) -> str:
    """``title`` cleaned and cut so that it ends with ``#shorts`` (unless it already has it) and
    fits in 100 characters."""
    clean = " ".join(title.translate(_ANGLE_BRACKETS).split())
    if SHORTS_TAG in clean.lower() and len(clean) <= TITLE_MAX_CHARS:
        return clean
    room = TITLE_MAX_CHARS - len(SHORTS_TAG) - 1
    return f"{clean[:room].rstrip()} {SHORTS_TAG}".lstrip()


def description_with_key(description: str, idempotency_key: str) -> str:
    """``description`` (cut to fit) followed by the key line, within 5000 UTF-8 bytes."""
    tail = key_line(idempotency_key)
    body = description.translate(_ANGLE_BRACKETS).rstrip()
    room = DESCRIPTION_MAX_BYTES - len(tail.encode()) - 2
    # Cut on bytes, then drop a partial multi-byte character (Hangul is 3 bytes in UTF-8).
    body = body.encode()[: max(room, 0)].decode(errors="ignore").rstrip()
    return f"{body}\n\n{tail}" if body else tail


def fitting_tags(tags: tuple[str, ...]) -> list[str]:
    """The leading tags that fit YouTube's 500-character budget (a tag with a space counts its
    quotes; tags are comma-separated)."""
    kept: list[str] = []
    used = 0
    for tag in (t.strip() for t in tags):
        if not tag or "<" in tag or ">" in tag:
            continue
        cost = len(tag) + (2 if " " in tag else 0) + (1 if kept else 0)
        if used + cost > TAGS_MAX_CHARS:
            break
        kept.append(tag)
        used += cost
    return kept


def video_resource(upload: Upload) -> dict[str, Any]:
    """The JSON body of ``videos.insert(part="snippet,status")``."""
    return {
        "snippet": {
            "title": shorts_title(upload.title),
            "description": description_with_key(upload.description, upload.idempotency_key),
            "tags": fitting_tags(upload.tags),
            "categoryId": upload.category_id,
            "defaultLanguage": upload.language,
        },
        "status": {
            "privacyStatus": upload.privacy_status,
            # Always sent, False included: a channel default must never decide the audience
            # (COPPA), and YouTube asks every upload to declare it.
            "selfDeclaredMadeForKids": upload.made_for_kids,
        },
    }
