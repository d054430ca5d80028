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
