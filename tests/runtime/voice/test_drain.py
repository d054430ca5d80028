"""SIGTERM drain of the real server process (`python -m runtime serve`): running turns finish, every
client is told to reconnect (close 1001), the process exits, and the session resumes on a new task."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

from tests.runtime.conftest import free_port
from .wsclient import AudioClient, silence, tone

ROOT = Path(__file__).resolve().parents[3]


def _serve(database, peers, port: int, store: Path) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": database.app_dsn, "UNAMENTIS_DATABASE_ADMIN_URL": database.owner_dsn,
           "UNAMENTIS_APP_ROLE": database.app_role, "UNAMENTIS_LOG_LEVEL": "WARNING",
           "UNAMENTIS_STT_PROVIDER": "whisper", "UNAMENTIS_STT_URL": peers.url + "/v1",
           "UNAMENTIS_LLM_PROVIDER": "openai", "UNAMENTIS_LLM_URL": peers.url + "/v1", "UNAMENTIS_LLM_MODEL": "slow-60",
           "UNAMENTIS_TTS_PROVIDER": "openai", "UNAMENTIS_TTS_URL": peers.url + "/v1",
           "UNAMENTIS_PLAYBACK_LEAD_MS": "60000", "UNAMENTIS_DRAIN_SECONDS": "20", "UNAMENTIS_JOB_WORKERS": "0",
           "UNAMENTIS_STORAGE_URL": f"file://{store}"}
    proc = subprocess.Popen([sys.executable, "-m", "runtime", "serve", "--host", "127.0.0.1", "--port", str(port)],
                            cwd=str(ROOT), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("server did not start")


async def test_sigterm_drains_running_turn_then_closes_1001_and_session_resumes(peers, database, tenant, tmp_path):
    _, token = await tenant()
    port = free_port()
    proc = _serve(database, peers, port, tmp_path)
    try:
        # serve turns per-message deflate off (binary PCM does not compress): a client offering it gets none.
        from websockets.asyncio.client import connect
        async with connect(f"ws://127.0.0.1:{port}/ws/audio?token={token}") as offered:
            assert "permessage-deflate" not in (offered.response.headers.get("Sec-WebSocket-Extensions") or "")
            assert json.loads(await offered.recv())["type"] == "session"
        sid = f"drain-{uuid.uuid4().hex[:8]}"
        c = await AudioClient.open(f"ws://127.0.0.1:{port}/ws/audio?token={token}&session={sid}")
        assert (await c.next())["type"] == "session"
        peers.stt_text = "explain tides"
        await c.stream(silence(0.3) + tone(0.6) + silence(0.8))
        await c.until("llm_start")
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)  # mid-turn: the LLM streams for ~1 s more
        await asyncio.sleep(0.3)
        late = await AudioClient.open(f"ws://127.0.0.1:{port}/ws/audio?token={token}")  # while draining
        assert await late.closed(timeout=10) == 1001
        assert any(e["type"] == "error" and e["code"] == "server_draining" for e in late.events)
        async with httpx.AsyncClient() as probe:  # the load balancer's health check sees the drain
            health = await probe.get(f"http://127.0.0.1:{port}/health", timeout=5)
        assert health.status_code == 503 and health.json()["status"] == "draining"
        code = await c.closed(timeout=30)
        assert code == 1001
        types = c.types()
        # The running turn finished (not cut), then the client was told to reconnect.
        assert "llm_complete" in types and "turn_complete" in types
        done = next(e for e in c.events if e["type"] == "turn_complete")
        assert not done.get("interrupted")
        draining = next(e for e in c.events if e["type"] == "error")
        assert draining["code"] == "server_draining" and draining["recoverable"] is True
        assert types.index("turn_complete") < types.index("error")
        await asyncio.get_running_loop().run_in_executor(None, proc.wait, 30)
        assert proc.returncode is not None and time.monotonic() - t0 < 25
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # A replacement task picks the session up where it was.
    port2 = free_port()
    proc2 = _serve(database, peers, port2, tmp_path)
    try:
        c2 = await AudioClient.open(f"ws://127.0.0.1:{port2}/ws/audio?token={token}&session={sid}")
        hello = await c2.next()
        assert hello["resumed"] is True and hello["turn_count"] == 1
        await c2.aclose()
    finally:
        proc2.terminate()
        proc2.wait(30)
        peers.stt_text = "hello world"
