"""Prefetch jobs, Knowledge Bowl audio, curriculum stream-audio / full-with-assets, the /ws event bus
across two app instances — against the seeded system content, real PostgreSQL and loopback peers."""
from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.client import connect

from runtime.providers.audio import parse_wav
from runtime.storage import StorageConfig
from runtime.voice.config import VoiceSettings
from tests.runtime.conftest import make_client
from tests.runtime.content.conftest import JWT_SECRET, sign_in_admin

CURRICULUM, TOPIC = "solar-system-intro", "topic-rocky-planets"


@pytest.fixture
def audio_app(make_app, peers, tmp_path):
    def factory(**kw):
        vs = VoiceSettings(tts_provider="openai", tts_url=peers.url + "/v1", job_workers=2)
        return make_app(["curricula", "kb", "voice", "auth"], voice=vs, storage=StorageConfig(url=f"file://{tmp_path}/s"),
                        jwt_secret=JWT_SECRET, rate_limit_token=(100000, 60.0), **kw)
    return factory


async def _poll(c, url, headers, done, timeout=30):
    for _ in range(int(timeout / 0.1)):
        r = await c.get(url, headers=headers)
        if r.status_code == 200 and done(r.json()):
            return r.json()
        await asyncio.sleep(0.1)
    raise AssertionError(f"{url}: {r.status_code} {r.text}")


def _frames(body: bytes):
    """Parse the old stream-audio framing into [(idx, type, text_len, wav|None, err|None)] and END."""
    out, pos = [], 0
    while True:
        nl = body.index(b"\n", pos)
        line = body[pos:nl].decode()
        pos = nl + 1
        if line == "END":
            assert pos == len(body)
            return out
        _, idx, kind, n = line.split(":")
        nl = body.index(b"\n", pos)
        nxt = body[pos:nl].decode()
        pos = nl + 1
        if nxt.startswith("AUD:"):
            size = int(nxt[4:])
            out.append((int(idx), kind, int(n), body[pos:pos + size], None))
            pos += size
        else:
            out.append((int(idx), kind, int(n), None, nxt[4:]))


async def test_topic_prefetch_then_stream_audio_hits_cache(database, audio_app, tenant, peers):
    _, token = await tenant()
    auth = {"Authorization": f"Bearer {token}"}
    async with make_client(audio_app()) as c:
        r = await c.post("/api/tts/prefetch/topic", json={"curriculum_id": CURRICULUM, "topic_id": TOPIC}, headers=auth)
        assert r.status_code == 202, r.text
        job = r.json()
        assert job["status"] == "started" and job["total_segments"] >= 2
        st = await _poll(c, f"/api/tts/prefetch/status/{job['job_id']}", auth, lambda j: j["status"] == "succeeded")
        assert st["progress"]["generated"] + st["progress"]["cached"] == job["total_segments"]
        assert st["progress"]["percent_complete"] == 100.0 and "_principal" not in st["job"]["payload"]
        n = sum(1 for k, _ in peers.requests if k == "speech")
        s = await c.get(f"/api/curricula/{CURRICULUM}/topics/{TOPIC}/stream-audio", headers=auth)
        assert s.status_code == 200 and s.headers["x-segment-count"] == str(job["total_segments"])
        assert s.headers["x-topic-title"] == "The Rocky Planets"
        frames = _frames(s.content)
        assert [f[0] for f in frames] == list(range(job["total_segments"]))
        assert all(f[3] is not None and parse_wav(f[3])[1] == 24000 for f in frames)
        assert sum(1 for k, _ in peers.requests if k == "speech") == n  # every segment came from the cache
        missing = await c.post("/api/tts/prefetch/topic", json={"curriculum_id": CURRICULUM, "topic_id": "nope"}, headers=auth)
        assert missing.status_code == 404
        bad = await c.post("/api/tts/prefetch/topic", json={"curriculum_id": "../x", "topic_id": TOPIC}, headers=auth)
        assert bad.status_code == 422
        assert (await c.get("/api/tts/prefetch/status/00000000-0000-0000-0000-000000000000", headers=auth)).status_code == 404
        ios = await c.post("/api/tts-cache/prefetch", json={"curriculumId": CURRICULUM, "topicIds": [TOPIC],
                                                            "priority": "high"}, headers=auth)
        assert ios.status_code == 202
        await _poll(c, f"/api/tts/prefetch/status/{ios.json()['job_id']}", auth, lambda j: j["status"] == "succeeded")
        full = await c.get(f"/api/curricula/{CURRICULUM}/full-with-assets", headers=auth)
        assert full.status_code == 200 and full.json()["assetData"] == {} and full.json()["formatIdentifier"] == "umcf"
        pre = await c.post(f"/api/curricula/{CURRICULUM}/preload-assets", headers=auth)
        assert pre.status_code == 202 and pre.json()["topic_count"] >= 1


async def test_stream_audio_reports_segment_errors(database, audio_app, tenant, peers):
    _, token = await tenant()
    auth = {"Authorization": f"Bearer {token}"}
    async with make_client(audio_app()) as c:
        peers.fail_next["tts"] = 100
        try:
            s = await c.get(f"/api/curricula/{CURRICULUM}/topics/{TOPIC}/stream-audio?voice=nova", headers=auth)
        finally:
            peers.fail_next["tts"] = 0
        frames = _frames(s.content)
        assert frames and all(f[4] and "503" in f[4] for f in frames)


async def test_kb_audio_prefetch_manifest_coverage_and_serving(database, audio_app, tenant, peers):
    _, token = await tenant()
    auth = {"Authorization": f"Bearer {token}"}
    async with make_client(audio_app()) as c:
        cov = (await c.get("/api/kb/coverage/knowledge-bowl", headers=auth)).json()
        assert cov["total_questions"] > 0 and cov["covered_segments"] == 0 and cov["is_complete"] is False
        assert (await c.get("/api/kb/manifest/knowledge-bowl", headers=auth)).status_code == 404
        r = await c.post("/api/kb/prefetch", json={"module_id": "knowledge-bowl", "voice_id": "nova"}, headers=auth)
        assert r.status_code == 200 and r.json()["total_segments"] == cov["total_segments"]
        st = await _poll(c, f"/api/kb/prefetch/{r.json()['job_id']}", auth, lambda j: j["status"] == "succeeded", timeout=60)
        assert st["completed"] == cov["total_segments"] and st["failed"] == 0
        cov = (await c.get("/api/kb/coverage/knowledge-bowl", headers=auth)).json()
        assert cov["is_complete"] is True and cov["coverage_percent"] == 100.0
        manifest = (await c.get("/api/kb/manifest/knowledge-bowl", headers=auth)).json()
        assert manifest["total_segments"] == cov["total_segments"]
        qid = next(iter(manifest["segments"]))
        a = await c.get(f"/api/kb/audio/{qid}/question", params={"module_id": "knowledge-bowl"}, headers=auth)
        assert a.status_code == 200 and a.headers["x-kb-cache-status"] == "hit" and a.headers["x-kb-sample-rate"] == "24000"
        batch = (await c.post("/api/kb/audio/batch", json={"question_ids": [qid, "nope"]}, headers=auth)).json()
        assert batch["segments"][qid]["question"]["available"] is True and batch["missing_count"] >= 3
        assert (await c.get(f"/api/kb/audio/{qid}/chorus", headers=auth)).status_code == 400
        nf = await c.get("/api/kb/audio/no-such-question/answer", headers=auth)
        assert nf.status_code == 404 and nf.json()["success"] is False
        fb = await c.get("/api/kb/feedback/correct", headers=auth)
        assert fb.status_code == 200 and fb.headers["content-type"] == "audio/wav"
        assert (await c.get("/api/kb/feedback/maybe", headers=auth)).status_code == 404


async def test_event_bus_fans_out_across_instances(database, audio_app, tenant, live_server, peers):
    tenant_id, token = await tenant()
    a, b = live_server(audio_app()), live_server(audio_app())
    async with make_client(audio_app()) as c:
        admin = await sign_in_admin(c, database, tenant_id, token)
    hdrs = {"Authorization": f"Bearer {admin}"}
    async with connect(f"{a.ws_url}/ws", additional_headers=hdrs) as wa, \
            connect(f"{b.ws_url}/ws", additional_headers=hdrs) as wb:
        for ws in (wa, wb):
            hello = json.loads(await ws.recv())
            assert hello["type"] == "connected" and "server_time" in hello["data"]
        await wa.send(json.dumps({"type": "ping"}))
        assert json.loads(await wa.recv())["type"] == "pong"
        # Publishing on a third app (think: a Lambda) reaches both tasks' consoles.
        async with make_client(audio_app()) as c:
            await c._transport.app.state.ctx.events.publish("curriculum_imported", {"id": "x1"})
        for ws in (wa, wb):
            ev = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert ev["type"] == "curriculum_imported" and ev["data"] == {"id": "x1"} and ev["timestamp"].endswith("Z")
    # Without an admin, /ws is refused.
    with pytest.raises(Exception):
        async with connect(f"{a.ws_url}/ws", additional_headers={"Authorization": f"Bearer {token}"}) as ws:
            await ws.recv()
