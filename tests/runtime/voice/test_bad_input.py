"""Malformed input on every voice HTTP route: a clear 4xx, never a 500."""
import itertools
import json
from runtime.voice.config import VoiceSettings
from runtime.storage import StorageConfig
from tests.runtime.conftest import make_client

BODIES = [None, "notjson", "[]", "123", json.dumps({"text": 5}), json.dumps({"text": "x" * 6000}),
          json.dumps({"text": "hi", "speed": "fast"}), json.dumps({"text": "hi", "tts_provider": 7}),
          json.dumps({"text": "hi", "options": [1]}), json.dumps({"text": "hi", "chatterbox_config": "x"}),
          json.dumps({"curriculum_id": 5, "topic_id": None}), json.dumps({"curriculumId": "c", "topicIds": [1, 2]}),
          json.dumps({"question_ids": "abc"}), json.dumps({"target_size_mb": -1}), json.dumps({"name": "", "provider": "openai", "voice_id": "v"}),
          json.dumps({"name": "n", "provider": "openai", "voice_id": "v", "settings": {"speed": "x"}}),
          json.dumps({"name": "n", "provider": "openai", "voice_id": "v", "tags": "x"}),
          json.dumps({"module_id": "../../x"}), json.dumps({"text": "hi", "profile_id": "zzz"}),
          json.dumps({"text": "\u0000bad"}), json.dumps({"text": "\u0000"}), json.dumps({"text": "hi", "voice_id": "a\u0000"}), json.dumps({"audio_base64": "AAAA", "text": "t", "sample_rate": "x"})]
PATHS = [("POST", "/api/tts"), ("GET", "/api/tts/cache?text=hi&speed=abc"), ("GET", "/api/tts/cache?hash=zz"),
         ("GET", "/api/tts/cache?text=hi&tts_provider=polly"), ("PUT", "/api/tts/cache"), ("DELETE", "/api/tts/cache?confirm=maybe"),
         ("POST", "/api/tts/cache/evict"), ("GET", "/api/tts/cache/stats"), ("POST", "/api/tts/profiles"),
         ("PUT", "/api/tts/profiles/00000000-0000-0000-0000-000000000000"), ("POST", "/api/tts/profiles/xyz/preview"),
         ("POST", "/api/tts/prefetch/topic"), ("GET", "/api/tts/prefetch/status/..."), ("DELETE", "/api/tts/prefetch/abc"),
         ("POST", "/api/tts-cache/prefetch"), ("POST", "/api/kb/audio/batch"), ("GET", "/api/kb/audio/q/hint?hint_index=x"),
         ("GET", "/api/kb/audio/q/answer?module_id=%00"), ("GET", "/api/curricula/x/topics/y/stream-audio?voice=%00"),
         ("GET", "/api/tts/cache?text=%00&voice_id=%00"), ("POST", "/api/kb/prefetch"), ("GET", "/api/kb/prefetch/xyz"),
         ("GET", "/api/kb/manifest/x"), ("GET", "/api/kb/coverage/nope"), ("GET", "/api/kb/feedback/x"),
         ("GET", "/api/curricula/x/topics/y/stream-audio?tts_server=zz"), ("GET", "/api/curricula/x/full-with-assets"),
         ("POST", "/api/curricula/x/preload-assets"), ("GET", "/api/tts/profiles?limit=abc")]

async def test_bad_input_is_4xx_never_500(peers, database, make_app, tenant, tmp_path):
    _, token = await tenant()
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    vs = VoiceSettings(tts_provider="openai", tts_url=peers.url + "/v1")
    bad, statuses = [], []
    async with make_client(make_app(["voice", "curricula"], voice=vs, storage=StorageConfig(url=f"file://{tmp_path}"))) as c:
        for (m, p), b in itertools.product(PATHS, BODIES):
            r = await c.request(m, p, content=b, headers=auth)
            statuses.append(r.status_code)
            if r.status_code >= 500:
                bad.append((m, p, b, r.status_code, r.text[:200]))
    assert not bad, "\n".join(map(str, bad))
    assert sum(400 <= s < 500 for s in statuses) > len(statuses) * 0.8  # the junk was refused, not accepted
