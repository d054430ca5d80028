"""Hostile WebSocket messages on /ws/audio get a recoverable error; the session stays open."""
from __future__ import annotations

import uuid

import pytest

from tests.runtime.voice.wsclient import AudioClient


@pytest.fixture(scope="module")
def database(shared_database):
    return shared_database


@pytest.mark.parametrize("text", [
    '{"type": "config", "sample_rate": NaN, "format": "pcm16"}',
    '{"type": "config", "vad_threshold": Infinity}',
    "[" * 20_000 + "]" * 20_000,
    '{"type": "config", "x": ' + "[" * 1_000 + "]" * 1_000 + "}",
], ids=["nan", "infinity", "deep", "deep-inside-config"])
async def test_bad_json_is_a_recoverable_error(make_app, tenant, live_server, text):
    _tid, token = await tenant()
    server = live_server(make_app(["voice"]))
    client = await AudioClient.open(f"{server.ws_url}/ws/audio?token={token}&session=h-{uuid.uuid4().hex[:8]}")
    assert (await client.next())["type"] == "session"
    await client.ws.send(text)
    error = await client.until("error", timeout=20)
    assert error["code"] == "invalid_json" and error["recoverable"] is True
    await client.send({"type": "ping"})
    assert (await client.until("pong"))["type"] == "pong"  # still open and answering
    await client.aclose()
