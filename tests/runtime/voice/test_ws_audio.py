"""/ws/audio end to end over real WebSockets against a live uvicorn server and real PostgreSQL."""
from __future__ import annotations

import asyncio
import uuid

import pytest

from runtime.storage import StorageConfig
from runtime.voice.config import VoiceSettings

from .wsclient import AudioClient, silence, spoken, tone


def _voice(peers, **kw) -> VoiceSettings:
    base = dict(llm_provider="openai", llm_url=peers.url + "/v1", llm_model="tutor")
    base.update(kw)
    return VoiceSettings(**base)


@pytest.fixture
def storage_cfg(tmp_path):
    return StorageConfig(url=f"file://{tmp_path}/store")


async def test_offline_round_trip_speech_in_transcript_llm_audio_out(peers, database, make_app, tenant, live_server, storage_cfg):
    """eSpeak NG speech → PocketSphinx → loopback OpenAI-compatible LLM → eSpeak NG audio out."""
    tenant_id, token = await tenant()
    app = make_app(["voice"], voice=_voice(peers, llm_model="slow-80", playback_lead_ms=60000), storage=storage_cfg)
    server = live_server(app)
    c = await AudioClient.open(f"{server.ws_url}/ws/audio?token={token}&session=rt-{uuid.uuid4().hex[:8]}")
    hello = await c.next()
    assert hello["type"] == "session" and hello["resumed"] is False
    await c.send({"type": "config", "sample_rate": 16000, "channels": 1, "format": "pcm16",
                  "vad_enabled": True, "vad_threshold": 0.5})
    await c.send({"type": "start_recording"})
    await c.stream(await spoken("good morning"))
    done = await c.until("turn_complete", timeout=60)
    types = c.types()
    for kind in ("vad_start", "vad_end", "transcript", "llm_start", "llm_token", "tts_start", "_audio",
                 "llm_complete", "tts_complete"):
        assert kind in types, (kind, types)
    transcript = next(e for e in c.events if e["type"] == "transcript")
    assert transcript["text"] == "good morning" and transcript["latency_ms"] > 0
    llm = next(e for e in c.events if e["type"] == "llm_complete")
    assert llm["text"].startswith("You said good morning.")
    # Audio starts before the LLM finished talking: sentence-level streaming.
    assert types.index("_audio") < types.index("llm_complete")
    m = done["metrics"]
    assert m["stt_ms"] > 0 and m["llm_ms"] >= 0 and m["tts_ms"] > 0 and m["total_ms"] >= m["first_audio_ms"] > 0
    assert m["tts_sentences"] == 3
    # The audio out is real speech: eSpeak at the session's 16 kHz, at least a second of it.
    start = next(e for e in c.events if e["type"] == "tts_start")
    assert start["sample_rate"] == 16000 and len(c.audio) > 32000
    tts_done = next(e for e in c.events if e["type"] == "tts_complete")
    assert tts_done["duration_ms"] == pytest.approx(len(c.audio) / 32, rel=0.01)
    # The LLM saw the system prompt and the transcript.
    kind, req = peers.requests[-1]
    assert kind == "openai_chat" and req["body"]["messages"][-1] == {"role": "user", "content": "good morning"}
    await c.aclose()


async def test_bad_token_closes_1008_and_first_message_auth_works(peers, database, make_app, tenant, live_server):
    tenant_id, token = await tenant()
    server = live_server(make_app(["voice"], voice=_voice(peers)))
    bad = await AudioClient.open(f"{server.ws_url}/ws/audio?token=uma_beta_notatoken")
    assert await bad.closed() == 1008
    err = next(e for e in bad.events if e["type"] == "error")
    assert err["recoverable"] is False
    silent = await AudioClient.open(f"{server.ws_url}/ws/audio")
    await silent.send({"type": "hello"})
    assert await silent.closed() == 1008
    ok = await AudioClient.open(f"{server.ws_url}/ws/audio?session=first-msg")
    await ok.send({"type": "auth", "token": token})
    assert (await ok.next())["type"] == "session"
    await ok.send({"type": "ping"})
    assert (await ok.until("pong"))["timestamp"] > 0
    await ok.send({"type": "config", "sample_rate": 16000, "format": "mp3"})
    err = await ok.until("error")
    assert err["code"] == "invalid_message" and "pcm16" in err["message"] and err["recoverable"] is True
    await ok.send({"type": "no_such_thing"})
    assert (await ok.until("error"))["code"] == "unknown_message"
    await ok.aclose()


async def test_barge_in_stops_playback_and_cancels_generation(peers, database, make_app, tenant, live_server, storage_cfg):
    tenant_id, token = await tenant()
    vs = _voice(peers, llm_model="slow-80", stt_provider="whisper", stt_url=peers.url + "/v1",
                tts_provider="openai", tts_url=peers.url + "/v1", playback_lead_ms=100)
    server = live_server(make_app(["voice"], voice=vs, storage=storage_cfg))
    c = await AudioClient.open(f"{server.ws_url}/ws/audio?token={token}")
    await c.next()
    await c.stream(silence(0.3) + tone(0.6) + silence(0.8))
    first = await c.until("tts_start")
    await c.until("_audio")
    await c.until("_audio")
    assert "llm_complete" not in c.types()  # the LLM is still streaming
    n_before = len(c.events)
    await c.stream(tone(0.5), chunk=640)  # the student talks over the tutor
    await c.until("tts_complete", interrupted=True)
    done = await c.until("turn_complete", turn_id=first["turn_id"])
    assert done["interrupted"] is True
    after_vad = c.types()[c.types().index("vad_start", n_before):]
    # At most one audio frame was already in flight when the barge-in was decided.
    assert after_vad[: after_vad.index("tts_complete")].count("_audio") <= 1
    assert "llm_complete" not in [e["type"] for e in c.events if e.get("turn_id") == first["turn_id"]]
    # Nothing more of the interrupted turn arrives.
    await c.stream(silence(1.0))
    await c.until("turn_complete")  # the barge-in utterance gets its own turn
    assert all(e.get("turn_id") != first["turn_id"] for e in c.events[c.events.index(done) + 1:])
    await c.aclose()


async def test_budget_exhausted_closes_4002(peers, database, make_app, tenant, live_server):
    tenant_id, token = await tenant()
    owner = await database.owner()
    try:
        await owner.execute("insert into budgets (tenant_id, monthly_limit_usd) values ($1, 0)", uuid.UUID(tenant_id))
    finally:
        await owner.close()
    vs = _voice(peers, llm_api_key="sk-test", stt_provider="whisper", stt_url=peers.url + "/v1",
                tts_provider="openai", tts_url=peers.url + "/v1")
    server = live_server(make_app(["voice"], voice=vs))
    c = await AudioClient.open(f"{server.ws_url}/ws/audio?token={token}")
    await c.next()
    n_llm = sum(1 for k, _ in peers.requests if k == "openai_chat")
    await c.stream(silence(0.3) + tone(0.6) + silence(0.8))
    assert await c.closed() == 4002
    assert any(e["type"] == "error" and e["code"] == "budget_exceeded" for e in c.events)
    assert sum(1 for k, _ in peers.requests if k == "openai_chat") == n_llm  # no paid call was made


async def test_session_resumes_on_another_instance(peers, database, make_app, tenant, live_server):
    tenant_id, token = await tenant()
    vs = _voice(peers, stt_provider="whisper", stt_url=peers.url + "/v1", tts_provider="openai",
                tts_url=peers.url + "/v1", playback_lead_ms=60000)
    a = live_server(make_app(["voice"], voice=vs))
    b = live_server(make_app(["voice"], voice=vs))
    sid = f"resume-{uuid.uuid4().hex[:8]}"
    c = await AudioClient.open(f"{a.ws_url}/ws/audio?token={token}&session={sid}")
    await c.next()
    await c.send({"type": "voice_config", "voice_id": "alloy", "speed": 1.1})
    await c.until("voice_config_ack")
    peers.stt_text = "tell me about volcanoes"
    await c.stream(silence(0.3) + tone(0.6) + silence(0.8))
    await c.until("turn_complete")
    await c.aclose()
    a.stop()  # the task goes away
    await asyncio.sleep(0.2)
    c2 = await AudioClient.open(f"{b.ws_url}/ws/audio?token={token}&session={sid}")
    hello = await c2.next()
    assert hello["resumed"] is True and hello["turn_count"] == 1
    peers.stt_text = "and earthquakes"
    await c2.stream(silence(0.3) + tone(0.6) + silence(0.8))
    await c2.until("turn_complete")
    kind, req = [r for r in peers.requests if r[0] == "openai_chat"][-1]
    msgs = req["body"]["messages"]
    assert msgs[1] == {"role": "user", "content": "tell me about volcanoes"}
    assert msgs[2]["content"].startswith("You said tell me about volcanoes.")
    assert msgs[-1] == {"role": "user", "content": "and earthquakes"}
    speech = [r for r in peers.requests if r[0] == "speech"][-1][1]["body"]
    assert (speech["voice"], speech["speed"]) == ("alloy", 1.1)  # the voice config survived too
    await c2.aclose()
    peers.stt_text = "hello world"


async def test_paid_stream_cut_by_barge_in_is_settled_as_an_estimate(peers, database, make_app, tenant, live_server):
    """A paid LLM stream interrupted mid-reply reports no usage; the reservation is settled with an
    estimate of what was streamed, and a completed turn is settled with the provider's usage."""
    tenant_id, token = await tenant()
    owner = await database.owner()
    try:
        await owner.execute("insert into budgets (tenant_id, monthly_limit_usd) values ($1, 100)", uuid.UUID(tenant_id))
    finally:
        await owner.close()
    vs = _voice(peers, llm_api_key="sk-test", llm_model="slow-60", stt_provider="whisper", stt_url=peers.url + "/v1",
                tts_provider="openai", tts_url=peers.url + "/v1", playback_lead_ms=100)
    server = live_server(make_app(["voice"], voice=vs))
    c = await AudioClient.open(f"{server.ws_url}/ws/audio?token={token}")
    await c.next()
    await c.stream(silence(0.3) + tone(0.6) + silence(0.8))
    await c.until("llm_token")
    await c.until("llm_token")
    await c.send({"type": "cancel"})  # cut the stream
    await c.until("turn_complete", interrupted=True)
    await c.stream(silence(0.3) + tone(0.6) + silence(0.8))  # a full turn
    await c.until("turn_complete")
    await c.aclose()
    owner = await database.owner()
    try:
        for _ in range(50):
            rows = await owner.fetch("select provider, operation, units, cost_usd from usage_events where tenant_id = $1 "
                                     "order by id", uuid.UUID(tenant_id))
            if len(rows) >= 2:
                break
            await asyncio.sleep(0.1)
        open_res = await owner.fetchval("select count(*) from budget_reservations where tenant_id = $1 and state = 'reserved'",
                                        uuid.UUID(tenant_id))
    finally:
        await owner.close()
    import json as _json
    units = [_json.loads(r["units"]) if isinstance(r["units"], str) else r["units"] for r in rows]
    assert [(r["provider"], r["operation"]) for r in rows] == [("openai", "llm"), ("openai", "llm")]
    assert units[0].get("estimated") == 1.0 and 0 < units[0]["llm_output_tokens"] < 16
    assert "estimated" not in units[1] and units[1]["llm_input_tokens"] == 20  # the provider's own usage
    assert all(float(r["cost_usd"]) > 0 for r in rows) and open_res == 0


async def test_server_pings_idle_end_4000_and_foreign_session_4001(peers, database, make_app, tenant, live_server):
    tenant_id, token = await tenant()
    vs = _voice(peers, ws_ping_seconds=1.0, session_idle_seconds=3.0)
    server = live_server(make_app(["voice"], voice=vs))
    sid = f"idle-{uuid.uuid4().hex[:8]}"
    c = await AudioClient.open(f"{server.ws_url}/ws/audio?token={token}&session={sid}")
    await c.next()
    ping = await c.until("ping", timeout=5)
    assert ping["timestamp"] > 0
    assert await c.closed(timeout=10) == 4000
    assert any(e["type"] == "error" and e["code"] == "session_ended" for e in c.events)
    again = await AudioClient.open(f"{server.ws_url}/ws/audio?token={token}&session={sid}")
    assert await again.closed() == 4001  # an ended session does not come back
    # Another tester of the same tenant cannot take over a live session id.
    from runtime.auth.store import issue_beta_token
    conn = await database.app()
    try:
        _, other = await issue_beta_token(conn, tenant_id, "other tester")
    finally:
        await conn.close()
    live = f"live-{uuid.uuid4().hex[:8]}"
    mine = await AudioClient.open(f"{server.ws_url}/ws/audio?token={token}&session={live}")
    await mine.next()
    theirs = await AudioClient.open(f"{server.ws_url}/ws/audio?token={other}&session={live}")
    assert await theirs.closed() == 4001
    bad = await AudioClient.open(f"{server.ws_url}/ws/audio?token={token}&session=../etc")
    assert await bad.closed() == 4001
    await mine.aclose()
