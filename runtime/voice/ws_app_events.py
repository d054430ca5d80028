"""``/ws?token=``: the apps' event stream (Tier 1), beside the ops console's bus on the same path.

Android's ``WebSocketClient`` connects with its token, sends ``{"type": "subscribe", "channels": [...]}``
(logs, metrics, sessions, services, imports) and ``{"type": "ping"}``, and decodes every frame as
``RawWebSocketMessage {type, timestamp?, data?, channels?}``. The stream carries only events published
for the token's tenant (their ``data.tenant_id``), on the channels the socket subscribed to, with the
tenant id left out: session state changes (``session_update``) and job progress (``import_progress``,
``job_progress``). Events of no tenant (the GPU fleet, idle state) stay on the admin bus.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import datetime, timezone

from starlette.websockets import WebSocket, WebSocketDisconnect

from runtime.auth.principal import principal
from runtime.context import ctx as app_ctx

PING_SECONDS = 20.0
CHANNELS = ("logs", "metrics", "sessions", "services", "imports")
# event type -> the channel it travels on (others never reach the apps)
CHANNEL_OF = {"session_update": "sessions", "import_progress": "imports", "job_progress": "imports",
              "log": "logs", "metric": "metrics", "service_status": "services"}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def app_event(event: dict, tenant_id: str, channels: set[str]) -> dict | None:
    """The frame an app of ``tenant_id`` subscribed to ``channels`` gets for a bus event, or None."""
    data = event.get("data")
    if not isinstance(data, dict) or str(data.get("tenant_id") or "") != tenant_id:
        return None
    if CHANNEL_OF.get(str(event.get("type"))) not in channels:
        return None
    return {"type": event["type"], "timestamp": event.get("timestamp") or _now(),
            "data": {key: value for key, value in data.items() if key != "tenant_id"}}


def _channels(body: dict) -> set[str]:
    raw = body.get("channels")
    return {c for c in raw if isinstance(c, str) and c in CHANNELS} if isinstance(raw, list) else set()


async def ws_app_events(websocket: WebSocket) -> None:
    """Tenant-scoped events for an app: connected, subscribed/unsubscribed, pong, and its tenant's events."""
    tenant_id = principal(websocket).tenant_id
    bus = app_ctx(websocket).events
    channels: set[str] = set()
    await websocket.accept()
    async with bus.subscribe() as queue:
        await websocket.send_json({"type": "connected", "timestamp": _now(), "data": {"channels": list(CHANNELS)}})
        sender = asyncio.create_task(_forward(websocket, queue, tenant_id, channels))
        try:
            while True:
                msg = await websocket.receive()
                if msg["type"] == "websocket.disconnect":
                    break
                try:
                    body = json.loads(msg.get("text") or "")
                except ValueError:
                    continue
                kind = body.get("type") if isinstance(body, dict) else None
                if kind == "ping":
                    await websocket.send_json({"type": "pong", "timestamp": _now()})
                elif kind in ("subscribe", "unsubscribe"):
                    if kind == "subscribe":
                        channels.update(_channels(body))
                    else:
                        channels.difference_update(_channels(body))
                    await websocket.send_json({"type": f"{kind}d", "timestamp": _now(), "channels": sorted(channels)})
        except WebSocketDisconnect:
            pass
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender


async def _forward(websocket: WebSocket, queue: asyncio.Queue, tenant_id: str, channels: set[str]) -> None:
    while True:
        try:
            event = await asyncio.wait_for(queue.get(), timeout=PING_SECONDS)
        except asyncio.TimeoutError:
            # keep the edge from cutting an idle socket
            await websocket.send_json({"type": "ping", "timestamp": _now()})
            continue
        frame = app_event(event, tenant_id, channels)
        if frame is not None:
            await websocket.send_json(frame)
