"""The Operations Console's calls to the management API (``server/web/`` of sirfifer/unamentis: the
browser-side ``src/lib/api-client.ts`` on ``NEXT_PUBLIC_BACKEND_URL``, the panels that fetch
``NEXT_PUBLIC_API_URL`` / ``NEXT_PUBLIC_MANAGEMENT_API_URL`` / ``NEXT_PUBLIC_MANAGEMENT_SERVER_URL``
themselves, the server-side proxy routes ``src/app/api/**/route.ts`` on ``BACKEND_URL``, and the
event socket ``ws://…/ws`` of ``src/lib/websocket-provider.tsx``), sent as the console sends them.

The console is an admin tool: it sits behind Cloudflare Access on ``admin.<domain>``. Every call is
sent here **with Tier-2 credentials** — a Cloudflare Access JWT (``Cf-Access-Jwt-Assertion``, RS256,
signed by a test key whose JWKS a loopback server publishes, as in ``tests/runtime/auth/test_access.py``)
whose e-mail is an active ``admin`` user of the caller's tenant. Answers are validated against JSON
Schemas written from the console's TypeScript types (``runtime/api_schemas/console/``; each names its source file
and type). As shipped the console sends no credential at all (``test_as_shipped_no_credential``).

Where Cloudflare Access is configured, the runtime takes a valid Access JWT of an active admin as
that admin in the admin's own tenant on every route, Tier 1 included (``runtime/middleware/auth.py``),
so the console's browser calls through ``admin.<domain>`` reach all the routes they use.
"""
from __future__ import annotations

import asyncio
import json
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


@pytest.fixture(scope="module")
def gpu_ollama():
    """A loopback Ollama as the GPU box the console's model panel manages (UNAMENTIS_GPU_LLM_URL)."""
    from tests.runtime.models.ollama_peer import OllamaPeer
    from tests.runtime.voice.peers import ServerThread

    peer = OllamaPeer()
    with ServerThread(peer.app) as server:
        peer.url = server.url
        yield peer


@pytest.fixture
async def console(make_app, shared_database, tenant, tmp_path, access_keys, gpu_ollama):
    from runtime.voice.config import VoiceSettings

    tenant_id, beta = await tenant(database=shared_database)
    app = make_app(database=shared_database, **support.app_overrides(
        tmp_path, cf_access_team_domain=TEAM, cf_access_aud=AUD, cf_access_certs_url=access_keys.url,
        voice=VoiceSettings(gpu_llm_url=gpu_ollama.url)))
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
    The proxies' way in is the core's console listener (tests/runtime/auth/test_console_entry.py)."""
    response = await console.client.get(path, headers=JSON_HEADERS)
    assert response.status_code == 401, response.text
    assert response.json()["error"] in ("auth_required", "access_required")


async def test_access_credentials_work(console):
    """The Tier-2 credentials of these tests are good: a Tier-2 route the runtime has answers 200."""
    response = await console.request("GET", "/api/admin/health/deep")
    assert response.status_code == 200, response.text


# ------------------------------------------------------------------------------------ the calls
class Call:
    """One call as the console sends it; ``schema=None``: the console reads only the status. ``path``
    (and for ``{question}``/``{pack}`` the body) may hold placeholders that ``resolve`` fills with objects
    created first with credentials that work: ``{curriculum}``, ``{asset}``, ``{question}``, ``{pack}``,
    ``{session}``, ``{profile}`` (the tenant's beta token), ``{power_profile}``, ``{user}``, ``{job}``, ``{seeded_status}``
    (the admin's Access JWT, Tier 2)."""

    def __init__(self, method: str, path: str, schema: str | None, *, body: Any = None, status: Any = 200):
        self.method, self.path, self.schema, self.body, self.status = method, path, schema, body, status


WRITE = (200, 201, 204)  # the console checks response.ok and reads nothing, or only the status

# What the console needs vs what the server answers, for every call that fails today (the work list).
T1 = "the server answers "
NO_ROUTE = "404: no such route"
EXPECTED_FAILURES = {
    # dashboard, logs
    # clients, metrics
    # system/servers
    # models
    # users (Tier 2: the Access JWT is accepted)
    # plugins
    "GET /api/plugins": "needs {success, plugins: PluginApiResponse[]} (mapped unguarded); " + NO_ROUTE,
    "POST /api/plugins/initialize": "needs a 2xx; " + NO_ROUTE,
    "GET /api/plugins/first-run": "the proxy needs a 2xx; " + NO_ROUTE,
    "GET /api/plugins/{id}": "needs a 2xx ({plugin: {settings}} read with guards); " + NO_ROUTE,
    "PUT /api/plugins/{id}": "puts {settings} and needs a 2xx; " + NO_ROUTE,
    "GET /api/plugins/{id}/config-schema": "needs a 2xx ({success, has_config, schema} read with guards); " + NO_ROUTE,
    "POST /api/plugins/{id}/enable": "needs a 2xx; " + NO_ROUTE,
    "POST /api/plugins/{id}/disable": "needs a 2xx; " + NO_ROUTE,
    "POST /api/plugins/{id}/test": "posts {settings} and needs {success, message?}; " + NO_ROUTE,
    # reprocess
    "GET /api/reprocess/jobs": "needs {success, jobs: ReprocessJobSummary[]}; " + NO_ROUTE,
    "POST /api/reprocess/jobs": "posts a ReprocessConfig and needs a 2xx; " + NO_ROUTE,
    "GET /api/reprocess/jobs/{id}": "needs {success, progress: ReprocessProgress}; " + NO_ROUTE,
    "DELETE /api/reprocess/jobs/{id}": "needs a 2xx; " + NO_ROUTE,
    "POST /api/reprocess/analyze/{id}": "needs {success, analysis: CurriculumAnalysis}; " + NO_ROUTE,
    "GET /api/reprocess/analysis/{id}": "the proxy needs a 2xx; " + NO_ROUTE,
    "POST /api/reprocess/preview/{id}": "the proxy needs a 2xx; " + NO_ROUTE,
    # media
    "POST /api/media/diagrams/validate": "needs {success, valid, errors}; " + NO_ROUTE,
    "POST /api/media/diagrams/render": "needs DiagramRenderResponse {success, data?, mimeType?}; " + NO_ROUTE,
    "POST /api/media/formulas/validate": "needs {success, valid, errors, warnings}; " + NO_ROUTE,
    "POST /api/media/formulas/render": "needs FormulaRenderResponse {success, data?, mimeType?}; " + NO_ROUTE,
    "POST /api/media/maps/render": "needs MapRenderResponse {success, data?, mimeType?}; " + NO_ROUTE,
    "GET /api/media/maps/styles": "needs {success, styles: MapStyleInfo[]}; " + NO_ROUTE,
    # lists
    "GET /api/lists": "needs {lists: CurriculumList[]}; " + NO_ROUTE,
    "POST /api/lists": "posts {name, description, isShared} and needs the CurriculumList; " + NO_ROUTE,
    "POST /api/lists/{id}/items": "posts {items: [{sourceId, courseId, courseTitle}]} and needs {addedCount}; " + NO_ROUTE,
    # latency tests
    "GET /api/latency-tests/suites": "needs {suites: TestSuite[]}; " + NO_ROUTE,
    "GET /api/latency-tests/runs?limit": "needs {runs: TestRun[]}; " + NO_ROUTE,
    "GET /api/latency-tests/clients": "needs {clients: TestClient[]}; " + NO_ROUTE,
    "POST /api/latency-tests/runs": "posts {suiteId, clientId?} and needs the TestRun; " + NO_ROUTE,
    "DELETE /api/latency-tests/runs/{id}": "needs a 2xx; " + NO_ROUTE,
    "GET /api/latency-tests/runs/{id}/analysis": "needs {summary: AnalysisSummary}; " + NO_ROUTE,
    "GET /api/latency-tests/targets": "needs {targets: TestTarget[], categories}; " + NO_ROUTE,
    # FOV context (sessions)
    "GET /api/sources": "the proxy needs a 2xx; " + NO_ROUTE,
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


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64  # sniffed as image/png


async def resolve(console: Console, path: str, made: dict[str, str] | None = None, body: str = "") -> str:
    """Fill the path's placeholders with objects created beforehand (with credentials that work);
    ``made`` collects them, for placeholders in the body."""
    made = {} if made is None else made
    beta = console.caller.beta_headers
    if "{question}" in path + body or "{pack}" in path + body:
        question = await console.client.post("/api/kb/questions", json=KB_QUESTION, headers=beta)
        assert question.status_code < 300, question.text
        made["question"] = question.json()["question"]["id"]
        pack = await console.client.post("/api/kb/packs", json={"name": f"Pack {uuid.uuid4().hex[:6]}", "difficulty_tier": "jv"},
                                         headers=beta)
        assert pack.status_code < 300, pack.text
        made["pack"] = pack.json()["pack"]["id"]
        added = await console.client.post(f"/api/kb/packs/{made['pack']}/questions", json={"question_ids": [made["question"]]},
                                          headers=beta)
        assert added.status_code < 300, added.text
        path = path.replace("{question}", made["question"]).replace("{pack}", made["pack"])
    if "{curriculum}" in path:
        made = await console.client.post("/api/curricula/import", json={"content": UMCF}, headers=console.caller.beta_headers)
        assert made.status_code == 200, made.text
        path = path.replace("{curriculum}", made.json()["id"])
    if "{asset}" in path:
        url = path.split("/assets/")[0] + "/assets"
        made = await console.client.post(url, headers=console.caller.beta_headers, files={"file": ("forces.png", PNG, "image/png")},
                                         data={"metadata": '{"alt": "arrows of two forces", "title": "Forces"}'})
        assert made.status_code == 200, made.text
        path = path.replace("{asset}", made.json()["asset"]["id"])
    if "{session}" in path:
        # The console's FOV debugger creates the sessions it inspects, with its own credential: a tutoring
        # session answers only its owner, and an admin is not the owner of the tenant's learners' sessions.
        made = await console.request("POST", "/api/sessions", {"curriculum_id": CURRICULUM})
        assert made.status_code < 300, made.text
        path = path.replace("{session}", made.json()["session_id"])
    if "{user}" in path:
        made = await console.request("POST", "/api/admin/users", {
            "email": f"doomed-{uuid.uuid4().hex[:8]}@example.com", "password": support.PASSWORD,
            "display_name": "Doomed", "role": "user"})
        assert made.status_code in (200, 201), made.text
        body = made.json()
        path = path.replace("{user}", str(body.get("user", body).get("id")))
    if "{profile}" in path:
        made = await console.client.post("/api/tts/profiles", json={**TTS_PROFILE, "name": f"p-{uuid.uuid4().hex[:6]}"},
                                         headers=console.caller.beta_headers)
        profile = (made.json().get("profile") or {}).get("id") if made.status_code < 300 else None
        path = path.replace("{profile}", str(profile or "no-profile"))
    if "{pregen}" in path or "{paused_pregen}" in path:  # a TTS pre-generation job of the console's own items
        made = await console.request("POST", "/api/tts/pregen/jobs", PREGEN_JOB)
        assert made.status_code == 201, made.text
        job = made.json()["job"]["id"]
        if "{paused_pregen}" in path:
            paused = await console.request("POST", f"/api/tts/pregen/jobs/{job}/pause")
            assert paused.status_code == 200, paused.text
        path = path.replace("{pregen}", job).replace("{paused_pregen}", job)
    if "{power_profile}" in path:  # a power profile of the console's own
        made = await console.request("POST", "/api/system/profiles", {
            "id": "night-shift", "name": "Night shift", "thresholds": {"warm": 10, "cool": 60, "cold": 300, "dormant": 900}})
        assert made.status_code == 201, made.text
        path = path.replace("{power_profile}", made.json()["profile"]["id"])
    if "{seeded_status}" in path:  # the status filter set to the final status of the job seed() started
        status = "queued"
        for _ in range(100):
            jobs = (await console.request("GET", "/api/import/jobs")).json().get("jobs") or [{}]
            status = str(jobs[0].get("status", "queued"))
            if status in ("completed", "failed"):
                break
            await asyncio.sleep(0.1)
        path = path.replace("{seeded_status}", status)
    if "{job}" in path:
        made = await console.request("POST", "/api/import/jobs", {"content": UMCF})
        job = made.json().get("jobId") if made.status_code < 300 else None
        path = path.replace("{job}", str(job or "no-job"))
    return path


async def seed(console: Console, c: Call) -> None:
    """Before a list is read, put one item in it (with credentials that work), so the items' shape is
    checked too, not only an empty list."""
    if c.method != "GET":
        return
    beta = console.caller.beta_headers
    client = {**beta, "X-Client-ID": "lab-ipad", "X-Client-Platform": "ios", "X-Client-Version": "1.4.0"}
    seeds = {
        "/api/logs": ("/api/logs", {"level": "INFO", "label": "seed", "message": "seeded", "timestamp": "2026-01-01T00:00:00Z"}, client),
        "/api/clients": ("/api/clients/heartbeat", {"name": "Lab iPad", "device_model": "iPad14,1", "app_version": "1.4.0"}, client),
        "/api/metrics": ("/api/metrics", {"sessionId": "s-1", "e2eLatencyMedian": 900, "totalCost": 0.5}, client),
        "/api/tts/profiles": ("/api/tts/profiles", {**TTS_PROFILE, "name": f"seed-{uuid.uuid4().hex[:6]}"}, beta),
        "/api/sessions": ("/api/sessions", {"curriculum_id": CURRICULUM}, console.headers),
        "/api/tts/pregen/jobs": ("/api/tts/pregen/jobs", PREGEN_JOB, console.headers),
    }
    target = seeds.get(c.path.split("?")[0])
    if target:
        made = await console.client.post(target[0], json=target[1], headers=target[2])
        assert made.status_code < 300, made.text
    if c.path.split("?")[0] == "/api/import/jobs":
        made = await console.request("POST", "/api/import/jobs", {"content": UMCF})
        assert made.status_code < 300, made.text


async def send(console: Console, c: Call) -> Any:
    await seed(console, c)
    made: dict[str, str] = {}
    path = await resolve(console, c.path, made, json.dumps(c.body))
    body = c.body
    if body is not None and made:
        text = json.dumps(body)
        for key, value in made.items():
            text = text.replace("{" + key + "}", value)
        body = json.loads(text)
    response = await console.request(c.method, path, body)
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
    call("PUT", "/api/system/profiles/{power_profile}", "power_profile_response", id="PUT /api/system/profiles/{id}",
         body={"name": "Night shift", "thresholds": {"warm": 20}}),
    call("DELETE", "/api/system/profiles/{power_profile}", "power_profile_deleted", id="DELETE /api/system/profiles/{id}"),
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


async def test_model_pull(console):
    """pullModel() posts {model} and reads the answer as server-sent events: each line that starts with
    ``data: `` is one ModelPullProgress, other lines are skipped (server/web/src/lib/api-client.ts)."""
    response = await console.request("POST", "/api/models/pull", {"model": MODEL})
    assert_answer(response, "console", None)
    lines = [json.loads(line[len("data: "):]) for line in response.text.splitlines() if line.startswith("data: ")]
    assert lines, "pullModel() needs at least one progress line"
    for line in lines:
        problems = support.schema_errors("console", "model_pull_progress", line)
        assert not problems, "a progress line does not decode as ModelPullProgress:\n" + "\n".join(problems)
    assert lines[-1]["status"] == "success"


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


ASSET = "/api/curricula/{curriculum}/topics/forces/assets/{asset}"
ASSETS = [
    call("PATCH", ASSET, None, status=WRITE, id="PATCH /api/curricula/{id}/topics/{topic}/assets/{asset}",
         body={"caption": "Two forces, one push", "alt": "arrows of two forces"}),
    call("DELETE", ASSET, None, status=WRITE, id="DELETE /api/curricula/{id}/topics/{topic}/assets/{asset}"),
]


@pytest.mark.parametrize("c", ASSETS)
async def test_curriculum_assets(console, c):
    await send(console, c)


@pytest.mark.parametrize("_", [pytest.param(None, id="POST /api/curricula/{id}/topics/{topic}/assets")])
async def test_asset_upload(console, _):
    """The proxy forwards the browser's form unchanged; its fields are the console's AssetUploadRequest."""
    path = await resolve(console, "/api/curricula/{curriculum}/topics/forces/assets")
    form = {"topicId": "forces", "type": "image", "alt": "arrows of two forces", "title": "Forces", "displayMode": "inline"}
    response = await console.client.post(path, headers={"Cf-Access-Jwt-Assertion": console.headers["Cf-Access-Jwt-Assertion"]},
                                         files={"file": ("forces.png", PNG, "image/png")}, data=form)
    assert_answer(response, "console", None, WRITE)
    asset = response.json()["asset"]
    assert (asset["alt"], asset["title"], asset["segmentTiming"]["displayMode"]) == ("arrows of two forces", "Forces", "inline")
    listed = await console.request("GET", path)
    assert [a["id"] for a in listed.json()["assets"]] == [asset["id"]], listed.text


async def test_curriculum_created_by_put(console):
    """The console's studio saves a new curriculum with PUT to an id it chose (curricula-panel.tsx); it then
    lists with the others, and a second PUT edits it."""
    doc = {**UMCF, "id": {"value": "studio-made"}, "title": "Studio Made"}
    created = await console.request("PUT", "/api/curricula/studio-made", doc)
    assert created.status_code == 201, created.text
    edited = await console.request("PUT", "/api/curricula/studio-made", {"title": "Studio Made, edited"})
    assert edited.status_code == 200, edited.text
    listed = (await console.request("GET", "/api/curricula")).json()["curricula"]
    assert [c["title"] for c in listed if c["id"] == "studio-made"] == ["Studio Made, edited"]
    assert (await console.request("POST", "/api/curricula/studio-made/archive")).status_code == 200
    archived = (await console.request("GET", "/api/curricula?archived=true")).json()["curricula"]
    assert [c["id"] for c in archived] == ["studio-made"]
    assert (await console.request("DELETE", "/api/curricula/studio-made/archive")).status_code == 200
    assert (await console.request("GET", "/api/curricula?archived=true")).json()["curricula"] == []
    refused = await console.request("PUT", f"/api/curricula/{CURRICULUM}", {**UMCF, "id": {"value": CURRICULUM}})
    assert refused.status_code == 403, refused.text  # a system curriculum stays read-only


@pytest.mark.parametrize("_", [pytest.param(None, id="GET /api/curricula/{id}/topics/{topic}/assets/{asset}")])
async def test_asset_read(console, _):
    path = await resolve(console, ASSET)
    response = await console.request("GET", path)
    assert_answer(response, "console", None)
    assert response.headers.get("content-type", "").startswith("application/json"), \
        f"the proxy needs JSON, got {response.headers.get('content-type')}"


# ------------------------------------------------------------------------------------------ import
# Tier 2 paths: the Access JWT of an admin is accepted here.
IMPORT = [
    call("GET", "/api/import/sources", "import_sources"),
    call("GET", "/api/import/sources/mit-ocw", None, id="GET /api/import/sources/{id}"),
    call("GET", "/api/import/sources/mit-ocw/courses?page=1&pageSize=12", "import_courses",
         id="GET /api/import/sources/{id}/courses?page&pageSize"),
    call("GET", "/api/import/sources/mit-ocw/courses/8-01sc", "import_course_detail", id="GET /api/import/sources/{id}/courses/{course}"),
    call("GET", "/api/import/jobs", "import_jobs"),
    call("GET", "/api/import/jobs?status={seeded_status}", "import_jobs", id="GET /api/import/jobs?status"),
    call("POST", "/api/import/jobs", "import_job_started", status=(200, 201, 202),
         body={"sourceId": "mit-ocw", "courseId": "8-01sc", "outputName": "8-01sc"}),
    call("GET", "/api/import/jobs/{job}", None, id="GET /api/import/jobs/{id}"),
    call("DELETE", "/api/import/jobs/{job}", None, status=WRITE, id="DELETE /api/import/jobs/{id}"),
]


@pytest.mark.parametrize("c", IMPORT)
async def test_import(console, c):
    await send(console, c)


# ----------------------------------------------------------------------------------------- modules
MODULES = [
    call("GET", "/api/modules?include_disabled=true", "modules_response", id="GET /api/modules?include_disabled"),
    call("GET", "/api/modules/knowledge-bowl", "module", id="GET /api/modules/{id}"),
    call("PATCH", "/api/modules/knowledge-bowl/settings", "module_settings_response", id="PATCH /api/modules/{id}/settings",
         body={"enabled": True, "feature_overrides": {"team_mode": False}}),
]


@pytest.mark.parametrize("c", MODULES)
async def test_modules(console, c):
    await send(console, c)


async def test_module_settings_are_the_tenants(console, tenant, shared_database):
    """The console's module panel switches features (and the module) off for its own tenant only; the
    apps of the tenant see the effective flags, another tenant sees the catalogue's."""
    patched = await console.request("PATCH", "/api/modules/knowledge-bowl/settings",
                                    {"feature_overrides": {"team_mode": False}})
    assert patched.status_code == 200, patched.text
    assert patched.json()["effective_features"]["supports_team_mode"] is False
    beta = console.caller.beta_headers
    mine = (await console.client.get("/api/modules/knowledge-bowl", headers=beta)).json()
    assert (mine["supports_team_mode"], mine["base_supports_team_mode"]) == (False, True)
    _, other_beta = await tenant(database=shared_database)
    theirs = (await console.client.get("/api/modules/knowledge-bowl", headers={"Authorization": f"Bearer {other_beta}"})).json()
    assert theirs["supports_team_mode"] is True and theirs["feature_overrides"] == {}
    off = await console.request("PATCH", "/api/modules/knowledge-bowl/settings", {"enabled": False})
    assert off.json()["enabled"] is False and off.json()["feature_overrides"] == {"team_mode": False}
    assert (await console.client.post("/api/modules/knowledge-bowl/download", headers=beta)).status_code == 404
    assert (await console.request("PATCH", "/api/modules/knowledge-bowl/settings",
                                  {"feature_overrides": {"teleport": True}})).status_code == 422
    assert (await console.client.patch("/api/modules/knowledge-bowl/settings", json={"enabled": True},
                                       headers=beta)).status_code == 403


# ---------------------------------------------------------------------------------------- plugins
PLUGIN = "mit_ocw"
PLUGINS = [
    call("GET", "/api/plugins", "plugins_response"),
    call("POST", "/api/plugins/initialize", None, status=WRITE, body={"enabled_plugins": [PLUGIN]}),
    call("GET", "/api/plugins/first-run", None),
    call("GET", f"/api/plugins/{PLUGIN}", None, id="GET /api/plugins/{id}"),
    call("PUT", f"/api/plugins/{PLUGIN}", None, status=WRITE, id="PUT /api/plugins/{id}", body={"settings": {"api_key": "k"}}),
    call("GET", f"/api/plugins/{PLUGIN}/config-schema", None, id="GET /api/plugins/{id}/config-schema"),
    call("POST", f"/api/plugins/{PLUGIN}/enable", None, status=WRITE, id="POST /api/plugins/{id}/enable"),
    call("POST", f"/api/plugins/{PLUGIN}/disable", None, status=WRITE, id="POST /api/plugins/{id}/disable"),
    call("POST", f"/api/plugins/{PLUGIN}/test", "success_flag", id="POST /api/plugins/{id}/test", body={"settings": {}}),
]


@pytest.mark.parametrize("c", PLUGINS)
async def test_plugins(console, c):
    await send(console, c)


# -------------------------------------------------------------------------------------- reprocess
REPROCESS_CONFIG = {"curriculumId": CURRICULUM, "fixImages": True, "rechunkSegments": False, "generateObjectives": False,
                    "addCheckpoints": False, "addAlternatives": False, "fixMetadata": True, "llmModel": "llama3.2:3b",
                    "llmTemperature": 0.3, "imageSearchEnabled": False, "generatePlaceholders": True, "dryRun": True}
REPROCESS = [
    call("GET", "/api/reprocess/jobs", "reprocess_jobs"),
    call("POST", "/api/reprocess/jobs", None, status=(200, 201, 202), body=REPROCESS_CONFIG),
    call("GET", "/api/reprocess/jobs/job-1", "reprocess_progress", id="GET /api/reprocess/jobs/{id}"),
    call("DELETE", "/api/reprocess/jobs/job-1", None, status=WRITE, id="DELETE /api/reprocess/jobs/{id}"),
    call("POST", f"/api/reprocess/analyze/{CURRICULUM}", "reprocess_analysis", id="POST /api/reprocess/analyze/{id}"),
    call("GET", f"/api/reprocess/analysis/{CURRICULUM}", None, id="GET /api/reprocess/analysis/{id}"),
    call("POST", f"/api/reprocess/preview/{CURRICULUM}", None, id="POST /api/reprocess/preview/{id}", body=REPROCESS_CONFIG),
]


@pytest.mark.parametrize("c", REPROCESS)
async def test_reprocess(console, c):
    await send(console, c)


# ---------------------------------------------------------------------------- TTS pre-generation
PREGEN_JOB = {"name": "Greetings", "source_type": "custom", "items": [{"text": "Hello there.", "source_ref": "greeting"},
                                                                      {"text": "Well done!", "source_ref": "praise"}]}
TTS_PROFILE = {"name": "Warm tutor", "provider": "piper", "voice_id": "en_US-amy-medium", "settings": {"speed": 1.0},
               "tags": ["tutor"], "use_case": "tutoring"}
TTS = [
    call("GET", "/api/tts/profiles?is_active=true", "tts_profiles", id="GET /api/tts/profiles?is_active"),
    call("POST", "/api/tts/profiles", "tts_profile", status=(200, 201), body=TTS_PROFILE),
    call("PUT", "/api/tts/profiles/{profile}", "tts_profile", id="PUT /api/tts/profiles/{id}", body={"name": "Warmer tutor"}),
    call("DELETE", "/api/tts/profiles/{profile}", "success_flag", id="DELETE /api/tts/profiles/{id}"),
    call("POST", "/api/tts/profiles/{profile}/set-default", "success_flag", id="POST /api/tts/profiles/{id}/set-default"),
    call("GET", "/api/tts/pregen/jobs?job_type=batch", "tts_jobs", id="GET /api/tts/pregen/jobs?job_type"),
    call("POST", "/api/tts/pregen/jobs", "tts_job", status=(200, 201), body={
        "name": "Solar system audio", "source_type": "curriculum", "source_id": CURRICULUM, "output_format": "wav",
        "normalize_volume": True}),
    call("GET", "/api/tts/pregen/jobs/{pregen}", None, id="GET /api/tts/pregen/jobs/{id}"),
    call("DELETE", "/api/tts/pregen/jobs/{pregen}", "success_flag", id="DELETE /api/tts/pregen/jobs/{id}"),
    call("POST", "/api/tts/pregen/jobs/{pregen}/start", "tts_job", id="POST /api/tts/pregen/jobs/{id}/start"),
    call("POST", "/api/tts/pregen/jobs/{pregen}/pause", "tts_job", id="POST /api/tts/pregen/jobs/{id}/pause"),
    call("POST", "/api/tts/pregen/jobs/{paused_pregen}/resume", "tts_job", id="POST /api/tts/pregen/jobs/{id}/resume"),
    call("GET", "/api/tts/pregen/jobs/{pregen}/progress", "tts_job_progress", id="GET /api/tts/pregen/jobs/{id}/progress"),
    call("GET", "/api/tts/pregen/jobs/{pregen}/items?limit=50", "tts_job_items", id="GET /api/tts/pregen/jobs/{id}/items?limit"),
    call("POST", "/api/tts/pregen/jobs/{pregen}/retry-failed", "tts_retry_failed", id="POST /api/tts/pregen/jobs/{id}/retry-failed"),
    call("POST", "/api/tts/pregen/extract", "tts_extract", body={"source_type": "curriculum", "source_id": CURRICULUM}),
]


@pytest.mark.parametrize("c", TTS)
async def test_tts_pregeneration(console, c):
    await send(console, c)


# ------------------------------------------------------------------------------------------ media
MEDIA = [
    call("POST", "/api/media/diagrams/validate", "diagram_validate", body={"format": "mermaid", "code": "graph TD; A-->B"}),
    call("POST", "/api/media/diagrams/render", "media_render", body={"format": "mermaid", "code": "graph TD; A-->B", "outputFormat": "svg"}),
    call("POST", "/api/media/formulas/validate", "formula_validate", body={"latex": "E = mc^2"}),
    call("POST", "/api/media/formulas/render", "media_render", body={"latex": "E = mc^2", "outputFormat": "svg", "displayMode": True}),
    call("POST", "/api/media/maps/render", "media_render", body={"title": "Rome", "center": {"latitude": 41.9, "longitude": 12.5},
                                                                  "zoom": 5, "style": "educational", "outputFormat": "png"}),
    call("GET", "/api/media/maps/styles", "map_styles"),
]


@pytest.mark.parametrize("c", MEDIA)
async def test_media(console, c):
    await send(console, c)


# ------------------------------------------------------------------------------------------ lists
LISTS = [
    call("GET", "/api/lists", "lists"),
    call("POST", "/api/lists", "list", status=(200, 201), body={"name": "Physics picks", "description": "", "isShared": False}),
    call("POST", "/api/lists/list-1/items", "list_items_added", status=(200, 201), id="POST /api/lists/{id}/items",
         body={"items": [{"sourceId": "mit-ocw", "courseId": "8-01sc", "courseTitle": "Physics I"}]}),
]


@pytest.mark.parametrize("c", LISTS)
async def test_lists(console, c):
    await send(console, c)


# ---------------------------------------------------------------------------------- latency tests
LATENCY = [
    call("GET", "/api/latency-tests/suites", "latency_suites"),
    call("GET", "/api/latency-tests/runs?limit=20", "latency_runs", id="GET /api/latency-tests/runs?limit"),
    call("GET", "/api/latency-tests/clients", "latency_clients"),
    call("POST", "/api/latency-tests/runs", "latency_run", status=(200, 201), body={"suiteId": "quick_validation"}),
    call("DELETE", "/api/latency-tests/runs/run-1", None, status=WRITE, id="DELETE /api/latency-tests/runs/{id}"),
    call("GET", "/api/latency-tests/runs/run-1/analysis", "latency_analysis", id="GET /api/latency-tests/runs/{id}/analysis"),
    call("GET", "/api/latency-tests/targets", "latency_targets"),
]


@pytest.mark.parametrize("c", LATENCY)
async def test_latency_tests(console, c):
    await send(console, c)


# ---------------------------------------------------------------------- FOV context (sessions)
SESSION = "/api/sessions/{session}"
FOV = [
    call("GET", "/api/fov/health", "fov_health"),
    call("GET", "/api/sessions", "fov_sessions"),
    call("POST", "/api/sessions", "fov_session_created", status=(200, 201), body={"curriculum_id": CURRICULUM}),
    call("GET", f"{SESSION}/debug", "fov_session_debug", id="GET /api/sessions/{id}/debug"),
    call("POST", f"{SESSION}/start", "fov_state", id="POST /api/sessions/{id}/start"),
    call("POST", f"{SESSION}/turns", "fov_turn", status=(200, 201), id="POST /api/sessions/{id}/turns",
         body={"role": "user", "content": "Why is the Sun hot?"}),
    call("POST", f"{SESSION}/barge-in", "fov_barge_in", id="POST /api/sessions/{id}/barge-in", body={"utterance": "Wait, what is fusion?"}),
    call("PUT", f"{SESSION}/topic", "fov_topic", id="PUT /api/sessions/{id}/topic", body={
        "topic_id": "topic-physics", "topic_title": "Test Topic: Introduction to Physics",
        "topic_content": "Physics is the natural science of matter and energy.",
        "learning_objectives": ["Understand basic physics concepts"],
        "glossary_terms": [{"term": "Energy", "definition": "The capacity to do work"}]}),
    call("POST", f"{SESSION}/analyze-response", "fov_confidence", id="POST /api/sessions/{id}/analyze-response",
         body={"response": "I think it is maybe because of, um, burning?"}),
    call("DELETE", SESSION, "fov_deleted", id="DELETE /api/sessions/{id}"),
    call("GET", SESSION, None, id="GET /api/sessions/{id}"),
    call("GET", f"{SESSION}/context", None, id="GET /api/sessions/{id}/context"),
]


@pytest.mark.parametrize("c", FOV)
async def test_fov_sessions(console, c):
    await send(console, c)


async def test_fov_debugger_sees_only_its_own_sessions(console):
    """A tutoring session holds a learner's conversation: it answers its owner only. The console's FOV
    debugger works on sessions it created; an admin does not read the tenant's learners' sessions
    through these routes (404, as for anyone who is not the owner)."""
    beta = console.caller.beta_headers
    learner = await console.client.post("/api/sessions", json={"curriculum_id": CURRICULUM}, headers=beta)
    assert learner.status_code == 201, learner.text
    sid = learner.json()["session_id"]
    assert (await console.request("GET", f"/api/sessions/{sid}/debug")).status_code == 404
    assert sid not in [s["session_id"] for s in (await console.request("GET", "/api/sessions")).json()["sessions"]]
    own = (await console.request("POST", "/api/sessions", {"curriculum_id": CURRICULUM})).json()["session_id"]
    await console.request("POST", f"/api/sessions/{own}/analyze-response", {"response": "Maybe, I'm not sure."})
    await console.request("POST", f"/api/sessions/{own}/barge-in", {"utterance": "Wait, what is fusion?"})
    debug = (await console.request("GET", f"/api/sessions/{own}/debug")).json()
    assert debug["state"] == "active" and debug["barge_in_count"] == 1  # the barge-in made the learner speak
    assert [b["utterance"] for b in debug["barge_in_history"]] == ["Wait, what is fusion?"]
    assert debug["confidence_history"][0]["score"] < 1.0 and debug["confidence_history"][0]["uncertainty"] > 0
    assert debug["buffers"]["immediate"]["barge_in"] == "Wait, what is fusion?"
    assert (await console.client.get(f"/api/sessions/{own}", headers=beta)).status_code == 404


# -------------------------------------------------------------------------------------- sources
@pytest.mark.parametrize("c", [call("GET", "/api/sources", None)])
async def test_sources(console, c):
    """app/api/sources/route.ts (plugin UI configuration) passes the answer through unread."""
    await send(console, c)


# ------------------------------------------------------------------------------------------- ws
@pytest.mark.parametrize("_", [pytest.param(None, id="WS /ws")])
async def test_ws_events(console, make_app, shared_database, tmp_path, access_keys, live_server, _):
    """The console's event socket (ws://<host>/ws), opened through Access (cloudflared adds the JWT)."""
    from websockets.asyncio.client import connect

    app = make_app(database=shared_database, **support.app_overrides(
        tmp_path, cf_access_team_domain=TEAM, cf_access_aud=AUD, cf_access_certs_url=access_keys.url))
    server = live_server(app)
    headers = {"Cf-Access-Jwt-Assertion": access_keys.sign(email=console.email)}
    async with connect(f"{server.ws_url}/ws", additional_headers=headers) as ws:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
    problems = support.schema_errors("console", "ws_message", frame)
    assert not problems, f"frame {frame} does not decode as WebSocketMessage:\n" + "\n".join(problems)


# ------------------------------------------------------------------------------ knowledge bowl
KB_QUESTION = {"domain_id": "science", "subcategory": "chemistry", "question_text": "What is the chemical formula of water?",
               "answer_text": "H2O", "acceptable_answers": ["H2O", "water"], "difficulty": 2, "speed_target_seconds": 5,
               "question_type": "toss_up", "hints": ["Two hydrogens"], "explanation": "Two hydrogen atoms, one oxygen atom."}
KB = [
    call("GET", "/api/kb/questions?limit=50", "kb_questions", id="GET /api/kb/questions?limit"),
    call("POST", "/api/kb/questions", "kb_question", status=(200, 201), body=KB_QUESTION),
    call("GET", "/api/kb/questions/{question}", None, id="GET /api/kb/questions/{id}"),
    call("PATCH", "/api/kb/questions/{question}", None, status=WRITE, id="PATCH /api/kb/questions/{id}", body={"answer_text": "Water"}),
    call("DELETE", "/api/kb/questions/{question}", None, status=WRITE, id="DELETE /api/kb/questions/{id}"),
    call("POST", "/api/kb/questions/bulk-update", None, status=WRITE,
         body={"question_ids": ["{question}"], "updates": {"difficulty": 3}}),
    call("GET", "/api/kb/domains", "kb_domains"),
    call("GET", "/api/kb/database-status", "kb_database_status"),
    call("POST", "/api/kb/sync-to-database", "kb_sync"),
    # import-from-module, bulk-update, bundle and preview-dedup: proxies no console code calls; bodies as the server reads them
    call("POST", "/api/kb/import-from-module", None, status=WRITE, body={"module_id": "knowledge-bowl", "pack_id": "{pack}"}),
    call("GET", "/api/kb/packs?status=active", "kb_packs", id="GET /api/kb/packs?status"),
    call("POST", "/api/kb/packs", "kb_pack", status=(200, 201), body={
        "name": "Water bundle", "description": "Chemistry warm-up", "question_ids": [], "difficulty_tier": "jv", "type": "custom"}),
    call("GET", "/api/kb/packs/{pack}", "kb_pack", id="GET /api/kb/packs/{id}"),
    call("PATCH", "/api/kb/packs/{pack}", None, status=WRITE, id="PATCH /api/kb/packs/{id}", body={"name": "Renamed", "status": "active"}),
    call("DELETE", "/api/kb/packs/{pack}", None, status=WRITE, id="DELETE /api/kb/packs/{id}"),
    call("POST", "/api/kb/packs/{pack}/questions", None, status=WRITE, id="POST /api/kb/packs/{id}/questions",
         body={"question_ids": ["{question}"]}),
    call("DELETE", "/api/kb/packs/{pack}/questions/{question}", None, status=WRITE, id="DELETE /api/kb/packs/{id}/questions/{qid}"),
    call("POST", "/api/kb/packs/bundle", None, status=WRITE, body={"name": "Bundle", "source_pack_ids": ["{pack}"]}),
    call("POST", "/api/kb/packs/preview-dedup", None, status=WRITE, body={"source_pack_ids": ["{pack}"]}),
]


@pytest.mark.parametrize("c", KB)
async def test_knowledge_bowl(console, c):
    await send(console, c)
