"""The TTS cache index in PostgreSQL (``tts_cache_entries``, per tenant under RLS): what the cache
management routes read and delete. Deleting returns the object keys so the caller drops the bytes."""
from __future__ import annotations

import asyncpg

# Which entries a deletion takes: all, those older than $2 days, or the least recently used beyond
# $2 bytes. Fixed SQL chosen by name, so no caller writes a WHERE clause.
_WHERE = {
    "all": "true",
    "older_than_days": "created_at < now() - make_interval(days => $2)",
    "beyond_bytes": (
        "digest in (select digest from (select digest, sum(size_bytes) over (order by last_accessed_at desc, digest) "
        "as running from tts_cache_entries where tenant_id = $1) r where running > $2)"
    ),
}


async def delete_entries(conn: asyncpg.Connection, tenant_id: str, which: str, *args) -> list[str]:
    """Delete the tenant's entries selected by ``which`` (a key of ``_WHERE``); their object keys."""
    rows = await conn.fetch(
        f"delete from tts_cache_entries where tenant_id = $1 and {_WHERE[which]} returning object_key", tenant_id, *args)
    return [r["object_key"] for r in rows]


async def stats(conn: asyncpg.Connection, tenant_id: str) -> tuple[asyncpg.Record, dict[str, int]]:
    """``(n, size, hits)`` of the tenant's entries, and entries per provider."""
    row = await conn.fetchrow("select count(*) n, coalesce(sum(size_bytes), 0) size, "
                              "coalesce(sum(access_count), 0) hits from tts_cache_entries where tenant_id = $1",
                              tenant_id)
    by_provider = {r["provider"]: r["n"] for r in await conn.fetch(
        "select provider, count(*) n from tts_cache_entries where tenant_id = $1 group by provider", tenant_id)}
    return row, by_provider


_ENTRY_COLUMNS = ("digest, object_key, provider, voice, text_preview, size_bytes, duration_seconds, sample_rate, "
                  "created_at, last_accessed_at, client_hash")


async def name_entry(conn: asyncpg.Connection, tenant_id: str, digest: str, client_hash: str) -> asyncpg.Record | None:
    """Give the entry ``digest`` the client's name ``client_hash`` (taken from any other entry of the
    tenant that had it); the entry, or None when the index has no such entry."""
    await conn.execute("update tts_cache_entries set client_hash = null "
                       "where tenant_id = $1 and client_hash = $2 and digest <> $3", tenant_id, client_hash, digest)
    return await conn.fetchrow(f"update tts_cache_entries set client_hash = $3 where tenant_id = $1 and digest = $2 "
                               f"returning {_ENTRY_COLUMNS}", tenant_id, digest, client_hash)


async def entry(conn: asyncpg.Connection, tenant_id: str, *, digest: str | None = None,
                client_hash: str | None = None) -> asyncpg.Record | None:
    """The tenant's entry by the server's digest or by the client's name for it."""
    if client_hash is not None:
        return await conn.fetchrow(f"select {_ENTRY_COLUMNS} from tts_cache_entries "
                                   "where tenant_id = $1 and client_hash = $2", tenant_id, client_hash)
    return await conn.fetchrow(f"select {_ENTRY_COLUMNS} from tts_cache_entries where tenant_id = $1 and digest = $2",
                               tenant_id, digest)
