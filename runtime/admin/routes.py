"""Admin (Tier 2, ``/api/admin/*``): the ``admin`` Lambda service.

Tenants, beta tokens (issued tokens are shown once), users, usage and budgets. The middleware has
already verified the Tier-2 credential (Cloudflare Access JWT or an admin user's JWT) before a
handler runs; handlers check the role again and decide the **target tenant**:

* ``admin`` / ``org_admin`` act on their own tenant only;
* ``super_admin`` (the operators) may name any tenant with ``?tenant=<slug or id>`` (or ``"tenant"``
  in a JSON body), list and create tenants, and read every tenant's spend.

Work on a target tenant runs in that tenant's RLS transaction, so even here one statement can only
touch one tenant's rows. Cross-tenant reads go through the owner's SECURITY DEFINER functions
(``tenant_list``, ``tenant_create``, ``usage_by_tenant``). Beta-token, user and metering logic lives in
``runtime.auth.store``, ``runtime.auth.passwords``, ``runtime.metering``; this module only
exposes it over HTTP.
"""
from __future__ import annotations

import datetime as dt
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from runtime.admin import store
from runtime.auth import store as auth_store
from runtime.auth.passwords import PasswordRuleError, check_password, hash_password_async
from runtime.auth.principal import Principal, admin_principal
from runtime.content.http import iso, reply, tenant_tx
from runtime.context import ctx
from runtime.curricula import umcf
from runtime.errors import ApiError, Conflict, Forbidden, InvalidField, InvalidParameter, MissingField, NotFound
from runtime.service import Service
from runtime.tenants import TenantError, check_slug
from runtime.validation import (
    field_bool,
    field_enum,
    field_float,
    field_int,
    field_str,
    json_body,
    path_id,
    path_uuid,
    query_bool,
    query_str,
)

ROLES = ("user", "admin", "org_admin", "super_admin")
MAX_USAGE_DAYS = 366


_ADMIN_ONLY = "Administrator role required."


def _super(who: Principal) -> bool:
    return who.role == "super_admin"


async def _target_tenant(request: Request, who: Principal, body: dict | None = None) -> str:
    """The tenant an admin acts on: their own, or (super admins) the one named."""
    raw = (body or {}).get("tenant") if body else None
    if raw is not None and not isinstance(raw, str):
        raise InvalidField("'tenant' must be a slug or an id.", details={"field": "tenant"})
    raw = raw or query_str(request, "tenant", max_len=100)
    if not raw or raw in (who.tenant_id,):
        return who.tenant_id
    if not _super(who):
        raise Forbidden("Only super admins can act on another tenant.", details={"field": "tenant"})
    async with ctx(request).db.unscoped() as conn:
        found = await store.tenant_id(conn, raw)
    if found is None:
        raise NotFound(f"No tenant {raw!r}.", details={"field": "tenant"})
    return str(found)


def _as(request: Request, tenant_id: str):
    return tenant_tx(request, tenant_id)


# ----------------------------------------------------------------------------------- tenants
def _tenant_dict(r) -> dict:
    return {"id": str(r["id"]), "slug": r["slug"], "name": r["name"], "status": r["status"],
            "created_at": iso(r["created_at"]) if "created_at" in r.keys() else None}


async def list_tenants(request: Request) -> Response:
    """Tenants: every tenant for super admins, the own one otherwise."""
    who = admin_principal(request, _ADMIN_ONLY)
    async with ctx(request).db.unscoped() as conn:
        if _super(who):
            rows = await store.tenants(conn)
        else:
            rows = await store.tenant(conn, who.tenant_id)
    tenants = [_tenant_dict(r) for r in rows]
    return reply({"tenants": tenants, "total": len(tenants)})


async def create_tenant(request: Request) -> Response:
    """Create a tenant (super admins)."""
    who = admin_principal(request, _ADMIN_ONLY)
    if not _super(who):
        raise Forbidden("Only super admins can create tenants.")
    body = await json_body(request)
    raw_slug = field_str(body, "slug", required=True, max_len=63)
    name = field_str(body, "name", max_len=200) or raw_slug
    try:
        slug = check_slug(raw_slug)
    except TenantError as exc:
        raise InvalidField(str(exc), details={"field": "slug"}) from None
    try:
        async with ctx(request).db.unscoped() as conn:
            row = await store.create_tenant(conn, slug, name)
    except store.TenantExists:
        raise ApiError(409, "tenant_exists", f"Tenant {slug!r} already exists.", details={"field": "slug"}) from None
    except store.UnstorableValue:
        raise InvalidField("'name' contains characters that cannot be stored.",
                       details={"field": "name"}) from None
    return reply({"tenant": {**_tenant_dict(row), "created_at": None}}, 201)


# ------------------------------------------------------------------------------- beta tokens
def _token_dict(r) -> dict:
    return {"id": str(r["id"]), "name": r["name"], "token_prefix": r["token_prefix"], "device_id": r["device_id"],
            "bind_on_first_use": r["bind_on_first_use"],
            "rate_limit": ({"capacity": r["rate_capacity"], "per_seconds": r["rate_per_seconds"]}
                           if r["rate_capacity"] else None),
            "created_by": r["created_by"], "created_at": iso(r["created_at"]), "expires_at": iso(r["expires_at"]),
            "revoked_at": iso(r["revoked_at"]), "revoked_reason": r["revoked_reason"],
            "last_used_at": iso(r["last_used_at"]),
            "status": "revoked" if r["revoked_at"] else (
                "expired" if r["expires_at"] and r["expires_at"] < dt.datetime.now(dt.timezone.utc) else "active")}


async def list_tokens(request: Request) -> Response:
    """Beta tokens of the target tenant (never the token values)."""
    who = admin_principal(request, _ADMIN_ONLY)
    tenant_id = await _target_tenant(request, who)
    include_revoked = query_bool(request, "include_revoked", True)
    async with _as(request, tenant_id) as conn:
        rows = await auth_store.list_beta_tokens(conn, tenant_id)
    tokens = [_token_dict(r) for r in rows if include_revoked or r["revoked_at"] is None]
    return reply({"tokens": tokens, "beta_tokens": tokens, "total": len(tokens), "tenant_id": tenant_id})


async def issue_token(request: Request) -> Response:
    """Issue a beta token for a tester; the token is in this answer only."""
    who = admin_principal(request, _ADMIN_ONLY)
    body = await json_body(request)
    tenant_id = await _target_tenant(request, who, body)
    name = field_str(body, "name", required=True, max_len=200)
    device_id = field_str(body, "device_id", max_len=200)
    bind = field_bool(body, "bind_on_first_use", default=False)
    days = field_int(body, "expires_in_days", min=1, max=3650)
    capacity = field_int(body, "rate_capacity", min=1, max=100_000)
    per = field_float(body, "rate_per_seconds", min=1, max=86_400)
    if (capacity is None) != (per is None):
        raise InvalidField("Send both 'rate_capacity' and 'rate_per_seconds', or neither.",
                       details={"field": "rate_capacity"})
    expires = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=days) if days else None
    async with _as(request, tenant_id) as conn:
        token_id, token = await auth_store.issue_beta_token(
            conn, tenant_id, name, created_by=who.email or who.user_id, device_id=device_id, bind_on_first_use=bool(bind),
            rate=(capacity, per) if capacity else None, expires_at=expires)
        await auth_store.audit(conn, tenant_id, "beta_token.issue", actor_kind="admin",
                               actor_id=who.email or who.user_id, target=token_id)
    return reply({"id": str(token_id), "token": token, "name": name, "tenant_id": tenant_id,
                  "expires_at": iso(expires), "device_id": device_id, "bind_on_first_use": bool(bind),
                  "message": "Store this token now: it is shown only once."}, 201)


async def revoke_token(request: Request) -> Response:
    """Revoke a beta token (it stops working within the auth cache time)."""
    who = admin_principal(request, _ADMIN_ONLY)
    token_id = path_uuid(request, "token_id")
    tenant_id = await _target_tenant(request, who)
    async with _as(request, tenant_id) as conn:
        revoked = await auth_store.revoke_beta_token(conn, token_id, f"revoked by {who.email or who.user_id}")
        if revoked:
            await auth_store.audit(conn, tenant_id, "beta_token.revoke", actor_kind="admin",
                                   actor_id=who.email or who.user_id, target=token_id)
    if not revoked:
        raise NotFound("No live beta token with this id in the tenant.")
    return reply({"status": "revoked", "id": token_id})


# -------------------------------------------------------------------------------------- users
def _user_dict(r) -> dict:
    # ``status`` and ``last_login`` (only when there was one) are the Operations Console's names for
    # ``is_active`` and ``last_login_at`` (users-panel.tsx).
    user = {"id": str(r["id"]), "email": r["email"], "display_name": r["display_name"], "role": r["role"],
            "is_active": r["is_active"], "status": "active" if r["is_active"] else "inactive",
            "email_verified": r["email_verified"], "created_at": iso(r["created_at"]),
            "last_login_at": iso(r["last_login_at"]), "locked_until": iso(r["locked_until"])}
    if r["last_login_at"] is not None:
        user["last_login"] = iso(r["last_login_at"])
    return user


async def list_users(request: Request) -> Response:
    """Users of the target tenant."""
    who = admin_principal(request, _ADMIN_ONLY)
    tenant_id = await _target_tenant(request, who)
    async with _as(request, tenant_id) as conn:
        rows = await store.users(conn)
    users = [_user_dict(r) for r in rows]
    return reply({"users": users, "total": len(users), "tenant_id": tenant_id})


def _check_role_grant(who: Principal, role: str | None) -> None:
    if role == "super_admin" and not _super(who):
        raise Forbidden("Only super admins can grant super_admin.", details={"field": "role"})


async def create_user(request: Request) -> Response:
    """Create a user in the target tenant (admins only; the old public route is gone)."""
    who = admin_principal(request, _ADMIN_ONLY)
    body = await json_body(request)
    tenant_id = await _target_tenant(request, who, body)
    email = field_str(body, "email", required=True, max_len=254, pattern=r"[^@\s]+@[^@\s]+\.[^@\s]+")
    display_name = field_str(body, "display_name", max_len=200)
    role = field_enum(body, "role", ROLES, default="user")
    _check_role_grant(who, role)
    try:
        password = check_password(body.get("password"))
    except PasswordRuleError as exc:
        raise ApiError(400, "weak_password", str(exc), details={"field": "password"}) from None
    password_hash = await hash_password_async(password)
    async with _as(request, tenant_id) as conn:
        try:
            row = await auth_store.create_user(conn, tenant_id, email.lower(), password_hash, display_name)
        except auth_store.EmailTaken:
            raise ApiError(409, "email_exists", "An account with this e-mail already exists.",
                           details={"field": "email"}) from None
        if role != "user":
            await store.set_role(conn, row["id"], role)
        user = await store.user(conn, row["id"])
    return reply({"status": "created", "user": _user_dict(user)}, 201)


async def update_user(request: Request) -> Response:
    """Change a user's role, active flag or display name."""
    who = admin_principal(request, _ADMIN_ONLY)
    user_id = path_uuid(request, "user_id")
    body = await json_body(request)
    tenant_id = await _target_tenant(request, who, body)
    changes = {
        "role": field_enum(body, "role", ROLES),
        "is_active": field_bool(body, "is_active"),
        "display_name": field_str(body, "display_name", max_len=200),
    }
    changes = {k: v for k, v in changes.items() if v is not None}
    if not changes:
        raise MissingField("Send role, is_active or display_name.", details={"field": "role"})
    _check_role_grant(who, changes.get("role"))
    if user_id == who.user_id and (changes.get("is_active") is False or changes.get("role") == "user"):
        raise Conflict("You cannot deactivate or demote yourself.")
    async with _as(request, tenant_id) as conn:
        row = await auth_store.update_user(conn, user_id, changes)
        if row is None:
            raise NotFound("User not found.")
        user = await store.user(conn, user_id)
    return reply({"status": "updated", "user": _user_dict(user)})


async def delete_user(request: Request) -> Response:
    """Delete a user (and, by cascade, their devices and login sessions)."""
    who = admin_principal(request, _ADMIN_ONLY)
    user_id = path_uuid(request, "user_id")
    if user_id == who.user_id:
        raise Conflict("You cannot delete yourself.")
    tenant_id = await _target_tenant(request, who)
    async with _as(request, tenant_id) as conn:
        deleted = await store.delete_user(conn, user_id)
    if not deleted:
        raise NotFound("User not found.")
    return reply({"status": "deleted", "id": user_id})


# ------------------------------------------------------------------------------ usage, budgets
def _date(request: Request, name: str, default: dt.date) -> dt.date:
    raw = query_str(request, name, max_len=10)
    if not raw:
        return default
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise InvalidParameter(f"'{name}' must be a date like 2026-11-01.", details={"field": name}) from None


async def usage(request: Request) -> Response:
    """Spend per tenant / user / provider / day (``from``, ``to``, ``group_by``; ``all=true`` for super admins)."""
    who = admin_principal(request, _ADMIN_ONLY)
    today = dt.datetime.now(dt.timezone.utc).date()
    end = _date(request, "to", today)
    start = _date(request, "from", end.replace(day=1))
    if start > end or (end - start).days > MAX_USAGE_DAYS:
        raise InvalidParameter(f"'from' must be before 'to' and at most {MAX_USAGE_DAYS} days earlier.",
                       details={"field": "from"})
    metering = ctx(request).metering
    if query_bool(request, "all", False):
        if not _super(who):
            raise Forbidden("Only super admins can read every tenant's spend.")
        rows = await metering.usage_by_tenant(start=start, end=end)
        return reply({"usage": rows, "total_cost_usd": round(sum(r["cost_usd"] for r in rows), 6),
                      "from": start.isoformat(), "to": end.isoformat(), "scope": "all"})
    raw_groups = query_str(request, "group_by", max_len=100) or "day,provider"
    groups = [g.strip() for g in raw_groups.split(",") if g.strip()]
    allowed = ("day", "provider", "subject", "operation")
    if not groups or any(g not in allowed for g in groups):
        raise InvalidParameter(f"'group_by' must be a comma list of {', '.join(allowed)}.",
                       details={"field": "group_by"})
    tenant_id = await _target_tenant(request, who)
    rows = await metering.usage(tenant_id, start=start, end=end, group_by=groups)
    return reply({"usage": rows, "total_cost_usd": round(sum(r["cost_usd"] for r in rows), 6),
                  "from": start.isoformat(), "to": end.isoformat(), "tenant_id": tenant_id, "group_by": groups})


async def get_budgets(request: Request) -> Response:
    """The target tenant's limits, this month's spend and the per-user/tester overrides."""
    who = admin_principal(request, _ADMIN_ONLY)
    tenant_id = await _target_tenant(request, who)
    subject = query_str(request, "subject", max_len=100)
    status = await ctx(request).metering.budget_status(tenant_id, subject)
    async with _as(request, tenant_id) as conn:
        overrides = await store.subject_budgets(conn)
        configured = await store.budget_limits(conn)
    return reply({
        "tenant_id": tenant_id, "status": status,
        "limits": {
            "monthly_limit_usd": float(configured["monthly_limit_usd"]) if configured and configured["monthly_limit_usd"] is not None else None,
            "user_daily_limit_usd": float(configured["user_daily_limit_usd"]) if configured and configured["user_daily_limit_usd"] is not None else None,
            "defaults": {"monthly_limit_usd": ctx(request).settings.budget_tenant_monthly_usd,
                         "user_daily_limit_usd": ctx(request).settings.budget_user_daily_usd},
        },
        "subject_budgets": [{"subject": r["subject"], "daily_limit_usd": float(r["daily_limit_usd"]),
                             "updated_at": iso(r["updated_at"])} for r in overrides],
    })


async def put_budgets(request: Request) -> Response:
    """Set the tenant's monthly and per-user daily limits (null = the configured default)."""
    who = admin_principal(request, _ADMIN_ONLY)
    body = await json_body(request)
    tenant_id = await _target_tenant(request, who, body)
    if "monthly_limit_usd" not in body and "user_daily_limit_usd" not in body:
        raise MissingField("Send monthly_limit_usd and/or user_daily_limit_usd.",
                       details={"field": "monthly_limit_usd"})
    monthly = field_float(body, "monthly_limit_usd", min=0, max=1_000_000)
    daily = field_float(body, "user_daily_limit_usd", min=0, max=100_000)
    async with _as(request, tenant_id) as conn:
        current = await store.budget_limits(conn)
    if current is not None:  # keep the limit that was not sent
        if "monthly_limit_usd" not in body and current["monthly_limit_usd"] is not None:
            monthly = float(current["monthly_limit_usd"])
        if "user_daily_limit_usd" not in body and current["user_daily_limit_usd"] is not None:
            daily = float(current["user_daily_limit_usd"])
    await ctx(request).metering.set_budget(tenant_id, monthly_limit_usd=monthly, user_daily_limit_usd=daily)
    return await get_budgets(request)


async def put_subject_budget(request: Request) -> Response:
    """Override one user's (``user:<id>``) or tester's (``token:<id>``) daily limit; null removes it."""
    who = admin_principal(request, _ADMIN_ONLY)
    body = await json_body(request)
    tenant_id = await _target_tenant(request, who, body)
    subject = field_str(body, "subject", required=True, max_len=100, pattern=r"(user|token):[0-9a-fA-F-]{36}")
    if "daily_limit_usd" not in body:
        raise MissingField("'daily_limit_usd' is required (null removes the override).",
                       details={"field": "daily_limit_usd"})
    daily = field_float(body, "daily_limit_usd", min=0, max=100_000)
    await ctx(request).metering.set_subject_budget(tenant_id, subject, daily)
    return reply({"status": "ok", "subject": subject, "daily_limit_usd": daily, "tenant_id": tenant_id})


# ----------------------------------------------------------------------- system content
async def put_system_curriculum(request: Request) -> Response:
    """Create or replace a system curriculum (readable by every tenant; super admins only)."""

    who = admin_principal(request, _ADMIN_ONLY)
    if not _super(who):
        raise Forbidden("Only super admins can change system content.")
    body = await json_body(request, max_bytes=5 * 1024 * 1024)
    doc = body.get("content") if isinstance(body.get("content"), dict) else body
    try:
        meta = umcf.validate_document(doc)
    except umcf.UMCFError as exc:
        raise ApiError(422, "invalid_curriculum", str(exc), details={"field": exc.field}) from None
    async with _as(request, who.tenant_id) as conn:
        await store.upsert_system_curriculum(conn, meta, umcf.dumps(doc))
        await auth_store.audit(conn, who.tenant_id, "system_curriculum.put", actor_kind="admin",
                               actor_id=who.email or who.user_id, target=meta.id)
    return reply({"status": "ok", "id": meta.id, "title": meta.title, "system": True})


async def delete_system_curriculum(request: Request) -> Response:
    """Delete a system curriculum (``?confirm=true``; super admins only)."""
    who = admin_principal(request, _ADMIN_ONLY)
    if not _super(who):
        raise Forbidden("Only super admins can change system content.")
    curriculum_id = path_id(request, "id")
    if not query_bool(request, "confirm", False):
        return reply({"status": "confirmation_required", "id": curriculum_id,
                      "message": "Every tenant loses this curriculum. Repeat with ?confirm=true."})
    async with _as(request, who.tenant_id) as conn:
        deleted = await store.delete_system_curriculum(conn, curriculum_id)
        if deleted:
            await auth_store.audit(conn, who.tenant_id, "system_curriculum.delete", actor_kind="admin",
                                   actor_id=who.email or who.user_id, target=curriculum_id)
    if not deleted:
        raise NotFound("No system curriculum with this id.")
    return reply({"status": "deleted", "id": curriculum_id, "system": True})


async def publish_kb_pack(request: Request) -> Response:
    """Publish a tenant's KB pack as a system pack for every tenant (super admins; ``?tenant=`` names
    the tenant that owns the pack)."""
    who = admin_principal(request, _ADMIN_ONLY)
    if not _super(who):
        raise Forbidden("Only super admins can change system content.")
    pack_id = path_id(request, "pack_id")
    body = await json_body(request, allow_empty=True)
    name = field_str(body, "name", max_len=200)
    tenant_id = await _target_tenant(request, who, body)
    async with _as(request, tenant_id) as conn:
        new_id = await store.publish_kb_pack(conn, pack_id, name)
        if new_id is not None:
            await auth_store.audit(conn, tenant_id, "system_kb_pack.publish", actor_kind="admin",
                                   actor_id=who.email or who.user_id, target=new_id)
    if new_id is None:
        raise NotFound("The tenant has no such pack.")
    return reply({"success": True, "pack_id": new_id, "source_pack_id": pack_id, "system": True}, 201)


async def delete_system_kb_pack(request: Request) -> Response:
    """Delete a system KB pack (``?confirm=true``; super admins; its questions stay)."""
    who = admin_principal(request, _ADMIN_ONLY)
    if not _super(who):
        raise Forbidden("Only super admins can change system content.")
    pack_id = path_id(request, "pack_id")
    if not query_bool(request, "confirm", False):
        return reply({"success": True, "status": "confirmation_required", "pack_id": pack_id,
                      "message": "Every tenant loses this pack. Repeat with ?confirm=true."})
    async with _as(request, who.tenant_id) as conn:
        deleted = await store.delete_system_kb_pack(conn, pack_id)
    if not deleted:
        raise NotFound("No system pack with this id.")
    return reply({"success": True, "status": "deleted", "pack_id": pack_id})


SERVICE = Service(
    name="admin",
    routes=[
        Route("/api/admin/tenants", list_tenants, methods=["GET"]),
        Route("/api/admin/tenants", create_tenant, methods=["POST"]),
        Route("/api/admin/beta-tokens", list_tokens, methods=["GET"]),
        Route("/api/admin/beta-tokens", issue_token, methods=["POST"]),
        Route("/api/admin/beta-tokens/{token_id}", revoke_token, methods=["DELETE"]),
        Route("/api/admin/beta-tokens/{token_id}/revoke", revoke_token, methods=["POST"]),
        Route("/api/admin/users", list_users, methods=["GET"]),
        Route("/api/admin/users", create_user, methods=["POST"]),
        Route("/api/admin/users/{user_id}", update_user, methods=["PATCH"]),
        Route("/api/admin/users/{user_id}", delete_user, methods=["DELETE"]),
        Route("/api/admin/usage", usage, methods=["GET"]),
        Route("/api/admin/budgets", get_budgets, methods=["GET"]),
        Route("/api/admin/budgets", put_budgets, methods=["PUT"]),
        Route("/api/admin/budgets/subjects", put_subject_budget, methods=["PUT"]),
        Route("/api/admin/system/curricula", put_system_curriculum, methods=["POST"]),
        Route("/api/admin/system/curricula/{id}", delete_system_curriculum, methods=["DELETE"]),
        Route("/api/admin/system/kb/packs/{pack_id}/publish", publish_kb_pack, methods=["POST"]),
        Route("/api/admin/system/kb/packs/{pack_id}", delete_system_kb_pack, methods=["DELETE"]),
    ],
    envelope_prefixes=("/api/admin/system/kb/",),
)
