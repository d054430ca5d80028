"""The Operations Console's calls to the management API (``server/web/`` of sirfifer/unamentis: the
browser-side ``src/lib/api-client.ts`` on ``NEXT_PUBLIC_BACKEND_URL``, the panels that fetch
``NEXT_PUBLIC_API_URL`` / ``NEXT_PUBLIC_MANAGEMENT_API_URL`` / ``NEXT_PUBLIC_MANAGEMENT_SERVER_URL``
themselves, the server-side proxy routes ``src/app/api/**/route.ts`` on ``BACKEND_URL``, and the
event socket ``ws://…/ws`` of ``src/lib/websocket-provider.tsx``), sent as the console sends them.

The console is an admin tool: it sits behind Cloudflare Access on ``admin.<domain>``. Every call is
sent here **with Tier-2 credentials** — a Cloudflare Access JWT (``Cf-Access-Jwt-Assertion``, RS256,
signed by a test key whose JWKS a loopback server publishes, as in ``tests/runtime/auth/test_access.py``)
whose e-mail is an active ``admin`` user of the caller's tenant. Answers are validated against JSON
Schemas written from the console's TypeScript types (``schemas/console/``; each names its source file
and type). As shipped the console sends no credential at all (``test_as_shipped_no_credential``).

Tier 1 paths (everything outside ``/api/admin/*``, ``/api/import/*`` and ``/ws``) take a Bearer token
only, so an Access JWT alone gets ``401 auth_required`` there; the reasons of those expected failures
also say what the route answers, if it exists, to a Bearer token.
"""
from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.clients import support
from tests.clients.support import assert_answer, xfail
from tests.runtime.auth.test_access import AUD, TEAM, Keys
from tests.runtime.conftest import make_client

CURRICULUM, TOPIC = "solar-system-intro", "topic-sun"
JSON_HEADERS = {"Content-Type": "application/json"}


class Console:
    """The runtime with Cloudflare Access configured, an admin user of a fresh tenant, and the Access
    JWT of that admin (what cloudflared puts on every request through ``admin.<domain>``)."""

    def __init__(self, client: httpx.AsyncClient, keys: Keys, email: str, caller: support.Caller):
        self.client, self.keys, self.email, self.caller = client, keys, email, caller

    @property
    def headers(self) -> dict[str, str]:
        return {**JSON_HEADERS, "Cf-Access-Jwt-Assertion": self.keys.sign(email=self.email)}

    async def request(self, method: str, path: str, body: Any = None) -> httpx.Response:
        return await self.client.request(method, path, headers=self.headers, json=body)


@pytest.fixture
def access_keys(live_server):
    """A fake Access team: its signing keys, and their JWKS served on loopback."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    keys = Keys()

    async def certs(_request):
        return JSONResponse(keys.jwks())

    server = live_server(Starlette(routes=[Route("/cdn-cgi/access/certs", certs)]))
    keys.url = f"{server.url}/cdn-cgi/access/certs"
    return keys


@pytest.fixture
async def console(make_app, shared_database, tenant, tmp_path, access_keys):
    tenant_id, beta = await tenant(database=shared_database)
    app = make_app(database=shared_database, **support.app_overrides(
        tmp_path, cf_access_team_domain=TEAM, cf_access_aud=AUD, cf_access_certs_url=access_keys.url))
    async with make_client(app) as client:
        caller = support.Caller(client, beta, tenant_id, shared_database)
        email = f"console-{uuid.uuid4().hex[:10]}@example.com"
        await caller._insert_user(email, "admin")
        yield Console(client, access_keys, email, caller)


# ------------------------------------------------------------------------------------ as shipped
@pytest.mark.parametrize("path", [
    pytest.param("/api/stats", id="as shipped: GET /api/stats (no credential)"),
    pytest.param("/api/admin/users", id="as shipped: GET /api/admin/users (no credential)"),
])
async def test_as_shipped_no_credential(console, path):
    """The console's fetches carry no Authorization and no Access JWT (its proxies forward none, and
    api-client.ts calls NEXT_PUBLIC_BACKEND_URL straight from the browser): the runtime refuses them.
    A way in for the console (e.g. an Access service token the proxies forward) is future work."""
    response = await console.client.get(path, headers=JSON_HEADERS)
    assert response.status_code == 401, response.text
    assert response.json()["error"] in ("auth_required", "access_required")


async def test_access_credentials_work(console):
    """The Tier-2 credentials of these tests are good: a Tier-2 route the runtime has answers 200."""
    response = await console.request("GET", "/api/admin/health/deep")
    assert response.status_code == 200, response.text


# ------------------------------------------------------------------------------------ the calls
class Call:
    """One call as the console sends it: ``path`` may hold ``{curriculum}`` (a curriculum of the
    caller's tenant, imported first with its beta token), ``{user}`` (a user the admin API created)
    or ``{job}`` (an import job the admin started); ``schema=None``: the console reads only the status."""

    def __init__(self, method: str, path: str, schema: str | None, *, body: Any = None, status: Any = 200):
        self.method, self.path, self.schema, self.body, self.status = method, path, schema, body, status


WRITE = (200, 201, 204)  # the console checks response.ok and reads nothing, or only the status

# What the console needs vs what the server answers, for every call that fails today (the work list).
# "401 (Tier 1)": the path is Tier 1, which takes a Bearer token only, so the Access JWT gets
# 401 auth_required; what follows says what the route answers to a Bearer token of an admin user.
T1 = "401 auth_required (Tier 1 takes no Access JWT); with a Bearer token "
CREDENTIAL_ONLY = T1 + "the route answers what the console needs (only the credential is missing)"
NO_ROUTE = T1 + "404: no such route"
EXPECTED_FAILURES = {
    # dashboard, logs
    "GET /api/stats": "needs DashboardStats (uptime_seconds, total_logs, errors_count, online_clients, healthy_servers, "
                      "... 14 numbers); " + NO_ROUTE,
    "GET /api/logs?limit": "needs LogsResponse {logs, total, limit, offset}; " + CREDENTIAL_ONLY,
    "POST /api/logs": "needs a 2xx; " + CREDENTIAL_ONLY,
    "DELETE /api/logs": "needs a 2xx; " + CREDENTIAL_ONLY,
    # clients, metrics
    "GET /api/clients": "needs ClientsResponse {clients, total, online, idle, offline}; " + T1 +
                        "{clients, total}: no online/idle/offline counts",
    "GET /api/metrics?limit": "needs MetricsResponse {metrics, aggregates{avg_e2e_latency, avg_llm_ttft, avg_stt_latency, "
                              "avg_tts_ttfb, total_cost, total_sessions, total_turns}}; " + T1 +
                              "{metrics, total, limit, offset}: no aggregates",
    "POST /api/metrics": "needs a 2xx; " + CREDENTIAL_ONLY,
    # system/servers
    "GET /api/servers": "needs ServersResponse {servers: ServerStatus[], total, healthy, degraded, unhealthy}; " + NO_ROUTE,
    "POST /api/servers": "needs {status, server: ServerStatus}; " + NO_ROUTE,
    "GET /api/system/metrics": "needs SystemMetricsSummary {timestamp, power, thermal, cpu, services, history_minutes}; " + NO_ROUTE,
    "GET /api/system/idle/status": "needs IdleStatus {enabled, current_state, current_mode, thresholds, ...}; " + NO_ROUTE,
    "GET /api/system/idle/modes": "needs PowerModesResponse {modes: Record<id, PowerMode>, current}; " + NO_ROUTE,
    "POST /api/system/idle/config": "posts {mode} and needs {status, config: IdleStatus}; " + NO_ROUTE,
    "POST /api/system/idle/keep-awake": "posts {duration_seconds} and needs {status}; " + NO_ROUTE,
    "POST /api/system/idle/cancel-keep-awake": "needs {status}; " + NO_ROUTE,
    "POST /api/system/idle/force-state": "posts {state} and needs {status}; " + NO_ROUTE,
    "POST /api/system/unload-models": "needs {status, results: Record<string, boolean>}; " + NO_ROUTE,
    "GET /api/system/history/summary": "needs MetricsHistorySummary {today, yesterday, this_week, total_days_tracked, "
                                       "total_hours_tracked, oldest_record}; " + NO_ROUTE,
    "POST /api/system/profiles": "posts a power profile and needs {status, profile: PowerModeWithId}; " + NO_ROUTE,
    "PUT /api/system/profiles/{id}": "needs {status, profile: PowerModeWithId}; " + NO_ROUTE,
    "DELETE /api/system/profiles/{id}": "needs {status, profile_id}; " + NO_ROUTE,
    "POST /api/system/profiles/{id}/duplicate": "posts {new_id, new_name} and needs {status, profile}; " + NO_ROUTE,
    # models
    "GET /api/models": "needs ModelsResponse {models: ModelInfo[] (type llm|stt|tts, server_id, server_name, status), total, "
                       "by_type{llm, stt, tts}}; " + T1 + "{models, total, default_model, gpu}: items {id, name, provider, "
                       "available, loaded, ...} without type/server_id/server_name/status (family, parameter_size null), no by_type",
    "POST /api/models/{id}/load": "needs ModelLoadResponse {status, model, message}; " + NO_ROUTE,
    "POST /api/models/{id}/unload": "needs ModelUnloadResponse {status, model, message}; " + NO_ROUTE,
    "POST /api/models/pull": "needs a newline-delimited JSON stream of ModelPullProgress {status, completed, total}; " + NO_ROUTE,
    "GET /api/models/config": "needs ModelConfigResponse {status, config: {services: {llm, tts, stt}}}; " + T1 +
                              "a flat {config: {default_model, temperature, max_tokens, ...}}, no status, no services",
    "POST /api/models/config": "posts {config: {services}} and needs {status, config}; " + T1 +
                               "405: the server saves with PUT and a flat body",
    "GET /api/models/{id}/parameters": "needs {status, model, parameters: {num_ctx, temperature, top_p, top_k, repeat_penalty, "
                                       "seed} each {value, min, max, description}}; " + T1 + "parameters as plain values "
                                       "(temperature, max_tokens, top_p, context_window, keep_alive), no status",
    "POST /api/models/{id}/parameters": "posts {parameters} and needs {status, model, parameters}; " + T1 +
                                        "405: the route is GET only",
    # users (Tier 2: the Access JWT is accepted)
    "GET /api/admin/users": "needs {users: User[]} with status (active|inactive|suspended) per user; the server's users "
                            "have is_active instead of status (and last_login_at, not last_login)",
    # curricula
    "GET /api/curricula": "needs CurriculaResponse with CurriculumSummary {id, title, description, topicCount, hasVisualAssets, "
                          "visualAssetCount}; " + T1 + "items with topic_count/has_visual_assets (snake case), no visualAssetCount",
    "GET /api/curricula?archived=true": "needs the archived curricula as CurriculaResponse; " + T1 + "the active list "
                                        "(archived is ignored; archived ones are at GET /api/curricula/archived) in snake case",
    "POST /api/curricula/reload": "needs a 2xx; " + CREDENTIAL_ONLY,
    "GET /api/curricula/{id}/full": "needs the UMCF document the /full proxy maps to CurriculumDetail; " + CREDENTIAL_ONLY,
    "GET /api/curricula/{id}": "needs a 2xx (the proxy passes the answer through unread); " + CREDENTIAL_ONLY,
    "PUT /api/curricula/{id}": "puts a UMCF document and needs a 2xx; " + CREDENTIAL_ONLY,
    "POST /api/curricula/{id}/archive": "needs a 2xx; " + CREDENTIAL_ONLY,
    "DELETE /api/curricula/{id}/archive": "the archive proxy's DELETE (unarchive) needs a 2xx; " + T1 +
                                          "405: unarchive is POST /api/curricula/archived/{id}/unarchive",
    "DELETE /api/curricula/{id}?confirm=true": "needs a 2xx; " + CREDENTIAL_ONLY,
    "POST /api/curricula": "the proxy posts a JSON UMCF body and needs a 2xx; " + CREDENTIAL_ONLY,
    "GET /api/curricula/{id}/topics/{topic}/transcript": "needs a 2xx (passed through unread); " + CREDENTIAL_ONLY,
    "GET /api/curricula/{id}/topics/{topic}/assets": "the assets proxy lists a topic's assets and needs a 2xx; " + T1 +
                                                    "405: the server has no asset list (GET only per asset id)",
}


def call(method: str, path: str, schema: str | None, *, id: str | None = None, body: Any = None,
         status: Any = 200, reason: str | None = None) -> Any:
    """A test case with the id ``METHOD /path/{template}`` (``id`` when the sent path differs)."""
    id = id or f"{method} {path}"
    reason = reason or EXPECTED_FAILURES.get(id)
    marks = [xfail(reason)] if reason else []
    return pytest.param(Call(method, path, schema, body=body, status=status), id=id, marks=marks)


UMCF = {"umcf": "1.1.0", "id": {"value": "console-physics"}, "title": "Console Physics", "version": {"number": "1.0.0"},
        "content": [{"id": {"value": "console-physics-root"}, "title": "Console Physics", "type": "curriculum", "children": [
            {"id": {"value": "forces"}, "title": "Forces", "type": "topic",
             "transcript": {"segments": [{"id": "s1", "type": "lecture", "content": "A force is a push or a pull."}]}}]}]}


async def resolve(console: Console, path: str) -> str:
    """Fill the path's placeholders with objects created beforehand (with credentials that work)."""
    if "{curriculum}" in path:
        made = await console.client.post("/api/curricula/import", json={"content": UMCF}, headers=console.caller.beta_headers)
        assert made.status_code == 200, made.text
        path = path.replace("{curriculum}", made.json()["id"])
    if "{user}" in path:
        made = await console.request("POST", "/api/admin/users", {
            "email": f"doomed-{uuid.uuid4().hex[:8]}@example.com", "password": support.PASSWORD,
            "display_name": "Doomed", "role": "user"})
        assert made.status_code in (200, 201), made.text
        body = made.json()
        path = path.replace("{user}", str(body.get("user", body).get("id")))
    if "{job}" in path:
        made = await console.request("POST", "/api/import/jobs", {"content": UMCF})
        job = made.json().get("jobId") if made.status_code < 300 else None
        path = path.replace("{job}", str(job or "no-job"))
    return path


async def send(console: Console, c: Call) -> Any:
    path = await resolve(console, c.path)
    response = await console.request(c.method, path, c.body)
    return assert_answer(response, "console", c.schema, c.status)



# --------------------------------------------------------------------------------- dashboard, logs
DASHBOARD = [
    call("GET", "/api/stats", "dashboard_stats"),
    call("GET", "/api/logs?limit=200", "logs_response", id="GET /api/logs?limit"),
    call("POST", "/api/logs", None, status=WRITE, body={
        "timestamp": "2026-01-01T00:00:00Z", "level": "INFO", "label": "console", "message": "hello",
        "client_id": "console", "client_name": "Operations Console"}),
    call("DELETE", "/api/logs", None, status=WRITE),
]


@pytest.mark.parametrize("c", DASHBOARD)
async def test_dashboard(console, c):
    await send(console, c)


# ------------------------------------------------------------------------------- clients, metrics
CLIENTS_METRICS = [
    call("GET", "/api/clients", "clients_response"),
    call("GET", "/api/metrics?limit=50", "metrics_response", id="GET /api/metrics?limit"),
    call("POST", "/api/metrics", None, status=WRITE, body={
        "client_id": "console", "client_name": "Operations Console", "session_duration": 60, "turns_total": 3,
        "e2e_latency_median": 900, "llm_ttft_median": 300, "total_cost": 0.01}),
]


@pytest.mark.parametrize("c", CLIENTS_METRICS)
async def test_clients_and_metrics(console, c):
    await send(console, c)


# --------------------------------------------------------------------------------- system/servers
SYSTEM = [
    call("GET", "/api/servers", "servers_response"),
    call("POST", "/api/servers", "add_server_response", status=(200, 201),
         body={"name": "GPU Ollama", "type": "ollama", "url": "http://10.0.0.5", "port": 11434}),
    call("GET", "/api/system/metrics", "system_metrics_summary"),
    call("GET", "/api/system/idle/status", "idle_status"),
    call("GET", "/api/system/idle/modes", "power_modes_response"),
    call("POST", "/api/system/idle/config", "idle_config_response", body={"mode": "balanced"}),
    call("POST", "/api/system/idle/keep-awake", "status_response", body={"duration_seconds": 3600}),
    call("POST", "/api/system/idle/cancel-keep-awake", "status_response"),
    call("POST", "/api/system/idle/force-state", "status_response", body={"state": "cool"}),
    call("POST", "/api/system/unload-models", "unload_models_response"),
    call("GET", "/api/system/history/summary", "metrics_history_summary"),
    call("POST", "/api/system/profiles", "power_profile_response", status=(200, 201), body={
        "id": "night-shift", "name": "Night shift", "description": "Sleep early",
        "thresholds": {"warm": 10, "cool": 60, "cold": 300, "dormant": 900}, "enabled": True}),
    call("PUT", "/api/system/profiles/night-shift", "power_profile_response", id="PUT /api/system/profiles/{id}",
         body={"name": "Night shift", "thresholds": {"warm": 20}}),
    call("DELETE", "/api/system/profiles/night-shift", "power_profile_deleted", id="DELETE /api/system/profiles/{id}"),
    call("POST", "/api/system/profiles/balanced/duplicate", "power_profile_response", status=(200, 201),
         id="POST /api/system/profiles/{id}/duplicate", body={"new_id": "balanced-copy", "new_name": "Balanced copy"}),
]


@pytest.mark.parametrize("c", SYSTEM)
async def test_system_and_servers(console, c):
    await send(console, c)


# ------------------------------------------------------------------------------------------ models
MODEL = "llama3.2:3b"
MODELS = [
    call("GET", "/api/models", "models_response"),
    call("POST", f"/api/models/{MODEL}/load", "model_load_response", id="POST /api/models/{id}/load", body={}),
    call("POST", f"/api/models/{MODEL}/unload", "model_unload_response", id="POST /api/models/{id}/unload"),
    call("GET", "/api/models/config", "model_config_response"),
    call("POST", "/api/models/config", "model_config_response", body={"config": {"services": {
        "llm": {"default_model": MODEL, "fallback_model": None},
        "tts": {"default_provider": "piper", "default_voice": "en_US-amy-medium"},
        "stt": {"default_model": "whisper-small"}}}}),
    call("GET", f"/api/models/{MODEL}/parameters", "model_parameters_response", id="GET /api/models/{id}/parameters"),
    call("POST", f"/api/models/{MODEL}/parameters", "save_model_parameters_response", id="POST /api/models/{id}/parameters",
         body={"parameters": {"temperature": 0.7, "num_ctx": 4096}}),
]


@pytest.mark.parametrize("c", MODELS)
async def test_models(console, c):
    await send(console, c)


@pytest.mark.parametrize("_", [pytest.param(None, id="POST /api/models/pull")])
@xfail(EXPECTED_FAILURES["POST /api/models/pull"])
async def test_model_pull(console, _):
    """pullModel() posts {model} and reads the answer as newline-delimited JSON ModelPullProgress lines."""
    import json

    response = await console.request("POST", "/api/models/pull", {"model": MODEL})
    assert_answer(response, "console", None)
    lines = [json.loads(line) for line in response.text.splitlines() if line.strip()]
    assert lines, "pullModel() needs at least one progress line"
    for line in lines:
        problems = support.schema_errors("console", "model_pull_progress", line)
        assert not problems, "a progress line does not decode as ModelPullProgress:\n" + "\n".join(problems)


# ------------------------------------------------------------------------------------------- users
USERS = [
    call("GET", "/api/admin/users", "admin_users"),
    call("POST", "/api/admin/users", None, status=WRITE, body={
        "email": "new-tutor@example.com", "password": "Correct-Horse-42", "display_name": "New Tutor", "role": "user"}),
    call("DELETE", "/api/admin/users/{user}", None, status=WRITE, id="DELETE /api/admin/users/{id}"),
]


@pytest.mark.parametrize("c", USERS)
async def test_users(console, c):
    await send(console, c)


# --------------------------------------------------------------------------------------- curricula
CURRICULA = [
    call("GET", "/api/curricula", "curricula_response"),
    call("GET", "/api/curricula?archived=true", "curricula_response", id="GET /api/curricula?archived=true"),
    call("POST", "/api/curricula/reload", None, status=WRITE),
    call("GET", f"/api/curricula/{CURRICULUM}/full", "umcf_full", id="GET /api/curricula/{id}/full"),
    call("GET", f"/api/curricula/{CURRICULUM}", None, id="GET /api/curricula/{id}"),
    call("PUT", "/api/curricula/{curriculum}", None, status=WRITE, id="PUT /api/curricula/{id}",
         body={**UMCF, "title": "Console Physics (edited)"}),
    call("POST", "/api/curricula/{curriculum}/archive", None, status=WRITE, id="POST /api/curricula/{id}/archive"),
    call("DELETE", "/api/curricula/{curriculum}/archive", None, status=WRITE, id="DELETE /api/curricula/{id}/archive"),
    call("DELETE", "/api/curricula/{curriculum}?confirm=true", None, status=WRITE, id="DELETE /api/curricula/{id}?confirm=true"),
    call("POST", "/api/curricula", None, status=WRITE, body={**UMCF, "id": {"value": "console-posted"}}),
    call("GET", f"/api/curricula/{CURRICULUM}/topics/{TOPIC}/transcript", None, id="GET /api/curricula/{id}/topics/{topic}/transcript"),
    call("GET", "/api/curricula/{curriculum}/topics/forces/assets", None, id="GET /api/curricula/{id}/topics/{topic}/assets"),
]


@pytest.mark.parametrize("c", CURRICULA)
async def test_curricula(console, c):
    await send(console, c)
