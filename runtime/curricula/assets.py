"""Visual assets of curriculum topics: type checks and the asset entries inside the UMCF document.

The bytes live in object storage (``tenants/<tenant>/curricula/<pk>/<asset_id>.<ext>``); the UMCF
document carries the entry (``media.embedded`` or ``media.reference``) with a ``url`` the apps fetch.
The file's content must match its extension (magic bytes), so a renamed HTML page is not served as
an image; SVG can carry script, so it is always served as an attachment under a sandbox CSP.
"""
from __future__ import annotations

import secrets
from typing import Any, Callable

from runtime.curricula import umcf

MAX_ASSET_BYTES = 10 * 1024 * 1024
MIME_BY_EXT = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "svg": "image/svg+xml",
}
# Keys of the multipart ``metadata`` JSON (and of PATCH) that are copied into the asset entry.
EDITABLE = ("title", "alt", "caption", "type", "displayMode", "keywords", "startSegment", "endSegment")


def extension_of(filename: str) -> str | None:
    if "." not in filename:
        return None
    ext = filename.rsplit(".", 1)[1].lower()
    return ext if ext in MIME_BY_EXT else None


def content_matches(ext: str, data: bytes) -> bool:
    if ext == "png":
        return data.startswith(b"\x89PNG\r\n\x1a\n")
    if ext in ("jpg", "jpeg"):
        return data.startswith(b"\xff\xd8\xff")
    if ext == "gif":
        return data.startswith((b"GIF87a", b"GIF89a"))
    if ext == "webp":
        return len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    if ext == "svg":
        head = data[:4096].lstrip().lower()
        return head.startswith((b"<svg", b"<?xml", b"<!--", b"<!doctype svg")) and b"<svg" in data[:65536].lower()
    return False


def new_asset_id() -> str:
    return f"img-{secrets.token_hex(6)}"


def storage_key(tenant_id: str, curriculum_pk: int, asset_id: str, ext: str) -> str:
    return f"tenants/{tenant_id}/curricula/{curriculum_pk}/{asset_id}.{ext}"


def asset_url(curriculum_id: str, topic_id: str, asset_id: str) -> str:
    return f"/api/curricula/{curriculum_id}/topics/{topic_id}/assets/{asset_id}"


def build_entry(asset_id: str, url: str, mime: str, metadata: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": asset_id,
        "type": metadata.get("type") or ("diagram" if mime == "image/svg+xml" else "image"),
        "url": url,
        "localPath": url,
        "title": metadata.get("title") or "",
        "alt": metadata["alt"],
        "caption": metadata.get("caption") or "",
        "mimeType": mime,
    }
    if metadata.get("isReference"):
        entry["keywords"] = metadata.get("keywords") or []
    else:
        entry["segmentTiming"] = {
            "startSegment": metadata.get("startSegment", 0),
            "endSegment": metadata.get("endSegment", metadata.get("startSegment", 0)),
            "displayMode": metadata.get("displayMode") or "persistent",
        }
    return entry


def _media(topic: dict) -> dict:
    media = topic.get("media")
    if not isinstance(media, dict):
        media = topic["media"] = {}
    for key in ("embedded", "reference"):
        if not isinstance(media.get(key), list):
            media[key] = []
    return media


def add_to_document(doc: dict, topic_id: str, entry: dict, reference: bool) -> bool:
    topic = umcf.find_topic(doc, topic_id)
    if topic is None:
        return False
    _media(topic)["reference" if reference else "embedded"].append(entry)
    return True


def topic_assets(doc: dict, topic_id: str) -> tuple[list, list] | None:
    """The topic's (embedded, reference) asset entries, or None when there is no such topic."""
    topic = umcf.find_topic(doc, topic_id)
    if topic is None:
        return None
    media = topic.get("media") if isinstance(topic.get("media"), dict) else {}

    def entries(key: str) -> list:
        return [e for e in media.get(key) or [] if isinstance(e, dict)]

    return entries("embedded"), entries("reference")


def rewrite_urls(doc: dict, rewrite: Callable[[str], str]) -> None:
    """Replace every topic media entry's server-relative ``url`` (``/api/…``) with ``rewrite(url)``."""
    for topic in umcf.list_topics(doc):
        media = topic.get("media") if isinstance(topic.get("media"), dict) else {}
        for entry in (media.get("embedded") or []) + (media.get("reference") or []):
            url = entry.get("url") if isinstance(entry, dict) else None
            if isinstance(url, str) and url.startswith("/api/"):
                entry["url"] = rewrite(url)


def find_entry(doc: dict, topic_id: str, asset_id: str) -> dict | None:
    topic = umcf.find_topic(doc, topic_id)
    if topic is None:
        return None
    media = _media(topic)
    for entry in media["embedded"] + media["reference"]:
        if isinstance(entry, dict) and entry.get("id") == asset_id:
            return entry
    return None


def remove_from_document(doc: dict, topic_id: str, asset_id: str) -> bool:
    topic = umcf.find_topic(doc, topic_id)
    if topic is None:
        return False
    media = _media(topic)
    removed = False
    for key in ("embedded", "reference"):
        kept = [e for e in media[key] if not (isinstance(e, dict) and e.get("id") == asset_id)]
        removed = removed or len(kept) != len(media[key])
        media[key] = kept
    return removed


def patch_entry(entry: dict, changes: dict[str, Any]) -> dict:
    for key in EDITABLE:
        if key not in changes:
            continue
        if key in ("startSegment", "endSegment", "displayMode") and "segmentTiming" in entry:
            entry["segmentTiming"][key] = changes[key]
        else:
            entry[key] = changes[key]
    return entry


def android_metadata(entry: dict) -> dict[str, Any]:
    """Android's ``VisualAssetMetadata {id, filename, mime_type, url, caption, position}``
    (data/remote/ApiModels.kt), read from a document entry; sits next to ``asset`` in the answers."""
    mime = entry.get("mimeType") or ""
    ext = next((e for e, m in MIME_BY_EXT.items() if m == mime), "bin")
    position = entry.get("position")
    return {
        "id": entry.get("id"),
        "filename": entry.get("filename") or f"{entry.get('id')}.{ext}",
        "mime_type": mime,
        "url": entry.get("url"),
        "caption": entry.get("caption") or None,
        "position": position if isinstance(position, int) and not isinstance(position, bool) else None,
    }
