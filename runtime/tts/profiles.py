"""TTS profiles in PostgreSQL (``tts_profiles``, one tenant's rows under RLS): a named voice,
provider and settings, one of them the tenant's default. Only this module touches the table."""
from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg

from runtime.db import partial_update

COLUMNS = ("id, name, provider, voice_id, settings, description, tags, use_case, is_default, is_active, created_at, "
           "updated_at")
EDITABLE = ("name", "provider", "voice_id", "settings", "description", "tags", "use_case", "is_default", "is_active")
_JSON_FIELDS = ("settings", "tags")


class NameTaken(Exception):
    """Another profile of the tenant has this name (the caller's transaction is then rolled back)."""


def _encoded(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: json.dumps(v) if k in _JSON_FIELDS else v for k, v in fields.items()}


async def get(conn: asyncpg.Connection, tenant_id: str, profile_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(f"select {COLUMNS} from tts_profiles where tenant_id = $1 and id = $2",
                               tenant_id, profile_id)


async def page(conn: asyncpg.Connection, tenant_id: str, limit: int, offset: int,
               is_active: bool | None = None) -> tuple[list[asyncpg.Record], int]:
    """The default first, then by name (only active or inactive ones when ``is_active`` is set); and how
    many there are."""
    where = "tenant_id = $1 and ($2::boolean is null or is_active = $2)"
    rows = await conn.fetch(f"select {COLUMNS} from tts_profiles where {where} "
                            "order by is_default desc, lower(name) limit $3 offset $4", tenant_id, is_active, limit, offset)
    total = await conn.fetchval(f"select count(*) from tts_profiles where {where}", tenant_id, is_active)
    return rows, total


async def _clear_default(conn: asyncpg.Connection, tenant_id: str) -> None:
    await conn.execute("update tts_profiles set is_default = false where tenant_id = $1", tenant_id)


async def create(conn: asyncpg.Connection, tenant_id: str, f: dict[str, Any]) -> asyncpg.Record:
    """Insert a profile (the new default when ``is_default``); NameTaken when the name is in use."""
    try:
        if f["is_default"]:
            await _clear_default(conn, tenant_id)
        return await conn.fetchrow(
            f"insert into tts_profiles (tenant_id, name, provider, voice_id, settings, description, tags, use_case, "
            f"is_default, is_active) values ($1, $2, $3, $4, $5::jsonb, $6, $7::jsonb, $8, $9, $10) returning {COLUMNS}",
            tenant_id, f["name"], f["provider"], f["voice_id"], json.dumps(f["settings"]), f["description"],
            json.dumps(f["tags"]), f["use_case"], f["is_default"], f.get("is_active", True))
    except asyncpg.UniqueViolationError:
        raise NameTaken(f["name"]) from None


async def update(conn: asyncpg.Connection, tenant_id: str, profile_id: uuid.UUID, changes: dict[str, Any]) -> asyncpg.Record | None:
    """Change some fields (the new default when ``is_default`` is true); NameTaken on a used name."""
    try:
        if changes.get("is_default"):
            await _clear_default(conn, tenant_id)
        sql, args = partial_update(
            "tts_profiles", _encoded(changes), columns=EDITABLE, casts={k: "jsonb" for k in _JSON_FIELDS},
            where="tenant_id = $1 and id = $2", where_args=[tenant_id, profile_id], returning=COLUMNS)
        return await conn.fetchrow(sql, *args)
    except asyncpg.UniqueViolationError:
        raise NameTaken(changes.get("name")) from None


async def delete(conn: asyncpg.Connection, tenant_id: str, profile_id: uuid.UUID) -> bool:
    n = await conn.fetchval("with d as (delete from tts_profiles where tenant_id = $1 and id = $2 returning 1) "
                            "select count(*) from d", tenant_id, profile_id)
    return bool(n)


async def set_default(conn: asyncpg.Connection, tenant_id: str, profile_id: uuid.UUID) -> asyncpg.Record | None:
    await conn.execute("update tts_profiles set is_default = false where tenant_id = $1 and is_default", tenant_id)
    return await conn.fetchrow(f"update tts_profiles set is_default = true, updated_at = now() "
                               f"where tenant_id = $1 and id = $2 returning {COLUMNS}", tenant_id, profile_id)


async def duplicate(conn: asyncpg.Connection, tenant_id: str, profile_id: Any, name: str) -> asyncpg.Record | None:
    """A copy of a profile under ``name`` (never the default); NameTaken when the name is in use."""
    try:
        return await conn.fetchrow(
            f"insert into tts_profiles (tenant_id, name, provider, voice_id, settings, description, tags, use_case) "
            f"select tenant_id, $3, provider, voice_id, settings, description, tags, use_case from tts_profiles "
            f"where tenant_id = $1 and id = $2 returning {COLUMNS}", tenant_id, profile_id, name)
    except asyncpg.UniqueViolationError:
        raise NameTaken(name) from None


async def upsert(conn: asyncpg.Connection, tenant_id: str, f: dict[str, Any]) -> asyncpg.Record:
    """Insert a profile, or replace the one of the same name (an import); never makes it the default."""
    return await conn.fetchrow(
        f"insert into tts_profiles (tenant_id, name, provider, voice_id, settings, description, tags, use_case) "
        f"values ($1, $2, $3, $4, $5::jsonb, $6, $7::jsonb, $8) on conflict (tenant_id, name) do update set "
        f"provider = excluded.provider, voice_id = excluded.voice_id, settings = excluded.settings, "
        f"description = excluded.description, tags = excluded.tags, use_case = excluded.use_case, updated_at = now() "
        f"returning {COLUMNS}",
        tenant_id, f["name"], f["provider"], f["voice_id"], json.dumps(f["settings"]), f["description"],
        json.dumps(f["tags"]), f["use_case"])
