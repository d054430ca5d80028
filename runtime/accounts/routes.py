"""The 11 ``/api/auth/*`` routes, shaped as the web client decodes them (and, for Android's ApiClient,
as ``runtime.client_shapes`` shapes them: flat tokens, a top-level user, bare lists).

Fixed defects of the old server: passwords outside 8–128 characters are a 400 (never 500); an
unknown ``device.type`` is a 400; e-mails are unique in the database; refresh rotation and reuse
detection run in one transaction; logout, device removal and password change end the login
session, so the old access token stops within ``UNAMENTIS_AUTH_CACHE_SECONDS`` (≤ 30 s); login
sessions are linked to their refresh-token family. Login is limited per client IP
(``UNAMENTIS_RATE_LIMIT_LOGIN``, default 5 per 60 s: the 6th rapid attempt gets 429).

Registration is gated by ``UNAMENTIS_REGISTRATION``: ``beta_token`` (default: register and login
need ``Authorization: Bearer uma_beta_…``; the account joins the token's tenant), ``open``
(anyone; the account joins the beta token's tenant if one is sent, else ``UNAMENTIS_OPEN_TENANT``),
``closed`` (403 ``registration_closed``; accounts come from admins).
"""
from __future__ import annotations

import re
import uuid
from datetime import datetime, timezone
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from runtime import client_shapes
from runtime.auth import store
from runtime.auth.authenticator import bearer_token
from runtime.auth.passwords import PasswordRuleError, check_password, hash_password_async, needs_rehash, verify_password_async
from runtime.auth.principal import Principal, principal
from runtime.auth.tokens import ACCESS_TOKEN_SECONDS, is_beta_token, is_refresh_token, token_hash
from runtime.context import CLIENT_IP_KEY, client_info, client_ip, ctx
from runtime.errors import ApiError, InvalidField, NotFound
from runtime.limits import RateLimit, enforce
from runtime.service import Service
from runtime.validation import field_bool, field_str, json_body

DEVICE_TYPES = ("ios", "android", "web", "desktop")
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
MAX_FAILED_LOGINS = 10
LOCK_MINUTES = 15
PROFILE_FIELDS = {"display_name": 100, "avatar_url": 2048, "locale": 35, "timezone": 64}


class WeakPassword(ApiError):
    """400 with the old server's top-level ``suggestions`` list (the web client shows them)."""

    def __init__(self, rule: PasswordRuleError):
        super().__init__(400, rule.code, rule.message, details={"field": "password", "suggestions": rule.suggestions})
        self.suggestions = rule.suggestions

    def body(self, *, envelope: bool = False) -> dict[str, Any]:
        return {**super().body(envelope=envelope), "suggestions": self.suggestions}


# --------------------------------------------------------------------------- helpers
def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _user_json(row: Any) -> dict[str, Any]:
    return {
        "id": str(row["id"]), "email": row["email"], "email_verified": row["email_verified"],
        "display_name": row["display_name"], "avatar_url": row["avatar_url"], "locale": row["locale"],
        "timezone": row["timezone"], "role": row["role"], "mfa_enabled": row["mfa_enabled"],
        "created_at": _iso(row["created_at"]), "last_login_at": _iso(row["last_login_at"]),
        "updated_at": _iso(row["updated_at"]),
    }


def _tokens_json(access: str, refresh: str) -> dict[str, Any]:
    return {"access_token": access, "refresh_token": refresh, "token_type": "Bearer", "expires_in": ACCESS_TOKEN_SECONDS}


def _text(body: dict[str, Any], name: str, *, max_len: int, label: str | None = None) -> str | None:
    """An optional string field; PostgreSQL text cannot hold NUL, so it is refused here (422)."""
    value = field_str(body, name, max_len=max_len)
    if value is not None and "\x00" in value:
        field = label or name
        raise InvalidField(f"'{field}' must not contain NUL characters.", details={"field": field})
    return value


def _email(body: dict[str, Any], missing_code: str) -> str:
    value = body.get("email")
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ApiError(400, missing_code, "Email and password are required.", details={"field": "email"})
    if not isinstance(value, str) or len(value) > 254 or "\x00" in value or not EMAIL_RE.match(value.strip()):
        raise ApiError(400, "invalid_email", "The e-mail address is not valid.", details={"field": "email"})
    return value.strip().lower()


def _password_field(body: dict[str, Any], name: str, missing_code: str) -> str:
    value = body.get(name)
    if value is None or value == "":
        raise ApiError(400, missing_code, f"'{name}' is required.", details={"field": name})
    if not isinstance(value, str):
        raise ApiError(400, "invalid_password", f"'{name}' must be a string.", details={"field": name})
    if len(value) > 1024:  # never feed megabytes to the hasher; the rule check gives the precise 400
        raise ApiError(400, "weak_password", "The password must be 8 to 128 characters long.", details={"field": name})
    return value


def _client_device(request: Request, body: dict[str, Any]) -> dict[str, Any] | None:
    """The device as an app identifies it in its client headers (``X-Client-ID``, ``X-Client-Platform``,
    ``X-Client-Name``, ``X-Client-Version``) when it sends no ``device`` object: Android's ApiClient sends
    those headers on every call and only ``device_name`` in its LoginRequest."""
    info = client_info(request)
    if not info["id"] or (info["platform"] or "") not in DEVICE_TYPES:
        return None
    name = body.get("device_name") if isinstance(body.get("device_name"), str) else info["name"]
    return {"fingerprint": info["id"], "type": info["platform"], "name": name, "app_version": info["version"]}


def _device(body: dict[str, Any], *, required: bool, request: Request | None = None) -> dict[str, Any] | None:
    raw = body.get("device")
    if raw is None and request is not None:
        raw = _client_device(request, body)
    if raw is None or (isinstance(raw, dict) and not raw.get("fingerprint")):
        if required:
            raise ApiError(400, "missing_device", "'device' with a 'fingerprint' is required.", details={"field": "device.fingerprint"})
        return None
    if not isinstance(raw, dict):
        raise ApiError(400, "missing_device", "'device' must be an object with a 'fingerprint'.", details={"field": "device"})
    fingerprint = raw.get("fingerprint")
    if not isinstance(fingerprint, str) or not 1 <= len(fingerprint.strip()) <= 256 or "\x00" in fingerprint:
        raise ApiError(400, "missing_device", "'device.fingerprint' must be a string of 1 to 256 characters.", details={"field": "device.fingerprint"})
    kind = raw.get("type")
    if not isinstance(kind, str) or kind.strip().lower() not in DEVICE_TYPES:
        raise ApiError(
            400, "invalid_device_type", f"'device.type' must be one of: {', '.join(DEVICE_TYPES)}.",
            details={"field": "device.type", "allowed": list(DEVICE_TYPES)},
        )
    device = {"fingerprint": fingerprint.strip(), "type": kind.strip().lower()}
    for name in ("name", "model", "os_version", "app_version"):
        device[name] = _text(raw, name, max_len=200, label=f"device.{name}")
    return device


def _user_principal(request: Request) -> Principal:
    who = principal(request)
    if who.kind not in ("user", "admin") or not who.user_id or not who.session_id:
        raise ApiError(403, "user_token_required", "This route needs a signed-in user's access token (not a beta token).")
    return who


def _uuid_path(request: Request, name: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(request.path_params[name]))
    except ValueError:
        raise NotFound(f"No such {what}.") from None


def _country(request: Request) -> str | None:
    """Cloudflare's CF-IPCountry, trusted only when the origin secret was verified (the middleware
    then set the client IP from CF-Connecting-IP); shown in the session list's ``location``."""
    if not request.scope.get(CLIENT_IP_KEY):
        return None
    value = (request.headers.get("cf-ipcountry") or "").strip().upper()
    return value if re.fullmatch(r"[A-Z]{2}", value) and value != "XX" else None


def _limit(setting: tuple[int, float]) -> RateLimit | None:
    return RateLimit.from_setting(setting)


async def _gate(request: Request, *, registering: bool) -> Principal | None:
    """The beta token sent with register/login (required when registration is ``beta_token``)."""
    app = ctx(request)
    mode = app.settings.registration
    if registering and mode == "closed":
        raise ApiError(403, "registration_closed", "Registration is closed on this server; ask an administrator for an account.")
    token = bearer_token(request.headers)
    beta = None
    if token and is_beta_token(token):
        beta = await app.auth.beta_token(token, device_id=request.headers.get("x-device-id"))
    if mode == "beta_token" and beta is None:
        raise ApiError(
            401, "beta_token_required",
            "This server is in private beta: send your beta token as Authorization: Bearer uma_beta_….",
        )
    return beta


async def _issue(app: Any, user_id: Any, tenant_id: Any, session_id: Any, role: str, device_id: Any) -> str:
    token, _ = app.auth.jwt.issue(user_id=str(user_id), tenant_id=str(tenant_id), session_id=str(session_id),
                                  role=role, device_id=str(device_id) if device_id else None)
    return token


# --------------------------------------------------------------------------- routes
async def register(request: Request) -> JSONResponse:
    """Create an account (201); with a device it also signs in."""
    app = ctx(request)
    _ = app.auth.jwt  # fail before any side effect when accounts are not configured (503)
    ip = client_ip(request)
    await enforce(app.limiter, f"register:ip:{ip}", _limit(app.settings.rate_limit_register))
    body = await json_body(request)
    email = _email(body, "missing_credentials")
    password = _password_field(body, "password", "missing_credentials")
    try:
        check_password(password)
    except PasswordRuleError as rule:
        raise WeakPassword(rule) from None
    display_name = _text(body, "display_name", max_len=100) or _text(body, "name", max_len=100)
    device = _device(body, required=False, request=request)
    beta = await _gate(request, registering=True)
    if beta is not None:
        tenant_id = beta.tenant_id
    else:
        async with app.db.unscoped() as conn:
            found = await store.tenant_id_by_slug(conn, app.settings.open_tenant)
        if found is None or found[1] != "active":
            raise ApiError(503, "open_tenant_missing", f"Open registration needs the tenant {app.settings.open_tenant!r} (UNAMENTIS_OPEN_TENANT).")
        tenant_id = str(found[0])
    password_hash = await hash_password_async(password)
    refresh = session_id = device_id = None
    try:
        async with app.db.tenant(tenant_id) as conn:
            user = await store.create_user(conn, tenant_id, email, password_hash, display_name)
            if device is not None:
                device_id = await store.upsert_device(conn, tenant_id, user["id"], device)
                session_id, refresh = await store.start_session(
                    conn, tenant_id, user["id"], device_id, ip=ip, user_agent=request.headers.get("user-agent"),
                    refresh_days=app.settings.refresh_token_days, country=_country(request),
                )
            await store.audit(conn, tenant_id, "user_created", actor_id=beta.token_id if beta else user["id"],
                              actor_kind="beta_token" if beta else "user", target=user["id"], ip=ip)
    except store.EmailTaken:
        raise ApiError(409, "email_exists", "An account with this e-mail already exists.", details={"field": "email"}) from None
    payload: dict[str, Any] = {"user": _user_json(user)}
    if device is not None:
        access = await _issue(app, user["id"], tenant_id, session_id, user["role"], device_id)
        payload["device"] = {"id": str(device_id)}
        payload["tokens"] = _tokens_json(access, refresh)
    return JSONResponse(client_shapes.auth_tokens_answer(request, payload), status_code=201)


async def login(request: Request) -> JSONResponse:
    """Sign in with e-mail, password and device; returns user, device and tokens."""
    app = ctx(request)
    _ = app.auth.jwt  # fail before any side effect when accounts are not configured (503)
    ip = client_ip(request)
    await enforce(app.limiter, f"login:ip:{ip}", _limit(app.settings.rate_limit_login))
    body = await json_body(request)
    email = _email(body, "missing_credentials")
    password = _password_field(body, "password", "missing_credentials")
    device = _device(body, required=True, request=request)
    beta = await _gate(request, registering=False)
    async with app.db.unscoped() as conn:
        user = await store.user_by_email_any_tenant(conn, email)
    if user is not None and user["locked_until"] is not None and user["locked_until"] > datetime.now(timezone.utc):
        raise ApiError(403, "account_locked", "Too many failed sign-ins; the account is locked for a few minutes.")
    ok = await verify_password_async(user["password_hash"] if user else None, password)
    if user is None or not ok or (beta is not None and beta.tenant_id != str(user["tenant_id"])):
        if user is not None:
            async with app.db.tenant(str(user["tenant_id"])) as conn:
                await store.record_login_failure(conn, user["id"], max_failures=MAX_FAILED_LOGINS, lock_minutes=LOCK_MINUTES)
                await store.audit(conn, user["tenant_id"], "login_failed", actor_id=user["id"], target=user["id"], ip=ip)
        raise ApiError(401, "invalid_credentials", "Invalid email or password.")
    if not user["is_active"]:
        raise ApiError(403, "account_inactive", "This account is deactivated.")
    if user["tenant_status"] != "active":
        raise ApiError(403, "tenant_suspended", "This organisation's access is suspended.")
    tenant_id = str(user["tenant_id"])
    rehash = await hash_password_async(password) if needs_rehash(user["password_hash"]) else None
    async with app.db.tenant(tenant_id) as conn:
        await store.record_login_success(conn, user["id"], rehash)
        await store.prune_user(conn, user["id"])
        device_id = await store.upsert_device(conn, tenant_id, user["id"], device)
        session_id, refresh = await store.start_session(
            conn, tenant_id, user["id"], device_id, ip=ip, user_agent=request.headers.get("user-agent"),
            refresh_days=app.settings.refresh_token_days, country=_country(request),
        )
        await store.audit(conn, tenant_id, "login", actor_id=user["id"], target=session_id, ip=ip)
        fresh = await store.user_by_id(conn, user["id"])
    access = await _issue(app, user["id"], tenant_id, session_id, user["role"], device_id)
    return JSONResponse(client_shapes.auth_tokens_answer(
        request, {"user": _user_json(fresh), "device": {"id": str(device_id)}, "tokens": _tokens_json(access, refresh)}))


async def refresh(request: Request) -> JSONResponse:
    """Rotate a refresh token; a reused (already rotated) token revokes its whole family."""
    app = ctx(request)
    _ = app.auth.jwt  # fail before any side effect when accounts are not configured (503)
    await enforce(app.limiter, f"refresh:ip:{client_ip(request)}", _limit(app.settings.rate_limit_refresh))
    body = await json_body(request)
    token = body.get("refresh_token")
    if token is None or token == "":
        raise ApiError(400, "missing_token", "'refresh_token' is required.", details={"field": "refresh_token"})
    if not isinstance(token, str) or not is_refresh_token(token):
        raise ApiError(401, "invalid_token", "The refresh token is invalid.")
    outcome, ended, issued = "invalid", [], None
    async with app.db.unscoped() as conn:
        row = await store.lock_refresh_any_tenant(conn, token_hash(token))
        if row is None:
            outcome = "invalid"
        elif row["revoked_at"] is not None:
            if row["revoked_reason"] == "rotated":
                # Reuse: someone holds an old token. Kill the family and its session (committed
                # with this transaction even though the caller gets a 401).
                ended = await store.revoke_family(conn, row["family_id"], "reuse_detected")
                await store.audit(conn, row["tenant_id"], "token_reuse_detected", actor_id=row["user_id"],
                                  target=row["family_id"], ip=client_ip(request))
                outcome = "reused"
        elif row["expires_at"] <= datetime.now(timezone.utc):
            outcome = "expired"
        elif not row["user_active"]:
            outcome = "inactive"
        elif row["session_ended_at"] is not None or not row["device_active"] or row["tenant_status"] != "active":
            outcome = "invalid"
        else:
            new_token = await store.insert_refresh(
                conn, row["tenant_id"], row["user_id"], row["device_id"], row["session_id"], row["family_id"],
                row["generation"] + 1, row["id"], ip=client_ip(request), user_agent=request.headers.get("user-agent"),
                refresh_days=app.settings.refresh_token_days,
            )
            await store.rotate_refresh(conn, row["id"], row["session_id"])
            issued = (row, new_token)
            outcome = "ok"
    app.auth.forget_sessions(ended)
    if outcome == "reused":
        raise ApiError(401, "token_reused", "This refresh token was already used; all sessions of its family were signed out.")
    if outcome == "expired":
        raise ApiError(401, "token_expired", "The refresh token has expired; sign in again.")
    if outcome == "inactive":
        raise ApiError(403, "account_inactive", "This account is deactivated.")
    if outcome != "ok" or issued is None:
        raise ApiError(401, "invalid_token", "The refresh token is invalid.")
    row, new_token = issued
    access = await _issue(app, row["user_id"], row["tenant_id"], row["session_id"], row["role"], row["device_id"])
    return JSONResponse(client_shapes.auth_tokens_answer(request, {"tokens": _tokens_json(access, new_token)}))


async def logout(request: Request) -> JSONResponse:
    """End this session (and the given refresh token's family), or every session with all_devices."""
    app = ctx(request)
    who = _user_principal(request)
    body = await json_body(request, allow_empty=True)
    token = _text(body, "refresh_token", max_len=200)
    everywhere = field_bool(body, "all_devices", default=False)
    async with app.db.tenant(who.tenant_id, who.user_id) as conn:
        if everywhere:
            ended = await store.end_sessions(conn, who.user_id, "logout_all")
        else:
            ended = []
            if token and is_refresh_token(token):
                family = await store.refresh_family(conn, token_hash(token), who.user_id)
                if family is not None:
                    ended += await store.revoke_family(conn, family, "logout")
            ended += await store.end_sessions(conn, who.user_id, "logout", only=who.session_id)
        await store.audit(conn, who.tenant_id, "logout", actor_id=who.user_id, target=who.session_id,
                          ip=client_ip(request), details='{"all_devices": %s}' % ("true" if everywhere else "false"))
    app.auth.forget_sessions([*ended, who.session_id])
    return JSONResponse({"message": "Logged out successfully"})


async def me(request: Request) -> JSONResponse:
    """The signed-in user (GET) or update display_name (or Android's ``name``)/avatar_url/locale/timezone (PATCH)."""
    app = ctx(request)
    who = _user_principal(request)
    if request.method == "PATCH":
        body = await json_body(request)
        changes: dict[str, str | None] = {}
        for name, max_len in PROFILE_FIELDS.items():
            if name in body:
                changes[name] = _text(body, name, max_len=max_len)
        if "name" in body and "display_name" not in body and body["name"] is not None:
            changes["display_name"] = _text(body, "name", max_len=PROFILE_FIELDS["display_name"])
        await _unchanged_email(app, who, body)
        if not changes:
            raise ApiError(400, "no_updates", f"Send at least one of: {', '.join(PROFILE_FIELDS)}.")
        url = changes.get("avatar_url")
        if url and not re.match(r"^https?://", url):
            raise InvalidField("'avatar_url' must be an http(s) URL.", details={"field": "avatar_url"})
        async with app.db.tenant(who.tenant_id, who.user_id) as conn:
            row = await store.update_profile(conn, who.user_id, changes)
            await store.audit(conn, who.tenant_id, "user_updated", actor_id=who.user_id, target=who.user_id, ip=client_ip(request))
    else:
        async with app.db.tenant(who.tenant_id, who.user_id) as conn:
            row = await store.user_by_id(conn, who.user_id)
    if row is None:
        raise NotFound("No such user.")
    return JSONResponse(client_shapes.auth_user_answer(request, _user_json(row)))


async def _unchanged_email(app: Any, who: Principal, body: dict[str, Any]) -> None:
    """Android's UpdateProfileRequest always carries ``email`` (null unless changed). The sign-in e-mail
    is not changed through the profile: a change needs proof the new address is the user's, which this
    server does not send mail for, so any other address is a 400."""
    email = body.get("email")
    if email is None:
        return
    wanted = _email(body, "invalid_email")
    async with app.db.tenant(who.tenant_id, who.user_id) as conn:
        row = await store.user_by_id(conn, who.user_id)
    if row is None or row["email"] != wanted:
        raise ApiError(400, "email_change_unsupported", "The sign-in e-mail cannot be changed here; ask an administrator.",
                       details={"field": "email"})


async def change_password(request: Request) -> JSONResponse:
    """Change the password: every session ends; this device gets fresh tokens."""
    app = ctx(request)
    who = _user_principal(request)
    await enforce(app.limiter, f"password:user:{who.user_id}", _limit(app.settings.rate_limit_login))
    body = await json_body(request)
    current = _password_field(body, "current_password", "missing_passwords")
    new = _password_field(body, "new_password", "missing_passwords")
    try:
        check_password(new)
    except PasswordRuleError as rule:
        raise WeakPassword(rule) from None
    async with app.db.tenant(who.tenant_id, who.user_id) as conn:
        user = await store.user_by_id(conn, who.user_id)
    if user is None or not await verify_password_async(user["password_hash"], current):
        raise ApiError(401, "invalid_password", "The current password is wrong.")
    new_hash = await hash_password_async(new)
    device_id = who.device_id
    async with app.db.tenant(who.tenant_id, who.user_id) as conn:
        await store.set_password(conn, who.user_id, new_hash)
        ended = await store.end_sessions(conn, who.user_id, "password_change")
        active_device = device_id and await store.device_active(conn, uuid.UUID(device_id))
        session_id, refresh_token = await store.start_session(
            conn, who.tenant_id, who.user_id, device_id if active_device else None, ip=client_ip(request),
            user_agent=request.headers.get("user-agent"), refresh_days=app.settings.refresh_token_days,
            country=_country(request),
        )
        await store.audit(conn, who.tenant_id, "password_change", actor_id=who.user_id, target=who.user_id, ip=client_ip(request))
    app.auth.forget_sessions([*ended, who.session_id])
    access = await _issue(app, who.user_id, who.tenant_id, session_id, user["role"], device_id if active_device else None)
    return JSONResponse({"message": "Password changed successfully", "tokens": _tokens_json(access, refresh_token)})


async def devices(request: Request) -> JSONResponse:
    """The user's active devices."""
    app = ctx(request)
    who = _user_principal(request)
    async with app.db.tenant(who.tenant_id, who.user_id) as conn:
        rows = await store.list_devices(conn, who.user_id)
    return JSONResponse(client_shapes.auth_list(request, "devices", [
        {"id": str(r["id"]), "name": r["name"], "type": r["type"], "model": r["model"], "os_version": r["os_version"],
         "app_version": r["app_version"], "is_trusted": r["is_trusted"], "last_seen_at": _iso(r["last_seen_at"]),
         "last_seen": _iso(r["last_seen_at"]), "last_used": _iso(r["last_seen_at"]), "created_at": _iso(r["created_at"]),
         "is_current": str(r["id"]) == who.device_id}
        for r in rows
    ]))


async def remove_device(request: Request) -> JSONResponse:
    """Remove a device: its sessions end and its tokens stop working."""
    app = ctx(request)
    who = _user_principal(request)
    device_id = _uuid_path(request, "device_id", "device")
    async with app.db.tenant(who.tenant_id, who.user_id) as conn:
        ended = await store.deactivate_device(conn, who.user_id, device_id)
        if ended is not None:
            await store.audit(conn, who.tenant_id, "device_removed", actor_id=who.user_id, target=device_id, ip=client_ip(request))
    if ended is None:
        raise NotFound("No such device.")
    app.auth.forget_sessions(ended)
    return JSONResponse({"message": "Device removed successfully"})


async def sessions(request: Request) -> JSONResponse:
    """The user's active login sessions."""
    app = ctx(request)
    who = _user_principal(request)
    async with app.db.tenant(who.tenant_id, who.user_id) as conn:
        rows = await store.list_sessions(conn, who.user_id)
    return JSONResponse(client_shapes.auth_list(request, "sessions", [
        {"id": str(r["id"]), "ip_address": r["ip_address"], "user_agent": r["user_agent"],
         "location": {"country": r["country"], "city": r["city"]} if r["country"] or r["city"] else None,
         "device": {"id": str(r["device_id"]), "name": r["device_name"], "type": r["device_type"]} if r["device_id"] else None,
         "device_name": r["device_name"], "created_at": _iso(r["created_at"]), "last_activity_at": _iso(r["last_activity_at"]),
         "last_used": _iso(r["last_activity_at"]), "is_current": str(r["id"]) == who.session_id}
        for r in rows
    ]))


async def end_session(request: Request) -> JSONResponse:
    """End one login session (its refresh tokens are revoked too)."""
    app = ctx(request)
    who = _user_principal(request)
    session_id = _uuid_path(request, "session_id", "session")
    async with app.db.tenant(who.tenant_id, who.user_id) as conn:
        ended = await store.end_sessions(conn, who.user_id, "terminated", only=session_id)
        if ended:
            await store.audit(conn, who.tenant_id, "session_terminated", actor_id=who.user_id, target=session_id, ip=client_ip(request))
    if not ended:
        raise NotFound("No such session.")
    app.auth.forget_sessions(ended)
    return JSONResponse({"message": "Session terminated"})


_DEVICE_SCHEMA = {
    "type": "object", "required": ["fingerprint", "type"],
    "properties": {"fingerprint": {"type": "string"}, "name": {"type": "string"}, "type": {"enum": list(DEVICE_TYPES)},
                   "model": {"type": "string"}, "os_version": {"type": "string"}, "app_version": {"type": "string"}},
}
_TOKENS_SCHEMA = {
    "type": "object",
    "properties": {"access_token": {"type": "string"}, "refresh_token": {"type": "string"},
                   "token_type": {"const": "Bearer"}, "expires_in": {"type": "integer"}},
}


def _json_request(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


register.openapi = {"requestBody": _json_request({
    "type": "object", "required": ["email", "password"],
    "properties": {"email": {"type": "string", "format": "email"}, "password": {"type": "string", "minLength": 8, "maxLength": 128},
                   "display_name": {"type": "string"}, "name": {"type": "string"}, "device": _DEVICE_SCHEMA}})}
login.openapi = {"requestBody": _json_request({
    "type": "object", "required": ["email", "password"],
    "properties": {"email": {"type": "string"}, "password": {"type": "string"}, "device": _DEVICE_SCHEMA,
                   "device_name": {"type": "string"}}}),
    "responses": {"200": {"description": "Signed in", "content": {"application/json": {"schema": {
        "type": "object", "properties": {"user": {"type": "object"}, "device": {"type": "object"}, "tokens": _TOKENS_SCHEMA}}}}}}}
refresh.openapi = {"requestBody": _json_request({"type": "object", "required": ["refresh_token"],
                                                 "properties": {"refresh_token": {"type": "string"}}})}

SERVICE = Service(
    name="auth",
    routes=[
        Route("/api/auth/register", register, methods=["POST"]),
        Route("/api/auth/login", login, methods=["POST"]),
        Route("/api/auth/refresh", refresh, methods=["POST"]),
        Route("/api/auth/logout", logout, methods=["POST"]),
        Route("/api/auth/me", me, methods=["GET", "PATCH"]),
        Route("/api/auth/password", change_password, methods=["POST"]),
        Route("/api/auth/devices", devices, methods=["GET"]),
        Route("/api/auth/devices/{device_id}", remove_device, methods=["DELETE"]),
        Route("/api/auth/sessions", sessions, methods=["GET"]),
        Route("/api/auth/sessions/{session_id}", end_session, methods=["DELETE"]),
    ],
)
