"""The console listener's ASGI entry: marks each request as accepted by the console's socket.

``console_entry(app)`` is the app the console listener serves (``runtime.console.serve``); the public
listener serves ``app`` itself. The mark is a scope key, which only the server sets — no header, query
or body a caller sends can produce it — so the listener's network placement (the console's security
group, NetworkPolicy or Compose network) is what grants the console's admin principal.
"""
from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from runtime.context import CONSOLE_ENTRY_KEY


def console_entry(app: ASGIApp) -> ASGIApp:
    async def entry(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            scope[CONSOLE_ENTRY_KEY] = True
        await app(scope, receive, send)

    return entry
