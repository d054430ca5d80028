"""``Authenticator``: Tier 1 (``client(token)``) and Tier 2 (``admin(headers)``) checks.

Tier 1 accepts a beta token (``uma_beta_…``) or a user access JWT. Both are re-checked against the
database at most every ``UNAMENTIS_AUTH_CACHE_SECONDS`` (default 10, max 30) per token/session,
so a revoked beta token, a logout, a removed device or a password change stops a live token
within that time on every instance, without a database round trip on every request.

Tier 2: with Cloudflare Access configured, a verified ``Cf-Access-Jwt-Assertion`` whose e-mail
belongs to an active user with an admin role; without it, a user access JWT with an admin role.
"""
from __future__ import annotations

import asyncio
import logging
import math
import secrets
import time
import uuid
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Mapping

from runtime.auth import store
from runtime.auth import signed_urls
from runtime.auth.principal import ADMIN_ROLES, Principal
from runtime.auth.tokens import LEEWAY_SECONDS, JwtCodec, TokenError, is_beta_token, looks_like_jwt, token_hash
from runtime.db import Database
from runtime.errors import ApiError, Forbidden, Unauthorized
from runtime.limits import RateLimit
from runtime.settings import Settings
from runtime.ttl_cache import MISSING, TtlCache

if TYPE_CHECKING:  # both are loaded lazily (below, and by the app context); for type hints only
    import httpx

    from runtime.auth.access import AccessVerifier

log = logging.getLogger("unamentis.auth")

KNOWN_TOKENS = 10_000  # token texts whose principal is remembered (all are dropped when full)


def invalid_token(message: str = "The token is invalid.") -> ApiError:
    return ApiError(401, "invalid_token", message)


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (None when absent or another scheme)."""
    return parse_bearer(_header(headers, "authorization"))


def parse_bearer(value: str | None) -> str | None:
    """The token of an ``Authorization`` header value when its scheme is Bearer, else None."""
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if not token or (scheme != "Bearer" and scheme.lower() != "bearer"):  # the usual spelling: no lower()
        return None
    return token


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None and not hasattr(headers, "getlist"):  # a plain dict with other casing
        for key, item in headers.items():
            if key.lower() == name:
                return item
    return value


def _remembered(cached: dict, key: tuple, build: Callable[[], Principal]) -> Principal:
    """The principal ``build`` makes from a cached row (a beta token's, a login session's) for
    ``key`` (the device, the token): made once per cached row and key, not on every request
    (Principal is immutable), and dropped with the row when the cache lets it go. A few per row:
    a token shown with ever new device ids, a session refreshing its access token."""
    made = cached.setdefault("principals", {})
    found = made.get(key)
    if found is None:
        if len(made) >= 16:
            made.clear()
        found = made[key] = build()
    return found


class Authenticator:
    """``http`` returns the app's shared HTTP client (created on first use: only Cloudflare Access
    checks need it, to fetch the team's keys)."""

    def __init__(self, settings: Settings, db: Database, http: Callable[[], "httpx.AsyncClient"]):
        self.settings = settings
        self.db = db
        self._http = http
        self._open: Principal | None = None
        self._cache = TtlCache(min(float(self.settings.auth_cache_seconds), 30.0))
        self._loading: dict[Any, asyncio.Event] = {}  # cache keys being looked up (set when done)
        # Token text -> (X-Device-ID sent, principal, until (cache clock), until (wall clock), generation):
        # a Tier-1 token's answer for as long as the cached row it came from and the token itself are
        # valid. ``_generation`` grows whenever a cached row is dropped early (logout, revocation,
        # device binding), which retires every remembered answer at once.
        self._known: dict[str, tuple[str | None, Principal, float, float, int]] = {}
        self._generation = 0
        self._jwt: JwtCodec | None = None
        self._url_key = b""
        self._access: "AccessVerifier | None" = None

    # --------------------------------------------------------------------------- configuration
    @property
    def jwt(self) -> JwtCodec:
        if self._jwt is None:
            secret = self.settings.jwt_secret
            if not secret:
                if self.settings.environment != "dev":
                    raise ApiError(
                        503, "auth_not_configured",
                        "User accounts are not configured on this server (UNAMENTIS_JWT_SECRET is not set).",
                    )
                # Local development only: a per-process secret (tokens die with the process).
                log.warning("UNAMENTIS_JWT_SECRET is not set; using a throwaway secret (dev only)")
                secret = secrets.token_urlsafe(48)
            self._jwt = JwtCodec(secret, issuer=self.settings.jwt_issuer, audience=self.settings.jwt_audience)
            self._url_key = signed_urls.url_key(secret)
        return self._jwt

    # --------------------------------------------------------------------------- signed URLs
    def _signing_key(self) -> bytes | None:
        """The URL signing key (from the JWT secret), or None where accounts are not configured."""
        try:
            _ = self.jwt
        except ApiError:
            return None
        return self._url_key

    def sign_url(self, path: str, who: Principal) -> str | None:
        """``path`` with a short-lived signed query for ``who`` (None where nothing can sign)."""
        key = self._signing_key()
        return signed_urls.sign(key, path, who, now=time.time()) if key else None

    def signed_url(self, path: str, query: Mapping[str, str]) -> Principal | None:
        """The principal of a GET whose query signs ``path`` (None when it is not a valid signed URL)."""
        if "sig" not in query:
            return None
        key = self._signing_key()
        return signed_urls.verify(key, path, query, now=time.time()) if key else None

    @property
    def access_enabled(self) -> bool:
        return bool(self.settings.cf_access_team_domain and self.settings.cf_access_aud)

    @property
    def access(self) -> "AccessVerifier":
        if self._access is None:
            # Imported here: only Tier-2 requests with Cloudflare Access need PyJWT's RSA keys (cryptography),
            # which would add to every Lambda's cold start.
            from runtime.auth.access import AccessVerifier, JwksCache, certs_url_for, issuer_for

            team = self.settings.cf_access_team_domain or ""
            url = self.settings.cf_access_certs_url or certs_url_for(team)
            self._access = AccessVerifier(
                audience=self.settings.cf_access_aud or "", issuer=issuer_for(team),
                jwks=JwksCache(url, self._http),
            )
        return self._access

    # --------------------------------------------------------------------------- Tier 1
    async def client(self, token: str | None, *, device_id: str | None = None) -> Principal:
        """The caller behind a Tier-1 bearer token; 401 ``invalid_token`` / ``token_expired`` otherwise.

        ``device_id`` is the request's ``X-Device-ID``; a device-bound beta token requires it.
        An app sends the same token on every call: its answer is remembered until the cached row it
        came from expires (or is dropped) or the token does, so a known token costs one lookup.
        """
        if not token:
            raise Unauthorized("Authentication required: send Authorization: Bearer <token>.")
        who = self.known(token, device_id)
        if who is not None:
            return who
        generation = self._generation  # a row dropped while this request looks it up retires the answer
        if is_beta_token(token):
            who, until, token_until = await self._beta(token, device_id)
        elif looks_like_jwt(token):
            who, until, token_until = await self._user(token)
        else:
            raise invalid_token()
        if until > 0:
            if len(self._known) >= KNOWN_TOKENS:
                self._known.clear()
            self._known[token] = (device_id, who, until, token_until, generation)
        return who

    def known(self, token: str, device_id: str | None = None) -> Principal | None:
        """What ``client(token, device_id=device_id)`` answers, when it is remembered (else None)."""
        known = self._known.get(token)
        if (known is not None and known[0] == device_id and known[4] == self._generation
                and self._cache.now() < known[2] and time.time() < known[3]):
            return known[1]
        return None

    async def beta_token(self, token: str, *, device_id: str | None = None) -> Principal:
        if not is_beta_token(token):
            raise invalid_token("Not a beta token.")
        return (await self._beta(token, device_id))[0]

    async def _beta(self, token: str, device_id: str | None) -> tuple[Principal, float, float]:
        """The principal, until when its cached row is kept (cache clock; 0: not kept), and until
        when the token is valid (wall clock)."""
        device_id = device_id.strip()[:200] or None if device_id else None
        hashed = token_hash(token)
        key = ("beta", hashed)
        row, until = await self._cached(key, lambda: self._beta_row(hashed))
        if row is None:
            raise invalid_token()
        if row["revoked_at"] is not None:
            raise invalid_token("This beta token has been revoked.")
        token_until = row["expires_at"].timestamp() if row["expires_at"] is not None else math.inf
        if token_until <= time.time():
            raise ApiError(401, "token_expired", "This beta token has expired.")
        if row["tenant_status"] != "active":
            raise ApiError(403, "tenant_suspended", "This organisation's access is suspended.")
        bound = row["device_id"]
        if bound is None and row["bind_on_first_use"] and device_id:
            async with self.db.tenant(str(row["tenant_id"])) as conn:
                bound = await store.bind_beta_device(conn, row["id"], device_id)
            self._drop(key)
            until = 0.0  # the next request reads the bound row
        if (bound is not None or row["bind_on_first_use"]) and (not device_id or device_id != bound):
            raise ApiError(401, "device_mismatch", "This beta token is bound to another device (X-Device-ID).")
        # The principal depends only on the cached row and the device.
        who = _remembered(row, (bound, device_id), lambda: Principal(
            kind="beta_token", tenant_id=str(row["tenant_id"]), user_id=None, token_id=str(row["id"]),
            role="tester", device_id=bound or device_id, name=row["name"],
            rate_limit=RateLimit(int(row["rate_capacity"]), float(row["rate_per_seconds"])) if row["rate_capacity"] else None,
        ))
        return who, until, token_until

    async def _beta_row(self, hashed: str) -> dict | None:
        async with self.db.unscoped() as conn:
            found = await store.beta_token_any_tenant(conn, hashed)
        return dict(found) if found else None

    async def user_token(self, token: str) -> Principal:
        return (await self._user(token))[0]

    async def _user(self, token: str) -> tuple[Principal, float, float]:
        """As ``_beta``, for a user access JWT."""
        try:
            claims = self.jwt.verify(token)
        except TokenError as exc:
            raise ApiError(401, exc.code, "The access token has expired." if exc.code == "token_expired" else "The access token is invalid.") from None
        # Keyed by the tenant too: the tenant is what the cached answer vouches for, so a token naming
        # another tenant with a cached session id must be looked up (and refused) in its own scope.
        key = ("sid", claims.tenant_id, claims.session_id)
        state, until = await self._cached(key, lambda: self._session_state(claims.tenant_id, claims.session_id))
        if (
            state is None
            or str(state["user_id"]) != claims.user_id
            or state["ended_at"] is not None
            or not state["is_active"]
            or not state["device_active"]
        ):
            raise invalid_token("The session of this access token has ended; sign in again.")
        if state["tenant_status"] != "active":
            raise ApiError(403, "tenant_suspended", "This organisation's access is suspended.")
        # The principal depends only on the cached session state and the token.
        who = _remembered(state, (claims.user_id, claims.jti, claims.device_id), lambda: Principal(
            kind="user", tenant_id=claims.tenant_id, user_id=claims.user_id, token_id=claims.jti,
            role=state["role"], device_id=claims.device_id, email=state["email"], name=state["display_name"],
            session_id=claims.session_id,
        ))
        return who, until, claims.expires_at + LEEWAY_SECONDS

    async def _session_state(self, tenant_id: str, session_id: str) -> dict | None:
        async with self.db.tenant(tenant_id) as conn:
            found = await store.session_state(conn, session_id)
        return dict(found) if found else None

    async def _cached(self, key: Any, load: Callable[[], Awaitable[Any]]) -> tuple[Any, float]:
        """The cached answer for ``key`` and until when it is kept (cache clock; 0.0 when the cache
        is off). A missing answer is loaded once per instance: requests that find it being loaded
        wait for that load instead of sending the same query (when a busy token's row expired, each
        request in flight used to query it again). A failed load leaves each waiter to load itself."""
        while True:
            value, until = self._cache.entry(key)
            if value is not MISSING:
                return value, until
            loading = self._loading.get(key)
            if loading is None:
                break
            await loading.wait()
        done = self._loading[key] = asyncio.Event()
        try:
            value = await load()
            self._cache.put(key, value)
        finally:
            del self._loading[key]
            done.set()
        return value, self._cache.entry(key)[1]

    def _drop(self, key: Any) -> None:
        self._cache.drop(key)
        self._generation += 1

    def forget_sessions(self, session_ids) -> None:
        """Drop cached session state now (this instance); others notice within the cache TTL."""
        ended = {str(sid) for sid in session_ids}
        for key in self._cache.live_keys():
            if key[0] == "sid" and key[2] in ended:
                self._cache.drop(key)
        self._generation += 1  # also when the row had left the cache: remembered answers may outlive it

    def forget_beta_token(self, token: str) -> None:
        self._drop(("beta", token_hash(token)))

    async def open_principal(self) -> Principal:
        """The principal of every Tier-1 request when UNAMENTIS_CLIENT_AUTH=open (LAN installs only):
        the tenant ``UNAMENTIS_OPEN_TENANT``, looked up once per app (a tenant's id never changes)."""
        if self._open is not None:
            return self._open
        slug = self.settings.open_tenant
        async with self.db.unscoped() as conn:
            row = await conn.fetchrow("select id, status from tenant_by_slug($1)", slug)
        if row is None or row["status"] != "active":
            raise ApiError(
                503,
                "open_tenant_missing",
                f"UNAMENTIS_CLIENT_AUTH=open needs the active tenant {slug!r} (UNAMENTIS_OPEN_TENANT): "
                f"create it with `python -m runtime admin tenant create {slug}`, or set UNAMENTIS_OPEN_TENANT to an "
                "existing tenant's slug (`python -m runtime dev` uses its own tenant)",
            )
        self._open = Principal(kind="open", tenant_id=str(row["id"]), user_id=None, token_id=None, role="open")
        return self._open

    # --------------------------------------------------------------------------- Tier 2
    async def admin(self, headers: Mapping[str, str]) -> Principal:
        """The admin behind a Tier-2 request; 401 without valid credentials, 403 without the role."""
        if self.access_enabled:
            return await self._access_admin(_header(headers, "cf-access-jwt-assertion"))
        token = bearer_token(headers)
        if not token:
            raise Unauthorized("Admin routes need an admin user's access token.")
        if not looks_like_jwt(token):
            raise Forbidden("Admin routes need an admin user's access token, not a beta token.")
        who = await self.user_token(token)
        if who.role not in ADMIN_ROLES:
            raise Forbidden("This account is not an administrator.")
        return replace(who, kind="admin")

    async def _access_admin(self, assertion: str | None) -> Principal:
        from runtime.auth.access import AccessTokenError  # loaded by ``self.access`` below, so free here

        if not assertion:
            raise ApiError(401, "access_required", "Admin routes need Cloudflare Access (Cf-Access-Jwt-Assertion).")
        try:
            identity = await self.access.verify(assertion)
        except AccessTokenError as exc:
            log.warning("Access JWT rejected", extra={"reason": str(exc)})
            raise invalid_token("The Cloudflare Access token is invalid.") from None
        if not identity.email:
            raise Forbidden("This Access identity has no e-mail, so it has no admin role.")
        user = await self._admin_user(identity.email)
        if user is None:
            raise Forbidden("This Access identity is not an administrator here.")
        return Principal(
            kind="admin", tenant_id=str(user["tenant_id"]), user_id=str(user["id"]),
            token_id=str(identity.claims.get("jti") or uuid.uuid4()), role=user["role"],
            email=identity.email, name=user["display_name"],
        )

    async def _admin_user(self, email: str) -> dict | None:
        """The active admin user with this e-mail in an active tenant (cached like every check), else None."""
        user, _until = await self._cached(("admin", email), lambda: self._admin_row(email))
        if user is None or not user["is_active"] or user["role"] not in ADMIN_ROLES or user["tenant_status"] != "active":
            return None
        return user

    async def _admin_row(self, email: str) -> dict | None:
        async with self.db.unscoped() as conn:
            found = await store.user_by_email_any_tenant(conn, email)
        return dict(found) if found else None

    async def console(self) -> Principal:
        """The Operations Console's service principal: the admin ``UNAMENTIS_CONSOLE_ADMIN_EMAIL``.

        Only requests accepted by the console listener get here; the socket is the credential, so
        nothing a caller sends is read."""
        email = self.settings.console_admin_email
        if not email:
            raise ApiError(503, "console_not_configured",
                           "The console entry needs UNAMENTIS_CONSOLE_ADMIN_EMAIL (the admin user it acts as).")
        user = await self._admin_user(email)
        if user is None:
            raise Forbidden(f"UNAMENTIS_CONSOLE_ADMIN_EMAIL={email} is not an active administrator of an active tenant.")
        return Principal(
            kind="admin", tenant_id=str(user["tenant_id"]), user_id=str(user["id"]), token_id="console",
            role=user["role"], email=email, name="Operations Console",
        )

    async def aclose(self) -> None:
        return None
