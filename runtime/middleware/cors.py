"""CORS with an explicit origin allowlist (never ``*``), on every response including errors.

The policy is Starlette's ``CORSMiddleware``'s: for an allowlisted origin a response gets
``Access-Control-Allow-Origin: <origin>``, ``Allow-Credentials`` and the headers clients may read
(request id, rate limits, TTS metadata), and every response gets ``Vary: Origin``; preflights
(OPTIONS + Origin + Access-Control-Request-Method) are answered with the allowed methods (PATCH
included) and headers. ``runtime.middleware.request`` applies it inside its single pass, so this
module is the policy only: Starlette's preflight logic, and the same response headers its ``send``
would set, written straight into the response's header list.
"""
from __future__ import annotations

from collections.abc import Collection

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

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
_VARY = b"vary"


async def _never_called(scope: Scope, receive: Receive, send: Send) -> None:  # pragma: no cover
    raise RuntimeError("the CORS policy is not an ASGI layer")


class _Preflight(CORSMiddleware):
    """Starlette's preflight answer; only its status and body are ours.

    The API contract answers a preflight 204 without a body and a refused one 403 in the API's error
    format, where Starlette answers 200 ``OK`` and 400 plain text: this subclass changes only those.
    """

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 200:
            refused = ", ".join(bytes(response.body).decode().removeprefix("Disallowed CORS ").split(", "))
            return ApiError(403, "cors_forbidden", f"Origin {request_headers['origin']} is not allowed "
                                                   f"(refused: {refused}).").to_response()
        headers = {name: value for name, value in response.headers.items() if name not in ("content-length", "content-type")}
        return Response(status_code=204, headers=headers)


class Cors:
    def __init__(self, allow_origins: Collection[str]) -> None:
        self._starlette = _Preflight(
            _never_called,
            # Browsers send the origin in lower case; a configured origin may have capitals.
            allow_origins=frozenset(origin.lower() for origin in allow_origins),
            allow_methods=ALLOW_METHODS,
            allow_headers=ALLOW_HEADERS,
            allow_credentials=True,
            expose_headers=EXPOSE_HEADERS,
            max_age=MAX_AGE,
        )
        policy = self._starlette
        self._simple = [(name.lower().encode("latin-1"), value.encode("latin-1"))
                        for name, value in policy.simple_headers.items()]
        # Starlette mirrors the request's origin when credentials are allowed or origins are listed.
        self._mirror_any = policy.allow_all_origins and policy.allow_credentials

    def preflight(self, scope: Scope) -> Response:
        return self._starlette.preflight_response(Headers(scope=scope))

    def response_headers(self, headers: list[tuple[bytes, bytes]], origin: str | None) -> None:
        """Set, in place, what Starlette's ``CORSMiddleware.send`` sets on a response start."""
        if origin is not None:
            for name, value in self._simple:
                _set(headers, name, value)
            if self._mirror_any or (not self._starlette.allow_all_origins and self._starlette.is_allowed_origin(origin)):
                _set(headers, b"access-control-allow-origin", origin.encode("latin-1"))
        for name, _ in headers:
            if name == _VARY:
                break
        else:
            headers.append((_VARY, b"Origin"))  # what _set does when there is none, without its scan
            return
        varies = [value.decode("latin-1") for name, value in headers if name == _VARY]
        _set(headers, _VARY, ", ".join([*varies, "Origin"]).encode("latin-1"))


def _set(headers: list[tuple[bytes, bytes]], name: bytes, value: bytes) -> None:
    """``MutableHeaders.__setitem__`` on a raw header list: the first ``name`` replaced, the rest dropped."""
    found = [index for index, (key, _) in enumerate(headers) if key == name]
    for index in reversed(found[1:]):
        del headers[index]
    if found:
        headers[found[0]] = (name, value)
    else:
        headers.append((name, value))
