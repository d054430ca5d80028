"""Telemetry (metrics, ingest, summaries, clients, logs with bounds and retention) and models
(configuration + a warm GPU fleet's Ollama on loopback, per-tenant config)."""
from __future__ import annotations

import uuid

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from runtime.voice.config import VoiceSettings
from tests.runtime.conftest import free_port, make_client, rows_read
from tests.runtime.content.conftest import bearer


async def test_metrics_ingest_summary_and_clients(content_app, tenant):
    _tid, token = await tenant()
    h = {**bearer(token), "X-Client-ID": "phone-1", "X-Client-Name": "Ada's phone"}
    async with make_client(content_app(["telemetry"])) as c:
        for median in (800, 1200):
            r = await c.post("/api/metrics", json={"sessionId": "s-1", "e2eLatencyMedian": median, "totalCost": 0.5},
                             headers=h)
            assert r.json() == {"status": "ok"}
        r = await c.post("/api/metrics/ingest", json={"metrics": [
            {"clientId": "mac-2", "sessionId": "s-2", "timestamp": 1764115200000, "metrics": {"stt_ms": 120}},
            {"sessionId": "s-2", "timestamp": "2026-11-26T00:00:00Z", "metrics": {"stt_ms": 140}, "providers": {"stt": "groq"}},
        ]}, headers=h)
        assert r.json() == {"status": "ok", "received": 2}
        assert (await c.post("/api/metrics/ingest", json={"metrics": {"x": 1}}, headers=h)).json()["received"] == 1
        assert (await c.post("/api/metrics/ingest", json={"metrics": [1]}, headers=h)).status_code == 422
        assert (await c.post("/api/metrics/ingest", json={"metrics": [{}] * 501}, headers=h)).status_code == 413
        summary = (await c.get("/api/metrics/summary", headers=h)).json()
        assert summary["total_snapshots"] == 2 and summary["total_ingested"] == 3
        assert summary["averages"]["e2eLatencyMedian"] == 1000 and summary["total_cost"] == 1.0
        sessions = (await c.get("/api/metrics/sessions", headers=h)).json()["sessions"]
        assert {s["session_id"]: s["records"] for s in sessions} == {"s-1": 2, "s-2": 2}
        ingested = (await c.get("/api/metrics?kind=ingest&client_id=mac-2", headers=h)).json()
        assert ingested["total"] == 1 and ingested["metrics"][0]["recorded_at"].startswith("2025-11-26")
        client = (await c.get("/api/metrics/clients/phone-1", headers=h)).json()
        assert client["client"]["name"] == "Ada's phone" and client["summary"]["total_snapshots"] == 2
        assert (await c.get("/api/metrics/clients/nobody", headers=h)).status_code == 404
        r = await c.post("/api/clients/heartbeat", json={"name": "Lab iPad", "device_model": "iPad14,1",
                                                         "app_version": "1.4.0", "config": {"voice": "nova"}}, headers=h)
        assert r.json()["client_id"] == "phone-1" and r.json()["server_time"] > 1.7e9
        clients = (await c.get("/api/clients", headers=h)).json()["clients"]
        phone = next(x for x in clients if x["client_id"] == "phone-1")
        assert phone["status"] == "online" and phone["config"] == {"voice": "nova"} and phone["name"] == "Lab iPad"
        assert (await c.post("/api/clients/heartbeat", json={}, headers=bearer(token))).status_code == 400
        big = {"config": {"k": "v" * 20_000}, "client_id": "x"}
        assert (await c.post("/api/clients/heartbeat", json=big, headers=h)).status_code == 413


async def test_logs_ingest_query_and_retention(content_app, tenant, database):
    tid, token = await tenant()
    h = {**bearer(token), "X-Client-ID": "phone-1"}
    async with make_client(content_app(["telemetry"])) as c:
        r = await c.post("/api/logs", json=[
            {"timestamp": 1764115200, "level": "WARN", "label": "audio", "message": "Mic muted", "line": 42},
            {"level": "error", "label": "net", "message": "Timeout talking to server", "metadata": {"ms": 5000}},
        ], headers=h)
        assert r.json() == {"status": "ok", "received": 2}
        assert (await c.post("/api/logs", json={"level": "info", "message": "single"}, headers=h)).json()["received"] == 1
        assert (await c.post("/api/logs", json={"level": "loud", "message": "x"}, headers=h)).status_code == 422
        assert (await c.post("/api/logs", json={"level": "info"}, headers=h)).status_code == 422
        assert (await c.post("/api/logs", json=[], headers=h)).status_code == 422
        assert (await c.post("/api/logs", content=b"[{", headers=h)).status_code == 400
        logs = (await c.get("/api/logs?level=warning", headers=h)).json()
        assert logs["total"] == 1 and logs["logs"][0]["message"] == "Mic muted" and logs["logs"][0]["line"] == 42
        assert (await c.get("/api/logs?search=TIMEOUT", headers=h)).json()["logs"][0]["metadata"] == {"ms": 5000}
        assert (await c.get("/api/logs?since=2030-01-01T00:00:00Z", headers=h)).json()["total"] == 0
        assert (await c.get("/api/logs?since=yesterday", headers=h)).status_code == 400
        assert (await c.delete("/api/logs", headers=h)).status_code == 403  # testers cannot wipe logs
        # retention: rows older than the window are purged by the next write
        owner = await database.owner()
        try:
            await owner.execute("update telemetry_logs set received_at = now() - interval '40 days' where tenant_id = $1",
                                uuid.UUID(tid))
        finally:
            await owner.close()
        await c.post("/api/logs", json={"message": "fresh"}, headers=h)
        assert [x["message"] for x in (await c.get("/api/logs", headers=h)).json()["logs"]] == ["fresh"]
        # Android's ApiClient.sendLog: its LogEntry to the log server's POST /log, kept in the same store
        android = {"level": "INFO", "message": "session started", "label": "SessionManager", "timestamp": 1764797400000,
                   "file": "", "function": "", "line": 0, "metadata": {}}
        assert (await c.post("/log", json=android, headers=bearer(token))).json() == {"status": "ok", "received": 1}
        stored = (await c.get("/api/logs?search=session%20started", headers=h)).json()["logs"]
        assert [(x["label"], x["level"]) for x in stored] == [("SessionManager", "info")]
        assert (await c.post("/log", json=android)).status_code == 401


async def test_models_from_configuration_and_warm_fleet(content_app, tenant, live_server):
    _tid, token = await tenant()
    h = bearer(token)

    async def tags(_request):
        return JSONResponse({"models": [{"name": "llama3.2:3b", "model": "llama3.2:3b", "size": 2019393189,
                                         "details": {"family": "llama", "parameter_size": "3.2B",
                                                     "quantization_level": "Q4_K_M"}}]})

    ollama = live_server(Starlette(routes=[Route("/api/tags", tags)]))
    cold = VoiceSettings(llm_provider="groq", llm_model="llama-3.3-70b-versatile", llm_api_key="k",
                         llm_url="https://api.groq.com/openai/v1")
    async with make_client(content_app(["models"], voice=cold)) as c:
        listed = (await c.get("/api/models", headers=h)).json()
        assert [m["id"] for m in listed["models"] if m["type"] == "llm"] == ["llama-3.3-70b-versatile"]
        assert listed["gpu"]["warm"] is False and listed["by_type"]["stt"] == listed["by_type"]["tts"] == 1
        assert "k" not in {v for m in listed["models"] for v in m.values() if isinstance(v, str)}
    warm = VoiceSettings(llm_model="llama3.2:3b", gpu_llm_url=ollama.url)
    async with make_client(content_app(["models"], voice=warm)) as c:
        listed = (await c.get("/api/models", headers=h)).json()
        assert listed["gpu"] == {"configured": True, "warm": True}
        assert listed["models"][0] == {**listed["models"][0], "id": "llama3.2:3b", "source": "gpu",
                                       "parameter_size": "3.2B"}
        assert len([m for m in listed["models"] if m["type"] == "llm"]) == 1  # the configured model is the fleet's
        params = (await c.get("/api/models/llama3.2:3b/parameters", headers=h)).json()
        # Each parameter as iOS and the console read it ({value, min, max, description})
        assert params["is_default"] is True and params["parameters"]["temperature"]["value"] == 0.7
        assert params["status"] == "ok" and params["parameters"]["temperature"]["max"] == 2.0
        r = await c.put("/api/models/config", json={"temperature": 0.2, "max_tokens": 500}, headers=h)
        assert r.json()["config"]["temperature"] == 0.2
        assert (await c.get("/api/models/config", headers=h)).json()["config"]["max_tokens"] == 500
        assert (await c.get("/api/models/llama3.2:3b/parameters", headers=h)).json()["parameters"]["temperature"]["value"] == 0.2
        r = await c.post("/api/models/llama3.2:3b/parameters", json={"parameters": {"top_p": 0.5}}, headers=h)
        assert r.status_code == 200 and r.json()["status"] == "ok" and r.json()["parameters"]["top_p"] == 0.5
        assert (await c.post("/api/models/config", json={"temperature": 0.3}, headers=h)).json()["status"] == "ok"
        for bad in ({"parameters": {"top_p": 5}}, {"parameters": {"colour": 1}}, {"parameters": []}):
            assert (await c.post("/api/models/x/parameters", json=bad, headers=h)).status_code == 422, bad
        assert (await c.put("/api/models/config", json={"temperature": 9}, headers=h)).status_code == 422
        assert (await c.put("/api/models/config", json={"colour": "red"}, headers=h)).status_code == 422
        assert (await c.get("/api/models/bad%20id/parameters", headers=h)).status_code == 400


async def test_oversize_log_fields_are_refused_not_truncated(content_app, tenant):
    _tid, token = await tenant()
    h = bearer(token)
    async with make_client(content_app(["telemetry"])) as c:
        for entry, status in (({"message": "m" * 10_001}, 413), ({"message": "m", "metadata": {"k": "v" * 17_000}}, 413),
                              ({"message": "m", "metadata": [1]}, 422), ({"message": "m", "label": "l" * 201}, 422),
                              ({"message": "m", "line": "12"}, 422)):
            r = await c.post("/api/logs", json=[{"message": "ok"}, entry], headers=h)
            assert r.status_code == status and r.json()["details"]["index"] == 1, (entry, r.text)
        # nothing of a refused batch was stored
        assert (await c.get("/api/logs", headers=h)).json()["total"] == 0


async def test_model_availability_comes_from_the_configured_server(content_app, tenant, live_server):
    """Available only when the configured server lists the model: an Ollama-compatible ``/api/tags``, an
    OpenAI-compatible ``/v1/models``, and neither running (a closed loopback port)."""
    _tid, token = await tenant()
    h = bearer(token)

    async def tags(_request):
        return JSONResponse({"models": [{"name": "llama3.2:latest"}, {"name": "qwen2.5:0.5b"}]})

    async def v1_models(request):
        assert request.headers.get("authorization") == "Bearer sk-test"
        return JSONResponse({"object": "list", "data": [{"id": "tutor", "object": "model"}]})

    ollama = live_server(Starlette(routes=[Route("/api/tags", tags)]))
    openai = live_server(Starlette(routes=[Route("/v1/models", v1_models)]))
    closed = f"http://127.0.0.1:{free_port()}"  # nobody listens there
    cases = [
        (VoiceSettings(llm_provider="ollama", llm_url=ollama.url, llm_model="llama3.2"),
         {"llama3.2": "available", "qwen2.5:0.5b": "available"}),
        (VoiceSettings(llm_provider="ollama", llm_url=ollama.url, llm_model="mistral"),
         {"mistral": "unavailable", "llama3.2:latest": "available", "qwen2.5:0.5b": "available"}),
        (VoiceSettings(llm_provider="openai", llm_url=openai.url + "/v1", llm_api_key="sk-test", llm_model="tutor"),
         {"tutor": "available"}),
        (VoiceSettings(llm_provider="ollama", llm_url=closed, llm_model="llama3.2"), {"llama3.2": "unavailable"}),
        (VoiceSettings(llm_provider="openai", llm_url=closed + "/v1", llm_model="tutor"), {"tutor": "unavailable"}),
    ]
    for vs, expected in cases:
        async with make_client(content_app(["models"], voice=vs)) as c:
            models = [m for m in (await c.get("/api/models", headers=h)).json()["models"] if m["type"] == "llm"]
            assert {m["id"]: m["status"] for m in models} == expected, (vs.llm_url, models)
            assert all(m["available"] is (m["status"] == "available") and m["server_id"] and m["server_name"]
                       for m in models)
            android = (await c.get("/api/models", headers={**h, "X-Client-Platform": "Android"})).json()
            assert [m["id"] for m in android if m["type"] == "llm"] == list(expected)


async def test_a_busy_client_row_is_written_once_a_second_unless_its_details_change(content_app, tenant, database):
    """One app uploading many times a second must not queue every upload on its client row: the row
    is written again only after a second, or at once when the upload says something new."""
    tid, token = await tenant()
    h = {**bearer(token), "X-Client-ID": "busy-1", "X-Client-Name": "Busy phone"}

    async def row() -> tuple:
        owner = await database.owner()
        try:
            found = await owner.fetchrow("select name, last_seen from telemetry_clients where tenant_id = $1 "
                                         "and client_id = 'busy-1'", uuid.UUID(tid))
        finally:
            await owner.close()
        return found["name"], found["last_seen"]

    async with make_client(content_app(["telemetry"])) as c:
        assert (await c.post("/api/metrics", json={"sessionId": "s-1"}, headers=h)).status_code == 200
        name, first_seen = await row()
        for _ in range(3):
            assert (await c.post("/api/metrics", json={"sessionId": "s-1"}, headers=h)).status_code == 200
        assert await row() == (name, first_seen)  # the same details within the second: not written
        renamed = {**h, "X-Client-Name": "Renamed phone"}
        assert (await c.post("/api/metrics", json={"sessionId": "s-1"}, headers=renamed)).status_code == 200
        name, seen = await row()
        assert name == "Renamed phone" and seen > first_seen
        assert (await c.post("/api/metrics", json={"sessionId": "s-1"}, headers=h)).status_code == 200
        assert (await row())[0] == "Busy phone"  # back to the first details: written at once too
        summary = (await c.get("/api/metrics/summary", headers=h)).json()
        assert summary["total_snapshots"] == 6  # every upload itself is stored


async def test_purge_reads_only_old_rows_under_a_generic_plan_made_on_an_empty_table(tenant, database):
    """The purge runs with every upload on a statement PostgreSQL soon plans once per connection. A
    plan made while the table was empty must still read only the rows it deletes (about 1000 at a
    time) once the table has grown, not every row of the tenant."""
    import datetime as dt

    from runtime.telemetry import store

    tid = (await tenant())[0]
    keep = dt.timedelta(days=30)
    conn = await database.app()
    try:
        await conn.execute("set plan_cache_mode = force_generic_plan")  # what a busy connection ends up with
        async with conn.transaction():
            await conn.execute("select set_config('app.tenant_id', $1, true)", tid)
            await store.purge(conn, "telemetry_metrics", tid, keep)  # planned now, on an empty table
            await conn.execute(
                "insert into telemetry_metrics (tenant_id, kind, data, received_at) select $1, 'snapshot', '{}', "
                "now() - case when g <= 1100 then interval '40 days' else interval '1 hour' end "
                "+ g * interval '1 millisecond' from generate_series(1, 6000) g", uuid.UUID(tid))

            before = await rows_read(conn, "telemetry_metrics")
            await store.purge(conn, "telemetry_metrics", tid, keep)
            first = await rows_read(conn, "telemetry_metrics") - before
            assert await conn.fetchval("select count(*) from telemetry_metrics") == 5000  # the oldest 1000 went
            before = await rows_read(conn, "telemetry_metrics")
            await store.purge(conn, "telemetry_metrics", tid, keep)
            await store.purge(conn, "telemetry_metrics", tid, keep)  # nothing old left: reads nothing
            rest = await rows_read(conn, "telemetry_metrics") - before
            assert await conn.fetchval("select count(*) from telemetry_metrics") == 4900
            # about twice what is deleted (found, then deleted), never the tenant's 6000 rows per call.
            # 1100 old rows, so the bound holds for either good plan: with tests running in parallel
            # the statement was at times planned again on the full table (its cached plan dropped),
            # and that plan finds the oldest 1000 by reading every old row and sorting them.
            assert first <= 2_200 and rest <= 1_200, (first, rest)
    finally:
        await conn.close()
