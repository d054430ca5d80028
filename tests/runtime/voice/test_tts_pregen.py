"""TTS pre-generation batch jobs (``/api/tts/pregen/*``): texts spoken into the tenant's TTS cache by the
``tts_pregen`` queue job, item by item, with pause/resume, per tenant and for administrators only."""
from __future__ import annotations

import asyncio

from runtime.voice.config import VoiceSettings
from tests.clients import support
from tests.runtime.conftest import make_client

ITEMS = [{"text": "The Sun is a star.", "source_ref": "a"}, {"text": "  The Sun   is a star. ", "source_ref": "dup"},
         {"text": "Light takes eight minutes to reach us.", "source_ref": "b"}, {"text": "   ", "source_ref": "blank"}]
VOICE = {"provider": "openai", "voice_id": "alloy", "speed": 1.0}


def _speech_calls(peers) -> int:
    return sum(1 for kind, _ in peers.requests if kind == "speech")


async def _wait(c, headers, job_id: str, status: str) -> dict:
    for _ in range(200):
        progress = (await c.get(f"/api/tts/pregen/jobs/{job_id}/progress", headers=headers)).json()
        if progress["status"] == status:
            return progress
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} never reached {status}: {progress}")


async def _app(peers, database, make_app, tenant, tmp_path):
    tenant_id, beta = await tenant()
    app = make_app(database=database, voice=VoiceSettings(tts_provider="openai", tts_url=peers.url + "/v1"),
                   **support.app_overrides(tmp_path))
    return app, tenant_id, beta


async def test_batch_job_speaks_into_the_cache_pauses_resumes(peers, database, make_app, tenant, tmp_path):
    app, tenant_id, beta = await _app(peers, database, make_app, tenant, tmp_path)
    async with make_client(app) as c:
        caller = support.Caller(c, beta, tenant_id, database)
        admin = (await caller.user(role="admin"))["headers"]
        extracted = (await c.post("/api/tts/pregen/extract", json={"source_type": "custom", "items": ITEMS},
                                  headers=admin)).json()
        assert [i["source_ref"] for i in extracted["items"]] == ["a", "b"] and extracted["total_count"] == 2

        made = await c.post("/api/tts/pregen/jobs", json={"name": "Sun", "source_type": "custom", "items": ITEMS,
                                                          "tts_config": VOICE}, headers=admin)
        assert made.status_code == 201, made.text
        job = made.json()["job"]
        assert (job["status"], job["total_items"], job["completed_items"]) == ("pending", 2, 0)
        before = _speech_calls(peers)
        started = await c.post(f"/api/tts/pregen/jobs/{job['id']}/start", headers=admin)
        assert started.status_code == 200 and started.json()["job"]["status"] == "running"
        done = await _wait(c, admin, job["id"], "completed")
        assert (done["completed_items"], done["failed_items"], done["pending_items"], done["percentage"]) == (2, 0, 0, 100.0)
        assert _speech_calls(peers) - before == 2
        items = (await c.get(f"/api/tts/pregen/jobs/{job['id']}/items", headers=admin)).json()["items"]
        assert [i["status"] for i in items] == ["completed", "completed"]
        assert all(i["output_file"] and i["duration_seconds"] > 0 and i["attempt_count"] == 1 for i in items)
        # the apps' synthesis of the same text now hits the cache the job filled
        spoken = await c.post("/api/tts", json={"text": "The Sun is a star.", **VOICE}, headers=admin)
        assert spoken.status_code == 200 and _speech_calls(peers) - before == 2
        assert (await c.post(f"/api/tts/pregen/jobs/{job['id']}/pause", headers=admin)).status_code == 409

        # a second job of the same texts: paused before it starts, resumed, spoken from the cache
        again = (await c.post("/api/tts/pregen/jobs", json={"name": "Sun again", "source_type": "custom", "items": ITEMS,
                                                            "tts_config": VOICE}, headers=admin)).json()["job"]
        paused = await c.post(f"/api/tts/pregen/jobs/{again['id']}/pause", headers=admin)
        assert paused.json()["job"]["status"] == "paused" and paused.json()["job"]["paused_at"]
        assert (await c.post(f"/api/tts/pregen/jobs/{again['id']}/start", headers=admin)).status_code == 409
        resumed = await c.post(f"/api/tts/pregen/jobs/{again['id']}/resume", headers=admin)
        assert resumed.json()["job"]["status"] == "running"
        await _wait(c, admin, again["id"], "completed")
        assert _speech_calls(peers) - before == 2
        assert (await c.post(f"/api/tts/pregen/jobs/{again['id']}/retry-failed", headers=admin)).json()["reset_count"] == 0

        listed = (await c.get("/api/tts/pregen/jobs?status=completed", headers=admin)).json()
        assert {j["id"] for j in listed["jobs"]} == {job["id"], again["id"]} and listed["total"] == 2
        assert (await c.delete(f"/api/tts/pregen/jobs/{job['id']}", headers=admin)).json()["success"] is True
        assert (await c.get(f"/api/tts/pregen/jobs/{job['id']}", headers=admin)).status_code == 404


async def test_curriculum_source_profile_voice_and_bad_input(peers, database, make_app, tenant, tmp_path):
    app, tenant_id, beta = await _app(peers, database, make_app, tenant, tmp_path)
    async with make_client(app) as c:
        caller = support.Caller(c, beta, tenant_id, database)
        admin = (await caller.user(role="admin"))["headers"]
        texts = (await c.post("/api/tts/pregen/extract", json={"source_type": "curriculum",
                                                               "source_id": "solar-system-intro"}, headers=admin)).json()
        assert texts["total_count"] > 0 and texts["items"][0]["source_ref"].startswith("solar-system-intro/")
        profile = (await c.post("/api/tts/profiles", json={"name": "Calm", "provider": "openai", "voice_id": "nova",
                                                           "settings": {"speed": 1.25}}, headers=admin)).json()
        job = (await c.post("/api/tts/pregen/jobs", json={"name": "Solar", "source_type": "curriculum",
                                                          "source_id": "solar-system-intro", "profile_id": profile["id"]},
                            headers=admin)).json()["job"]
        assert job["tts_config"] == {"provider": "openai", "voice_id": "nova", "speed": 1.25}
        assert job["total_items"] == texts["total_count"] and job["profile_id"] == profile["id"]

        question = {"domain_id": "science", "subcategory": "chemistry", "question_text": "What is the formula of water?",
                    "answer_text": "H2O", "difficulty": 2, "question_type": "toss_up", "hints": ["Two hydrogens"],
                    "explanation": "Two hydrogen atoms, one oxygen atom."}
        made = await c.post("/api/kb/questions", json=question, headers=admin)
        assert made.status_code < 300, made.text
        qid = made.json()["question"]["id"]

        async def kb(**options) -> dict[str, str]:
            body = {"source_type": "knowledge-bowl", "domains": ["science"], "difficulties": [2], **options}
            answer = (await c.post("/api/tts/pregen/extract", json=body, headers=admin)).json()
            return {i["source_ref"]: i["text"] for i in answer["items"] if i["source_ref"].startswith(f"kb:{qid}:")}

        assert await kb() == {f"kb:{qid}:question": "What is the formula of water?", f"kb:{qid}:answer": "H2O"}
        assert set(await kb(include_answers=False, include_hints=True, include_explanations=True)) == {
            f"kb:{qid}:question", f"kb:{qid}:hint_0", f"kb:{qid}:explanation"}
        assert await kb(difficulties=[5]) == {} and await kb(domains=["history"]) == {}

        async def status(body: dict) -> tuple[int, str]:
            r = await c.post("/api/tts/pregen/jobs", json=body, headers=admin)
            return r.status_code, r.json().get("error")

        assert await status({"name": "x", "source_type": "podcast"}) == (422, "invalid_field")
        assert await status({"name": "x", "source_type": "curriculum", "source_id": "no-such"}) == (404, "not_found")
        assert await status({"name": "x", "source_type": "custom", "items": []}) == (422, "no_items")
        assert await status({"name": "x", "source_type": "custom", "items": [{"text": 5}]}) == (422, "invalid_field")
        assert await status({"name": "x", "source_type": "custom", "items": ITEMS,
                             "tts_config": {"speed": 9}}) == (422, "invalid_field")
        assert (await status({"name": "x", "source_type": "custom", "items": ITEMS, "profile_id": "nope"}))[0] == 404
        assert (await c.get("/api/tts/pregen/jobs/not-a-uuid", headers=admin)).status_code == 404


async def test_jobs_are_per_tenant_and_for_admins(peers, database, make_app, tenant, tmp_path):
    app, tenant_id, beta = await _app(peers, database, make_app, tenant, tmp_path)
    other_tenant, other_beta = await tenant()
    async with make_client(app) as c:
        admin = (await support.Caller(c, beta, tenant_id, database).user(role="admin"))["headers"]
        other = (await support.Caller(c, other_beta, other_tenant, database).user(role="admin"))["headers"]
        job = (await c.post("/api/tts/pregen/jobs", json={"name": "Mine", "source_type": "custom", "items": ITEMS},
                            headers=admin)).json()["job"]
        for method, path in (("GET", ""), ("GET", "/items"), ("POST", "/start"), ("DELETE", "")):
            r = await c.request(method, f"/api/tts/pregen/jobs/{job['id']}{path}", headers=other)
            assert r.status_code == 404, (method, path, r.text)
        assert (await c.get("/api/tts/pregen/jobs", headers=other)).json()["jobs"] == []
        for headers in ({"Authorization": f"Bearer {beta}"},
                        (await support.Caller(c, beta, tenant_id, database).user())["headers"]):
            assert (await c.get("/api/tts/pregen/jobs", headers=headers)).status_code == 403
        assert (await c.get(f"/api/tts/pregen/jobs/{job['id']}", headers=admin)).json()["job"]["status"] == "pending"
