"""Tier 3: only the edge may call the origin.

With ``UNAMENTIS_ORIGIN_SECRET`` set, every HTTP and WebSocket request except ``GET /health`` (the
load balancer's and container's probe) must carry ``X-Origin-Secret`` equal to it (constant-time
compare), else 403 — except on the console listener, which the edge never reaches. Only after
that check is ``CF-Connecting-IP`` believed as the client IP;
the secret header is then removed from the scope so no handler or log can see it.
"""
from __future__ import annotations

import functools
import hmac
import ipaddress

from starlette.types import ASGIApp, Receive, Scope, Send

from runtime.context import CLIENT_IP_KEY, CONSOLE_ENTRY_KEY
from runtime.errors import Forbidden
from runtime.middleware.common import send_error

EXEMPT_PATHS = frozenset({"/health"})
SECRET_HEADER = b"x-origin-secret"
@functools.lru_cache(maxsize=4096)  # parsing costs more than the rest of this layer; clients call again
def canonical_ip(raw: bytes) -> str | None:
    """``CF-Connecting-IP`` as a canonical address, or None when it is not one."""
    try:
        return str(ipaddress.ip_address(raw.decode("latin-1").strip()))
    except ValueError:
        return None


class OriginSecretMiddleware:
    def __init__(self, app: ASGIApp, *, secret: str | None) -> None:
        self.app = app
        self.secret = secret.encode() if secret else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self.secret is None:
            await self.app(scope, receive, send)
            return
        # The console listener is reached only from the console's network, never through the edge.
        if scope["path"] in EXEMPT_PATHS or scope.get(CONSOLE_ENTRY_KEY):
            await self.app(scope, receive, send)
            return
        presented = None
        connecting_ip = None
        kept = []
        for key, value in scope.get("headers") or ():
            if key == SECRET_HEADER:
                presented = value if presented is None else presented
                continue
            if key == b"cf-connecting-ip":
                connecting_ip = value
            kept.append((key, value))
        # compare_digest on equal-type bytes: time does not depend on where they differ.
        if presented is None or not hmac.compare_digest(presented, self.secret):
            await send_error(
                scope,
                receive,
                send,
                Forbidden("Direct access to the origin is not allowed; use the public API URL."),
            )
            return
        scope["headers"] = kept
        ip = canonical_ip(connecting_ip) if connecting_ip else None
        if ip is not None:  # absent or malformed: keep the peer address
            scope[CLIENT_IP_KEY] = ip
        await self.app(scope, receive, send)
