"""A walk through the content API the way the apps use it (curricula, modules, Knowledge Bowl packs,
a tutoring session, metrics), over real HTTP with a real beta token: against
``python -m runtime serve`` itself (a subprocess) and against the same container app in-process."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import httpx

from runtime.storage import StorageConfig
from tests.runtime.conftest import free_port

SYSTEM_CURRICULUM = "solar-system-intro"


async def test_walk_against_python_m_runtime_serve(database, tenant, tmp_path):
    _tenant_id, token = await tenant()
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database.app_dsn, "UNAMENTIS_DATABASE_ADMIN_URL": database.owner_dsn,
           "UNAMENTIS_APP_ROLE": database.app_role, "UNAMENTIS_STORAGE_URL": f"file://{tmp_path}",
           "UNAMENTIS_ENV": "test", "UNAMENTIS_LOG_LEVEL": "WARNING"}
    # The server's log goes to a file: a pipe nobody reads fills up and blocks the server.
    log_path = tmp_path / "serve.log"
    log_file = open(log_path, "wb")
    process = subprocess.Popen([sys.executable, "-m", "runtime", "serve", "--host", "127.0.0.1", "--port", str(port)],
                               env=env, cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
                                   os.path.abspath(__file__))))), stdout=subprocess.DEVNULL, stderr=log_file)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        async with httpx.AsyncClient(timeout=2) as probe:
            while True:
                try:
                    if (await probe.get(base + "/health")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    process.kill()
                    process.wait()
                    raise AssertionError(f"serve did not start: {log_path.read_text(errors='replace')[-2000:]}")
                await asyncio.sleep(0.1)
        await _walk(base, token)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log_file.close()


async def test_app_walk_with_beta_token(make_app, tenant, live_server, tmp_path):
    app = make_app(None, storage=StorageConfig(url=f"file://{tmp_path}"))
    server = live_server(app)
    _tenant_id, token = await tenant()
    await _walk(server.url, token)


async def _walk(base_url: str, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}", "X-Client-ID": "ios-device-1", "X-Client-Name": "Walk iPhone",
               "X-Client-Platform": "iOS"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=20) as c:
        # no token, no content
        assert (await c.get("/api/curricula", headers={"Authorization": ""})).status_code == 401

        # curricula list (iOS requires total), detail (flat + curriculum), full, transcript
        r = await c.get("/api/curricula")
        assert r.status_code == 200
        body = r.json()
        assert body["total"] == len(body["curricula"]) >= 1
        item = next(i for i in body["curricula"] if i["id"] == SYSTEM_CURRICULUM)
        assert set(item) >= {"id", "title", "description", "version", "topic_count", "total_duration", "difficulty",
                             "age_range", "keywords", "visual_asset_count", "has_visual_assets"}
        assert item["topic_count"] == 3

        detail = (await c.get(f"/api/curricula/{SYSTEM_CURRICULUM}")).json()
        assert detail["curriculum"]["id"] == detail["id"] == SYSTEM_CURRICULUM
        assert [t["id"] for t in detail["topics"]] == ["topic-sun", "topic-rocky-planets", "topic-giant-planets"]
        topic = detail["topics"][1]
        assert set(topic) >= {"id", "title", "description", "order_index", "duration", "has_transcript",
                              "segment_count", "assessment_count", "embedded_asset_count", "reference_asset_count"}
        assert detail["glossary_terms"] and detail["learning_objectives"]

        full = (await c.get(f"/api/curricula/{SYSTEM_CURRICULUM}/full")).json()
        assert full["formatIdentifier"] == "umcf" and full["id"]["value"] == SYSTEM_CURRICULUM

        transcript = (await c.get(f"/api/curricula/{SYSTEM_CURRICULUM}/topics/topic-rocky-planets/transcript")).json()
        assert transcript["topic_title"] == "The Rocky Planets"
        assert len(transcript["segments"]) == topic["segment_count"] >= 2
        assert all(s["id"].startswith("chunk-") and s["type"] and s["content"] for s in transcript["segments"])

        # modules: list, detail, download with downloaded_at in whole seconds since 2001-01-01 (iOS Date)
        modules = (await c.get("/api/modules")).json()
        kb = next(m for m in modules["modules"] if m["id"] == "knowledge-bowl")
        assert kb["download_size"] > 0 and "server_version" in modules
        assert (await c.get("/api/modules/knowledge-bowl")).json()["total_questions"] >= 24
        download = (await c.post("/api/modules/knowledge-bowl/download")).json()
        assert isinstance(download["downloaded_at"], int)
        assert abs(download["downloaded_at"] + 978_307_200 - time.time()) < 600
        assert download["total_questions"] == sum(len(d["questions"]) for d in download["domains"])
        assert {d["id"] for d in download["domains"]} >= {"arts", "science"}
        assert all(q["question_type"] == "toss-up" for d in download["domains"] for q in d["questions"])

        # KB packs: list (type + pack_type), detail (apps + console shapes), GET questions
        packs = (await c.get("/api/kb/packs")).json()
        assert packs["success"] is True and packs["total"] >= 1
        starter = next(p for p in packs["packs"] if p["id"] == "pack-starter")
        assert starter["type"] == starter["pack_type"] == "system"
        pack = (await c.get("/api/kb/packs/pack-starter")).json()
        assert pack["id"] == "pack-starter" and pack["pack_type"] == "system" and len(pack["question_ids"]) == 24
        assert pack["stats"]["question_count"] == 24 and pack["stats"]["domain_distribution"]["arts"] == 2
        assert pack["success"] is True and pack["pack"]["id"] == "pack-starter" and pack["domain_groups"]
        questions = (await c.get("/api/kb/packs/pack-starter/questions")).json()
        assert questions["total"] == 24 and questions["success"] is True
        assert [q["id"] for q in questions["questions"]] == pack["question_ids"]
        assert set(questions["questions"][0]) >= {"id", "question_text", "answer_text", "domain_id", "subcategory",
                                                  "difficulty", "source", "acceptable_answers"}

        # tutoring session: create, add turns, end
        r = await c.post("/api/sessions", json={"curriculum_id": SYSTEM_CURRICULUM})
        assert r.status_code == 201 and r.json()["state"] == "idle"
        session_id = r.json()["session_id"]
        assert (await c.post(f"/api/sessions/{session_id}/start")).json()["state"] == "playing"
        for role, content in (("user", "Why does the Sun shine?"), ("assistant", "Because of nuclear fusion.")):
            turn = (await c.post(f"/api/sessions/{session_id}/turns", json={"role": role, "content": content})).json()
            assert turn["role"] == role and turn["turn_id"] and turn["timestamp"]
        ended = (await c.post(f"/api/sessions/{session_id}/end")).json()
        assert ended["state"] == "playing" and ended["total_turns"] == 2
        assert (await c.get(f"/api/sessions/{session_id}")).json()["state"] == "ended"

        # metrics
        r = await c.post("/api/metrics", json={"sessionDuration": 312.5, "turnsTotal": 2, "e2eLatencyMedian": 840,
                                               "totalCost": 0.0123})
        assert r.status_code == 200 and r.json() == {"status": "ok"}
        listed = (await c.get("/api/metrics")).json()
        assert listed["total"] == 1 and listed["metrics"][0]["client_id"] == "ios-device-1"


async def test_answers_match_the_published_openapi_schemas(make_app, tenant, tmp_path):
    """The schemas in /api/openapi.json are what the server really sends (validated with jsonschema)."""
    import jsonschema

    from tests.runtime.conftest import make_client

    _tid, token = await tenant()
    h = {"Authorization": f"Bearer {token}"}
    app = make_app(["health", "curricula", "kb", "sessions", "telemetry"], storage=StorageConfig(url=f"file://{tmp_path}"))
    async with make_client(app) as c:
        spec = (await c.get("/api/openapi.json")).json()["paths"]

        def schema(path, method, status="200"):
            return spec[path][method]["responses"][status]["content"]["application/json"]["schema"]

        sid = (await c.post("/api/sessions", json={"curriculum_id": SYSTEM_CURRICULUM}, headers=h)).json()["session_id"]
        calls = [
            ("/api/curricula", "get", "/api/curricula", None, "200"),
            ("/api/curricula/{id}", "get", f"/api/curricula/{SYSTEM_CURRICULUM}", None, "200"),
            ("/api/curricula/{id}/topics/{topic_id}/transcript", "get",
             f"/api/curricula/{SYSTEM_CURRICULUM}/topics/topic-sun/transcript", None, "200"),
            ("/api/modules", "get", "/api/modules", None, "200"),
            ("/api/modules/{id}/download", "post", "/api/modules/knowledge-bowl/download", None, "200"),
            ("/api/kb/packs", "get", "/api/kb/packs", None, "200"),
            ("/api/kb/packs/{pack_id}", "get", "/api/kb/packs/pack-starter", None, "200"),
            ("/api/kb/packs/{pack_id}/questions", "get", "/api/kb/packs/pack-starter/questions", None, "200"),
            ("/api/sessions", "post", "/api/sessions", {"curriculum_id": "x"}, "201"),
            ("/api/sessions/{id}", "get", f"/api/sessions/{sid}", None, "200"),
            ("/api/sessions/{id}/turns", "post", f"/api/sessions/{sid}/turns", {"role": "user", "content": "hi"}, "200"),
            ("/api/metrics", "post", "/api/metrics", {"turnsTotal": 1}, "200"),
        ]
        for template, method, path, body, status in calls:
            r = await c.request(method.upper(), path, json=body, headers=h)
            assert str(r.status_code) == status, (path, r.text)
            jsonschema.validate(r.json(), schema(template, method, status))
            if body is not None:
                request_schema = spec[template][method]["requestBody"]["content"]["application/json"]["schema"]
                jsonschema.validate(body, request_schema)
