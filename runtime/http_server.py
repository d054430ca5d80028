"""The HTTP server's own limits: how long a client may take, how many may be served at once.

uvicorn cuts idle keep-alive connections and caps concurrent connections (``limit_concurrency``
answers 503 beyond it), but it waits forever for a request's headers: a client that connects and
sends nothing, or one header byte a minute, holds a connection and a slot until the server stops.
``HeaderTimeoutProtocol`` closes such a connection when its headers are not complete within
``UNAMENTIS_HEADER_TIMEOUT`` seconds of the connection opening or of a new request starting.
Every limit here comes from ``runtime.settings`` (README "Configuration").
"""
from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from runtime.settings import Settings


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol plus a deadline for the request line and headers.

    A new connection gets its deadline at once. A later request on a kept-alive connection gets
    one only if its headers are still incomplete once the bytes at hand are parsed: almost every
    request's headers arrive in one read, and a timer armed and cancelled per request (with the
    calls around it) was a measurable part of a cheap request's CPU."""

    header_timeout: float = 10.0  # set per server by ``uvicorn_options``

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_deadline: asyncio.TimerHandle | None = None
        self._arm_header_deadline()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._header_deadline is None:
            # uvicorn starts a request's scope when its first byte arrives and puts the method in
            # it when its headers are complete: no method yet is a request waiting for its headers.
            scope = self.scope
            if scope is not None and "method" not in scope and not self.transport.is_closing():
                self._arm_header_deadline()

    def on_headers_complete(self) -> None:
        if self._header_deadline is not None:  # most requests of a kept-alive connection armed none
            self._disarm_header_deadline()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        super().connection_lost(exc)

    def _arm_header_deadline(self) -> None:
        self._header_deadline = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _disarm_header_deadline(self) -> None:
        deadline = getattr(self, "_header_deadline", None)  # None too if the connection never started
        if deadline is not None:
            deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if not self.transport.is_closing():
            self.transport.close()


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The keyword arguments of ``uvicorn.run``/``uvicorn.Config`` that bound clients."""
    protocol = type("ConfiguredHeaderTimeoutProtocol", (HeaderTimeoutProtocol,), {"header_timeout": settings.header_timeout})
    return {
        "http": protocol,
        "timeout_keep_alive": settings.keepalive_timeout,
        "limit_concurrency": settings.max_connections or None,
        "ws_max_size": settings.ws_max_message_bytes,
    }
