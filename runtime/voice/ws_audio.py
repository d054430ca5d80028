"""``/ws/audio``: authentication, session open/resume, the receive loop, keepalive and close codes.

Close codes: 1000 normal, 1001 server restarting (reconnect to resume), 1008 authentication failed,
1011 server error, 4000 session ended (idle), 4001 session not found, 4002 rate limited / budget.
"""
from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid

from starlette.websockets import WebSocket, WebSocketDisconnect

from runtime.context import ctx as app_ctx
from runtime.errors import ApiError
from runtime.validation import parse_json

from .core import voice_core
from .session import AudioSession, SessionClosed
from .store import SessionNotFound

log = logging.getLogger("unamentis.voice.ws")

_SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
AUTH_TIMEOUT = 10.0
MAX_TEXT = 64 * 1024


class WebSocketTransport:
    def __init__(self, ws: WebSocket):
        self.ws = ws
        self.closed = False

    async def send_json(self, data: dict) -> None:
        if not self.closed:
            await self.ws.send_text(json.dumps(data, separators=(",", ":")))

    async def send_bytes(self, data: bytes) -> None:
        if not self.closed:
            await self.ws.send_bytes(data)

    async def close(self, code: int, reason: str = "") -> None:
        if self.closed:
            return
        self.closed = True
        try:
            await self.ws.close(code, reason[:120])
        except Exception:  # already closed by the peer
            pass


async def _fail(ws: WebSocket, code: int, error: str, message: str) -> None:
    try:
        await ws.send_text(json.dumps({"type": "error", "code": error, "message": message, "recoverable": False}))
        await ws.close(code, message[:120])
    except Exception:
        pass


async def _token(ws: WebSocket) -> str | None:
    token = ws.query_params.get("token")
    if token:
        return token
    try:
        msg = await asyncio.wait_for(ws.receive(), timeout=AUTH_TIMEOUT)
    except asyncio.TimeoutError:
        return None
    if msg.get("type") != "websocket.receive" or not msg.get("text"):
        return None
    try:
        body = parse_json(msg["text"])
    except ApiError:
        return None
    if isinstance(body, dict) and body.get("type") == "auth" and isinstance(body.get("token"), str):
        return body["token"]
    return None


async def ws_audio(websocket: WebSocket) -> None:
    """Voice conversation socket (PCM16 16 kHz in, TTS audio out)."""
    context = app_ctx(websocket)
    core = voice_core(context)
    await websocket.accept()
    if core.draining:
        await _fail(websocket, 1001, "server_draining", "server restarting; reconnect")
        return
    token = await _token(websocket)
    try:
        if not token and context.settings.client_auth == "open":
            principal = await context.auth.open_principal()
        else:
            principal = await context.auth.client(token, device_id=websocket.headers.get("x-device-id"))
    except ApiError as exc:
        await _fail(websocket, 1008, exc.error, exc.message)
        return
    session_id = websocket.query_params.get("session") or websocket.query_params.get("session_id")
    if session_id is None:
        session_id = uuid.uuid4().hex
    if not _SESSION_ID.match(session_id):
        await _fail(websocket, 4001, "session_not_found", "session ids match ^[A-Za-z0-9_-]{1,100}$")
        return
    try:
        state = await core.sessions_store.open(principal.tenant_id, session_id, principal.budget_subject)
    except SessionNotFound:
        await _fail(websocket, 4001, "session_not_found", f"session {session_id} has ended or is not yours")
        return
    transport = WebSocketTransport(websocket)
    session = AudioSession(core, transport, principal, state)
    core.sessions.add(session)
    keepalive = asyncio.create_task(_keepalive(session))
    code, reason = 1000, ""
    try:
        await session.send_json({"type": "session", "session_id": session_id, "resumed": state.resumed,
                                 "turn_count": state.turn_count, "topic": state.topic or None,
                                 "config": state.config, "server_time": time.time()})
        code, reason = await _receive_loop(websocket, session)
    except SessionClosed as exc:
        code, reason = exc.code, exc.reason
    except WebSocketDisconnect:
        code = 1000
    except Exception:
        log.exception("voice session %s failed", session_id)
        code, reason = 1011, "server error"
    finally:
        keepalive.cancel()
        core.sessions.discard(session)
        if session.closed and session.closed.code == 1001:
            pass  # drained: state saved and socket closed by the drain
        else:
            await session.shutdown()
            if code == 4000:
                state.status = "ended"
            try:
                await asyncio.shield(core.save(session, release=True))
            except Exception:
                log.exception("saving voice session %s failed", session_id)
            await transport.close(code, reason)


async def _receive_loop(ws: WebSocket, session: AudioSession) -> tuple[int, str]:
    while True:
        if session.closed:
            return session.closed.code, session.closed.reason
        msg = await ws.receive()
        if msg["type"] == "websocket.disconnect":
            return 1000, ""
        if session.closed:
            return session.closed.code, session.closed.reason
        data = msg.get("bytes")
        if data is not None:
            await session.on_audio(data)
            continue
        text = msg.get("text")
        if text is None:
            continue
        if len(text) > MAX_TEXT:
            await session.error("message_too_large", f"text messages are limited to {MAX_TEXT} bytes")
            continue
        try:
            body = parse_json(text, what="The message")
        except ApiError as exc:
            await session.error("invalid_json", exc.message)
            continue
        await session.on_text(body)


async def _keepalive(session: AudioSession) -> None:
    """Server pings (idle sockets are cut at ~100 s by Cloudflare, 60 s by a default ALB) and idle end."""
    vs = session.vs
    interval = min(vs.ws_ping_seconds, 25.0)
    try:
        while True:
            await asyncio.sleep(min(interval / 2, 5.0))
            now = time.monotonic()
            if session.closed:
                await session.t.close(session.closed.code, session.closed.reason)
                return
            if now - session.last_activity > vs.session_idle_seconds and not session.turn_active:
                await session.error("session_ended", "session ended after inactivity", recoverable=False)
                session.closed = SessionClosed(4000, "session ended (idle)")
                session.state.status = "ended"
                await session.core.save(session, release=True)
                await session.t.close(4000, "session ended (idle)")
                return
            if now - session.last_sent >= interval:
                await session.send_json({"type": "ping", "timestamp": time.time()})
    except asyncio.CancelledError:
        raise
    except Exception:
        return
