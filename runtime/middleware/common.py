"""Helpers shared by the middleware: sending an error, reading headers from a scope."""
from __future__ import annotations

from typing import Iterable

from starlette.types import Message, Receive, Scope, Send

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


def add_headers(message: Message, headers: Iterable[tuple[bytes, bytes]]) -> None:
    """Append headers to an ``http.response.start`` message in place."""
    existing = list(message.get("headers") or [])
    existing.extend(headers)
    message["headers"] = existing


def has_header(message: Message, name: bytes) -> bool:
    return any(key.lower() == name for key, _ in message.get("headers") or ())


