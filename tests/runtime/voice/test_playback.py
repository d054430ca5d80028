"""The old curriculum-playback messages on /ws/audio (request_audio, sync, barge_in, voice_config,
set_topic with curriculum_id), against the seeded system curriculum."""
from __future__ import annotations

import base64
import uuid

from runtime.providers.audio import parse_wav
from runtime.voice.config import VoiceSettings

from .wsclient import AudioClient

CURRICULUM, TOPIC = "solar-system-intro", "topic-rocky-planets"


async def test_curriculum_playback_messages(peers, database, make_app, tenant, live_server, tmp_path):
    from runtime.storage import StorageConfig

    _, token = await tenant()
    vs = VoiceSettings(llm_provider="openai", llm_url=peers.url + "/v1", tts_provider="openai",
                       tts_url=peers.url + "/v1", playback_lead_ms=60000)
    server = live_server(make_app(["voice"], voice=vs, storage=StorageConfig(url=f"file://{tmp_path}")))
    sid = f"play-{uuid.uuid4().hex[:8]}"
    c = await AudioClient.open(f"{server.ws_url}/ws/audio?token={token}&session={sid}")
    await c.next()
    await c.send({"type": "set_topic", "curriculum_id": CURRICULUM, "topic_id": TOPIC})
    topic = await c.until("topic_set")
    assert topic["total_segments"] >= 2 and topic["title"] == "The Rocky Planets"
    await c.send({"type": "voice_config", "voice_id": "alloy", "tts_provider": "openai", "speed": 1.2})
    ack = await c.until("voice_config_ack")
    assert ack["voice_config"]["voice_id"] == "alloy" and ack["voice_config"]["speed"] == 1.2
    await c.send({"type": "request_audio", "segment_index": 0})
    first = await c.until("audio")
    wav = base64.b64decode(first["audio_base64"])
    assert parse_wav(wav)[1] == 24000 and first["cache_hit"] is False and first["total_segments"] == topic["total_segments"]
    assert peers.requests[-1][1]["body"]["voice"] == "alloy"
    await c.send({"type": "request_audio", "segment_index": 0})
    again = await c.until("audio")
    assert again["cache_hit"] is True and again["audio_base64"] == first["audio_base64"]
    await c.send({"type": "sync", "segment_index": 1, "offset_ms": 500, "is_playing": True})
    assert (await c.until("sync_ack"))["segment_index"] == 1
    await c.send({"type": "barge_in", "segment_index": 1, "offset_ms": 700, "utterance": "what is mercury made of"})
    assert (await c.until("barge_in_ack"))["offset_ms"] == 700
    await c.until("turn_complete")
    llm = [r for r in peers.requests if r[0] == "openai_chat"][-1][1]["body"]["messages"]
    assert "The Rocky Planets" in llm[0]["content"] and llm[-1]["content"] == "what is mercury made of"
    await c.send({"type": "request_audio", "segment_index": 999})
    assert (await c.until("error"))["code"] == "out_of_range"
    await c.send({"type": "set_topic", "curriculum_id": CURRICULUM})
    assert (await c.until("error"))["code"] == "invalid_message"
    await c.send({"type": "set_topic", "curriculum_id": "a\u0000b", "topic_id": "t"})
    assert (await c.until("error"))["code"] == "invalid_message"
    await c.send({"type": "request_audio", "segment_index": "x"})
    assert (await c.until("error"))["code"] == "invalid_message"
    await c.send({"type": "sync", "segment_index": 1, "offset_ms": None})
    assert (await c.until("error"))["code"] == "invalid_message"
    await c.send({"type": "set_topic", "curriculum_id": "no-such-course", "topic_id": "t"})
    assert (await c.until("topic_set"))["total_segments"] is None
    await c.send({"type": "request_audio", "segment_index": 0})
    assert (await c.until("error"))["code"] == "not_found"
    await c.aclose()


async def test_visual_asset_follows_its_segment(peers, database, make_app, tenant, live_server, tmp_path):
    import httpx

    from runtime.storage import StorageConfig

    _, token = await tenant()
    auth = {"Authorization": f"Bearer {token}"}
    vs = VoiceSettings(llm_provider="openai", llm_url=peers.url + "/v1", tts_provider="openai", tts_url=peers.url + "/v1")
    server = live_server(make_app(["curricula", "voice"], voice=vs, storage=StorageConfig(url=f"file://{tmp_path}")))
    doc = {"formatIdentifier": "umcf", "id": {"value": "pics-course"}, "title": "Pictures",
           "content": [{"id": {"value": "t1"}, "title": "Topic one", "type": "topic",
                        "transcript": {"segments": [{"id": "s0", "type": "lecture", "content": "First part."},
                                                    {"id": "s1", "type": "lecture", "content": "Look at this."}]}}]}
    async with httpx.AsyncClient(base_url=server.url, headers=auth, timeout=20) as http:
        assert (await http.post("/api/curricula/import", json={"content": doc})).status_code == 200
        up = await http.post("/api/curricula/pics-course/topics/t1/assets",
                             files={"file": ("pic.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 32, "image/png")},
                             data={"metadata": '{"alt": "a diagram", "caption": "The diagram", "startSegment": 1}'})
        assert up.status_code == 200, up.text
    c = await AudioClient.open(f"{server.ws_url}/ws/audio?token={token}")
    await c.next()
    await c.send({"type": "set_topic", "curriculum_id": "pics-course", "topic_id": "t1"})
    assert (await c.until("topic_set"))["total_segments"] == 2
    await c.send({"type": "request_audio", "segment_index": 0})
    await c.until("audio")
    await c.send({"type": "request_audio", "segment_index": 1})
    await c.until("audio")
    visual = await c.until("visual_asset")
    assert visual["segment_index"] == 1 and visual["asset"]["caption"] == "The diagram"
    assert visual["asset"]["url"].startswith("/api/curricula/pics-course/topics/t1/assets/")
    assert [e for e in c.events if e["type"] == "visual_asset"] == [visual]  # none for segment 0
    await c.aclose()
