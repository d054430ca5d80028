"""Curricula (``/api/curricula*``) and modules (``/api/modules*``): the ``curricula`` Lambda service.

Shapes follow the apps' decoders (tests/clients); documents live in PostgreSQL per tenant plus shared
system content, asset bytes in object storage. The stateful siblings (``full-with-assets``,
``stream-audio``, ``preload-assets``) are served by the core (route_table) and reuse
:func:`runtime.curricula.store.document_with_assets`.
"""
from __future__ import annotations

import base64

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from runtime.auth.principal import admin_principal, principal
from runtime.content.http import dumps, epoch, reply, tx
from runtime import client_shapes
from runtime.context import ctx
from runtime.curricula import assets, modules, store, umcf
from runtime.curricula.fetch import FetchError, fetch_bytes
from runtime.errors import ApiError, Forbidden, InvalidField, MissingField, NotFound
from runtime.content import schemas
from runtime.lists.routes import ROUTES as LIST_ROUTES
from runtime.service import Service
from runtime.validation import (
    field_bool,
    field_int,
    field_str,
    json_body,
    multipart_file,
    parse_json,
    path_id,
    query_bool,
    query_str,
)

# UMCF documents with full transcripts run to a few hundred KB; allow headroom over the 1 MiB default.
MAX_DOCUMENT_BYTES = 5 * 1024 * 1024


def _not_found(what: str = "Curriculum") -> ApiError:
    return NotFound(f"{what} not found.")


def _read_only() -> ApiError:
    return Forbidden("System curricula are read-only; import a copy to change it.")


def _umcf_error(exc: umcf.UMCFError) -> ApiError:
    return ApiError(422, "invalid_curriculum", str(exc), details={"field": exc.field})


async def _own_or_error(conn, tenant_id: str, curriculum_id: str, *, archived: bool | None = False,
                        for_update: bool = False):
    row = await store.get_own(conn, tenant_id, curriculum_id, archived=archived, for_update=for_update)
    if row is None:
        if await store.is_system(conn, curriculum_id):
            raise _read_only()
        raise _not_found()
    return row


def _item(row) -> dict:
    """A stored row as the list entry every app decodes (``umcf.list_item`` with the row's dates)."""
    return umcf.list_item(store.meta_from_row(row), created_at=row["created_at"], updated_at=row["updated_at"],
                          archived=row["archived_at"] is not None)


# ------------------------------------------------------------------------------------ read routes
async def list_curricula(request: Request) -> Response:
    """List curricula visible to the caller (search and difficulty filters); ``?archived=true`` lists the
    archived ones in the same shape (the Operations Console's archive view)."""
    search = query_str(request, "search", max_len=200)
    difficulty = query_str(request, "difficulty", max_len=50)
    archived = query_bool(request, "archived", False)
    async with tx(request) as conn:
        rows = await store.list_visible(conn, archived=archived, search=search, difficulty=difficulty)
    items = [_item(r) for r in rows]
    return reply({"curricula": items, "total": len(items)})


async def list_archived(request: Request) -> Response:
    """List the caller's archived curricula."""
    async with tx(request) as conn:
        rows = await store.list_visible(conn, archived=True)
    items = [{
        "id": r["id"], "title": r["title"], "description": r["description"],
        "file_path": f"archived/{r['id']}", "file_name": r["id"], "topic_count": r["topic_count"],
        "archived_at": epoch(r["archived_at"]), "archived_at_iso": r["archived_at"].isoformat(),
        "file": r["id"], "original_id": r["id"],
    } for r in rows]
    return reply(client_shapes.archived_list_answer(request, items))


async def get_detail(request: Request) -> Response:
    """Curriculum detail: the flat shape plus the same object under ``curriculum``."""
    curriculum_id = path_id(request, "id")
    async with tx(request) as conn:
        row = await store.get_visible(conn, curriculum_id)
    if row is None:
        raise _not_found()
    return reply(umcf.detail(store.document(row), created_at=row["created_at"], updated_at=row["updated_at"]))


async def get_full(request: Request) -> Response:
    """The raw UMCF document."""
    curriculum_id = path_id(request, "id")
    async with tx(request) as conn:
        row = await store.get_visible(conn, curriculum_id)
    if row is None:
        raise _not_found()
    return reply(store.document(row))


async def get_transcript(request: Request) -> Response:
    """A topic's transcript segments (text-only topics are chunked)."""
    curriculum_id, topic_id = path_id(request, "id"), path_id(request, "topic_id")
    async with tx(request) as conn:
        row = await store.get_visible(conn, curriculum_id)
    if row is None:
        raise _not_found()
    body = umcf.transcript(store.document(row), topic_id)
    if body is None:
        raise _not_found("Topic")
    return reply(client_shapes.topic_transcript_answer(request, body))


async def suggest(request: Request) -> Response:
    """Curricula for a learning target ``{query, limit?}`` by PostgreSQL full-text search, best first:
    ``{curriculumIds}`` (iOS and Android ``SuggestionResponse``) plus ``suggestions: [{id, title, rank}]``."""
    body = await json_body(request, max_bytes=16 * 1024)
    query = field_str(body, "query", required=True, max_len=500)
    limit = field_int(body, "limit", default=10, min=1, max=50)
    async with tx(request) as conn:
        rows = await store.suggest(conn, query or "", limit or 10)
    return reply({
        "curriculumIds": [r["id"] for r in rows],
        "suggestions": [{"id": r["id"], "title": r["title"], "rank": round(float(r["rank"]), 6)} for r in rows],
    })


# ----------------------------------------------------------------------------------- write routes
async def reload(request: Request) -> Response:
    """Re-extract metadata of the caller's curricula; returns how many the caller sees."""
    who = principal(request)
    async with tx(request, who) as conn:
        await store.refresh_metadata(conn, who.tenant_id)
        rows = await store.list_visible(conn)
    items = [_item(r) for r in rows]
    return reply(client_shapes.reload_answer(request, items))


async def import_curriculum(request: Request) -> Response:
    """Import a UMCF document from ``{content}`` or an https ``{url}``."""
    who = principal(request)
    body = await json_body(request, max_bytes=MAX_DOCUMENT_BYTES)
    url = field_str(body, "url", max_len=2048)
    content = body.get("content")
    if (url is None) == (content is None):
        raise MissingField("Send exactly one of 'url' or 'content'.", details={"field": "content"})
    if url is not None:
        try:
            raw = await fetch_bytes(url)
        except FetchError as exc:
            raise ApiError(exc.status, exc.error, exc.message, details={"field": "url"}) from None
        try:
            content = parse_json(raw)
        except ApiError:
            raise ApiError(422, "invalid_curriculum", "The URL did not return a JSON document.",
                           details={"field": "url"}) from None
    elif isinstance(content, str):
        # some tools send the document as a JSON string
        try:
            content = parse_json(content)
        except ApiError:
            raise ApiError(422, "invalid_curriculum", "'content' is not a JSON document.",
                           details={"field": "content"}) from None
    try:
        async with tx(request, who) as conn:
            meta = await store.upsert(conn, who.tenant_id, content, source_url=url)
            row = await store.get_own(conn, who.tenant_id, meta.id)
    except umcf.UMCFError as exc:
        raise _umcf_error(exc) from None
    return reply({**_item(row), "status": "ok", "file_path": f"curricula/{meta.id}", "source_url": url})


async def create_curriculum(request: Request) -> Response:
    """Create a curriculum from an uploaded UMCF file (multipart ``file``) or a JSON UMCF document
    (the path Android's client and the old OpenAPI document use)."""
    who = principal(request)
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith("multipart/form-data"):
        _form, upload = await multipart_file(request, max_bytes=MAX_DOCUMENT_BYTES + 64 * 1024, max_fields=5)
        try:
            doc = parse_json(await upload.read())
        except ApiError:
            raise ApiError(422, "invalid_curriculum", "The file is not a JSON UMCF document.",
                           details={"field": "file"}) from None
    else:
        doc = await json_body(request, max_bytes=MAX_DOCUMENT_BYTES)
        if isinstance(doc.get("content"), dict) and "title" not in doc:
            doc = doc["content"]
    try:
        async with tx(request, who) as conn:
            meta = await store.upsert(conn, who.tenant_id, doc)
            row = await store.get_own(conn, who.tenant_id, meta.id)
    except umcf.UMCFError as exc:
        raise _umcf_error(exc) from None
    # {status, id, title, file_path} plus the CurriculumSummary Android decodes (description, version, topic_count)
    return reply({**_item(row), "status": "ok", "file_path": f"curricula/{meta.id}"}, 201)


async def update_curriculum(request: Request) -> Response:
    """Replace the caller's curriculum with the UMCF document in the body (for the Operations Console,
    creating it when the tenant has none of that id: ``client_shapes.curriculum_put_creates``), or — when
    the body is not a
    UMCF document — update its metadata (Android's UpdateCurriculumRequest ``{title, description,
    difficulty, age_range, keywords}``; absent or null fields stay) and keep the rest of the document."""
    who = principal(request)
    curriculum_id = path_id(request, "id")
    doc = await json_body(request, max_bytes=MAX_DOCUMENT_BYTES)
    if not umcf.is_document(doc):
        changes = _metadata_changes(doc)
        try:
            async with tx(request, who) as conn:
                row = await _own_or_error(conn, who.tenant_id, curriculum_id, for_update=True)
                updated = umcf.apply_metadata(store.document(row), changes)
                await store.replace_document(conn, row["pk"], updated)
                row = await store.get_own(conn, who.tenant_id, curriculum_id)
        except umcf.UMCFError as exc:
            raise _umcf_error(exc) from None
        return reply({**_item(row), "status": "ok", "file_path": f"curricula/{curriculum_id}"})
    doc_id = umcf.node_id(doc)
    if doc_id is None:
        doc["id"] = {"value": curriculum_id}
    elif doc_id != curriculum_id:
        raise ApiError(422, "invalid_curriculum", "The document's id does not match the URL.", details={"field": "id"})
    created = False
    try:
        async with tx(request, who) as conn:
            existing = await store.get_own(conn, who.tenant_id, curriculum_id, archived=None, for_update=True)
            if existing is None and client_shapes.curriculum_put_creates(request) \
                    and not await store.is_system(conn, curriculum_id):
                meta = await store.upsert(conn, who.tenant_id, doc)
                created = True
            else:
                row = await _own_or_error(conn, who.tenant_id, curriculum_id, for_update=True)
                meta = await store.replace_document(conn, row["pk"], doc)
            row = await store.get_own(conn, who.tenant_id, meta.id)
    except umcf.UMCFError as exc:
        raise _umcf_error(exc) from None
    return reply({**_item(row), "status": "ok", "file_path": f"curricula/{meta.id}"}, 201 if created else 200)


def _metadata_changes(body: dict) -> dict:
    """The metadata fields of a metadata-only update, validated; at least one must be present."""
    changes: dict = {}
    title = field_str(body, "title", max_len=umcf.MAX_TITLE)
    if title is not None:
        if not title:
            raise ApiError(400, "invalid_field", "'title' must not be empty.", details={"field": "title"})
        changes["title"] = title
    for key in ("description", "difficulty", "age_range"):
        value = field_str(body, key, max_len=10_000 if key == "description" else 100)
        if value is not None:
            changes[key] = value
    keywords = body.get("keywords")
    if keywords is not None:
        if not isinstance(keywords, list) or len(keywords) > 100 or not all(
                isinstance(k, str) and "\x00" not in k and len(k) <= 200 for k in keywords):
            raise ApiError(400, "invalid_field", "'keywords' must be a list of at most 100 strings.",
                           details={"field": "keywords"})
        changes["keywords"] = [k.strip() for k in keywords if k.strip()]
    if not changes:
        raise ApiError(400, "no_updates", "Send a UMCF document or at least one of title, description, difficulty, "
                       "age_range, keywords.")
    return changes


async def _delete_flow(request: Request, *, archived: bool, name: str) -> Response:
    who = principal(request)
    curriculum_id = path_id(request, name)
    confirm = client_shapes.delete_confirmed(request, query_bool(request, "confirm", False))
    async with tx(request, who) as conn:
        row = await _own_or_error(conn, who.tenant_id, curriculum_id, archived=archived, for_update=True)
        if not confirm:
            return reply({
                "status": "confirmation_required",
                "message": f"Deleting '{row['title']}' cannot be undone. Repeat with ?confirm=true.",
                "curriculum": umcf.list_item(store.meta_from_row(row)),
            })
        keys = await store.delete(conn, row["pk"])
    storage = ctx(request).storage
    for key in keys:
        await storage.delete(key)
    return reply({"status": "deleted", "id": row["id"], "title": row["title"]})


async def delete_curriculum(request: Request) -> Response:
    """Delete a curriculum (``?confirm=true``; without it the answer asks for confirmation)."""
    return await _delete_flow(request, archived=False, name="id")


async def delete_archived(request: Request) -> Response:
    """Delete an archived curriculum (``?confirm=true``)."""
    return await _delete_flow(request, archived=True, name="file_name")


async def archive(request: Request) -> Response:
    """Archive a curriculum (it leaves the list; unarchive brings it back)."""
    who = principal(request)
    curriculum_id = path_id(request, "id")
    async with tx(request, who) as conn:
        row = await _own_or_error(conn, who.tenant_id, curriculum_id, for_update=True)
        archived_at = await store.set_archived(conn, row["pk"], True)
    # {status, id, title, archived_path} plus Android's ArchivedCurriculum {file, title, archived_at, original_id}
    return reply({"status": "archived", "id": row["id"], "title": row["title"],
                  "archived_path": f"archived/{row['id']}", "file": row["id"], "original_id": row["id"],
                  "archived_at": archived_at.isoformat()})


def _archived_name(request: Request) -> str:
    # the old server addressed archived files as "<id>.umcf"; accept both
    raw = request.path_params.get("file_name", "")
    if isinstance(raw, str) and raw.endswith(".umcf"):
        request.path_params["file_name"] = raw[: -len(".umcf")]
    return path_id(request, "file_name")


async def unarchive(request: Request) -> Response:
    """Bring an archived curriculum back."""
    who = principal(request)
    curriculum_id = _archived_name(request)
    async with tx(request, who) as conn:
        row = await _own_or_error(conn, who.tenant_id, curriculum_id, archived=True, for_update=True)
        await store.set_archived(conn, row["pk"], False)
        row = await store.get_own(conn, who.tenant_id, curriculum_id)
    # {status, id, title, file_path} plus Android's CurriculumSummary (description, version, topic_count …)
    return reply({**_item(row), "status": "unarchived", "file_path": f"curricula/{row['id']}"})


async def unarchive_by_id(request: Request) -> Response:
    """``DELETE /api/curricula/{id}/archive``: take the archive mark off (the Operations Console's
    unarchive). Idempotent like a DELETE: a curriculum of the caller that is not archived answers 200
    as it is."""
    who = principal(request)
    curriculum_id = path_id(request, "id")
    async with tx(request, who) as conn:
        row = await _own_or_error(conn, who.tenant_id, curriculum_id, archived=None, for_update=True)
        if row["archived_at"] is not None:
            await store.set_archived(conn, row["pk"], False)
            row = await store.get_own(conn, who.tenant_id, curriculum_id)
    return reply({**_item(row), "status": "unarchived", "file_path": f"curricula/{row['id']}"})


async def delete_archived_route(request: Request) -> Response:
    """Delete an archived curriculum (``?confirm=true``)."""
    _archived_name(request)
    return await delete_archived(request)


# ------------------------------------------------------------------------------------------ assets
# The console's AssetUploadRequest (server/web/src/types/index.ts) posts its metadata as separate form
# fields next to ``file``; these are read (strings; the segment numbers and flag parsed) when there is
# no ``metadata`` JSON field. ``topicId`` is also sent; the path's topic is the one used.
_FORM_TEXT = ("alt", "title", "caption", "type", "displayMode")
_FORM_SEGMENTS = ("startSegment", "endSegment")


def _form_metadata(form) -> dict:
    metadata: dict = {}
    for key in _FORM_TEXT:
        value = form.get(key)
        if isinstance(value, str) and value:
            metadata[key] = value
    for key in _FORM_SEGMENTS:
        value = form.get(key)
        if isinstance(value, str) and value:
            if not value.isdigit() or int(value) > 100_000:
                raise InvalidField(f"'{key}' must be a segment number.", details={"field": key})
            metadata[key] = int(value)
    reference = form.get("isReference")
    if isinstance(reference, str) and reference:
        metadata["isReference"] = reference.strip().lower() in ("true", "1", "yes", "on")
    keywords = form.get("keywords")
    if isinstance(keywords, str) and keywords:
        try:
            parsed = parse_json(keywords)
        except ApiError:
            parsed = [k.strip() for k in keywords.split(",")]
        if not isinstance(parsed, list) or len(parsed) > 100 or not all(isinstance(k, str) and len(k) <= 200 for k in parsed):
            raise InvalidField("'keywords' must be a JSON list (or comma-separated) of at most 100 strings.",
                               details={"field": "keywords"})
        metadata["keywords"] = [k for k in parsed if k]
    return metadata


async def _multipart_asset(request: Request) -> tuple[str | None, bytes, dict]:
    form, upload = await multipart_file(request, max_bytes=assets.MAX_ASSET_BYTES + 64 * 1024, max_fields=20)
    raw_meta = form.get("metadata")
    if raw_meta is None:
        metadata = _form_metadata(form)
        if "alt" not in metadata:
            raise MissingField("Send the image's 'alt' text (a form field, or inside a 'metadata' JSON field).",
                               details={"field": "alt"})
        return upload.filename, await upload.read(), metadata
    try:
        metadata = parse_json(raw_meta) if isinstance(raw_meta, str) else None
    except ApiError:
        metadata = None
    if not isinstance(metadata, dict):
        raise ApiError(400, "invalid_json", "'metadata' must be a JSON object.", details={"field": "metadata"})
    return upload.filename, await upload.read(), metadata


def _base64_field(encoded: str) -> bytes:
    try:
        return base64.b64decode(encoded, validate=True)
    except ValueError:
        raise ApiError(400, "invalid_field", "'data' is not base64.", details={"field": "data"}) from None


async def _json_asset(request: Request) -> tuple[str | None, bytes, dict]:
    """Android's JSON ``VisualAssetUpload {filename, mime_type, caption, position}``, optionally with the
    bytes as base64 ``data`` (the app's model has no bytes field: without ``data`` the bytes are empty and
    only the asset's metadata is registered)."""
    body = await json_body(request, max_bytes=assets.MAX_ASSET_BYTES * 4 // 3 + 64 * 1024)
    filename = field_str(body, "filename", required=True, max_len=255)
    encoded = field_str(body, "data", max_len=assets.MAX_ASSET_BYTES * 4 // 3 + 8)
    mime = field_str(body, "mime_type", max_len=100)
    ext = assets.extension_of(filename or "")
    if mime is not None and ext is not None and assets.MIME_BY_EXT[ext] != mime.lower():
        raise InvalidField(f"'mime_type' {mime!r} does not match the file name's .{ext}.", details={"field": "mime_type"})
    data = b""
    if encoded:
        data = _base64_field(encoded)
    caption = field_str(body, "caption", max_len=1000)
    position = field_int(body, "position", min=0, max=100_000)
    metadata = {"alt": field_str(body, "alt", max_len=1000) or caption or filename, "caption": caption,
                "title": field_str(body, "title", max_len=1000)}
    if position is not None:
        metadata["position"] = position
    return filename, data, metadata


async def upload_asset(request: Request) -> Response:
    """Upload a topic image: multipart ``file`` + ``metadata`` JSON with ``alt``, or JSON
    ``{filename, mime_type, caption, position, data (base64)}``. JSON without ``data`` registers the
    asset's metadata only: the entry has no URL (nothing to fetch) until an upload with bytes."""
    who = principal(request)
    curriculum_id, topic_id = path_id(request, "id"), path_id(request, "topic_id")
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith("multipart/form-data"):
        filename, data, metadata = await _multipart_asset(request)
    elif content_type.startswith("application/json"):
        filename, data, metadata = await _json_asset(request)
    else:
        raise ApiError(415, "unsupported_media_type",
                       "Send multipart/form-data with 'file' and 'metadata', or JSON with base64 'data'.")
    ext = assets.extension_of(filename or "")
    if ext is None:
        raise ApiError(415, "unsupported_media_type", "Allowed image types: png, jpg, jpeg, gif, webp, svg.",
                       details={"field": "file"})
    if len(data) > assets.MAX_ASSET_BYTES:
        raise ApiError(413, "payload_too_large", "The image is too large.", details={"field": "file"})
    if not data and content_type.startswith("application/json"):
        return await _register_asset_metadata(request, curriculum_id, topic_id, filename or "", ext, metadata)
    if not data or not assets.content_matches(ext, data):
        raise ApiError(415, "unsupported_media_type", f"The file content is not a valid .{ext} image.",
                       details={"field": "file"})
    field_str(metadata, "alt", required=True, max_len=1000)
    for key in ("title", "caption"):
        field_str(metadata, key, max_len=1000)
    mime = assets.MIME_BY_EXT[ext]
    asset_id = assets.new_asset_id()
    async with tx(request, who) as conn:
        row = await _own_or_error(conn, who.tenant_id, curriculum_id, for_update=True)
        doc = store.document(row)
        url = assets.asset_url(curriculum_id, topic_id, asset_id)
        entry = assets.build_entry(asset_id, url, mime, metadata)
        entry["filename"] = filename
        if isinstance(metadata.get("position"), int):
            entry["position"] = metadata["position"]
        if not assets.add_to_document(doc, topic_id, entry, bool(metadata.get("isReference"))):
            raise _not_found("Topic")
        key = assets.storage_key(who.tenant_id, row["pk"], asset_id, ext)
        await ctx(request).storage.put(key, data, mime)
        await store.add_asset(conn, who.tenant_id, row["pk"], topic_id, asset_id, key, mime, len(data), dumps(metadata))
        await store.replace_document(conn, row["pk"], doc)
    return reply({**assets.android_metadata(entry), "status": "success", "asset": entry, "localPath": url})


async def _register_asset_metadata(request: Request, curriculum_id: str, topic_id: str, filename: str, ext: str,
                                   metadata: dict) -> Response:
    """A document entry without bytes (no URL, no storage object): what Android's metadata-only upload makes."""
    who = principal(request)
    asset_id = assets.new_asset_id()
    async with tx(request, who) as conn:
        row = await _own_or_error(conn, who.tenant_id, curriculum_id, for_update=True)
        doc = store.document(row)
        entry = assets.build_entry(asset_id, "", assets.MIME_BY_EXT[ext], metadata)
        entry.update({"filename": filename, "url": None, "localPath": None})
        if isinstance(metadata.get("position"), int):
            entry["position"] = metadata["position"]
        if not assets.add_to_document(doc, topic_id, entry, False):
            raise _not_found("Topic")
        await store.replace_document(conn, row["pk"], doc)
    return reply({**assets.android_metadata(entry), "status": "success", "asset": entry})


async def list_assets(request: Request) -> Response:
    """A topic's visual assets, as the document holds them: ``{assets, embedded, reference, total}``."""
    curriculum_id, topic_id = path_id(request, "id"), path_id(request, "topic_id")
    async with tx(request) as conn:
        row = await store.get_visible(conn, curriculum_id)
    if row is None:
        raise _not_found()
    listed = assets.topic_assets(store.document(row), topic_id)
    if listed is None:
        raise _not_found("Topic")
    embedded, reference = listed
    return reply({"curriculum_id": curriculum_id, "topic_id": topic_id, "assets": embedded + reference,
                  "embedded": embedded, "reference": reference, "total": len(embedded) + len(reference)})


async def get_asset(request: Request) -> Response:
    """The bytes of a topic image (SVG always as an attachment under a sandbox CSP), or its document entry
    as JSON for a caller that asks so (``client_shapes.asset_as_json``)."""
    curriculum_id, topic_id, asset_id = (path_id(request, n) for n in ("id", "topic_id", "asset_id"))
    as_json = client_shapes.asset_as_json(request)
    async with tx(request) as conn:
        row = await store.get_visible(conn, curriculum_id, with_document=as_json)
        found = None
        if row is not None:
            found = await store.find_asset(conn, row["pk"], topic_id, asset_id)
    if found is None:
        raise _not_found("Asset")
    if as_json:
        entry = assets.find_entry(store.document(row), topic_id, asset_id)
        if entry is None:
            raise _not_found("Asset")
        return reply({**assets.android_metadata(entry), "status": "success", "asset": entry, "url": entry.get("url")})
    data = await ctx(request).storage.get(found["storage_key"])
    if data is None:
        raise _not_found("Asset")
    headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=3600"}
    if found["mime_type"] == "image/svg+xml":
        headers["Content-Disposition"] = f'attachment; filename="{asset_id}.svg"'
        headers["Content-Security-Policy"] = "sandbox; default-src 'none'; style-src 'unsafe-inline'"
    return Response(data, media_type=found["mime_type"], headers=headers)


async def patch_asset(request: Request) -> Response:
    """Edit an asset's metadata (title, alt, caption, timing, keywords)."""
    who = principal(request)
    curriculum_id, topic_id, asset_id = (path_id(request, n) for n in ("id", "topic_id", "asset_id"))
    changes = await json_body(request)
    for key in ("title", "alt", "caption", "type", "displayMode"):
        field_str(changes, key, max_len=1000)
    position = field_int(changes, "position", min=0, max=100_000)  # Android's VisualAssetMetadata.position
    async with tx(request, who) as conn:
        row = await _own_or_error(conn, who.tenant_id, curriculum_id, for_update=True)
        doc = store.document(row)
        entry = assets.find_entry(doc, topic_id, asset_id)
        if entry is None:
            raise _not_found("Asset")
        assets.patch_entry(entry, changes)
        if position is not None:
            entry["position"] = position
        await store.replace_document(conn, row["pk"], doc)
    return reply({**assets.android_metadata(entry), "status": "success", "asset": entry})


async def delete_asset(request: Request) -> Response:
    """Delete an asset (document entry, row and stored bytes)."""
    who = principal(request)
    curriculum_id, topic_id, asset_id = (path_id(request, n) for n in ("id", "topic_id", "asset_id"))
    async with tx(request, who) as conn:
        row = await _own_or_error(conn, who.tenant_id, curriculum_id, for_update=True)
        doc = store.document(row)
        if not assets.remove_from_document(doc, topic_id, asset_id):
            raise _not_found("Asset")
        key = await store.delete_asset(conn, row["pk"], asset_id)
        await store.replace_document(conn, row["pk"], doc)
    if key:
        await ctx(request).storage.delete(key)
    return reply({"status": "success"})


# ----------------------------------------------------------------------------------------- modules
async def list_modules(request: Request) -> Response:
    """Server-driven modules (Knowledge Bowl …) with their download sizes."""
    async with tx(request) as conn:
        items = await modules.list_modules(conn)
    return reply({"modules": items, "server_version": ctx(request).settings.version})


async def get_module(request: Request) -> Response:
    """One module with its domains and question counts."""
    module_id = path_id(request, "id")
    async with tx(request) as conn:
        body = await modules.module_detail(conn, module_id)
    if body is None:
        raise _not_found("Module")
    study_modes = body.pop("study_modes") or []
    return reply({**body, **client_shapes.module_detail_study_modes(request, study_modes)})


async def module_settings(request: Request) -> Response:
    """``PATCH /api/modules/{id}/settings`` ``{enabled?, feature_overrides?: {team_mode, speed_training,
    competition_sim}}``: the tenant's own settings of a module (administrators only). Overrides merge into
    the stored ones; a feature can only be switched off where the module supports it."""
    who = admin_principal(request, "Only administrators can change module settings.")
    module_id = path_id(request, "id")
    body = await json_body(request)
    enabled = field_bool(body, "enabled")
    overrides = body.get("feature_overrides")
    if overrides is not None:
        if not isinstance(overrides, dict):
            raise InvalidField("'feature_overrides' must be an object.", details={"field": "feature_overrides"})
        for key, value in overrides.items():
            if key not in modules.FEATURES or not isinstance(value, bool):
                raise InvalidField(f"'feature_overrides' takes true/false for {', '.join(modules.FEATURES)}.",
                                   details={"field": "feature_overrides", "key": key})
    if enabled is None and overrides is None:
        raise MissingField("Send 'enabled' or 'feature_overrides'.", details={"field": "enabled"})
    async with tx(request, who) as conn:
        saved = await modules.save_settings(conn, who.tenant_id, module_id, enabled, overrides)
    if saved is None:
        raise _not_found("Module")
    return reply({"success": True, "module_id": module_id, "enabled": saved["enabled"],
                  "feature_overrides": saved["feature_overrides"],
                  "effective_features": modules.effective_features(saved)})


async def download_module(request: Request) -> Response:
    """The whole module with every question, ``downloaded_at`` in seconds since 2001-01-01 (iOS ``Date``)."""
    module_id = path_id(request, "id")
    async with tx(request) as conn:
        body = await modules.download(conn, module_id)
    if body is None:
        raise _not_found("Module")
    for domain in body["domains"]:
        for question in domain["questions"]:
            question["difficulty"] = client_shapes.kb_question_difficulty(request, question["difficulty"])
    return reply(body)


schemas.declare(list_curricula, response=schemas.CURRICULA_LIST)
schemas.declare(get_detail, response=schemas.CURRICULUM_DETAIL)
schemas.declare(get_transcript, response=schemas.TRANSCRIPT)
schemas.declare(list_modules, response=schemas.MODULES_LIST)
schemas.declare(download_module, response=schemas.MODULE_DOWNLOAD)


SERVICE = Service(
    name="curricula",
    routes=[
        Route("/api/curricula", list_curricula, methods=["GET"]),
        Route("/api/curricula", create_curriculum, methods=["POST"]),
        Route("/api/curricula/archived", list_archived, methods=["GET"]),
        Route("/api/curricula/reload", reload, methods=["POST"]),
        Route("/api/curricula/import", import_curriculum, methods=["POST"]),
        Route("/api/curricula/suggest", suggest, methods=["POST"]),
        Route("/api/curricula/archived/{file_name}/unarchive", unarchive, methods=["POST"]),
        Route("/api/curricula/archived/{file_name}", delete_archived_route, methods=["DELETE"]),
        Route("/api/curricula/{id}", get_detail, methods=["GET"]),
        Route("/api/curricula/{id}", update_curriculum, methods=["PUT"]),
        Route("/api/curricula/{id}", delete_curriculum, methods=["DELETE"]),
        Route("/api/curricula/{id}/full", get_full, methods=["GET"]),
        Route("/api/curricula/{id}/archive", archive, methods=["POST"]),
        Route("/api/curricula/{id}/archive", unarchive_by_id, methods=["DELETE"]),
        Route("/api/curricula/{id}/topics/{topic_id}/transcript", get_transcript, methods=["GET"]),
        Route("/api/curricula/{id}/topics/{topic_id}/assets", upload_asset, methods=["POST"]),
        Route("/api/curricula/{id}/topics/{topic_id}/assets", list_assets, methods=["GET"]),
        Route("/api/curricula/{id}/topics/{topic_id}/assets/{asset_id}", get_asset, methods=["GET"]),
        Route("/api/curricula/{id}/topics/{topic_id}/assets/{asset_id}", patch_asset, methods=["PATCH"]),
        Route("/api/curricula/{id}/topics/{topic_id}/assets/{asset_id}", delete_asset, methods=["DELETE"]),
        Route("/api/modules", list_modules, methods=["GET"]),
        Route("/api/modules/{id}", get_module, methods=["GET"]),
        Route("/api/modules/{id}/settings", module_settings, methods=["PATCH"]),
        Route("/api/modules/{id}/download", download_module, methods=["POST", "GET"]),
        *LIST_ROUTES,
    ],
)
