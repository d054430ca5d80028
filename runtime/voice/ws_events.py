"""``/ws``: the ops console's event bus (Tier 2, checked by the auth middleware before we run), or with
``?token=`` the apps' tenant-scoped stream (Tier 1, ``ws_app_events``)."""
from __future__ import annotations

import asyncio
import contextlib
import json

from starlette.websockets import WebSocket, WebSocketDisconnect

from runtime.context import ctx as app_ctx
from runtime.events import envelope

from .core import voice_core
from .ws_app_events import ws_app_events

PING_SECONDS = 20.0


async def ws_events(websocket: WebSocket) -> None:
    """Ops console events: connected, pong, and every broadcast (log, metrics, import_progress, …)."""
    if websocket.query_params.get("token"):  # the middleware authenticated it as an app (Tier 1)
        await ws_app_events(websocket)
        return
    context = app_ctx(websocket)
    bus = context.events
    core = voice_core(context)
    await websocket.accept()
    async with bus.subscribe() as queue:
        # Every frame is the console's WebSocketMessage {type, data, timestamp: ISO string}, as the bus's own.
        hello = envelope("connected", {"stats": {"voice_sessions": len(core.sessions), "console_clients": bus.subscriber_count,
                                                 "server_name": context.settings.server_name}})
        hello["data"]["server_time"] = hello["timestamp"]
        await websocket.send_json(hello)
        sender = asyncio.create_task(_forward(websocket, queue))
        try:
            while True:
                msg = await websocket.receive()
                if msg["type"] == "websocket.disconnect":
                    break
                text = msg.get("text")
                if not text:
                    continue
                try:
                    body = json.loads(text)
                except ValueError:
                    continue
                if isinstance(body, dict) and body.get("type") == "ping":
                    await websocket.send_json(envelope("pong", {}))
        except WebSocketDisconnect:
            pass
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender


async def _forward(websocket: WebSocket, queue: asyncio.Queue) -> None:
    while True:
        try:
            event = await asyncio.wait_for(queue.get(), timeout=PING_SECONDS)
        except asyncio.TimeoutError:
            # Keep Cloudflare/ALB from cutting an idle console socket.
            event = envelope("ping", {})
        await websocket.send_json(event)
