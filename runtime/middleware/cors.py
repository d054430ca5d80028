"""CORS with an explicit origin allowlist (never ``*``), on every response including errors.

Starlette's ``CORSMiddleware`` does the work: for an allowlisted origin a response gets
``Access-Control-Allow-Origin: <origin>``, ``Allow-Credentials`` and the headers clients may read
(request id, rate limits, TTS metadata); preflights (OPTIONS + Origin + Access-Control-Request-Method)
are answered with the allowed methods (PATCH included) and headers.
"""
from __future__ import annotations

from collections.abc import Collection

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp

from runtime.errors import ApiError

ALLOW_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
ALLOW_HEADERS = (
    "Authorization", "Content-Type", "X-Client-Platform", "X-Client-Version", "X-Client-ID", "X-Client-Name",
    "X-Device-ID", "X-Request-ID", "Cf-Access-Jwt-Assertion",
)
EXPOSE_HEADERS = (
    "X-Request-ID", "Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset",
    "X-TTS-Cache-Status", "X-TTS-Duration-Seconds", "X-TTS-Sample-Rate", "X-KB-Cache-Status",
    "X-KB-Duration-Seconds", "X-KB-Sample-Rate", "X-Topic-Title", "X-Segment-Count", "Content-Disposition",
)
MAX_AGE = 600


class CorsMiddleware(CORSMiddleware):
    """Starlette's CORS with our options; only the preflight's status and body are ours.

    The API contract answers a preflight 204 without a body and a refused one 403 in the API's error
    format, where Starlette answers 200 ``OK`` and 400 plain text: this subclass changes only those.
    """

    def __init__(self, app: ASGIApp, *, allow_origins: Collection[str]) -> None:
        super().__init__(
            app,
            # Browsers send the origin in lower case; a configured origin may have capitals.
            allow_origins=frozenset(origin.lower() for origin in allow_origins),
            allow_methods=ALLOW_METHODS,
            allow_headers=ALLOW_HEADERS,
            allow_credentials=True,
            expose_headers=EXPOSE_HEADERS,
            max_age=MAX_AGE,
        )

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 200:
            refused = ", ".join(bytes(response.body).decode().removeprefix("Disallowed CORS ").split(", "))
            return ApiError(403, "cors_forbidden", f"Origin {request_headers['origin']} is not allowed "
                                                   f"(refused: {refused}).").to_response()
        headers = {name: value for name, value in response.headers.items() if name not in ("content-length", "content-type")}
        return Response(status_code=204, headers=headers)
