"""The Operations Console's system routes on a real PostgreSQL: the SSRF guard on added servers, admin
only for changes, tenant isolation of power profiles and idle settings, and the GPU fleet's services
on a loopback moto server speaking the Auto Scaling API."""
from __future__ import annotations

import uuid

import pytest

from runtime.ops import idle
from runtime.settings import VoiceSettings
from tests.clients.support import Caller, app_overrides
from tests.runtime.conftest import make_client
from tests.runtime.voice.test_routing import _asg, _desired


@pytest.fixture
async def two_tenants(make_app, shared_database, tenant, tmp_path, moto_endpoint, monkeypatch):
    """Two tenants on one runtime whose GPU fleet is an Auto Scaling group on moto; each with an admin."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    asg = f"gpu-{uuid.uuid4().hex[:8]}"
    await _asg(moto_endpoint, asg)
    app = make_app(database=shared_database, **app_overrides(
        tmp_path, voice=VoiceSettings(gpu_asg_name=asg, aws_endpoint_url=moto_endpoint, gpu_probe_seconds=60.0)))
    async with make_client(app) as client:
        callers = []
        for _ in range(2):
            tenant_id, beta = await tenant(database=shared_database)
            caller = Caller(client, beta, tenant_id, shared_database)
            admin = await caller.user(role="admin")
            callers.append((caller, admin["headers"]))
        yield callers, asg, moto_endpoint


async def test_added_server_urls_pass_the_ssrf_guard(two_tenants):
    (caller, admin) = two_tenants[0][0]
    for url in ("http://127.0.0.1", "http://localhost", "http://169.254.169.254", "http://[::1]", "http://100.64.0.1",
                "http://0.0.0.0", "ftp://10.0.0.5", "http://user:pw@10.0.0.5"):
        response = await caller.client.post("/api/servers", headers=admin,
                                            json={"name": "x", "type": "ollama", "url": url, "port": 11434})
        assert response.status_code == 422, (url, response.text)
    assert (await caller.client.get("/api/servers", headers=admin)).json()["servers"] == []


async def test_servers_are_added_by_admins_and_seen_by_their_tenant_only(two_tenants):
    (a, a_admin), (b, b_admin) = two_tenants[0]
    body = {"name": "LAN Ollama", "type": "ollama", "url": "http://192.168.7.9", "port": 11434}
    refused = await a.client.post("/api/servers", headers=a.beta_headers, json=body)
    assert refused.status_code == 403, refused.text
    added = await a.client.post("/api/servers", headers=a_admin, json=body)
    assert added.status_code == 201, added.text
    server = added.json()["server"]
    # no Ollama there: reachable or not, it is not healthy, and the answer says why
    assert server["url"] == "http://192.168.7.9:11434" and server["status"] in ("degraded", "unhealthy")
    assert server["error_message"]
    seen_a = (await a.client.get("/api/servers", headers=a.beta_headers)).json()
    seen_b = (await b.client.get("/api/servers", headers=b.beta_headers)).json()
    assert [s["id"] for s in seen_a["servers"]] == [server["id"]] and seen_a["healthy"] == 0
    assert seen_b["servers"] == []


async def test_power_profiles_and_idle_settings_belong_to_their_tenant(two_tenants):
    (a, a_admin), (b, b_admin) = two_tenants[0]
    profile = {"id": "night", "name": "Night", "thresholds": {"warm": 5, "cool": 10, "cold": 20, "dormant": 40}}
    assert (await a.client.post("/api/system/profiles", headers=a.beta_headers, json=profile)).status_code == 403
    bad = await a.client.post("/api/system/profiles", headers=a_admin, json={**profile, "thresholds": {
        "warm": 50, "cool": 10, "cold": 20, "dormant": 40}})
    assert bad.status_code == 422, bad.text
    assert (await a.client.post("/api/system/profiles", headers=a_admin, json=profile)).status_code == 201
    assert (await a.client.post("/api/system/idle/config", headers=a_admin, json={"mode": "night"})).status_code == 200
    modes_a = (await a.client.get("/api/system/idle/modes", headers=a.beta_headers)).json()
    modes_b = (await b.client.get("/api/system/idle/modes", headers=b.beta_headers)).json()
    assert modes_a["current"] == "night" and "night" in modes_a["modes"]
    assert modes_b["current"] == idle.DEFAULT_MODE and "night" not in modes_b["modes"]
    # b cannot choose a's profile, nor change it
    assert (await b.client.post("/api/system/idle/config", headers=b_admin, json={"mode": "night"})).status_code == 404
    assert (await b.client.put("/api/system/profiles/night", headers=b_admin, json={"name": "x"})).status_code == 404
    # built-in modes are read-only
    assert (await a.client.delete("/api/system/profiles/balanced", headers=a_admin)).status_code == 403


async def test_idle_status_follows_forced_state_and_keep_awake(two_tenants):
    (a, a_admin), _ = two_tenants[0]
    forced = await a.client.post("/api/system/idle/force-state", headers=a_admin, json={"state": "cold"})
    assert forced.status_code == 200, forced.text
    status = (await a.client.get("/api/system/idle/status", headers=a.beta_headers)).json()
    assert status["current_state"] == "cold" and status["is_idle"] is True
    assert (await a.client.post("/api/system/idle/keep-awake", headers=a_admin, json={"duration_seconds": 600})).status_code == 200
    status = (await a.client.get("/api/system/idle/status", headers=a.beta_headers)).json()
    assert status["current_state"] == "active" and 590 < status["keep_awake_remaining"] <= 600
    assert (await a.client.post("/api/system/idle/cancel-keep-awake", headers=a_admin)).status_code == 200
    status = (await a.client.get("/api/system/idle/status", headers=a.beta_headers)).json()
    assert status["keep_awake_remaining"] == 0
    assert (await a.client.post("/api/system/idle/force-state", headers=a_admin, json={"state": "nap"})).status_code == 422


async def test_services_start_and_stop_the_fleet_through_the_auto_scaling_api(two_tenants):
    (a, a_admin), _ = two_tenants[0]
    _, asg, endpoint = two_tenants
    assert (await a.client.post("/api/services/ollama/start", headers=a.beta_headers)).status_code == 403
    started = await a.client.post("/api/services/ollama/start", headers=a_admin)
    assert started.status_code == 200, started.text
    assert await _desired(endpoint, asg) == 1
    assert started.json()["status"] in ("starting", "running")
    stopped = await a.client.post("/api/services/stop-all", headers=a_admin)
    assert stopped.status_code == 200, stopped.text
    assert await _desired(endpoint, asg) == 0
    assert {s["id"]: s["status"] for s in stopped.json()}["whisper"] == "stopped"
    assert (await a.client.post("/api/services/core/stop", headers=a_admin)).status_code == 409
    assert (await a.client.post("/api/services/nope/start", headers=a_admin)).status_code == 404


async def test_stats_count_the_tenants_logs(two_tenants):
    (a, _), (b, _) = two_tenants[0]
    log = {"level": "ERROR", "label": "t", "message": "boom", "timestamp": "2026-01-01T00:00:00Z"}
    assert (await a.client.post("/api/logs", headers={**a.beta_headers, "X-Client-ID": "c1"}, json=log)).status_code < 300
    stats_a = (await a.client.get("/api/stats", headers=a.beta_headers)).json()
    stats_b = (await b.client.get("/api/stats", headers=b.beta_headers)).json()
    assert stats_a["errors_count"] == 1 and stats_a["total_logs"] == 1 and stats_a["online_clients"] == 1
    assert stats_b["errors_count"] == 0 and stats_b["total_logs"] == 0


async def test_metrics_store_a_sample_that_the_history_reports(two_tenants):
    (a, _), _ = two_tenants[0]
    metrics = (await a.client.get("/api/system/metrics", headers=a.beta_headers)).json()
    assert 0 <= metrics["cpu_percent"] <= 100 and metrics["memory_used_bytes"] > 0
    hourly = (await a.client.get("/api/system/history/hourly?days=1", headers=a.beta_headers)).json()
    assert hourly["count"] >= 1 and hourly["history"][-1]["sample_count"] >= 1


def test_builtin_modes_are_the_node_agents():
    from gpu_nodes.agent.idle import MODES

    assert {k: (v.as_dict() if v else None) for k, v in MODES.items()} == {
        k: (dict(zip(idle.THRESHOLD_NAMES, map(float, t))) if t else None) for k, (_, _, t) in idle.BUILTIN_MODES.items()}


async def test_idle_changes_reach_the_gpu_node_agent_and_its_state_is_reported(
        make_app, shared_database, tenant, tmp_path, live_server, monkeypatch):
    """A self-hosted GPU box (fixed URL) whose node agent is a loopback fake of ``gpu_nodes/agent/health.py``:
    the console's idle calls are sent to its ``POST /idle`` with the node token, and the idle status is the
    agent's own."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from runtime.ops import fleet

    received: list[tuple[str | None, dict]] = []
    node = {"state": "ACTIVE", "idle": {"mode": "balanced", "enabled": True, "idle_seconds": 0.0,
                                        "thresholds": {"warm": 30, "cool": 300, "cold": 1800, "dormant": 7200}},
            "last_activity_source": "ollama: llama3.2:3b", "loaded_models": {"ollama": [{"name": "llama3.2:3b"}, {"name": "qwen2.5:7b"}], "tts": []},
            "gpu": {"available": False}, "instance_id": "i-0abc1234def567890"}

    async def health(request: Request):
        return JSONResponse(node)

    async def change(request: Request):
        body = await request.json()
        received.append((request.headers.get("authorization"), body))
        if "state" in body:
            node["state"], node["idle"]["idle_seconds"] = body["state"].upper(), 1800.0
        return JSONResponse({"state": node["state"], "idle": node["idle"]})

    agent = live_server(Starlette(routes=[Route("/health", health), Route("/idle", change, methods=["POST"])]))
    monkeypatch.setattr(fleet, "AGENT_PORT", int(agent.url.rsplit(":", 1)[1]))
    app = make_app(database=shared_database, **app_overrides(tmp_path, voice=VoiceSettings(
        gpu_llm_url="http://127.0.0.1:9", gpu_node_token="node-token")))
    tenant_id, beta = await tenant(database=shared_database)
    async with make_client(app) as client:
        caller = Caller(client, beta, tenant_id, shared_database)
        admin = (await caller.user(role="admin"))["headers"]
        assert (await client.post("/api/system/idle/force-state", headers=admin, json={"state": "cold"})).status_code == 200
        assert (await client.post("/api/system/idle/config", headers=admin, json={"mode": "power_saver"})).status_code == 200
        status = (await client.get("/api/system/idle/status", headers=caller.beta_headers)).json()
        snapshot = (await client.get("/api/system/snapshot", headers=caller.beta_headers)).json()
        # the platform's servers (here the GPU box, down) are shown to admins only
        as_admin = (await client.get("/api/servers", headers=admin)).json()
        as_tester = (await client.get("/api/servers", headers=caller.beta_headers)).json()
    assert [(s["id"], s["status"]) for s in as_admin["servers"]] == [("gpu-llm", "unhealthy")]
    assert as_tester["servers"] == []
    assert [(m["name"], m["type"]) for m in snapshot["models"]] == [("llama3.2:3b", "llm"), ("qwen2.5:7b", "llm")]
    assert "i-0abc1234def567890" in snapshot["metrics"]["services"]
    assert received[0] == ("Bearer node-token", {"state": "cold"})
    assert received[1][1] == {"mode": "power_saver", "thresholds": {"warm": 10, "cool": 60, "cold": 300, "dormant": 1800}}
    assert status["current_state"] == "cold" and status["seconds_idle"] == 1800.0 and status["models_loaded"] == 2
    assert status["last_activity_type"] == "ollama: llama3.2:3b"


async def test_ops_tables_are_under_forced_rls(two_tenants, shared_database):
    """Tenant-owned ops tables show nothing without a tenant; the host samples are shared on purpose."""
    (a, a_admin), _ = two_tenants[0]
    profile = {"id": "rls-check", "name": "R", "thresholds": {"warm": 1, "cool": 2, "cold": 3, "dormant": 4}}
    assert (await a.client.post("/api/system/profiles", headers=a_admin, json=profile)).status_code == 201
    assert (await a.client.post("/api/system/idle/keep-awake", headers=a_admin, json={})).status_code == 200
    conn = await shared_database.app()
    try:
        rows = await conn.fetch("select relname, relrowsecurity, relforcerowsecurity from pg_class where relname = any($1::text[])",
                                ["ops_servers", "ops_power_profiles", "ops_idle_settings", "ops_metric_samples"])
        assert len(rows) == 4 and all(r["relrowsecurity"] and r["relforcerowsecurity"] for r in rows)
        for table in ("ops_servers", "ops_power_profiles", "ops_idle_settings"):
            assert await conn.fetchval(f"select count(*) from {table}") == 0, table
    finally:
        await conn.close()


async def test_old_samples_are_purged_oldest_first_in_bounded_batches(database):
    import datetime as dt

    from runtime.ops import store

    conn = await database.app()
    try:
        async with conn.transaction():
            await conn.execute(
                "insert into ops_metric_samples (source, cpu_percent, memory_percent, memory_used_bytes, disk_percent, "
                "recorded_at) select 'core', 1, 1, 1, 1, now() - case when g <= 6000 then interval '9 days' "
                "else interval '1 hour' end + g * interval '1 millisecond' from generate_series(1, 6010) g")
            await store.purge_samples(conn, dt.timedelta(days=7))
            assert await conn.fetchval("select count(*) from ops_metric_samples") == 1010  # the oldest 5000
            await store.purge_samples(conn, dt.timedelta(days=7))
            await store.purge_samples(conn, dt.timedelta(days=7))
            assert await conn.fetchval("select count(*) from ops_metric_samples") == 10  # only the recent ones
    finally:
        await conn.close()
