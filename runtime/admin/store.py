"""What the admin routes read and write beyond the account store: tenants (through the owner's
SECURITY DEFINER functions, since no tenant's RLS shows them all), a tenant's users and budgets,
and system content (through its functions: system rows are not writable through RLS)."""
from __future__ import annotations

import uuid
from typing import Any

import asyncpg

USER_SQL = ("select id, email, display_name, role, is_active, email_verified, created_at, last_login_at, locked_until "
            "from users")


class TenantExists(Exception):
    """The slug is taken."""


class UnstorableValue(Exception):
    """PostgreSQL refused a value (e.g. a NUL character in a name)."""


# ---------------------------------------------------------------------------------- tenants
async def tenant_id(conn: asyncpg.Connection, ref: str) -> Any:
    """The id of the tenant ``ref`` names (its id, else its slug), or None."""
    try:
        row = await conn.fetchrow("select id from tenant_by_id($1)", uuid.UUID(ref))
    except ValueError:
        row = await conn.fetchrow("select id from tenant_by_slug($1)", ref.lower())
    return row["id"] if row else None


async def tenants(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch("select * from tenant_list()")


async def tenant(conn: asyncpg.Connection, tenant_id: str) -> list[asyncpg.Record]:
    """The one tenant, shaped as ``tenants`` rows (no creation time)."""
    return await conn.fetch("select id, slug, name, status, null::timestamptz as created_at "
                            "from tenant_by_id($1)", uuid.UUID(tenant_id))


async def create_tenant(conn: asyncpg.Connection, slug: str, name: str) -> asyncpg.Record:
    """Create a tenant; TenantExists or UnstorableValue (the caller's transaction is then rolled back)."""
    try:
        new_id = await conn.fetchval("select tenant_create($1, $2)", slug, name)
    except asyncpg.exceptions.UniqueViolationError:
        raise TenantExists(slug) from None
    except asyncpg.exceptions.DataError:
        raise UnstorableValue(name) from None
    return await conn.fetchrow("select id, slug, name, status from tenant_by_id($1)", new_id)


# ------------------------------------------------------------------------------------ users
async def users(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(USER_SQL + " order by created_at, email")


async def user(conn: asyncpg.Connection, user_id: Any) -> asyncpg.Record | None:
    return await conn.fetchrow(USER_SQL + " where id = $1", user_id)


async def set_role(conn: asyncpg.Connection, user_id: Any, role: str) -> None:
    await conn.execute("update users set role = $2 where id = $1", user_id, role)


async def delete_user(conn: asyncpg.Connection, user_id: Any) -> bool:
    return await conn.fetchval("delete from users where id = $1 returning id", user_id) is not None


# ---------------------------------------------------------------------------------- budgets
async def subject_budgets(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch("select subject, daily_limit_usd, updated_at from subject_budgets order by subject")


async def budget_limits(conn: asyncpg.Connection) -> asyncpg.Record | None:
    return await conn.fetchrow("select monthly_limit_usd, user_daily_limit_usd from budgets")


# --------------------------------------------------------------------------- system content
async def upsert_system_curriculum(conn: asyncpg.Connection, meta: Any, document_json: str) -> None:
    await conn.execute(
        "select content_system_curriculum_upsert($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb)",
        meta.id, meta.title, meta.description, meta.version, meta.difficulty, meta.age_range, meta.duration,
        meta.keywords, meta.topic_count, meta.visual_asset_count, document_json)


async def delete_system_curriculum(conn: asyncpg.Connection, curriculum_id: str) -> bool:
    return bool(await conn.fetchval("select content_system_curriculum_delete($1)", curriculum_id))


async def publish_kb_pack(conn: asyncpg.Connection, pack_id: str, name: str | None) -> Any:
    """The new system pack's id, or None when the tenant has no such pack."""
    return await conn.fetchval("select content_system_kb_publish($1, $2)", pack_id, name)


async def delete_system_kb_pack(conn: asyncpg.Connection, pack_id: str) -> bool:
    return bool(await conn.fetchval("select content_system_kb_pack_delete($1)", pack_id))
