"""Client headers: ``X-Client-Platform`` (ios|android|web, any case), ``X-Client-Version``,
``X-Client-ID``, ``X-Client-Name``, ``X-Device-ID``.

They are parsed once into the scope (``runtime.context.client_info``). When a minimum version is
configured for the caller's platform and the caller sends a lower version, the answer is 426
``upgrade_required`` naming both versions. Callers without the headers (older builds, curl) pass:
the minimum is about builds we know are broken, not about identifying clients.
"""
from __future__ import annotations

from typing import Mapping

from starlette.types import ASGIApp, Receive, Scope, Send

from runtime.context import CLIENT_KEY
from runtime.errors import ApiError
from runtime.middleware.common import send_error
from runtime.settings import parse_version

EXEMPT_PATHS = frozenset({"/health", "/api/health", "/api/openapi.json"})
_WANTED = {
    b"x-client-platform": "platform",
    b"x-client-version": "version",
    b"x-client-id": "id",
    b"x-client-name": "name",
    b"x-device-id": "device_id",
}


class ClientHeadersMiddleware:
    def __init__(self, app: ASGIApp, *, min_versions: Mapping[str, tuple[int, ...]]) -> None:
        self.app = app
        self.min_versions = dict(min_versions)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        info: dict[str, str | None] = dict.fromkeys(_WANTED.values())
        for key, value in scope.get("headers") or ():
            name = _WANTED.get(key)
            if name is not None and info[name] is None:
                info[name] = value.decode("latin-1").strip()[:200] or None
        if info["platform"]:
            info["platform"] = info["platform"].lower()
        scope[CLIENT_KEY] = info
        minimum = self.min_versions.get(info["platform"] or "")
        if minimum and info["version"] and scope["path"] not in EXEMPT_PATHS:
            try:
                too_old = parse_version(info["version"]) < minimum
            except ValueError:
                too_old = False  # unparseable: we cannot say it is old, so let it through
            if too_old:
                wanted = ".".join(str(part) for part in minimum)
                await send_error(
                    scope,
                    receive,
                    send,
                    ApiError(
                        426,
                        "upgrade_required",
                        f"This version of the app ({info['version']}) is no longer supported; "
                        f"please update to {wanted} or later.",
                        details={"platform": info["platform"], "minimum_version": wanted, "version": info["version"]},
                    ),
                )
                return
        await self.app(scope, receive, send)
