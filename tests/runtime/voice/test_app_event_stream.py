"""``/ws?token=``: the apps' event stream (Tier 1). A tenant's sockets get that tenant's events on the
channels they subscribed to — never another tenant's, never the admin bus's tenant-less events — and
the console's bus on the same path still needs an admin."""
from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from runtime.voice.ws_app_events import app_event
from tests.runtime.conftest import make_client

QUIET = 1.5  # seconds a socket must stay silent to count as "received nothing"


async def _next_event(ws, timeout: float = 10.0) -> dict:
    """The next frame that is not a keep-alive ping."""
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if frame["type"] != "ping":
            return frame


async def _silent(ws) -> bool:
    try:
        await _next_event(ws, timeout=QUIET)
    except asyncio.TimeoutError:
        return True
    return False


async def _subscribed(ws, *channels: str) -> None:
    assert (await _next_event(ws))["type"] == "connected"
    await ws.send(json.dumps({"type": "subscribe", "channels": list(channels)}))
    ack = await _next_event(ws)
    assert ack["type"] == "subscribed" and ack["channels"] == sorted(channels)


async def test_events_stay_in_their_tenant(database, make_app, tenant, live_server):
    (_tenant_a, token_a), (tenant_b, token_b) = await tenant(), await tenant()

    def app():
        return make_app(["sessions", "voice"], database=database, rate_limit_token=(100_000, 60.0))

    server = live_server(app())  # the sockets' task; the calls below reach it through the shared bus
    async with connect(f"{server.ws_url}/ws?token={token_a}") as ws_a, \
            connect(f"{server.ws_url}/ws?token={token_b}") as ws_b:
        await _subscribed(ws_a, "sessions", "imports")
        await _subscribed(ws_b, "sessions", "imports")
        async with make_client(app()) as c:
            auth = {"Authorization": f"Bearer {token_a}"}
            session = (await c.post("/api/sessions", json={"curriculum_id": "solar-system-intro"}, headers=auth)).json()
            assert (await c.post(f"/api/sessions/{session['id']}/start", headers=auth)).status_code == 200
            update = await _next_event(ws_a)
            assert update["type"] == "session_update" and update["timestamp"]
            assert update["data"] == {"session_id": session["id"], "status": "active", "event": "start"}
            bus = c._transport.app.state.ctx.events
            await bus.publish("job_progress", {"tenant_id": tenant_b, "job_id": "j-b", "status": "running"})
            await bus.publish("idle_state_changed", {"gpu": "sleep"})  # no tenant: admin bus only
        job = await _next_event(ws_b)
        assert job["type"] == "job_progress" and job["data"] == {"job_id": "j-b", "status": "running"}
        assert await _silent(ws_a), "tenant A received an event it must not see"
        assert await _silent(ws_b), "tenant B received an event it must not see"
        await ws_a.send(json.dumps({"type": "ping"}))
        assert (await _next_event(ws_a))["type"] == "pong"


async def test_unsubscribed_channels_and_bad_tokens(database, make_app, tenant, live_server):
    tenant_a, token_a = await tenant()
    server = live_server(make_app(["voice"], database=database))
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"{server.ws_url}/ws?token=uma_beta_{'A' * 43}"):
            pass
    assert refused.value.response.status_code in (401, 403)
    with pytest.raises(InvalidStatus) as admin_only:  # the console's bus: a beta token in the header is no admin
        async with connect(f"{server.ws_url}/ws", additional_headers={"Authorization": f"Bearer {token_a}"}):
            pass
    assert admin_only.value.response.status_code in (401, 403)
    event = {"type": "session_update", "data": {"tenant_id": tenant_a, "session_id": "s"}, "timestamp": "t"}
    assert app_event(event, tenant_a, {"imports"}) is None
    assert app_event(event, "another-tenant", {"sessions"}) is None
    assert app_event(event, tenant_a, {"sessions"}) == {"type": "session_update", "timestamp": "t",
                                                         "data": {"session_id": "s"}}
