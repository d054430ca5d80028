"""Tenant administration (owner connection): the CLI, `dev` and test fixtures create tenants here."""
from __future__ import annotations

import re
import uuid

import asyncpg

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class TenantError(ValueError):
    """A tenant cannot be created or found; the message says why."""


def check_slug(slug: str) -> str:
    value = slug.strip().lower()
    if not SLUG_RE.match(value):
        raise TenantError(
            f"tenant slug {slug!r} must be 1-63 characters of a-z, 0-9 and '-', starting with a letter or digit"
        )
    return value


async def create_tenant(conn: asyncpg.Connection, slug: str, name: str | None = None, *, exist_ok: bool = False) -> uuid.UUID:
    """Create a tenant (as the owner); with ``exist_ok`` return the existing one's id instead of failing."""
    slug = check_slug(slug)
    display = (name or slug).strip()[:200] or slug
    async with conn.transaction():
        existing = await conn.fetchval("select id from tenants where slug = $1", slug)
        if existing is not None:
            if exist_ok:
                return existing
            raise TenantError(f"tenant {slug!r} already exists (id {existing})")
        tenant_id = await conn.fetchval("insert into tenants (slug, name) values ($1, $2) returning id", slug, display)
        await conn.execute(
            "insert into audit_log (tenant_id, actor_kind, action, target) values ($1, 'cli', 'tenant.create', $2)",
            tenant_id,
            slug,
        )
    return tenant_id


async def tenant_by_slug(conn: asyncpg.Connection, slug: str) -> asyncpg.Record | None:
    return await conn.fetchrow("select id, slug, name, status from tenant_by_slug($1)", slug)
