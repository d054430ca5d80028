"""CORS with an explicit origin allowlist (never ``*``), on every response including errors.

Preflights (OPTIONS + Origin + Access-Control-Request-Method) are answered here: 204 with the
allowed methods (PATCH included) and headers for an allowlisted origin, 403 otherwise. For other
requests from an allowlisted origin the response gets ``Access-Control-Allow-Origin: <origin>``,
``Allow-Credentials`` and the headers clients may read (request id, rate limits, TTS metadata).
"""
from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from runtime.errors import ApiError
from runtime.middleware.common import header, send_error, with_response_headers

ALLOW_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
ALLOW_HEADERS = (
    "Authorization, Content-Type, X-Client-Platform, X-Client-Version, X-Client-ID, X-Client-Name, "
    "X-Device-ID, X-Request-ID, Cf-Access-Jwt-Assertion"
)
EXPOSE_HEADERS = (
    "X-Request-ID, Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, "
    "X-TTS-Cache-Status, X-TTS-Duration-Seconds, X-TTS-Sample-Rate, X-KB-Cache-Status, "
    "X-KB-Duration-Seconds, X-KB-Sample-Rate, X-Topic-Title, X-Segment-Count, Content-Disposition"
)
MAX_AGE = "600"


class CorsMiddleware:
    def __init__(self, app: ASGIApp, *, origins: tuple[str, ...]) -> None:
        self.app = app
        self.origins = frozenset(origin.lower().rstrip("/") for origin in origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origin = header(scope, b"origin")
        if origin is None:
            await self.app(scope, receive, send)
            return
        allowed = origin.lower().rstrip("/") in self.origins
        if scope["method"] == "OPTIONS" and header(scope, b"access-control-request-method") is not None:
            await self._preflight(scope, receive, send, origin, allowed)
            return
        extra = [(b"vary", b"Origin")]
        if allowed:
            extra += [
                (b"access-control-allow-origin", origin.encode("latin-1")),
                (b"access-control-allow-credentials", b"true"),
                (b"access-control-expose-headers", EXPOSE_HEADERS.encode()),
            ]
        await self.app(scope, receive, with_response_headers(scope, send, extra))

    async def _preflight(self, scope: Scope, receive: Receive, send: Send, origin: str, allowed: bool) -> None:
        if not allowed:
            await send_error(
                scope, receive, send, ApiError(403, "cors_forbidden", f"Origin {origin} is not allowed.")
            )
            return
        await send(
            {
                "type": "http.response.start",
                "status": 204,
                "headers": [
                    (b"access-control-allow-origin", origin.encode("latin-1")),
                    (b"access-control-allow-credentials", b"true"),
                    (b"access-control-allow-methods", ALLOW_METHODS.encode()),
                    (b"access-control-allow-headers", ALLOW_HEADERS.encode()),
                    (b"access-control-max-age", MAX_AGE.encode()),
                    (b"vary", b"Origin"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})
