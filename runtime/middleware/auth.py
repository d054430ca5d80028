"""Authentication dispatch by tier, then the default rate limits.

- public paths (CONTRACT's list + each Service's ``public_paths``, and paths under a Service's
  ``public_prefixes``, whose handlers check their own credential): no token; limited per IP.
- ``/ws/audio``: passed through; the voice service authenticates from ``?token=`` or its first
  ``auth`` message itself (closing 1008 on failure).
- Tier 2 (``/api/admin/*``, ``/api/import/*`` but the read-only catalogs ``/api/import/sources*``, the ``/ws``
  event bus): ``ctx.auth.admin(headers)``. A ``/ws`` upgrade with ``?token=`` is the apps' event stream
  instead: Tier 1 with that token (the voice service then sends only the token's tenant's events).
- Tier 1 (everything else): ``Authorization: Bearer <token>`` → ``ctx.auth.client(token)``, which
  accepts beta tokens and user access JWTs. Where Cloudflare Access is configured, a request without
  a bearer token that carries an Access JWT (``Cf-Access-Jwt-Assertion``: it came through
  ``admin.<domain>``, where Access has checked the person, MFA included) is taken as that admin in
  the admin's own tenant: the Operations Console's browser calls reach every route it uses that way.
  With ``UNAMENTIS_CLIENT_AUTH=open`` a request without a token gets an ``open`` principal of the
  configured tenant.
- On the console listener (``UNAMENTIS_CONSOLE_PORT``, marked by ``runtime.console.entry``): every
  non-public request is the console's service principal (``ctx.auth.console()``); the socket the
  request arrived on is the credential, no header is read.

The principal goes to ``scope["principal"]`` (handlers read it with ``runtime.auth.principal
.principal(request)``). Then one token-bucket hit: per beta token, per user, or per IP, with the
principal's own limit when it has one; 429 carries ``Retry-After`` and ``X-RateLimit-*``. Generous
limits are spent from small local leases of the shared bucket (``runtime.middleware.leases``).
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Awaitable, Iterable
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from runtime.auth.authenticator import parse_bearer
from runtime.auth.principal import Principal
from runtime.context import AUTHORIZATION_KEY, CLIENT_IP_KEY, CLIENT_KEY, CONSOLE_ENTRY_KEY
from runtime.errors import ApiError, Unauthorized
from runtime.limits import RateLimit, rate_limited
from runtime.middleware.common import header, send_error, with_response_headers
from runtime.middleware.console_audit import audit_console_request
from runtime.middleware.leases import LeasedLimiter

if TYPE_CHECKING:
    from runtime.context import AppContext

log = logging.getLogger("unamentis.auth")

# CONTRACT "Conventions": these answer without a token.
CONTRACT_PUBLIC_PATHS = frozenset(
    {
        "/health",
        "/api/health",
        "/api/auth/login",
        "/api/auth/register",
        "/api/auth/refresh",
        "/api/openapi.json",
    }
)
ADMIN_PREFIXES = ("/api/admin/", "/api/import/")
ADMIN_EXACT = frozenset({"/api/admin", "/api/import", "/ws"})
# Read-only browsing of the operator's course catalogs inside /api/import/: public course listings with
# no tenant data (the Android app browses them as a client); its routes are GET only.
CLIENT_PREFIXES_IN_ADMIN = ("/api/import/sources",)
SELF_AUTHENTICATING = frozenset({"/ws/audio"})
APP_EVENT_STREAM = "/ws"  # with ?token=: Tier 1, the token's tenant's events only
# Probes and the (cached, static) API description: never limited, so they never touch the limiter's
# store — a database blip must not fail a health probe.
UNLIMITED_PATHS = frozenset({"/health", "/api/health", "/api/openapi.json"})
_NOT_CLIENT_PATHS = SELF_AUTHENTICATING | ADMIN_EXACT
_REMEMBERED = 4096  # entries of each per-request memo below before it starts over


def tier_of(path: str, public_paths: frozenset[str], public_prefixes: tuple[str, ...] = ()) -> str:
    """``public`` | ``self`` | ``admin`` | ``client`` for a request path."""
    if path in public_paths or (public_prefixes and path.startswith(public_prefixes)):
        return "public"
    if path in SELF_AUTHENTICATING:
        return "self"
    if path.startswith(CLIENT_PREFIXES_IN_ADMIN):
        return "client"
    if path in ADMIN_EXACT or path.startswith(ADMIN_PREFIXES):
        return "admin"
    return "client"


def _authorization(scope: Scope) -> str | None:
    # The request layer's header scan has read the Authorization value (None when absent), except
    # where this layer runs on its own.
    return scope[AUTHORIZATION_KEY] if AUTHORIZATION_KEY in scope else header(scope, b"authorization")


def bearer_token(scope: Scope) -> str | None:
    return parse_bearer(_authorization(scope))


def _device_id(scope: Scope) -> str | None:
    """``X-Device-ID``: as the request layer read it into the client info, else from the headers."""
    info = scope.get(CLIENT_KEY)
    return info["device_id"] if info is not None else header(scope, b"x-device-id")


def _missing_token() -> ApiError:
    return Unauthorized("Authentication required: send Authorization: Bearer <token>.")


def _query_token(scope: Scope) -> str | None:
    """The ``?token=`` of a WebSocket upgrade to the apps' event stream (``/ws``), else None."""
    if scope["type"] != "websocket" or scope["path"] != APP_EVENT_STREAM or b"token=" not in scope.get("query_string", b""):
        return None
    return dict(parse_qsl(scope["query_string"].decode("latin-1"))).get("token") or None


def _signed_url(ctx: "AppContext", scope: Scope) -> Any:
    """A GET (or HEAD) of a URL an answer signed (runtime.auth.signed_urls): its signer's principal."""
    if scope["type"] != "http" or scope.get("method") not in ("GET", "HEAD") or b"sig=" not in scope.get("query_string", b""):
        return None
    query = dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True))
    return ctx.auth.signed_url(scope["path"], query)


class AuthMiddleware:
    def __init__(self, app: ASGIApp, *, public_paths: Iterable[str] = (), public_prefixes: Iterable[str] = ()) -> None:
        self.app = app
        self.public_paths = CONTRACT_PUBLIC_PATHS | frozenset(public_paths)
        self.public_prefixes = tuple(public_prefixes)
        if any(prefix.startswith(ADMIN_PREFIXES) for prefix in self.public_prefixes):
            raise ValueError("a public prefix must not open the admin API")
        # A path that has none of these prefixes, and is none of the public or other-tier paths, is Tier 1.
        self._not_client_prefixes = self.public_prefixes + CLIENT_PREFIXES_IN_ADMIN + ADMIN_PREFIXES
        self.leases = LeasedLimiter()  # per app instance (middleware is built per app)
        # The default limits of the app's settings (ip, beta token, user), worked out on first use.
        self._defaults: tuple[Any, RateLimit | None, RateLimit | None, RateLimit | None] = (None, None, None, None)
        self._served: Any = None  # the app whose context ``_ctx`` is
        self._ctx: Any = None
        # Remembered per request's worth of work that repeats: an Authorization value's bearer
        # token, and a remembered principal's limit (principals are immutable; keyed by identity,
        # the entry holding the principal, so its id cannot be reused while the entry lives).
        self._bearers: dict[str, str] = {}
        self._targets: dict[int, tuple[Any, tuple[str, RateLimit] | None]] = {}

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """The app's coroutine itself when the request passes on what is at hand (a remembered
        token, a held lease token), else this layer's own: this layer then stays out of the chain
        of coroutines that every resumption of the request walks through."""
        if scope["type"] not in ("http", "websocket"):
            return self.app(scope, receive, send)
        app = scope["app"]
        if app is not self._served:
            # Looked up once per app: ``app.state.ctx`` goes through Starlette's State.__getattr__,
            # which Python reaches only after raising and formatting an AttributeError.
            self._served, self._ctx = app, app.state.ctx
        ctx: AppContext = self._ctx
        path = scope["path"]
        if path in self.public_paths or path in _NOT_CLIENT_PATHS or path.startswith(self._not_client_prefixes):
            tier = tier_of(path, self.public_paths, self.public_prefixes)
            if tier == "admin" and _query_token(scope) is not None:
                tier = "client"
            if tier == "self":
                return self.app(scope, receive, send)
        else:
            tier = "client"  # most requests: no path or prefix of another tier
        if tier == "client" and not scope.get(CONSOLE_ENTRY_KEY):
            principal = self._known(ctx, scope)
            if principal is not None:
                target = self._target(ctx, scope, principal)
                if target is None:
                    scope["principal"] = principal
                    return self.app(scope, receive, send)
                headers = self._from_lease(ctx, target)
                if headers is not None:  # a token of a lease held here pays for the request
                    scope["principal"] = principal
                    if scope["type"] != "http":
                        return self.app(scope, receive, send)
                    return self.app(scope, receive, with_response_headers(scope, send, headers))
            return self._authenticate(ctx, tier, scope, receive, send, principal)
        return self._authenticate(ctx, tier, scope, receive, send)

    async def _authenticate(self, ctx: "AppContext", tier: str, scope: Scope, receive: Receive, send: Send,
                            known: Any = None) -> None:
        """Tier by tier, then the rate limit. ``known``: for a Tier-1 request, the principal the
        authenticator remembers for its bearer token (looked up by ``__call__``), or None."""
        try:
            if tier == "public":
                principal = None
            elif scope.get(CONSOLE_ENTRY_KEY):
                principal = await ctx.auth.console()
            elif tier == "admin":
                principal = await ctx.auth.admin(Headers(scope=scope))
            else:
                principal = known if known is not None else await self._client(ctx, scope)
        except ApiError as error:
            if error.status in (401, 403):
                # Failed attempts count against the caller's IP so token guessing is throttled.
                limited = await self._limit(ctx, scope, None)
                if limited is not None and not limited[0]:
                    await send_error(scope, receive, send, limited[1])
                    return
            await send_error(scope, receive, send, error)
            return
        if principal is not None:
            scope["principal"] = principal
        elif scope["path"] in UNLIMITED_PATHS:
            await self.app(scope, receive, send)
            return
        allowed, outcome = await self._limit(ctx, scope, principal) or (True, None)
        if not allowed:
            await send_error(scope, receive, send, outcome)
            return
        if isinstance(principal, Principal) and scope.get(CONSOLE_ENTRY_KEY):
            refused = await audit_console_request(ctx, scope, principal)
            if refused is not None:
                await send_error(scope, receive, send, refused)
                return
        if outcome is None or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.app(scope, receive, with_response_headers(scope, send, outcome))

    def _known(self, ctx: "AppContext", scope: Scope) -> Any:
        """The principal of the request's bearer token when the authenticator remembers it, else None."""
        value = _authorization(scope)
        if not value:
            return None
        token = self._bearers.get(value)  # the same client sends the same value request after request
        if token is None:
            token = parse_bearer(value)
            if token is None:
                return None
            if len(self._bearers) >= _REMEMBERED:
                self._bearers.clear()
            self._bearers[value] = token
        return ctx.auth.known(token, _device_id(scope))

    def _target(self, ctx: "AppContext", scope: Scope, principal: Any) -> tuple[str, RateLimit] | None:
        """``_limit_target`` of a remembered principal, kept for its next requests under the same
        settings when it does not depend on the request (a principal without a key of its own is
        limited per IP)."""
        remembered = self._targets.get(id(principal))
        if remembered is not None and remembered[0] is principal and self._defaults[0] is ctx.settings:
            return remembered[1]
        target = self._limit_target(ctx, scope, principal)
        if target is None or not target[0].startswith("ip:"):
            if len(self._targets) >= _REMEMBERED:
                self._targets.clear()
            self._targets[id(principal)] = (principal, target)
        return target

    async def _client(self, ctx: "AppContext", scope: Scope) -> Any:
        token = bearer_token(scope) or _query_token(scope)
        if token is None:
            if ctx.auth.access_enabled and header(scope, b"cf-access-jwt-assertion"):
                return await ctx.auth.admin(Headers(scope=scope))
            signed = _signed_url(ctx, scope)
            if signed is not None:
                return signed
            if ctx.settings.client_auth == "open":
                return await ctx.auth.open_principal()
            raise _missing_token()
        return await ctx.auth.client(token, device_id=_device_id(scope))

    async def _limit(self, ctx: "AppContext", scope: Scope, principal: Any) -> tuple[bool, Any] | None:
        """(True, rate headers) / (False, the 429 error), or None when no limit applies."""
        target = self._limit_target(ctx, scope, principal)
        if target is None:
            return None
        headers = self._from_lease(ctx, target)
        return (True, headers) if headers is not None else await self._hit(ctx, target)

    def _limit_target(self, ctx: "AppContext", scope: Scope, principal: Any) -> tuple[str, RateLimit] | None:
        """The bucket key and limit of this request, or None when no limit applies."""
        settings = ctx.settings
        if self._defaults[0] is not settings:
            self._defaults = (settings, RateLimit.from_setting(settings.rate_limit_ip),
                              RateLimit.from_setting(settings.rate_limit_token), RateLimit.from_setting(settings.rate_limit_user))
            self._targets.clear()  # worked out under other settings
        if type(principal) is Principal:  # the common case: attributes, not getattr calls
            key, limit = principal.limit_key, principal.rate_limit
        elif principal is not None:
            key, limit = getattr(principal, "limit_key", None), getattr(principal, "rate_limit", None)
        else:
            key = limit = None
        if key is None:
            ip = scope.get(CLIENT_IP_KEY) or (scope.get("client") or ("unknown",))[0]
            key, limit = f"ip:{ip}", self._defaults[1]
        elif limit is None:
            limit = self._defaults[2] if key.startswith("tok:") else self._defaults[3]
        return None if limit is None else (key, limit)

    def _from_lease(self, ctx: "AppContext", target: tuple[str, RateLimit]) -> list[tuple[bytes, bytes]] | None:
        """The rate-limit headers when a token of a lease held here pays for the request, else None."""
        return self.leases.spend(ctx.limiter, *target) if ctx.settings.rate_limit_leases else None

    async def _hit(self, ctx: "AppContext", target: tuple[str, RateLimit]) -> tuple[bool, Any]:
        """The shared bucket's answer (through a new lease where leases are on)."""
        key, limit = target
        if ctx.settings.rate_limit_leases:
            decision = await self.leases.hit(ctx.limiter, key, limit)
        else:
            decision = await ctx.limiter.hit(key, limit)
        if not decision.allowed:
            return False, rate_limited(decision)
        return True, decision.response_headers()
