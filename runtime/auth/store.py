"""The SQL of auth, one function per question, each taking an open asyncpg connection.

Callers own the transaction and its tenant (``ctx.db.tenant(...)`` / ``ctx.db.unscoped()``).
Functions named ``*_any_tenant`` start from a credential (e-mail or token hash), find its tenant
through ``auth_tenant_for`` (SECURITY DEFINER) and then scope the SAME transaction to that tenant
with ``set_config('app.tenant_id', …, true)``, so every row is still read under RLS.
"""
from __future__ import annotations

import ipaddress
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import asyncpg

from runtime.auth.tokens import new_beta_token, new_refresh_token, token_hash
from runtime.db import partial_update


class EmailTaken(Exception):
    """Another account has this e-mail (the caller's transaction is then rolled back)."""


# What a user may change on their own profile, and what an admin may change on a user.
PROFILE_EDITABLE = ("display_name", "avatar_url", "locale", "timezone")
ADMIN_EDITABLE = ("role", "is_active", "display_name")
USER_COLUMNS = (
    "u.id, u.tenant_id, u.email, u.email_verified, u.display_name, u.avatar_url, u.locale, u.timezone, "
    "u.role, u.mfa_enabled, u.is_active, u.created_at, u.last_login_at, u.updated_at"
)


def now() -> datetime:
    return datetime.now(timezone.utc)


def inet_or_none(value: str | None) -> str | None:
    """An IP the ``inet`` column accepts, or None (peer names like 'testclient' are not IPs)."""
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


async def scope_to(conn: asyncpg.Connection, tenant_id: Any) -> None:
    await conn.execute("select set_config('app.tenant_id', $1, true)", str(tenant_id))


async def tenant_of(conn: asyncpg.Connection, kind: str, key: str) -> uuid.UUID | None:
    return await conn.fetchval("select auth_tenant_for($1, $2)", kind, key)


async def audit(conn: asyncpg.Connection, tenant_id: Any, action: str, *, actor_kind: str = "user",
                actor_id: Any = None, target: Any = None, ip: str | None = None, details: str = "{}",
                request_id: str | None = None) -> None:
    """One audit_log row (RC's table) in the caller's tenant transaction."""
    await conn.execute(
        "insert into audit_log (tenant_id, actor_kind, actor_id, action, target, details, ip, request_id) "
        "values ($1, $2, $3, $4, $5, $6::jsonb, $7, $8)",
        tenant_id, actor_kind, str(actor_id) if actor_id else None, action,
        str(target) if target else None, details, ip, request_id,
    )


# ---------------------------------------------------------------------------- tenants
async def tenant_id_by_slug(conn: asyncpg.Connection, slug: str) -> tuple[uuid.UUID, str] | None:
    row = await conn.fetchrow("select id, status from tenant_by_slug($1)", slug)
    return (row["id"], row["status"]) if row else None


# ---------------------------------------------------------------------------- users
async def user_by_email_any_tenant(conn: asyncpg.Connection, email: str) -> asyncpg.Record | None:
    tenant = await tenant_of(conn, "email", email)
    if tenant is None:
        return None
    await scope_to(conn, tenant)
    return await conn.fetchrow(
        f"select {USER_COLUMNS}, u.password_hash, u.failed_logins, u.locked_until, t.status as tenant_status "
        "from users u join tenants t on t.id = u.tenant_id where u.email = $1",
        email,
    )


async def user_by_id(conn: asyncpg.Connection, user_id: Any) -> asyncpg.Record | None:
    return await conn.fetchrow(f"select {USER_COLUMNS}, u.password_hash from users u where u.id = $1", user_id)


async def create_user(conn: asyncpg.Connection, tenant_id: Any, email: str, password_hash: str,
                      display_name: str | None) -> asyncpg.Record:
    """Insert a user; raises EmailTaken when the e-mail is taken (in any tenant)."""
    try:
        return await conn.fetchrow(
            "insert into users (tenant_id, email, password_hash, display_name) values ($1, $2, $3, $4) "
            f"returning {USER_COLUMNS.replace('u.', '')}",
            tenant_id, email, password_hash, display_name,
        )
    except asyncpg.UniqueViolationError:
        raise EmailTaken(email) from None


async def record_login_failure(conn: asyncpg.Connection, user_id: Any, *, max_failures: int, lock_minutes: int) -> None:
    await conn.execute(
        "update users set failed_logins = failed_logins + 1, "
        "locked_until = case when failed_logins + 1 >= $2 then now() + make_interval(mins => $3) else locked_until end "
        "where id = $1",
        user_id, max_failures, lock_minutes,
    )


async def record_login_success(conn: asyncpg.Connection, user_id: Any, new_hash: str | None) -> None:
    await conn.execute(
        "update users set failed_logins = 0, locked_until = null, last_login_at = now(), "
        "password_hash = coalesce($2, password_hash) where id = $1",
        user_id, new_hash,
    )


async def update_profile(conn: asyncpg.Connection, user_id: Any, changes: dict[str, str | None]) -> asyncpg.Record | None:
    wanted = {name: changes[name] for name in PROFILE_EDITABLE if name in changes}
    sql, args = partial_update("users", wanted, columns=PROFILE_EDITABLE, alias="u", where="u.id = $1",
                               where_args=[user_id], returning=USER_COLUMNS)
    return await conn.fetchrow(sql, *args)


async def update_user(conn: asyncpg.Connection, user_id: Any, changes: dict[str, Any]) -> asyncpg.Record | None:
    """An admin's change of a user's role, activity or name; the row's id, or None when not visible."""
    sql, args = partial_update("users", changes, columns=ADMIN_EDITABLE, where="id = $1",
                               where_args=[user_id], returning="id")
    return await conn.fetchrow(sql, *args)


async def set_password(conn: asyncpg.Connection, user_id: Any, password_hash: str) -> None:
    await conn.execute(
        "update users set password_hash = $2, password_changed_at = now(), updated_at = now() where id = $1",
        user_id, password_hash,
    )


# ---------------------------------------------------------------------------- devices
async def upsert_device(conn: asyncpg.Connection, tenant_id: Any, user_id: Any, device: dict[str, Any]) -> uuid.UUID:
    """The user's device with this fingerprint, created or refreshed (and re-activated)."""
    return await conn.fetchval(
        "insert into devices (tenant_id, user_id, fingerprint, name, type, model, os_version, app_version) "
        "values ($1, $2, $3, $4, $5, $6, $7, $8) "
        "on conflict (user_id, fingerprint) do update set name = coalesce(excluded.name, devices.name), "
        "type = excluded.type, model = coalesce(excluded.model, devices.model), "
        "os_version = coalesce(excluded.os_version, devices.os_version), "
        "app_version = coalesce(excluded.app_version, devices.app_version), "
        "is_active = true, last_seen_at = now() returning id",
        tenant_id, user_id, device["fingerprint"], device.get("name"), device["type"], device.get("model"),
        device.get("os_version"), device.get("app_version"),
    )


async def list_devices(conn: asyncpg.Connection, user_id: Any) -> list[asyncpg.Record]:
    return await conn.fetch(
        "select id, name, type, model, os_version, app_version, is_trusted, last_seen_at, created_at "
        "from devices where user_id = $1 and is_active order by last_seen_at desc",
        user_id,
    )


async def deactivate_device(conn: asyncpg.Connection, user_id: Any, device_id: uuid.UUID) -> list[uuid.UUID] | None:
    """Deactivate a device, end its sessions, revoke its refresh tokens; the ended session ids
    (None when the user has no such active device)."""
    found = await conn.fetchval(
        "update devices set is_active = false where id = $1 and user_id = $2 and is_active returning id",
        device_id, user_id,
    )
    if found is None:
        return None
    await conn.execute(
        "update refresh_tokens set revoked_at = now(), revoked_reason = 'device_removed' "
        "where device_id = $1 and revoked_at is null",
        device_id,
    )
    rows = await conn.fetch(
        "update login_sessions set ended_at = now(), end_reason = 'device_removed' "
        "where device_id = $1 and ended_at is null returning id",
        device_id,
    )
    return [r["id"] for r in rows]


# ---------------------------------------------------------------------------- sessions + refresh
async def start_session(conn: asyncpg.Connection, tenant_id: Any, user_id: Any, device_id: Any, *,
                        ip: str | None, user_agent: str | None, refresh_days: int,
                        country: str | None = None) -> tuple[uuid.UUID, str]:
    """A new login session and the first refresh token of a new family; returns (session id, token)."""
    session_id = await conn.fetchval(
        "insert into login_sessions (tenant_id, user_id, device_id, ip_address, user_agent, country) "
        "values ($1, $2, $3, $4::inet, $5, $6) returning id",
        tenant_id, user_id, device_id, inet_or_none(ip), (user_agent or "")[:500] or None, country,
    )
    token = await insert_refresh(conn, tenant_id, user_id, device_id, session_id, uuid.uuid4(), 1, None,
                                 ip=ip, user_agent=user_agent, refresh_days=refresh_days)
    return session_id, token


async def insert_refresh(conn: asyncpg.Connection, tenant_id: Any, user_id: Any, device_id: Any, session_id: Any,
                         family_id: Any, generation: int, parent_id: Any, *, ip: str | None,
                         user_agent: str | None, refresh_days: int) -> str:
    token = new_refresh_token()
    await conn.execute(
        "insert into refresh_tokens (tenant_id, user_id, device_id, session_id, family_id, generation, parent_id, "
        "token_hash, expires_at, ip_address, user_agent) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::inet, $11)",
        tenant_id, user_id, device_id, session_id, family_id, generation, parent_id, token_hash(token),
        now() + timedelta(days=refresh_days), inet_or_none(ip), (user_agent or "")[:500] or None,
    )
    return token


async def lock_refresh_any_tenant(conn: asyncpg.Connection, hashed: str) -> asyncpg.Record | None:
    """The refresh-token row (locked FOR UPDATE, so concurrent rotations serialise) with its user,
    device and session state."""
    tenant = await tenant_of(conn, "refresh_token", hashed)
    if tenant is None:
        return None
    await scope_to(conn, tenant)
    return await conn.fetchrow(
        "select r.id, r.tenant_id, r.user_id, r.device_id, r.session_id, r.family_id, r.generation, "
        "r.expires_at, r.revoked_at, r.revoked_reason, u.is_active as user_active, u.role, "
        "coalesce(d.is_active, true) as device_active, s.ended_at as session_ended_at, t.status as tenant_status "
        "from refresh_tokens r join users u on u.id = r.user_id join login_sessions s on s.id = r.session_id "
        "join tenants t on t.id = r.tenant_id left join devices d on d.id = r.device_id "
        "where r.token_hash = $1 for update of r",
        hashed,
    )


async def revoke_family(conn: asyncpg.Connection, family_id: Any, reason: str) -> list[uuid.UUID]:
    """Revoke every live token of a family and end its session; returns the ended session ids."""
    await conn.execute(
        "update refresh_tokens set revoked_at = now(), revoked_reason = $2 where family_id = $1 and revoked_at is null",
        family_id, reason,
    )
    rows = await conn.fetch(
        "update login_sessions s set ended_at = now(), end_reason = $2 where ended_at is null and s.id in "
        "(select session_id from refresh_tokens where family_id = $1) returning s.id",
        family_id, reason,
    )
    return [r["id"] for r in rows]


async def end_sessions(conn: asyncpg.Connection, user_id: Any, reason: str, *, only: Any = None,
                       keep: Any = None) -> list[uuid.UUID]:
    """End the user's sessions (all, ``only`` one, or all but ``keep``) and revoke their refresh
    tokens; returns the ended session ids."""
    rows = await conn.fetch(
        "update login_sessions set ended_at = now(), end_reason = $2 where user_id = $1 and ended_at is null "
        "and ($3::uuid is null or id = $3) and ($4::uuid is null or id <> $4) returning id",
        user_id, reason, only, keep,
    )
    ids = [r["id"] for r in rows]
    if ids:
        await conn.execute(
            "update refresh_tokens set revoked_at = now(), revoked_reason = $2 "
            "where session_id = any($1::uuid[]) and revoked_at is null",
            ids, reason,
        )
    return ids


async def prune_user(conn: asyncpg.Connection, user_id: Any) -> None:
    """Forget the user's refresh tokens past expiry and sessions ended over 90 days ago (run at
    login, so the tables stay proportional to active use without a cron job)."""
    await conn.execute("delete from refresh_tokens where user_id = $1 and expires_at < now()", user_id)
    await conn.execute("delete from login_sessions where user_id = $1 and ended_at < now() - interval '90 days'", user_id)


async def list_sessions(conn: asyncpg.Connection, user_id: Any) -> list[asyncpg.Record]:
    return await conn.fetch(
        "select s.id, host(s.ip_address) as ip_address, s.user_agent, s.country, s.city, s.created_at, "
        "s.last_activity_at, d.id as device_id, d.name as device_name, d.type as device_type "
        "from login_sessions s left join devices d on d.id = s.device_id "
        "where s.user_id = $1 and s.ended_at is null order by s.last_activity_at desc",
        user_id,
    )


async def session_state(conn: asyncpg.Connection, session_id: Any) -> asyncpg.Record | None:
    """What an access token's validity depends on (read under the token's tenant)."""
    return await conn.fetchrow(
        "select s.user_id, s.ended_at, u.is_active, u.role, u.email, u.display_name, "
        "coalesce(d.is_active, true) as device_active, t.status as tenant_status "
        "from login_sessions s join users u on u.id = s.user_id join tenants t on t.id = s.tenant_id "
        "left join devices d on d.id = s.device_id where s.id = $1",
        session_id,
    )


# ---------------------------------------------------------------------------- beta tokens
async def issue_beta_token(conn: asyncpg.Connection, tenant_id: Any, name: str, *, created_by: str | None = None,
                           device_id: str | None = None, bind_on_first_use: bool = False,
                           rate: tuple[int, float] | None = None, expires_at: datetime | None = None) -> tuple[uuid.UUID, str]:
    """Create a beta token for a tester; returns (id, token). Only the hash is stored: show the
    token once. The caller's connection may be the owner's or the runtime role's; the insert is
    scoped to ``tenant_id`` inside a (sub)transaction either way."""
    token = new_beta_token()
    async with conn.transaction():
        await scope_to(conn, tenant_id)
        token_id = await conn.fetchval(
            "insert into beta_tokens (tenant_id, name, token_hash, token_prefix, device_id, bind_on_first_use, "
            "rate_capacity, rate_per_seconds, created_by, expires_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
            "returning id",
            tenant_id, name, token_hash(token), token[:13], device_id, bind_on_first_use,
            rate[0] if rate else None, float(rate[1]) if rate else None, created_by, expires_at,
        )
    return token_id, token


async def revoke_beta_token(conn: asyncpg.Connection, token_id: Any, reason: str = "revoked") -> bool:
    """Revoke in the caller's tenant; False if no live token has this id there."""
    return await conn.fetchval(
        "update beta_tokens set revoked_at = now(), revoked_reason = $2 where id = $1 and revoked_at is null returning true",
        token_id, reason,
    ) is True


async def beta_token_tenant(conn: asyncpg.Connection, token_id: Any) -> uuid.UUID | None:
    """The tenant of a beta token by id (the CLI revokes by id alone)."""
    return await tenant_of(conn, "beta_token_id", str(token_id))


async def list_beta_tokens(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(
        "select id, name, token_prefix, device_id, bind_on_first_use, rate_capacity, rate_per_seconds, created_by, "
        "created_at, expires_at, revoked_at, revoked_reason, last_used_at from beta_tokens order by created_at"
    )


async def beta_token_any_tenant(conn: asyncpg.Connection, hashed: str) -> asyncpg.Record | None:
    tenant = await tenant_of(conn, "beta_token", hashed)
    if tenant is None:
        return None
    await scope_to(conn, tenant)
    row = await conn.fetchrow(
        "select b.id, b.tenant_id, b.name, b.device_id, b.bind_on_first_use, b.rate_capacity, b.rate_per_seconds, "
        "b.expires_at, b.revoked_at, t.status as tenant_status from beta_tokens b join tenants t on t.id = b.tenant_id "
        "where b.token_hash = $1",
        hashed,
    )
    if row is not None:
        # Coarse "last used": written once per cache miss (every few seconds at most), not per request.
        await conn.execute("update beta_tokens set last_used_at = now() where id = $1", row["id"])
    return row


async def bind_beta_device(conn: asyncpg.Connection, token_id: Any, device_id: str) -> str | None:
    """Bind a bind-on-first-use token to ``device_id`` unless already bound; the bound device."""
    return await conn.fetchval(
        "with upd as (update beta_tokens set device_id = $2 where id = $1 and device_id is null returning device_id) "
        "select coalesce((select device_id from upd), (select device_id from beta_tokens where id = $1))",
        token_id, device_id,
    )


async def rotate_refresh(conn: asyncpg.Connection, refresh_id: Any, session_id: Any) -> None:
    """Mark a refresh token used (its successor is inserted by the caller) and the session active."""
    await conn.execute("update refresh_tokens set revoked_at = now(), revoked_reason = 'rotated' where id = $1", refresh_id)
    await conn.execute("update login_sessions set last_activity_at = now() where id = $1", session_id)


async def refresh_family(conn: asyncpg.Connection, hashed: str, user_id: Any) -> Any:
    """The family of a user's refresh token (by its hash), or None."""
    return await conn.fetchval("select family_id from refresh_tokens where token_hash = $1 and user_id = $2", hashed, user_id)


async def device_active(conn: asyncpg.Connection, device_id: uuid.UUID) -> bool | None:
    return await conn.fetchval("select is_active from devices where id = $1", device_id)
