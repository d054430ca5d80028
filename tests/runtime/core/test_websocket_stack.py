"""WebSockets through the middleware stack on a live uvicorn server (the `live_server` fixture)."""
from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from core.probe import probe_service

SECRET = "origin-secret-0123456789abcdef"


async def test_tier_1_websocket_and_refusals(make_app, tenant, live_server):
    _tenant_id, token = await tenant()
    server = await asyncio.to_thread(live_server, make_app([probe_service()]))
    async with websockets.connect(f"{server.ws_url}/ws/probe", additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        assert json.loads(await ws.recv()) == {"kind": "beta_token"}
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        async with websockets.connect(f"{server.ws_url}/ws/probe"):
            pass
    assert refused.value.response.status_code == 403
    # the ops event bus is Tier 2: a beta token is not enough
    with pytest.raises(websockets.exceptions.InvalidStatus):
        async with websockets.connect(f"{server.ws_url}/ws", additional_headers={"Authorization": f"Bearer {token}"}):
            pass


async def test_origin_secret_applies_to_websockets(make_app, tenant, live_server):
    _tenant_id, token = await tenant()
    server = await asyncio.to_thread(live_server, make_app([probe_service()], origin_secret=SECRET))
    auth = {"Authorization": f"Bearer {token}"}
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        async with websockets.connect(f"{server.ws_url}/ws/probe", additional_headers=auth):
            pass
    assert refused.value.response.status_code == 403
    async with websockets.connect(f"{server.ws_url}/ws/probe", additional_headers={**auth, "X-Origin-Secret": SECRET}) as ws:
        assert json.loads(await ws.recv()) == {"kind": "beta_token"}
