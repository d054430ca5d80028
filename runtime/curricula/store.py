"""Curricula in PostgreSQL: the UMCF document plus extracted metadata, per tenant, with shared system
content (``tenant_id NULL``) visible to every tenant. A tenant's own curriculum with the same id as a
system one shadows it for that tenant only.

Every function takes a connection from ``ctx.db.tenant(...)``; RLS guarantees a tenant never reads or
writes another tenant's rows, the explicit ``tenant_id`` conditions below make writes land only on the
caller's own rows (system rows are read-only to tenants).
"""
from __future__ import annotations

import base64
import json
from typing import Any

import asyncpg

from runtime.curricula import umcf

_META_COLUMNS = (
    "pk, tenant_id, id, title, description, version, difficulty, age_range, duration, keywords, "
    "topic_count, visual_asset_count, source_url, archived_at, created_at, updated_at"
)

# The rows a tenant sees: its own, then system rows whose id it has not shadowed.
_VISIBLE = (
    "select distinct on (id) {cols} from curricula "
    "order by id, tenant_id nulls last"
)


def meta_from_row(row: asyncpg.Record) -> umcf.CurriculumMeta:
    return umcf.CurriculumMeta(
        id=row["id"], title=row["title"], description=row["description"], version=row["version"],
        difficulty=row["difficulty"], age_range=row["age_range"], duration=row["duration"],
        keywords=list(row["keywords"] or []), topic_count=row["topic_count"],
        visual_asset_count=row["visual_asset_count"],
    )


async def list_visible(
    conn: asyncpg.Connection, *, archived: bool = False, search: str | None = None, difficulty: str | None = None
) -> list[asyncpg.Record]:
    sql = (
        f"with visible as ({_VISIBLE.format(cols=_META_COLUMNS)}) "
        "select * from visible where (archived_at is not null) = $1 "
        "and ($2::text is null or strpos(lower(title || ' ' || description || ' ' || array_to_string(keywords, ' ')), lower($2)) > 0) "
        "and ($3::text is null or lower(coalesce(difficulty, '')) = lower($3)) "
        "order by lower(title), id"
    )
    return await conn.fetch(sql, archived, search or None, difficulty or None)


async def suggest(conn: asyncpg.Connection, query: str, limit: int) -> list[asyncpg.Record]:
    """Visible, unarchived curricula matching ``query`` by full-text search, best first.

    Any of the query's words may match (the apps send a to-do item's title, e.g. "study the planets
    for Friday"), so the parsed query's ``&`` become ``|``; ``ts_rank`` over the weighted vector
    (title > keywords > description) orders them, ties by title. A query of only stop words matches
    nothing. RLS limits the rows to the caller's tenant and the system curricula."""
    sql = (
        "with q as (select nullif(replace(plainto_tsquery('english', $1)::text, ' & ', ' | '), '') as text), "
        f"visible as ({_VISIBLE.format(cols=_META_COLUMNS + ', search_vector')}) "
        "select v.id, v.title, ts_rank(v.search_vector, to_tsquery('english', q.text)) as rank "
        "from visible v, q where q.text is not null and v.archived_at is null "
        "and v.search_vector @@ to_tsquery('english', q.text) "
        "order by rank desc, lower(v.title), v.id limit $2"
    )
    return await conn.fetch(sql, query, limit)


async def get_visible(conn: asyncpg.Connection, curriculum_id: str, *, archived: bool = False,
                      with_document: bool = True) -> asyncpg.Record | None:
    cols = _META_COLUMNS + (", document" if with_document else "")
    return await conn.fetchrow(
        f"with visible as ({_VISIBLE.format(cols=cols)}) "
        "select * from visible where id = $1 and (archived_at is not null) = $2",
        curriculum_id, archived,
    )


def document(row: asyncpg.Record) -> dict:
    raw = row["document"]
    return json.loads(raw) if isinstance(raw, str) else raw


async def upsert(conn: asyncpg.Connection, tenant_id: str, doc: dict, *, source_url: str | None = None) -> umcf.CurriculumMeta:
    """Insert or replace the tenant's curriculum ``doc`` (re-import of the same id updates it and
    brings it back from the archive)."""
    meta = umcf.validate_document(doc)
    await conn.execute(
        "insert into curricula (tenant_id, id, title, description, version, difficulty, age_range, duration, "
        "keywords, topic_count, visual_asset_count, document, source_url) "
        "values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb, $13) "
        "on conflict (coalesce(tenant_id, '00000000-0000-0000-0000-000000000000'::uuid), id) do update set "
        "title = excluded.title, description = excluded.description, version = excluded.version, "
        "difficulty = excluded.difficulty, age_range = excluded.age_range, duration = excluded.duration, "
        "keywords = excluded.keywords, topic_count = excluded.topic_count, "
        "visual_asset_count = excluded.visual_asset_count, document = excluded.document, "
        "source_url = coalesce(excluded.source_url, curricula.source_url), archived_at = null, updated_at = now()",
        tenant_id, meta.id, meta.title, meta.description, meta.version, meta.difficulty, meta.age_range,
        meta.duration, meta.keywords, meta.topic_count, meta.visual_asset_count, umcf.dumps(doc), source_url,
    )
    return meta


async def get_own(conn: asyncpg.Connection, tenant_id: str, curriculum_id: str, *, archived: bool | None = False,
                  for_update: bool = False) -> asyncpg.Record | None:
    sql = (f"select {_META_COLUMNS}, document from curricula where tenant_id = $1 and id = $2 "
           "and ($3::boolean is null or (archived_at is not null) = $3)")
    if for_update:
        sql += " for update"
    return await conn.fetchrow(sql, tenant_id, curriculum_id, archived)


async def is_system(conn: asyncpg.Connection, curriculum_id: str) -> bool:
    return bool(await conn.fetchval("select 1 from curricula where tenant_id is null and id = $1", curriculum_id))


async def replace_document(conn: asyncpg.Connection, pk: int, doc: dict) -> umcf.CurriculumMeta:
    meta = umcf.validate_document(doc)
    await conn.execute(
        "update curricula set title = $2, description = $3, version = $4, difficulty = $5, age_range = $6, "
        "duration = $7, keywords = $8, topic_count = $9, visual_asset_count = $10, document = $11::jsonb, "
        "updated_at = now() where pk = $1",
        pk, meta.title, meta.description, meta.version, meta.difficulty, meta.age_range, meta.duration,
        meta.keywords, meta.topic_count, meta.visual_asset_count, umcf.dumps(doc),
    )
    return meta


async def set_archived(conn: asyncpg.Connection, pk: int, archived: bool) -> Any:
    """Archive or bring back; returns the new ``archived_at`` (None when unarchived)."""
    return await conn.fetchval(
        "update curricula set archived_at = case when $2 then now() else null end, updated_at = now() "
        "where pk = $1 returning archived_at",
        pk, archived,
    )


async def delete(conn: asyncpg.Connection, pk: int) -> list[str]:
    """Delete the curriculum; returns the storage keys of its assets (the caller removes the objects)."""
    keys = [r["storage_key"] for r in await conn.fetch(
        "select storage_key from curriculum_assets where curriculum_pk = $1", pk)]
    await conn.execute("delete from curricula where pk = $1", pk)
    return keys


async def refresh_metadata(conn: asyncpg.Connection, tenant_id: str) -> int:
    """Re-extract the metadata columns of the tenant's curricula from their documents (``reload``)."""
    rows = await conn.fetch("select pk, document from curricula where tenant_id = $1", tenant_id)
    for row in rows:
        try:
            await replace_document(conn, row["pk"], document(row))
        except umcf.UMCFError:
            continue  # a document that no longer validates keeps its last good metadata
    return len(rows)


async def assets_of(conn: asyncpg.Connection, pk: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        "select asset_id, topic_id, storage_key, mime_type, size_bytes, metadata from curriculum_assets "
        "where curriculum_pk = $1 order by created_at", pk)


async def document_with_assets(conn: asyncpg.Connection, store: Any, curriculum_id: str) -> dict | None:
    """UMCF plus ``assetData: {assetId: {data (base64), mimeType, size}}`` — what
    ``GET /api/curricula/{id}/full-with-assets`` answers (served by the core container)."""
    row = await get_visible(conn, curriculum_id)
    if row is None:
        return None
    doc = document(row)
    asset_data: dict[str, dict] = {}
    if row["tenant_id"] is not None:
        for asset in await assets_of(conn, row["pk"]):
            data = await store.get(asset["storage_key"])
            if data is not None:
                asset_data[asset["asset_id"]] = {
                    "data": base64.b64encode(data).decode("ascii"),
                    "mimeType": asset["mime_type"],
                    "size": len(data),
                }
    return {**doc, "assetData": asset_data}


async def add_asset(conn: asyncpg.Connection, tenant_id: str, curriculum_pk: Any, topic_id: str, asset_id: str,
                    storage_key: str, mime_type: str, size_bytes: int, metadata_json: str) -> None:
    await conn.execute(
        "insert into curriculum_assets (tenant_id, curriculum_pk, topic_id, asset_id, storage_key, mime_type, "
        "size_bytes, metadata) values ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)",
        tenant_id, curriculum_pk, topic_id, asset_id, storage_key, mime_type, size_bytes, metadata_json,
    )


async def find_asset(conn: asyncpg.Connection, curriculum_pk: Any, topic_id: str, asset_id: str) -> asyncpg.Record | None:
    """``(storage_key, mime_type)`` of a topic's asset, or None."""
    return await conn.fetchrow(
        "select storage_key, mime_type from curriculum_assets where curriculum_pk = $1 and asset_id = $2 "
        "and topic_id = $3", curriculum_pk, asset_id, topic_id)


async def delete_asset(conn: asyncpg.Connection, curriculum_pk: Any, asset_id: str) -> str | None:
    """Delete an asset's row; returns its storage key (the caller removes the bytes)."""
    return await conn.fetchval(
        "delete from curriculum_assets where curriculum_pk = $1 and asset_id = $2 returning storage_key",
        curriculum_pk, asset_id)
