"""Helpers shared by the middleware: sending an error, reading headers from a scope."""
from __future__ import annotations

from typing import Iterable

from starlette.types import Message, Receive, Scope, Send

from runtime.context import RESPONSE_HEADERS_KEY
from runtime.errors import ApiError


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of header ``name`` (lower-case bytes) in ``scope``, decoded as latin-1."""
    for key, value in scope.get("headers") or ():
        if key == name:
            return value.decode("latin-1")
    return None


async def send_error(scope: Scope, receive: Receive, send: Send, error: ApiError) -> None:
    """Answer ``error`` on an HTTP scope; refuse a WebSocket handshake (close 1008 before accept
    makes the server answer HTTP 403)."""
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008, "reason": error.error[:100]})
        return
    response = error.to_response()
    await response(scope, receive, send)


def with_response_headers(scope: Scope, send: Send, headers: Iterable[tuple[bytes, bytes]]) -> Send:
    """Have ``headers`` (names in lower case) added to this request's response; returns the
    ``send`` to pass on.

    Under ``runtime.middleware.request`` they are queued in the scope and added once, when the
    response starts (one send wrapper for the whole stack instead of one per layer); standalone,
    a wrapper does it."""
    queued = scope.get(RESPONSE_HEADERS_KEY)
    if queued is not None:
        queued.extend(headers)
        return send
    extra = list(headers)

    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", ()))
            add_headers(headers, extra)
            message["headers"] = headers
        await send(message)

    return send_with_headers


def add_headers(headers: list[tuple[bytes, bytes]], extra: Iterable[tuple[bytes, bytes]]) -> None:
    """Append to ``headers`` (a response's own, in place) those of ``extra`` (names in lower case,
    as the stack writes them) it does not set itself: a route's own, more specific answer (e.g. the
    login limiter's X-RateLimit-*) wins over the stack's default."""
    present = {name.lower() for name, _ in headers}
    present.discard(b"vary")  # Vary lists add up
    for name, value in extra:
        if name not in present:
            headers.append((name, value))
