"""A topic's speech as one WAV (Android's player, ``Accept: audio/*``), and the signed absolute asset
URLs of ``full-with-assets`` that a fetch without a token may use — for that path, tenant and time only."""
from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest

from runtime.auth import signed_urls
from runtime.auth.principal import Principal
from runtime.providers.audio import parse_wav
from runtime.storage import StorageConfig
from runtime.voice.config import VoiceSettings
from tests.runtime.conftest import make_client
from tests.runtime.content.conftest import JWT_SECRET

CURRICULUM, TOPIC = "solar-system-intro", "topic-rocky-planets"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
DOC = {"umcf": "1.0.0", "id": {"value": "pics"}, "title": "Pictures", "version": {"number": "1"},
       "content": [{"id": {"value": "t1"}, "title": "T", "type": "topic",
                    "transcript": {"segments": [{"id": "s1", "type": "lecture", "content": "Look."}]}}]}


@pytest.fixture
def audio_app(make_app, peers, tmp_path):
    def factory(**kw):
        vs = VoiceSettings(tts_provider="openai", tts_url=peers.url + "/v1", job_workers=1)
        return make_app(["curricula", "voice", "auth"], voice=vs, storage=StorageConfig(url=f"file://{tmp_path}/s"),
                        jwt_secret=JWT_SECRET, rate_limit_token=(100000, 60.0), **kw)
    return factory


async def test_topic_audio_as_one_wav(database, audio_app, tenant, peers):
    _, token = await tenant()
    auth = {"Authorization": f"Bearer {token}"}
    url = f"/api/curricula/{CURRICULUM}/topics/{TOPIC}/stream-audio"
    async with make_client(audio_app()) as c:
        framed = await c.get(url, headers=auth)
        assert framed.headers["content-type"] == "application/octet-stream" and framed.content.endswith(b"END\n")
        for extra in ({"X-Client-Platform": "Android"}, {"Accept": "audio/wav, audio/*"}):
            r = await c.get(url, headers={**auth, **extra})
            assert r.status_code == 200 and r.headers["content-type"] == "audio/wav", r.text
            pcm, rate, channels = parse_wav(r.content)
            assert rate == 24000 and channels == 1 and len(pcm) > 0 and r.headers["x-segments-failed"] == "0"
        peers.fail_next["tts"] = 100
        try:
            failed = await c.get(url + "?voice=echo", headers={**auth, "X-Client-Platform": "Android"})
        finally:
            peers.fail_next["tts"] = 0
        assert failed.status_code == 502 and failed.json()["error"] == "tts_failed"  # a voice not in the cache
        assert (await c.get(url)).status_code == 401


async def test_full_with_assets_urls_are_absolute_and_signed(database, audio_app, tenant):
    _, token = await tenant()
    _, other_token = await tenant()
    auth = {"Authorization": f"Bearer {token}"}
    async with make_client(audio_app()) as c:
        assert (await c.post("/api/curricula/import", json={"content": DOC}, headers=auth)).status_code == 200
        up = await c.post("/api/curricula/pics/topics/t1/assets", headers=auth, files={"file": ("a.png", PNG, "image/png")},
                          data={"metadata": '{"alt": "a"}'})
        assert up.status_code == 200, up.text
        doc = (await c.get("/api/curricula/pics/full-with-assets", headers=auth)).json()
        url = doc["content"][0]["media"]["embedded"][0]["url"]
        assert url.startswith("http://")
        got = await c.get(url)  # no Authorization
        assert got.status_code == 200 and got.content == PNG
        parts = urlsplit(url)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        # the signature binds the path, the tenant and the expiry
        other_path = parts.path.replace("/t1/", "/t2/")
        assert (await c.get(f"{other_path}?{parts.query}")).status_code == 401
        forged = dict(query, exp=str(int(query["exp"]) + 10))
        assert (await c.get(parts.path, params=forged)).status_code == 401
        assert (await c.get(parts.path, params=dict(query, extra="1"))).status_code == 401
        # a signed URL works for GET only
        assert (await c.delete(url)).status_code == 401
        # another tenant's token does not see it; the signed URL does not open other routes
        assert (await c.get(parts.path, headers={"Authorization": f"Bearer {other_token}"})).status_code == 404
        assert (await c.get(f"/api/curricula?{parts.query}")).status_code == 401


def test_signed_urls_expire_and_refuse_tampering():
    key = signed_urls.url_key(JWT_SECRET)
    who = Principal(kind="beta_token", tenant_id="t-1", user_id=None, token_id="tok-1", role="tester")
    now = time.time()
    signed = signed_urls.sign(key, "/api/x", who, now=now)
    path, _, query = signed.partition("?")
    params = {k: v[0] for k, v in parse_qs(query).items()}
    found = signed_urls.verify(key, path, params, now=now)
    assert found is not None and found.kind == "signed" and found.tenant_id == "t-1" and found.token_id == "tok-1"
    assert found.budget_subject == "token:tok-1"
    assert signed_urls.verify(key, path, params, now=now + signed_urls.SIGNED_URL_SECONDS + 1) is None
    assert signed_urls.verify(signed_urls.url_key(JWT_SECRET + "x"), path, params, now=now) is None
    assert signed_urls.verify(key, path, dict(params, tenant="t-2"), now=now) is None
    assert signed_urls.verify(key, path, dict(params, exp="soon"), now=now) is None
