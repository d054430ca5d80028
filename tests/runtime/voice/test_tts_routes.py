"""/api/tts*: synthesis through the two-layer cache, cache management, profiles — over HTTP."""
from __future__ import annotations

import base64
import uuid

import pytest

from runtime.providers.audio import parse_wav, wav_bytes
from runtime.storage import StorageConfig
from runtime.voice.config import VoiceSettings
from tests.runtime.conftest import make_client


@pytest.fixture
def store_cfg(tmp_path):
    return StorageConfig(url=f"file://{tmp_path}/shared")


def _vs(peers):
    return VoiceSettings(tts_provider="openai", tts_url=peers.url + "/v1")


async def test_tts_miss_then_local_hit_then_second_instance_hits_the_store(peers, database, make_app, tenant, store_cfg):
    tenant_id, token = await tenant()
    auth = {"Authorization": f"Bearer {token}"}
    body = {"text": "  Photosynthesis   turns light into sugar. ", "voice_id": "nova", "speed": 1.0}
    n_speech = lambda: sum(1 for k, _ in peers.requests if k == "speech")  # noqa: E731
    async with make_client(make_app(["voice"], voice=_vs(peers), storage=store_cfg)) as a:
        before = n_speech()
        r = await a.post("/api/tts", json=body, headers=auth)
        assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
        assert r.headers["x-tts-cache-status"] == "miss" and r.headers["x-tts-sample-rate"] == "24000"
        assert float(r.headers["x-tts-duration-seconds"]) > 0.1
        pcm, rate, _ = parse_wav(r.content)
        # Normalised text: extra whitespace is the same entry.
        r2 = await a.post("/api/tts", json={**body, "text": "Photosynthesis turns light into sugar."}, headers=auth)
        assert r2.headers["x-tts-cache-status"] == "hit" and r2.content == r.content
        assert n_speech() == before + 1
        r3 = await a.post("/api/tts", json={**body, "skip_cache": True}, headers=auth)
        assert r3.headers["x-tts-cache-status"] == "bypass" and n_speech() == before + 2
        await _drain(a)
    # A second instance (fresh process memory) finds the audio in the shared object store.
    async with make_client(make_app(["voice"], voice=_vs(peers), storage=store_cfg)) as b:
        r4 = await b.post("/api/tts", json=body, headers=auth)
        assert r4.headers["x-tts-cache-status"] == "hit" and r4.content == r.content
        assert n_speech() == before + 2
        stats = (await b.get("/api/tts/cache/stats", headers=auth)).json()["cache"]
        assert stats["total_entries"] == 1 and stats["local_layer"]["store_hits"] == 1
        assert stats["entries_by_provider"] == {"openai_compatible_tts": 1}


async def _drain(client):
    from runtime.voice.core import voice_core
    app = client._transport.app
    await voice_core(app.state.ctx).speech.drain()


async def test_cache_is_tenant_scoped(peers, database, make_app, tenant, store_cfg):
    (_, tok_a), (_, tok_b) = await tenant(), await tenant()
    async with make_client(make_app(["voice"], voice=_vs(peers), storage=store_cfg)) as c:
        body = {"text": "Only mine.", "voice_id": "nova"}
        assert (await c.post("/api/tts", json=body, headers={"Authorization": f"Bearer {tok_a}"})).headers["x-tts-cache-status"] == "miss"
        r = await c.post("/api/tts", json=body, headers={"Authorization": f"Bearer {tok_b}"})
        assert r.headers["x-tts-cache-status"] == "miss"


async def test_cache_get_put_delete_evict(peers, database, make_app, tenant, store_cfg):
    _, token = await tenant()
    auth = {"Authorization": f"Bearer {token}"}
    async with make_client(make_app(["voice"], voice=_vs(peers), storage=store_cfg)) as c:
        q = {"text": "Hello cache", "voice_id": "nova", "tts_provider": "openai"}
        miss = await c.get("/api/tts/cache", params=q, headers=auth)
        assert miss.status_code == 404 and miss.json()["error"] == "Cache miss" and len(miss.json()["hash"]) == 32
        wav = wav_bytes(b"\x10\x00" * 24000, 24000)
        put = await c.put("/api/tts/cache", json={**q, "audio_base64": base64.b64encode(wav).decode()}, headers=auth)
        assert put.status_code == 200 and put.json()["hash"] == miss.json()["hash"]
        await _drain(c)
        hit = await c.get("/api/tts/cache", params=q, headers=auth)
        assert hit.status_code == 200 and hit.content == wav and hit.headers["x-tts-duration-seconds"] == "1.000"
        by_hash = await c.get("/api/tts/cache", params={"hash": put.json()["hash"]}, headers=auth)
        assert by_hash.status_code == 200 and by_hash.content == wav
        bad = await c.put("/api/tts/cache", json={**q, "audio_base64": "!!notbase64"}, headers=auth)
        assert bad.status_code == 422 and bad.json()["details"]["field"] == "audio_base64"
        assert (await c.post("/api/tts", json={"voice_id": "x"}, headers=auth)).status_code == 400
        r = await c.post("/api/tts", json={"text": "x", "speed": 9}, headers=auth)
        assert r.status_code == 422 and r.json()["details"]["field"] == "speed"
        r = await c.post("/api/tts", json={"text": "x", "tts_provider": "polly"}, headers=auth)
        assert r.status_code in (400, 422) and r.json()["details"]["field"] == "tts_provider"
        for i in range(3):
            await c.post("/api/tts", json={"text": f"Sentence number {i}.", "voice_id": "nova"}, headers=auth)
        await _drain(c)
        ev = await c.post("/api/tts/cache/evict", json={"target_size_mb": 0.05}, headers=auth)
        assert ev.status_code == 200 and ev.json()["entries_removed"] >= 1
        stats = (await c.get("/api/tts/cache/stats", headers=auth)).json()["cache"]
        assert stats["total_size_bytes"] <= 0.05 * 1024 * 1024
        assert (await c.delete("/api/tts/cache", headers=auth)).status_code == 400
        cleared = await c.delete("/api/tts/cache", params={"confirm": "true"}, headers=auth)
        assert cleared.json()["entries_removed"] == stats["total_entries"]
        assert (await c.get("/api/tts/cache", params=q, headers=auth)).status_code == 404
        assert (await c.delete("/api/tts/cache/expired", headers=auth)).json() == {"status": "ok", "entries_removed": 0}


async def test_profiles_crud(peers, database, make_app, tenant):
    _, token = await tenant()
    auth = {"Authorization": f"Bearer {token}"}
    async with make_client(make_app(["voice"], voice=_vs(peers))) as c:
        r = await c.post("/api/tts/profiles", json={"name": "Calm", "provider": "openai", "voice_id": "alloy",
                                                    "settings": {"speed": 0.9}, "tags": ["kids"], "is_default": True},
                         headers=auth)
        assert r.status_code == 201 and r.json()["success"] is True
        prof = r.json()["profile"]
        assert prof["settings"] == {"speed": 0.9} and prof["is_default"] is True
        dup = await c.post("/api/tts/profiles", json={"name": "Calm", "provider": "openai", "voice_id": "x"}, headers=auth)
        assert dup.status_code == 409 and dup.json()["success"] is False
        bad = await c.post("/api/tts/profiles", json={"name": "B", "voice_id": "x"}, headers=auth)
        assert bad.status_code == 400 and bad.json()["details"]["field"] == "provider"
        second = (await c.post(f"/api/tts/profiles/{prof['id']}/duplicate", json={}, headers=auth)).json()["profile"]
        assert second["name"] == "Calm (copy)" and second["is_default"] is False
        upd = await c.put(f"/api/tts/profiles/{second['id']}", json={"voice_id": "echo"}, headers=auth)
        assert upd.json()["profile"]["voice_id"] == "echo"
        await c.post(f"/api/tts/profiles/{second['id']}/set-default", headers=auth)
        listing = (await c.get("/api/tts/profiles", headers=auth)).json()
        assert listing["total"] == 2 and listing["profiles"][0]["id"] == second["id"]
        assert [p["is_default"] for p in listing["profiles"]] == [True, False]
        prev = await c.post(f"/api/tts/profiles/{prof['id']}/preview", json={"text": "Hi there"}, headers=auth)
        assert prev.status_code == 200 and peers.requests[-1][1]["body"]["voice"] == "alloy"
        assert peers.requests[-1][1]["body"]["speed"] == 0.9
        tts = await c.post("/api/tts", json={"text": "With a profile", "profile_id": prof["id"]}, headers=auth)
        assert tts.status_code == 200 and peers.requests[-1][1]["body"]["voice"] == "alloy"
        assert (await c.delete(f"/api/tts/profiles/{prof['id']}", headers=auth)).json()["success"] is True
        assert (await c.get(f"/api/tts/profiles/{prof['id']}", headers=auth)).status_code == 404
        assert (await c.get("/api/tts/profiles/not-a-uuid", headers=auth)).status_code == 404


async def test_second_instance_hits_s3_compatible_store(peers, database, make_app, tenant, moto_endpoint):
    """Same as the filesystem case, with the shared layer on a loopback S3 server (moto)."""
    from aiobotocore.session import get_session

    endpoint = moto_endpoint
    bucket = f"tts-{uuid.uuid4().hex[:8]}"
    async with get_session().create_client("s3", region_name="us-east-1", endpoint_url=endpoint,
                                           aws_access_key_id="k", aws_secret_access_key="s") as s3:
        await s3.create_bucket(Bucket=bucket)
    cfg = StorageConfig(url=f"s3://{bucket}/cache", endpoint_url=endpoint, access_key_id="k", secret_access_key="s")
    _, token = await tenant()
    auth = {"Authorization": f"Bearer {token}"}
    body = {"text": "Stored in S3.", "voice_id": "nova"}
    async with make_client(make_app(["voice"], voice=_vs(peers), storage=cfg)) as a:
        r = await a.post("/api/tts", json=body, headers=auth)
        assert r.headers["x-tts-cache-status"] == "miss"
        await _drain(a)
    async with make_client(make_app(["voice"], voice=_vs(peers), storage=cfg)) as b:
        r2 = await b.post("/api/tts", json=body, headers=auth)
        assert r2.headers["x-tts-cache-status"] == "hit" and r2.content == r.content
    async with get_session().create_client("s3", region_name="us-east-1", endpoint_url=endpoint,
                                           aws_access_key_id="k", aws_secret_access_key="s") as s3:
        keys = [o["Key"] for o in (await s3.list_objects_v2(Bucket=bucket)).get("Contents", [])]
    assert len(keys) == 1 and keys[0].startswith("cache/tts-cache/") and keys[0].endswith(".wav")


async def test_profile_put_with_nulls_leaves_fields_unchanged(peers, database, make_app, tenant):
    """Android's UpdateTTSProfileRequest sends every field, unset ones as null: never a 500, null = unchanged."""
    _, token = await tenant()
    auth = {"Authorization": f"Bearer {token}"}
    async with make_client(make_app(["voice"], voice=_vs(peers))) as c:
        prof = (await c.post("/api/tts/profiles", json={"name": "Calm", "provider": "openai", "voice_id": "alloy",
                                                        "settings": {"speed": 0.9}}, headers=auth)).json()
        assert prof["id"] == prof["profile"]["id"] and prof["voice_id"] == "alloy"  # top level and nested
        r = await c.put(f"/api/tts/profiles/{prof['id']}",
                        json={"name": "Calmer", "voice_id": None, "settings": None, "provider": None}, headers=auth)
        assert r.status_code == 200, r.text
        assert (r.json()["name"], r.json()["voice_id"], r.json()["settings"]) == ("Calmer", "alloy", {"speed": 0.9})
        only_nulls = await c.put(f"/api/tts/profiles/{prof['id']}", json={"voice_id": None}, headers=auth)
        assert only_nulls.status_code == 400 and only_nulls.json()["error"] == "nothing_to_update"


async def test_profiles_retire_with_is_active(peers, database, make_app, tenant):
    """A profile can be retired (``is_active: false``) and brought back; ``?is_active`` filters the list."""
    _, token = await tenant()
    auth = {"Authorization": f"Bearer {token}"}
    async with make_client(make_app(["voice"], voice=_vs(peers))) as c:
        calm = (await c.post("/api/tts/profiles", json={"name": "Calm", "provider": "openai", "voice_id": "alloy"},
                             headers=auth)).json()
        old = (await c.post("/api/tts/profiles", json={"name": "Old", "provider": "openai", "voice_id": "echo",
                                                       "is_active": False}, headers=auth)).json()
        assert (calm["is_active"], old["is_active"]) == (True, False)

        async def names(query: str) -> list[str]:
            return [p["name"] for p in (await c.get(f"/api/tts/profiles{query}", headers=auth)).json()["profiles"]]

        assert (await names("?is_active=true"), await names("?is_active=false"), await names("")) == (
            ["Calm"], ["Old"], ["Calm", "Old"])
        back = await c.put(f"/api/tts/profiles/{old['id']}", json={"is_active": True}, headers=auth)
        assert back.status_code == 200 and back.json()["is_active"] is True
        assert await names("?is_active=true") == ["Calm", "Old"]
        assert (await c.get("/api/tts/profiles?is_active=maybe", headers=auth)).status_code == 400


async def test_speech_as_json_for_android_or_accept_json(peers, database, make_app, tenant):
    _, token = await tenant()
    auth = {"Authorization": f"Bearer {token}"}
    async with make_client(make_app(["voice"], voice=_vs(peers))) as c:
        body = {"text": "Hello there.", "voice": "nova", "provider": "openai", "speed": None}
        wav = await c.post("/api/tts", json=body, headers=auth)
        assert wav.headers["content-type"] == "audio/wav"
        assert peers.requests[-1][1]["body"]["voice"] == "nova"  # the app's 'voice' key is read
        for extra in ({"X-Client-Platform": "Android"}, {"Accept": "application/json"}):
            r = await c.post("/api/tts", json=body, headers={**auth, **extra})
            j = r.json()
            assert r.status_code == 200 and j["cache_hit"] is True and isinstance(j["duration_ms"], int)
            assert j["audio_url"].startswith("data:audio/wav;base64,")
            assert base64.b64decode(j["audio_base64"]) == wav.content
        bad = await c.post("/api/tts", json={**body, "provider": "nope"}, headers=auth)
        assert bad.status_code == 422 and bad.json()["details"]["field"] == "provider"


async def test_profile_export_import_roundtrip_is_tenant_scoped(peers, database, make_app, tenant):
    """Android exports a profile as a JSON string and imports that text: validated, upserted by name, per tenant."""
    import json

    (_, tok_a), (_, tok_b) = await tenant(), await tenant()
    a, b = {"Authorization": f"Bearer {tok_a}"}, {"Authorization": f"Bearer {tok_b}"}
    async with make_client(make_app(["voice"], voice=_vs(peers))) as c:
        prof = (await c.post("/api/tts/profiles", json={"name": "Calm", "provider": "openai", "voice_id": "alloy",
                                                        "settings": {"speed": 0.9}, "is_default": True}, headers=a)).json()
        exported = (await c.get(f"/api/tts/profiles/{prof['id']}/export", headers=a)).json()
        assert isinstance(exported, str)
        doc = json.loads(exported)
        assert doc["name"] == "Calm" and "id" not in doc and doc["format"] == "unamentis.tts_profile"
        assert (await c.get(f"/api/tts/profiles/{prof['id']}/export", headers=b)).status_code == 404
        # Tenant B imports it: a new profile of B's, A's untouched.
        imp = await c.post("/api/tts/profiles/import", content=exported.encode(),
                           headers={**b, "Content-Type": "application/json"})
        assert imp.status_code == 201 and imp.json()["voice_id"] == "alloy" and imp.json()["is_default"] is False
        assert imp.json()["id"] != prof["id"]
        assert [p["name"] for p in (await c.get("/api/tts/profiles", headers=b)).json()["profiles"]] == ["Calm"]
        # Importing into A again replaces A's profile of that name (an upsert), it does not duplicate it.
        again = await c.post("/api/tts/profiles/import", json={**doc, "voice_id": "echo"}, headers=a)
        assert again.json()["id"] == prof["id"] and again.json()["voice_id"] == "echo"
        assert (await c.get("/api/tts/profiles", headers=a)).json()["total"] == 1
        for bad in ({"name": "x", "provider": "nope", "voice_id": "v"}, {"name": "x", "provider": "openai"},
                    {**doc, "format": "other"}, {**doc, "settings": {"speed": 9}}):
            r = await c.post("/api/tts/profiles/import", json=bad, headers=a)
            assert 400 <= r.status_code < 500, (bad, r.text)


async def test_cache_entries_by_the_apps_own_hash(peers, database, make_app, tenant, store_cfg):
    """Android's TTSCacheEntry: PUT with its own 64-hex ``hash``, read back by that hash (JSON for the app,
    WAV for a caller without the header), only in the tenant that stored it; the name moves with a re-PUT."""
    (_, token), (_, other) = await tenant(), await tenant()
    android = {"Authorization": f"Bearer {token}", "X-Client-Platform": "Android"}
    name = "c0ffee" * 10 + "abcd"
    wav = wav_bytes(b"\x10\x00" * 1600, 16000)
    entry = {"hash": name, "text": "Hello there", "provider": "openai", "voice_id": "nova", "audio_url": None,
             "audio_data": base64.b64encode(wav).decode(), "duration_ms": 100, "size_bytes": len(wav)}
    async with make_client(make_app(["voice"], voice=_vs(peers), storage=store_cfg)) as c:
        put = await c.put("/api/tts/cache", json=entry, headers=android)
        assert put.status_code == 200, put.text
        stored = put.json()
        assert stored["hash"] == name and len(stored["key"]) == 32 and stored["duration_ms"] == 100
        assert (stored["text"], stored["voice_id"]) == ("Hello there", "nova") and stored["provider"].startswith("openai")
        got = (await c.get("/api/tts/cache", params={"hash": name}, headers=android)).json()
        assert got["hash"] == name and base64.b64decode(got["audio_data"]) == wav and got["size_bytes"] == len(wav)
        plain = await c.get("/api/tts/cache", params={"hash": name}, headers={"Authorization": f"Bearer {token}"})
        assert plain.headers["content-type"] == "audio/wav" and plain.content == wav
        by_key = await c.get("/api/tts/cache", params={"hash": stored["key"]}, headers=android)
        assert by_key.status_code == 200 and by_key.json()["key"] == stored["key"]
        assert (await c.get("/api/tts/cache", params={"hash": name},
                            headers={"Authorization": f"Bearer {other}"})).status_code == 404
        moved = await c.put("/api/tts/cache", json={**entry, "text": "Another text"}, headers=android)
        assert moved.json()["hash"] == name and moved.json()["key"] != stored["key"]
        assert (await c.get("/api/tts/cache", params={"hash": name}, headers=android)).json()["text"] == "Another text"
        assert (await c.get("/api/tts/cache", params={"hash": "../etc"}, headers=android)).status_code == 400
        empty = {**entry, "audio_data": base64.b64encode(wav_bytes(b"", 16000)).decode()}
        assert (await c.put("/api/tts/cache", json=empty, headers=android)).status_code == 422
