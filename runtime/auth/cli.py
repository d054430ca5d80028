"""Admin CLI commands of auth (hooked into ``python -m runtime admin`` by runtime/cli.py).

  admin token issue --tenant <slug> --name <tester> [--device ID | --bind-first-device]
                    [--rate 120/60] [--expires-days N]     prints the token as the LAST line, once
  admin token revoke <id>                                  stops it within UNAMENTIS_AUTH_CACHE_SECONDS
  admin token list --tenant <slug>
  admin user promote <email> [--role admin|org_admin|super_admin]

They connect as the owner (``UNAMENTIS_DATABASE_ADMIN_URL``). RLS is forced on the auth tables, so
every statement runs in a transaction scoped to the tenant it touches.
"""
from __future__ import annotations

import argparse
import json
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from runtime.auth import store
from runtime.db import connect_admin
from runtime.errors import CliError
from runtime.settings import Settings, parse_rate


def _out(message: str) -> None:
    print(message, flush=True)


async def _tenant(conn: Any, slug: str) -> uuid.UUID:
    found = await store.tenant_id_by_slug(conn, slug)
    if found is None:
        raise CliError(f"no tenant {slug!r}; create it with: python -m runtime admin tenant create {slug}")
    return found[0]


async def cmd_token_issue(args: argparse.Namespace, settings: Settings) -> int:
    rate = None
    if args.rate:
        capacity, per = parse_rate("--rate", args.rate)
        rate = (capacity, per) if capacity > 0 else None
    if args.device and args.bind_first_device:
        raise CliError("use either --device or --bind-first-device, not both")
    name = args.name.strip()
    if not 1 <= len(name) <= 200:
        raise CliError("--name must be 1 to 200 characters")
    if args.expires_days is not None and args.expires_days < 1:
        raise CliError("--expires-days must be at least 1")
    expires = datetime.now(timezone.utc) + timedelta(days=args.expires_days) if args.expires_days else None
    conn = await connect_admin(settings)
    try:
        tenant_id = await _tenant(conn, args.tenant)
        token_id, token = await store.issue_beta_token(
            conn, tenant_id, name, created_by="cli", device_id=args.device, bind_on_first_use=args.bind_first_device,
            rate=rate, expires_at=expires,
        )
        async with conn.transaction():
            await store.scope_to(conn, tenant_id)
            await store.audit(conn, tenant_id, "beta_token_issued", actor_kind="cli", target=token_id,
                              details='{"name": %s}' % _json_str(name))
    finally:
        await conn.close()
    _out(f"beta token {token_id} issued to {name!r} in tenant {args.tenant}")
    _out("store it now: it is shown once and only its hash is kept")
    _out(token)
    return 0


def _json_str(value: str) -> str:
    return json.dumps(value)


async def cmd_token_revoke(args: argparse.Namespace, settings: Settings) -> int:
    try:
        token_id = uuid.UUID(args.id)
    except ValueError:
        raise CliError(f"{args.id!r} is not a beta token id (a UUID, as printed by `admin token issue`)") from None
    conn = await connect_admin(settings)
    try:
        async with conn.transaction():
            tenant_id = await store.beta_token_tenant(conn, token_id)
            if tenant_id is None:
                raise CliError(f"no beta token {token_id}")
            await store.scope_to(conn, tenant_id)
            revoked = await store.revoke_beta_token(conn, token_id, "revoked by cli")
            if revoked:
                await store.audit(conn, tenant_id, "beta_token_revoked", actor_kind="cli", target=token_id)
    finally:
        await conn.close()
    if not revoked:
        _out(f"beta token {token_id} was already revoked")
        return 0
    _out(f"beta token {token_id} revoked (refused everywhere within {settings.auth_cache_seconds:g} s)")
    return 0


async def cmd_token_list(args: argparse.Namespace, settings: Settings) -> int:
    conn = await connect_admin(settings)
    try:
        async with conn.transaction():
            tenant_id = await _tenant(conn, args.tenant)
            await store.scope_to(conn, tenant_id)
            rows = await store.list_beta_tokens(conn, tenant_id)
    finally:
        await conn.close()
    for row in rows:
        state = "revoked" if row["revoked_at"] else "active"
        used = row["last_used_at"].isoformat(timespec="seconds") if row["last_used_at"] else "never"
        _out(f"{row['id']}  {row['token_prefix']}…  {state:<7}  last used {used:<25}  {row['name']}")
    return 0


async def cmd_user_promote(args: argparse.Namespace, settings: Settings) -> int:
    email = args.email.strip().lower()
    conn = await connect_admin(settings)
    try:
        async with conn.transaction():
            tenant_id = await store.tenant_of(conn, "email", email)
            if tenant_id is None:
                raise CliError(f"no user with e-mail {email!r}; they must register first")
            await store.scope_to(conn, tenant_id)
            user_id = await conn.fetchval(
                "update users set role = $2, updated_at = now() where email = $1 returning id", email, args.role
            )
            await store.audit(conn, tenant_id, "user_promoted", actor_kind="cli", target=user_id,
                              details='{"role": %s}' % _json_str(args.role))
    finally:
        await conn.close()
    _out(f"user {email} ({user_id}) is now {args.role}")
    return 0


def add_commands(admin_sub: Any) -> None:
    token = admin_sub.add_parser("token", help="beta tokens")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    issue = token_sub.add_parser("issue", help="issue a beta token to a tester (printed once, last line)")
    issue.add_argument("--tenant", required=True, help="tenant slug")
    issue.add_argument("--name", required=True, help="the tester's name")
    issue.add_argument("--device", default=None, help="bind the token to this X-Device-ID")
    issue.add_argument("--bind-first-device", action="store_true", help="bind to the first X-Device-ID that uses it")
    issue.add_argument("--rate", default=None, help="this token's own rate limit, e.g. 120/60 (default: UNAMENTIS_RATE_LIMIT_TOKEN)")
    issue.add_argument("--expires-days", type=int, default=None, help="expire after N days (default: never)")
    issue.set_defaults(func=cmd_token_issue)
    revoke = token_sub.add_parser("revoke", help="revoke one beta token by id")
    revoke.add_argument("id")
    revoke.set_defaults(func=cmd_token_revoke)
    listing = token_sub.add_parser("list", help="list a tenant's beta tokens (never the tokens themselves)")
    listing.add_argument("--tenant", required=True)
    listing.set_defaults(func=cmd_token_list)

    user = admin_sub.add_parser("user", help="users")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    promote = user_sub.add_parser("promote", help="give a user an admin role")
    promote.add_argument("email")
    promote.add_argument("--role", default="admin", choices=("admin", "org_admin", "super_admin"))
    promote.set_defaults(func=cmd_user_promote)

