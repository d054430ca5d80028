"""Client-contract tests for the shipped Android app (github.com/UnaMentis/unamentis-android).

Every call the app's API layer makes or defines is sent to the real runtime as the app sends it
(method, path, query, JSON body with the app's encoder settings — ``encodeDefaults = true``, so
defaulted and null fields are sent — and headers), and the answer is validated against the JSON
Schema of the Kotlin class the app decodes it into (``runtime/api_schemas/android.json``, one ``$defs`` entry
per class, naming its source file).

Who sends what:
- ``ApiClient`` (``data/remote/ApiClient.kt``) adds ``X-Client-ID``, ``X-Client-Name``,
  ``X-Client-Platform: Android`` and ``X-Client-Version`` to every call, and ``Authorization:
  Bearer`` from its token provider. Today that provider is never set (``AppModule.provideApiClient``),
  so the app sends no token; these tests send a beta token (or a user JWT where the call is about
  the signed-in user) and the open-auth section checks the token-less form.
- ``KBPackService``, ``KBQuestionService``, ``ModuleService``, ``KBAudioCache``,
  ``TranscriptStreamingService`` and ``ServerConfigManager`` use bare OkHttp requests: no client
  headers, no token.

A call that does not work today is ``xfail(strict=True)`` with the precise gap; a 5xx is never
accepted. ``tests/clients/android_calls.md`` lists every call and its state.
"""
from __future__ import annotations

import base64
import json
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator, validators

from runtime.api_schemas import DIRECTORY as SCHEMA_DIRECTORY
from runtime.providers.audio import wav_bytes
from runtime.storage import StorageConfig
from tests.clients import support
from tests.runtime.conftest import make_client

SCHEMAS = json.loads((SCHEMA_DIRECTORY / "android.json").read_text())
# The JSON types as the app's decoders see them. kotlinx decodes Int/Long only from integer literals:
# 1.0 is not an integer here (it is for jsonschema). Every Json instance the app decodes with sets
# isLenient = true, under which a String property also takes an unquoted literal (a number, true).
_TYPES = Draft202012Validator.TYPE_CHECKER.redefine_many({
    "integer": lambda _checker, value: isinstance(value, int) and not isinstance(value, bool),
    "string": lambda _checker, value: isinstance(value, (str, int, float)),
})
AppValidator = validators.extend(Draft202012Validator, type_checker=_TYPES)

JWT_SECRET = "android-contract-secret-" + "z" * 40
PASSWORD = "Correct-Horse-42"
SYSTEM_CURRICULUM = "solar-system-intro"
SYSTEM_TOPIC = "topic-rocky-planets"
# ApiClient.addClientHeaders(); VERSION_NAME is app/build.gradle.kts' versionName.
CLIENT_HEADERS = {"X-Client-ID": "3f1c2a9e-8a57-4d1e-9a63-0c5d2b7e4f10", "X-Client-Name": "Google Pixel 8",
                  "X-Client-Platform": "Android", "X-Client-Version": "1.0.0"}
# OkHttp's own User-Agent on every call, ApiClient's and the bare services' alike (BridgeInterceptor adds
# "okhttp/<version>" unless a request sets one; the version is gradle/libs.versions.toml's okhttp)
OKHTTP_AGENT = {"User-Agent": "okhttp/4.12.0"}
OWN_CURRICULUM = {
    "umcf": "1.0.0",
    "id": {"catalog": "android-test", "value": "android-algebra"},
    "title": "Algebra for Android",
    "description": "Linear equations.",
    "version": {"number": "1.0.0"},
    "metadata": {"keywords": ["math"]},
    "educational": {"difficulty": "medium", "typicalAgeRange": "13-15", "typicalLearningTime": "PT1H"},
    "content": [{"id": {"value": "unit-1"}, "title": "Unit", "type": "module", "children": [
        {"id": {"value": "lin-eq"}, "title": "Linear equations", "type": "topic", "orderIndex": 0,
         "transcript": {"segments": [{"id": "s1", "type": "lecture", "content": "An equation is a balance."}]}},
    ]}],
}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


# ================================================================================= the harness
def expect(condition: Any, message: str) -> None:
    """A contract assertion. Before failing, collect garbage: subprocess transports (eSpeak) left to a
    later collection run their __del__ on a closed loop, which under CPython 3.11.7 can land inside
    pytest's ast.parse of the failure report and abort the session (CPython gh-106905)."""
    if not condition:
        import gc

        gc.collect()
        raise AssertionError(message)


def made(response: httpx.Response, *codes: int) -> httpx.Response:
    """A precondition (something a test needs made): not the contract, so never an expected failure."""
    if response.status_code not in codes:
        raise RuntimeError(f"setup: {response.request.method} {response.request.url.path} answered "
                           f"{response.status_code}: {response.text[:300]}")
    return response


def decodes(body: Any, name: str, *, many: bool = False) -> None:
    """Assert ``body`` decodes as the app's class ``name`` (or a list of it)."""
    ref = {"$ref": f"#/$defs/{name}"}
    schema = {"$defs": SCHEMAS["$defs"], **({"type": "array", "items": ref} if many else ref)}
    errors = sorted(AppValidator(schema).iter_errors(body), key=lambda e: list(e.absolute_path))
    expect(not errors, f"does not decode as {name}:\n" + "\n".join(
        f"  at {'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:200]}" for e in errors[:8]))


def ok(response: httpx.Response) -> httpx.Response:
    """No 5xx ever; then a 2xx, as ``response.isSuccessful`` wants."""
    where = f"{response.request.method} {response.request.url.path}"
    expect(response.status_code < 500, f"{where} answered {response.status_code} (server error): {response.text[:300]}")
    expect(200 <= response.status_code < 300, f"{where} answered {response.status_code}: {response.text[:300]}")
    return response


def answers(response: httpx.Response, schema: str | None, *, many: bool = False) -> Any:
    """A 2xx whose JSON body decodes as ``schema`` (None: ApiResult<Unit>, the body is not read)."""
    ok(response)
    if schema is None:
        return None
    try:
        body, is_json = response.json(), True
    except ValueError:
        body, is_json = None, False
    expect(is_json, f"not JSON ({response.headers.get('content-type')}): {response.content[:120]!r}")
    decodes(body, schema, many=many)
    return body


@dataclass
class Android:
    """One tenant on the runtime, and the things the app's calls refer to (made on first use)."""

    http: httpx.AsyncClient
    beta: str
    tenant_id: str
    made: dict[str, Any] = field(default_factory=dict)
    database: Any = None  # the test database, to make an admin user (the app signed in as one)

    # ------------------------------------------------------------------ sending
    def headers(self, auth: str = "beta", client: str = "api") -> dict[str, str]:
        headers = {**OKHTTP_AGENT, **(CLIENT_HEADERS if client == "api" else {})}
        if auth == "beta":
            headers["Authorization"] = f"Bearer {self.beta}"
        elif auth == "user":
            headers["Authorization"] = f"Bearer {self.made['user']['access_token']}"
        elif auth == "admin":
            headers["Authorization"] = f"Bearer {self.made['admin']['access_token']}"
        return headers

    async def send(self, method: str, path: str, *, body: Any = None, auth: str = "beta", client: str = "api",
                   empty_body: bool = False, **kwargs: Any) -> httpx.Response:
        """``body`` is JSON as the app encodes it; ``empty_body`` is ApiClient.postEmpty's "" with a JSON type."""
        headers = {**self.headers(auth, client), **kwargs.pop("headers", {})}
        if body is not None:
            kwargs["content"] = json.dumps(body).encode()
            headers["Content-Type"] = "application/json; charset=utf-8"
        elif empty_body:
            kwargs["content"] = b""
            headers["Content-Type"] = "application/json; charset=utf-8"
        return await self.http.request(method, path, headers=headers, **kwargs)

    async def fill(self, path: str) -> str:
        """Replace ``{name}`` in a path with the id of a thing made for it."""
        for name in re.findall(r"{(\w+)}", path):
            path = path.replace("{" + name + "}", str(await self.thing(name)))
        return path

    async def thing(self, name: str) -> Any:
        if name not in self.made:
            self.made[name] = await getattr(self, f"make_{name}")()
        return self.made[name]

    # ------------------------------------------------------------------ things, made with the server's own shapes
    async def make_user(self) -> dict[str, Any]:
        email = f"android-{uuid.uuid4().hex[:10]}@example.com"
        body = made(await self.http.post("/api/auth/register", headers=self.headers(), json={
            "email": email, "password": PASSWORD, "name": "Ada"}), 201).json()
        return {"email": email, "user_id": body["user"]["id"], "device_id": body["device"]["id"],
                "access_token": body["access_token"], "refresh_token": body["refresh_token"]}

    async def make_admin(self) -> dict[str, Any]:
        """A signed-in user with the admin role (system and service control is for administrators)."""
        from runtime.auth.passwords import hash_password

        email = f"android-admin-{uuid.uuid4().hex[:10]}@example.com"
        owner = await self.database.owner()
        try:
            await owner.execute("insert into users (tenant_id, email, password_hash, display_name, role) "
                                "values ($1, $2, $3, 'Admin', 'admin')", uuid.UUID(self.tenant_id), email,
                                hash_password(PASSWORD))
        finally:
            await owner.close()
        body = made(await self.http.post("/api/auth/login", headers=self.headers(), json={
            "email": email, "password": PASSWORD,
            "device": {"fingerprint": uuid.uuid4().hex, "type": "android", "name": "Pixel 8"}}), 200).json()
        return {"email": email, **body.get("tokens", body)}  # Android's login answers flat tokens

    async def make_device(self) -> str:
        return (await self.thing("user"))["device_id"]

    async def make_auth_session(self) -> str:
        await self.thing("user")
        r = await self.http.get("/api/auth/sessions", headers=self.headers("user"))
        return r.json()[0]["id"]

    async def make_curriculum(self) -> str:
        return SYSTEM_CURRICULUM

    async def make_topic(self) -> str:
        return SYSTEM_TOPIC

    async def make_own(self) -> str:
        r = made(await self.http.post("/api/curricula/import", headers=self.headers(), json={"content": OWN_CURRICULUM}), 200)
        return r.json()["id"]

    async def make_archived(self) -> str:
        own = await self.thing("own")
        made(await self.http.post(f"/api/curricula/{own}/archive", headers=self.headers()), 200)
        return own

    async def make_asset(self) -> str:
        own = await self.thing("own")
        r = await self.http.post(f"/api/curricula/{own}/topics/lin-eq/assets", headers=self.headers(),
                                 files={"file": ("chart.png", PNG, "image/png")},
                                 data={"metadata": json.dumps({"alt": "a chart", "caption": "Chart"})})
        made(r, 200)
        return r.json()["asset"]["id"]

    async def make_session(self) -> str:
        r = made(await self.http.post("/api/sessions", headers=self.headers(), json={"curriculum_id": SYSTEM_CURRICULUM}), 201)
        return r.json()["id"]

    async def make_playing_session(self) -> str:
        """A session the app has started (what it pauses)."""
        session = await self.make_session()
        made(await self.http.post(f"/api/sessions/{session}/start", headers=self.headers()), 200)
        return session

    async def make_paused_session(self) -> str:
        """A session the app has paused (what it resumes)."""
        session = await self.make_playing_session()
        made(await self.http.post(f"/api/sessions/{session}/pause", headers=self.headers()), 200)
        return session

    async def make_profile(self) -> str:
        r = await self.http.post("/api/tts/profiles", headers=self.headers(), json={
            "name": "Android voice", "provider": "espeak", "voice_id": "en-us"})
        made(r, 200, 201)
        body = r.json()
        return (body.get("profile") or body)["id"]

    async def make_prefetch_job(self) -> str:
        r = await self.http.post("/api/tts/prefetch/topic", headers=self.headers(), json={
            "curriculum_id": SYSTEM_CURRICULUM, "topic_id": SYSTEM_TOPIC})
        made(r, 200, 202)
        return r.json()["job_id"]

    async def make_question(self) -> str:
        r = await self.http.get("/api/kb/packs/pack-starter/questions", headers=self.headers())
        return r.json()["questions"][0]["id"]

    async def make_job(self) -> str:
        return str(uuid.uuid4())

    async def make_source(self) -> str:
        return "mit-ocw"

    async def make_course(self) -> str:
        return "18-01sc"

    async def make_service(self) -> str:
        return "ollama"

    async def make_model(self) -> str:
        return "llama3.2"

    async def make_tts_entry(self) -> str:
        """An entry the app stored under its own hash (what it looks up later)."""
        entry = {**CACHE_ENTRY, "hash": "ab" * 32}
        made(await self.send("PUT", "/api/tts/cache", body=entry), 200)
        return entry["hash"]


def app_settings(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    overrides.setdefault("storage", StorageConfig(url=f"file://{tmp_path / 'storage'}"))
    overrides.setdefault("jwt_secret", JWT_SECRET)
    overrides.setdefault("import_catalogs", (str(support.CATALOG),))
    for name in ("rate_limit_token", "rate_limit_ip", "rate_limit_user", "rate_limit_login", "rate_limit_register",
                 "rate_limit_refresh"):
        overrides.setdefault(name, (100_000, 60.0))
    return overrides


@pytest.fixture(scope="module")
def ollama_server():
    """A loopback Ollama as the deployment's configured LLM server, which the app's model calls manage
    while the GPU fleet is cold."""
    from tests.runtime.models.ollama_peer import OllamaPeer
    from tests.runtime.voice.peers import ServerThread

    peer = OllamaPeer(installed=("llama3.2:latest",))
    with ServerThread(peer.app) as server:
        peer.url = server.url
        yield peer


@pytest.fixture
async def android(make_app, shared_database, tenant, tmp_path):
    app = make_app(None, database=shared_database, **app_settings(tmp_path))
    tenant_id, beta = await tenant(database=shared_database)
    async with make_client(app) as http:
        yield Android(http, beta, tenant_id)


# ================================================================================= the gaps (the work list)
# Test id -> what the app needs vs what the server answers today. Each is an xfail(strict=True):
# when the server is fixed the test passes, strict turns that into a failure, and the entry goes.
_ADMIN = ("/api/import/jobs* and /api/import/status are Tier 2 (Cloudflare Access or an admin user's JWT): starting "
          "and watching imports is the operator's; the app calls them as a client and gets 403 forbidden")
_NO_ROUTE = "no such route in the runtime (404); the app calls the old management console's "
GAPS: dict[str, str] = {
    # ---- import (Tier 2) and media (absent)
    "POST /api/import/jobs": _ADMIN,
    "GET /api/import/jobs": _ADMIN,
    "GET /api/import/jobs/{job}": _ADMIN,
    "DELETE /api/import/jobs/{job}": _ADMIN,
    "GET /api/import/status": _ADMIN,
    **{f"{m} /api/media/{p}": _NO_ROUTE + "media API (MediaCapabilities, diagram/formula/map rendering)" for m, p in [
        ("GET", "capabilities"), ("POST", "diagrams/validate"), ("POST", "diagrams/render"), ("POST", "formulas/validate"),
        ("POST", "formulas/render"), ("GET", "maps/styles"), ("POST", "maps/render")]},
    # ---- no token against a default deployment: refused on purpose (README, "The apps against this API")
    "GET /api/curricula (no token, token mode)": (
        "the app never sets ApiClientConfig.tokenProvider (AppModule.provideApiClient) and its OkHttp services send no "
        "token, so against the default UNAMENTIS_CLIENT_AUTH=token every Tier-1 call answers 401 auth_required: the app "
        "needs a token (beta token or sign-in) or the deployment open client auth"),
    "POST /api/auth/register (no token, registration=beta_token)": (
        "register and login are requiresAuth = false: the app never sends a token with them, while the default "
        "UNAMENTIS_REGISTRATION=beta_token needs a beta token as Authorization and answers 401"),
}


def xfail(reason: str) -> pytest.MarkDecorator:
    """Strict, and only for a failed assertion about the answer (a crash in the test itself still fails)."""
    return pytest.mark.xfail(strict=True, raises=AssertionError, reason=reason)


def call(method: str, path: str, schema: str | None, *, many: bool = False, body: Any = None, auth: str = "beta",
         client: str = "api", gap: str | None = None, query: str = "", by: str = "", gone: str | None = None) -> Any:
    """One row of a table: the test id reads ``METHOD /path`` with the app's own placeholders
    (plus the calling class when two classes make the same call)."""
    name = f"{method} {path}{query}" + (f" ({by})" if by else "")
    gap = gap or GAPS.get(name)
    marks = [xfail(gap)] if gap else []
    return pytest.param(method, path, query, schema, many, body, auth, client, gone, marks=marks, id=name)


async def run(android: Android, method: str, path: str, query: str, schema: str | None, many: bool, body: Any,
              auth: str, client: str, gone: str | None = None) -> Any:
    """Send one table row; with ``gone``, a GET of that path must then answer 404 (the app takes a
    2xx to a DELETE as "deleted")."""
    if auth in ("user", "admin"):
        await android.thing(auth)
    url = await android.fill(path + query)
    empty = body is None and method in ("POST", "PUT", "PATCH") and client == "api"
    response = await android.send(method, url, body=body, auth=auth, client=client, empty_body=empty)
    result = answers(response, schema, many=many)
    if gone:
        after = await android.send("GET", await android.fill(gone), auth=auth)
        expect(after.status_code == 404, f"after {method} {url} answered {response.status_code}, GET {gone} still answers {after.status_code}")
    return result


TABLE_ARGS = "method, path, query, schema, many, body, auth, client, gone"


def one_call(name: str) -> pytest.MarkDecorator:
    """A test of one call that needs its own code: the id reads like the table's, gaps come from GAPS."""
    marks = [xfail(GAPS[name])] if name in GAPS else []
    return pytest.mark.parametrize("call_id", [pytest.param(name, marks=marks, id=name)])


# ================================================================================= auth (ApiClient, 01-AUTHENTICATION)
@one_call("POST /api/auth/register")
async def test_register(android, call_id):
    """POST /api/auth/register — RegisterRequest; decodes AuthTokens (requiresAuth = false)."""
    body = {"email": f"new-{uuid.uuid4().hex[:8]}@example.com", "password": PASSWORD, "name": "Ada Lovelace"}
    answers(await android.send("POST", "/api/auth/register", body=body), "AuthTokens")


@one_call("POST /api/auth/login")
async def test_login(android, call_id):
    """POST /api/auth/login — LoginRequest {email, password, device_name}; decodes AuthTokens."""
    user = await android.thing("user")
    body = {"email": user["email"], "password": PASSWORD, "device_name": "Google Pixel 8"}
    answers(await android.send("POST", "/api/auth/login", body=body), "AuthTokens")


@one_call("POST /api/auth/refresh")
async def test_refresh(android, call_id):
    """POST /api/auth/refresh — RefreshTokenRequest; decodes AuthTokens."""
    user = await android.thing("user")
    body = {"refresh_token": user["refresh_token"]}
    answers(await android.send("POST", "/api/auth/refresh", body=body), "AuthTokens")


@one_call("POST /api/auth/password")
async def test_change_password(android, call_id):
    """POST /api/auth/password — ChangePasswordRequest; ApiResult<Unit>."""
    await android.thing("user")
    body = {"current_password": PASSWORD, "new_password": "Another-Horse-43"}
    answers(await android.send("POST", "/api/auth/password", body=body, auth="user"), None)


AUTH = [
    call("POST", "/api/auth/logout", None, auth="user"),
    call("GET", "/api/auth/me", "User", auth="user"),
    call("PATCH", "/api/auth/me", "User", auth="user", body={"name": "Ada L.", "email": None}),
    call("GET", "/api/auth/devices", "Device", many=True, auth="user"),
    call("DELETE", "/api/auth/devices/{device}", None, auth="user"),
    call("GET", "/api/auth/sessions", "UserSession", many=True, auth="user"),
    call("DELETE", "/api/auth/sessions/{auth_session}", None, auth="user"),
]


@pytest.mark.parametrize(TABLE_ARGS, AUTH)
async def test_auth(android, method, path, query, schema, many, body, auth, client, gone):
    await run(android, method, path, query, schema, many, body, auth, client, gone)


# ================================================================================= curricula (ApiClient, 02-CURRICULA)
CURRICULA = [
    call("GET", "/api/curricula", "CurriculaResponse"),
    call("GET", "/api/curricula/archived", "ArchivedCurriculum", many=True),
    call("GET", "/api/curricula/{curriculum}", "CurriculumSummary"),
    call("GET", "/api/curricula/{curriculum}/full-with-assets", "UMCFDocument"),
    call("PUT", "/api/curricula/{own}", "CurriculumSummary",
         body={"title": "Algebra (renamed)", "description": None, "difficulty": None, "age_range": None, "keywords": None}),
    call("DELETE", "/api/curricula/{own}", None, gone="/api/curricula/{own}"),
    call("POST", "/api/curricula/{own}/archive", "ArchivedCurriculum"),
    call("POST", "/api/curricula/archived/{archived}/unarchive", "CurriculumSummary"),
    call("POST", "/api/curricula/reload", "CurriculumSummary", many=True),
    call("GET", "/api/curricula/{curriculum}/topics/{topic}/transcript", "JsonString"),
    call("POST", "/api/curricula/{curriculum}/preload-assets", None),
    call("POST", "/api/curricula/{own}/topics/lin-eq/assets", "VisualAssetMetadata",
         body={"filename": "chart.png", "mime_type": "image/png", "caption": "Chart", "position": 0}),
    call("PATCH", "/api/curricula/{own}/topics/lin-eq/assets/{asset}", "VisualAssetMetadata",
         body={"caption": "New caption", "position": 1}),
    call("DELETE", "/api/curricula/{own}/topics/lin-eq/assets/{asset}", None, gone="/api/curricula/{own}/topics/lin-eq/assets/{asset}"),
    # TranscriptStreamingService.fetchTranscript: bare OkHttp, its own DTO
    call("GET", "/api/curricula/{curriculum}/topics/{topic}/transcript", "TranscriptResponseDto", client="bare",
         by="TranscriptStreamingService"),
]


@pytest.mark.parametrize(TABLE_ARGS, CURRICULA)
async def test_curricula(android, method, path, query, schema, many, body, auth, client, gone):
    await run(android, method, path, query, schema, many, body, auth, client, gone)


@one_call("POST /api/curricula (multipart file)")
async def test_import_curriculum_file(android, call_id):
    """POST /api/curricula — multipart ``file`` (application/octet-stream); decodes CurriculumSummary."""
    document = json.dumps({**OWN_CURRICULUM, "id": {"value": "android-upload"}}).encode()
    response = await android.http.post("/api/curricula", headers=android.headers(),
                                       files={"file": ("algebra.umcf", document, "application/octet-stream")})
    answers(response, "CurriculumSummary")


@one_call("GET /api/curricula/{curriculum}/topics/{topic}/stream-audio")
async def test_topic_audio_stream(android, call_id):
    """GET /api/curricula/{id}/topics/{topicId}/stream-audio — getTopicAudioStreamUrl hands this URL to
    the audio player: it needs an audio stream."""
    response = ok(await android.send("GET", f"/api/curricula/{SYSTEM_CURRICULUM}/topics/{SYSTEM_TOPIC}/stream-audio"))
    kind = response.headers.get("content-type", "")
    expect(kind.startswith("audio/"), f"the player gets {kind!r}, not an audio stream")


@one_call("DELETE /api/curricula/archived/{archived}")
async def test_delete_archived(android, call_id):
    """ApiResult<Unit>: the app takes the 2xx as deleted, so the archive must no longer list it."""
    archived = await android.thing("archived")
    ok(await android.send("DELETE", f"/api/curricula/archived/{archived}"))
    listed = (await android.send("GET", "/api/curricula/archived")).text
    expect(archived not in listed, f"still archived: {listed[:300]}")


@one_call("GET {asset url} (VisualAssetCache)")
async def test_visual_asset_download(android, call_id):
    """CurriculumDownloadManager passes each media asset's ``url`` from full-with-assets to
    VisualAssetCache.downloadAndCache, a bare OkHttp GET: the URL must be absolute http(s) and answer bytes."""
    own, asset = await android.thing("own"), await android.thing("asset")
    document = answers(await android.send("GET", f"/api/curricula/{own}/full-with-assets"), "UMCFDocument")
    media = [m for node in document["content"] for topic in node.get("children") or [node]
             for m in (topic.get("media") or {}).get("embedded") or []]
    url = next(m for m in media if m["id"] == asset).get("url")
    expect(url and url.startswith(("http://", "https://")), f"OkHttp cannot request {url!r}")
    response = ok(await android.http.get(url, headers=android.headers(client="bare")))
    expect(response.content, "empty asset")


# ================================================================================= Knowledge Bowl and modules (bare OkHttp services)
KNOWLEDGE_BOWL = [
    # KBPackService
    call("GET", "/api/kb/packs", "KBPacksResponse", client="bare"),
    call("GET", "/api/kb/packs/pack-starter", "KBPackDTO", client="bare"),
    call("GET", "/api/kb/packs/pack-starter/questions", "KBQuestionsResponse", client="bare"),
    # KBQuestionService.fetchQuestionsFromServer: POST with an empty body and no content type
    call("POST", "/api/modules/knowledge-bowl/download", "KBModuleContent", client="bare", by="KBQuestionService"),
]
MODULES = [
    # ModuleService
    call("GET", "/api/modules", "ModuleListResponse", client="bare"),
    call("GET", "/api/modules/knowledge-bowl", "ModuleDetail", client="bare"),
]


@pytest.mark.parametrize(TABLE_ARGS, KNOWLEDGE_BOWL + MODULES)
async def test_knowledge_bowl_and_modules(android, method, path, query, schema, many, body, auth, client, gone):
    await run(android, method, path, query, schema, many, body, auth, client, gone)


@one_call("POST /api/modules/knowledge-bowl/download (ModuleService)")
async def test_module_download(android, call_id):
    """ModuleService.downloadModule: ModuleDownloadRequest; decodes DownloadedModule, whose domains,
    study modes and question count live in a nested ``content`` (an empty ModuleContent by default),
    so the module must arrive with its content there, not only decode."""
    body = {"module_id": "knowledge-bowl", "include_audio": False}
    module = answers(await android.send("POST", "/api/modules/knowledge-bowl/download", body=body, client="bare"),
                     "DownloadedModule")
    content = module.get("content") or {}
    expect(content.get("domains") and content.get("total_questions"),
           f"the app would store an empty module: content = {json.dumps(content)[:200]}")


@one_call("POST /api/modules/knowledge-bowl/download (KBQuestionService with X-Client-Platform: Android)")
async def test_kb_question_download_with_platform(android, call_id):
    """KBQuestionService's download as it decodes once the service sends ``X-Client-Platform: Android``
    (the one change that closes its gap): every seeded question arrives as a KBQuestion with a
    KBDifficulty name and a KBDomain name."""
    response = await android.send("POST", "/api/modules/knowledge-bowl/download", client="bare",
                                  headers={"X-Client-Platform": "Android"}, content=b"")
    content = answers(response, "KBModuleContent")
    questions = [q for d in content["domains"] for q in d["questions"]]
    expect(questions, "the download carries no question")
    expect(all(isinstance(q["difficulty"], str) for q in questions), "difficulty is not the enum name")


@pytest.mark.parametrize("segment, query", [
    ("question", "?module_id=knowledge-bowl"), ("answer", "?module_id=knowledge-bowl"),
    ("explanation", "?module_id=knowledge-bowl")],
    ids=[f"GET /api/kb/audio/{{questionId}}/{s}" for s in ("question", "answer", "explanation")])
async def test_kb_question_audio(android, segment, query):
    """KBAudioCache.fetchAudio: audio bytes (a 404 the app takes as "not generated yet" and plays nothing)."""
    question = await android.thing("question")
    response = ok(await android.send("GET", f"/api/kb/audio/{question}/{segment}{query}", client="bare"))
    expect(response.content, "empty audio")


@pytest.mark.parametrize("kind", ["correct", "incorrect"], ids=lambda k: f"GET /api/kb/feedback/{k}")
async def test_kb_feedback_audio(android, kind):
    """KBAudioCache.getFeedbackAudio: audio bytes (a 404 plays nothing)."""
    response = ok(await android.send("GET", f"/api/kb/feedback/{kind}", client="bare"))
    expect(response.content, "empty audio")


# ================================================================================= tutoring sessions (ApiClient, 03-SESSIONS / FOV)
SESSIONS = [
    call("POST", "/api/sessions", "ApiSession", body={"curriculum_id": SYSTEM_CURRICULUM, "topic_id": SYSTEM_TOPIC}),
    call("GET", "/api/sessions", "ApiSession", many=True),
    call("GET", "/api/sessions", "ApiSession", many=True, query=f"?status=active&curriculum_id={SYSTEM_CURRICULUM}&limit=20&offset=0"),
    call("GET", "/api/sessions/{session}", "ApiSession"),
    call("DELETE", "/api/sessions/{session}", None, gone="/api/sessions/{session}"),
    call("POST", "/api/sessions/{session}/start", "ApiSession"),
    call("POST", "/api/sessions/{playing_session}/pause", "ApiSession"),
    call("POST", "/api/sessions/{paused_session}/resume", "ApiSession"),
    call("POST", "/api/sessions/{playing_session}/end", "ApiSession"),
    call("PUT", "/api/sessions/{session}/topic", "ApiSession", body={"topic_id": "topic-sun"}),
    call("PUT", "/api/sessions/{session}/position", "ApiSession", body={"position": 2}),
    call("POST", "/api/sessions/{session}/turns", "ConversationTurn",
         body={"role": "user", "content": "Why is Mars red?", "audio_url": None, "latency_ms": None}),
    call("POST", "/api/sessions/{session}/barge-in", None,
         body={"timestamp": "2026-12-03T21:30:00Z", "ai_position_ms": 1200, "user_audio_url": None}),
    call("GET", "/api/sessions/{session}/context", "FOVContext"),
    call("POST", "/api/sessions/{session}/context/build", "FOVContext", body={"history_window": 10, "include_transcript": True}),
    call("GET", "/api/sessions/{session}/messages", "ConversationTurn", many=True),
    call("POST", "/api/sessions/{session}/signals", None,
         body={"type": "confusion", "value": "lost", "timestamp": "2026-12-03T21:30:00Z"}),
    call("GET", "/api/sessions/{session}/events", "TimelineEvent", many=True),
    call("GET", "/api/sessions/{session}/debug", "SessionDebugInfo"),
    call("GET", "/api/fov/health", "FOVHealthResponse"),
]


@pytest.mark.parametrize(TABLE_ARGS, SESSIONS)
async def test_sessions(android, method, path, query, schema, many, body, auth, client, gone):
    await run(android, method, path, query, schema, many, body, auth, client, gone)


# ================================================================================= TTS (ApiClient, 04-TTS)
TTS_REQUEST = {"text": "Mars is red because of iron oxide.", "voice": None, "provider": None, "speed": None, "format": None,
               "return_url": False}
# The app's own entry: its 64-hex hash, 0.1 s of 16 kHz PCM16 silence as a base64 WAV
CACHE_ENTRY = {"hash": "0" * 64, "text": "Hello", "provider": "espeak", "voice_id": "en-us", "audio_url": None,
               "audio_data": base64.b64encode(wav_bytes(b"\x00\x00" * 1600, 16000)).decode(), "duration_ms": 100,
               "size_bytes": 3244, "created_at": None, "last_accessed": None}
TTS = [
    call("POST", "/api/tts", "TTSResponse", body=TTS_REQUEST),
    call("GET", "/api/tts/cache/stats", "TTSCacheStats"),
    call("DELETE", "/api/tts/cache", None),
    call("DELETE", "/api/tts/cache/expired", None),
    call("POST", "/api/tts/cache/evict", None, body={"bytes_to_free": 1_000_000}),
    call("POST", "/api/tts/prefetch/topic", "PrefetchJobStatus",
         body={"curriculum_id": SYSTEM_CURRICULUM, "topic_id": SYSTEM_TOPIC, "voice": None, "provider": None}),
    call("GET", "/api/tts/prefetch/status/{prefetch_job}", "PrefetchJobStatus"),
    call("DELETE", "/api/tts/prefetch/{prefetch_job}", None),
    call("GET", "/api/tts/profiles", "TTSProfile", many=True),
    call("POST", "/api/tts/profiles", "TTSProfile", body={"name": "Calm", "provider": "espeak", "voice_id": "en-us", "settings": None}),
    call("GET", "/api/tts/profiles/{profile}", "TTSProfile"),
    call("PUT", "/api/tts/profiles/{profile}", "TTSProfile", body={"name": "Calmer", "voice_id": None, "settings": None}),
    call("DELETE", "/api/tts/profiles/{profile}", None, gone="/api/tts/profiles/{profile}"),
    call("POST", "/api/tts/profiles/{profile}/set-default", "TTSProfile"),
    call("POST", "/api/tts/profiles/{profile}/preview", "TTSResponse", body={"text": "Hello there."}),
    call("POST", "/api/tts/profiles/{profile}/duplicate", "TTSProfile"),
    call("GET", "/api/tts/profiles/{profile}/export", "JsonString"),
    call("POST", "/api/tts/profiles/import", "TTSProfile",
         body={"name": "Imported", "provider": "espeak", "voice_id": "en-us", "settings": {"speed": 1.0}}),
    call("GET", "/api/tts/cache", "TTSCacheEntry", query="?hash={tts_entry}"),
    call("PUT", "/api/tts/cache", "TTSCacheEntry", body=CACHE_ENTRY),
]


@pytest.mark.parametrize(TABLE_ARGS, TTS)
async def test_tts(android, method, path, query, schema, many, body, auth, client, gone):
    await run(android, method, path, query, schema, many, body, auth, client, gone)


# ================================================================================= import, media (ApiClient, 05-IMPORT / 06-MEDIA)
IMPORT = [
    call("GET", "/api/import/sources", "ImportSource", many=True),
    call("GET", "/api/import/sources/{source}", "ImportSource"),
    call("GET", "/api/import/sources/{source}/courses", "ImportCourse", many=True),
    call("GET", "/api/import/sources/{source}/search", "CourseSearchResult", query="?q=calculus"),
    call("GET", "/api/import/sources/{source}/courses/{course}", "ImportCourse"),
    call("POST", "/api/import/jobs", "ImportJob",
         body={"source_id": "mit-ocw", "course_id": "18-01sc", "file": None, "url": None, "options": None}),
    call("GET", "/api/import/jobs", "ImportJob", many=True),
    call("GET", "/api/import/jobs/{job}", "ImportJob"),
    call("DELETE", "/api/import/jobs/{job}", None),
    call("GET", "/api/import/status", "ImportSystemStatus"),
]
DIAGRAM = {"type": "mermaid", "code": "graph TD; A-->B", "theme": None, "background": None, "width": None, "height": None,
           "scale": None}
FORMULA = {"latex": "E = mc^2", "display_mode": False, "font_size": None, "color": None, "background": None}
MEDIA = [
    call("GET", "/api/media/capabilities", "MediaCapabilities"),
    call("POST", "/api/media/diagrams/validate", "DiagramValidation", body=DIAGRAM),
    call("POST", "/api/media/diagrams/render", "RenderedMedia", body=DIAGRAM),
    call("POST", "/api/media/formulas/validate", "FormulaValidation", body=FORMULA),
    call("POST", "/api/media/formulas/render", "RenderedMedia", body=FORMULA),
    call("GET", "/api/media/maps/styles", "JsonString", many=True),
    call("POST", "/api/media/maps/render", "RenderedMedia",
         body={"center": {"lat": 48.85, "lng": 2.35}, "zoom": 10, "style": None, "size": None, "markers": []}),
]


@pytest.mark.parametrize(TABLE_ARGS, IMPORT + MEDIA)
async def test_import_and_media(android, method, path, query, schema, many, body, auth, client, gone):
    await run(android, method, path, query, schema, many, body, auth, client, gone)


# ================================================================================= system, models, services (ApiClient)
# Calls that change the system are an administrator's: the app sends them signed in as one (auth="admin").
SYSTEM = [
    call("GET", "/health", "HealthCheck", auth="none"),
    call("GET", "/api/system/metrics", "SystemMetrics"),
    call("GET", "/api/system/snapshot", "SystemSnapshot"),
    call("GET", "/api/services", "ServiceInfo", many=True),
    call("POST", "/api/services/{service}/start", "ServiceInfo", auth="admin"),
    call("POST", "/api/services/{service}/stop", "ServiceInfo", auth="admin"),
    call("POST", "/api/services/{service}/restart", "ServiceInfo", auth="admin"),
    call("POST", "/api/services/start-all", "ServiceInfo", many=True, auth="admin"),
    call("POST", "/api/services/stop-all", "ServiceInfo", many=True, auth="admin"),
    call("GET", "/api/models", "ModelInfo", many=True),
    # the model controls act on the Ollama servers (here the configured one: the fleet is cold), as an administrator
    call("POST", "/api/models/{model}/load", "ModelInfo", auth="admin"),
    call("POST", "/api/models/{model}/unload", "ModelInfo", auth="admin"),
    call("POST", "/api/models/pull", "ModelInfo", body={"model_id": "llama3.2"}, auth="admin"),
    call("GET", "/api/models/capabilities", "ModelCapabilities"),
    call("GET", "/api/system/idle/status", "IdleStatus"),
    call("POST", "/api/system/idle/config", "IdleStatus", body={"timeout_seconds": 300, "unload_models_on_idle": True},
         auth="admin"),
    call("POST", "/api/system/idle/keep-awake", None, auth="admin"),
    call("POST", "/api/system/unload-models", None, auth="admin"),
    call("GET", "/api/clients", "ConnectedClient", many=True),
    call("GET", "/api/stats", "AggregatedStats"),
    call("GET", "/api/system/history/hourly", "HistoricalMetrics"),
    call("GET", "/api/system/history/daily", "HistoricalMetrics"),
]


@pytest.fixture
async def fleet_android(make_app, shared_database, tenant, tmp_path, moto_endpoint, monkeypatch, ollama_server):
    """The runtime of a deployed stack: a GPU fleet's Auto Scaling group (on a loopback moto server), and
    an Ollama as the configured LLM server."""
    from runtime.settings import VoiceSettings
    from tests.runtime.voice.test_routing import _asg

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    asg = f"gpu-{uuid.uuid4().hex[:8]}"
    await _asg(moto_endpoint, asg)
    app = make_app(None, database=shared_database, **app_settings(
        tmp_path, voice=VoiceSettings(gpu_asg_name=asg, aws_endpoint_url=moto_endpoint, gpu_probe_seconds=60.0,
                                      llm_provider="ollama", llm_url=ollama_server.url)))
    tenant_id, beta = await tenant(database=shared_database)
    async with make_client(app) as http:
        yield Android(http, beta, tenant_id, database=shared_database)


@pytest.mark.parametrize(TABLE_ARGS, SYSTEM)
async def test_system(fleet_android, method, path, query, schema, many, body, auth, client, gone):
    await run(fleet_android, method, path, query, schema, many, body, auth, client, gone)


@one_call("GET /health (ServerConfigManager.probeServer)")
async def test_health_probe(android, call_id):
    """ServerConfigManager.probeServer: GET /health, bare; the body must contain "unamentis_server"
    for the app to recognise a UnaMentis gateway."""
    response = ok(await android.send("GET", "/health", auth="none", client="bare"))
    expect("unamentis_server" in response.text, f"no 'unamentis_server' in {response.text[:300]}")


# ================================================================================= telemetry (ApiClient: client headers, no token ever)
METRICS_UPLOAD = {
    "client_id": CLIENT_HEADERS["X-Client-ID"], "client_name": "Google Pixel 8", "session_id": str(uuid.UUID(int=7)),
    "session_duration": 312.5, "turns_total": 14, "interruptions": 2, "stt_latency_median": 180.0, "stt_latency_p99": 420.0,
    "llm_ttft_median": 310.0, "llm_ttft_p99": 900.0, "tts_ttfb_median": 120.0, "tts_ttfb_p99": 300.0,
    "e2e_latency_median": 650.0, "e2e_latency_p99": 1500.0, "stt_cost": 0.01, "tts_cost": 0.02, "llm_cost": 0.03,
    "total_cost": 0.06, "thermal_throttle_events": 0, "network_degradations": 1,
}
HEARTBEAT = {"device_model": "Google Pixel 8", "os_version": "Android 15", "app_version": "1.0.0", "status": "idle",
             "current_session_id": None, "config": {"stt_provider": "deepgram", "tts_provider": "elevenlabs", "llm_provider": "openai"}}
LOG_ENTRY = {"level": "INFO", "message": "session started", "label": "SessionManager", "timestamp": 1764797400000,
             "file": "", "function": "", "line": 0, "metadata": {}}
TELEMETRY = [
    call("POST", "/api/metrics", "MetricsUploadResponse", body=METRICS_UPLOAD),
    call("POST", "/api/clients/heartbeat", "HeartbeatResponse", body=HEARTBEAT),
    # ApiClient.sendLog: to the log server URL (default :8765), bare; the answer is not read
    call("POST", "/log", None, body=LOG_ENTRY, client="bare"),
]


@pytest.mark.parametrize(TABLE_ARGS, TELEMETRY)
async def test_telemetry(android, method, path, query, schema, many, body, auth, client, gone):
    await run(android, method, path, query, schema, many, body, auth, client, gone)


# ================================================================================= no token: open client auth (LAN installs)
# The app as shipped never sets ApiClientConfig.tokenProvider, and its bare OkHttp services never send
# a token: every call goes out without Authorization. With UNAMENTIS_CLIENT_AUTH=open (and open
# registration) a representative set of calls, sent exactly so, must work for the open tenant.
@pytest.fixture
async def open_android(make_app, shared_database, tenant, tmp_path):
    slug = f"open-{uuid.uuid4().hex[:10]}"
    tenant_id, beta = await tenant(slug=slug, database=shared_database)
    app = make_app(None, database=shared_database,
                   **app_settings(tmp_path, client_auth="open", open_tenant=slug, registration="open"))
    async with make_client(app) as http:
        yield Android(http, beta, tenant_id)


OPEN_GAPS: dict[str, str] = {}  # calls of OPEN that do not work yet (id -> gap)


def open_call(method: str, path: str, schema: str | None, **kwargs: Any) -> Any:
    name = f"{method} {path}" + (f" ({kwargs['by']})" if kwargs.get("by") else "")
    return call(method, path, schema, auth="none", gap=OPEN_GAPS.get(name, "") or None, **kwargs)


OPEN = [
    open_call("POST", "/api/auth/register", "AuthTokens",
              body={"email": "open-user@example.com", "password": PASSWORD, "name": "Ada Lovelace"}),
    open_call("GET", "/health", "HealthCheck"),
    open_call("GET", "/api/curricula", "CurriculaResponse"),
    open_call("GET", "/api/curricula/{curriculum}/full-with-assets", "UMCFDocument"),
    open_call("GET", "/api/curricula/{curriculum}/topics/{topic}/transcript", "TranscriptResponseDto", client="bare",
              by="TranscriptStreamingService"),
    open_call("GET", "/api/modules", "ModuleListResponse", client="bare"),
    open_call("GET", "/api/modules/knowledge-bowl", "ModuleDetail", client="bare"),
    open_call("POST", "/api/modules/knowledge-bowl/download", "KBModuleContent", client="bare", by="KBQuestionService"),
    open_call("GET", "/api/kb/packs", "KBPacksResponse", client="bare"),
    open_call("GET", "/api/kb/packs/pack-starter/questions", "KBQuestionsResponse", client="bare"),
    open_call("POST", "/api/sessions", "ApiSession", body={"curriculum_id": SYSTEM_CURRICULUM, "topic_id": SYSTEM_TOPIC}),
    open_call("POST", "/api/metrics", "MetricsUploadResponse", body=METRICS_UPLOAD),
    open_call("POST", "/api/clients/heartbeat", "HeartbeatResponse", body=HEARTBEAT),
]


@pytest.mark.parametrize(TABLE_ARGS, OPEN)
async def test_open_client_auth(open_android, method, path, query, schema, many, body, auth, client, gone):
    await run(open_android, method, path, query, schema, many, body, auth, client, gone)


@one_call("POST /api/auth/register (no token, registration=beta_token)")
async def test_register_without_token(android, call_id):
    """The app's sign-up against a default deployment (UNAMENTIS_REGISTRATION=beta_token)."""
    body = {"email": f"new-{uuid.uuid4().hex[:8]}@example.com", "password": PASSWORD, "name": "Ada Lovelace"}
    answers(await android.send("POST", "/api/auth/register", body=body, auth="none"), "AuthTokens")


@one_call("GET /api/curricula (no token, token mode)")
async def test_no_token_in_token_mode(android, call_id):
    """The app as shipped against a default deployment (UNAMENTIS_CLIENT_AUTH=token)."""
    answers(await android.send("GET", "/api/curricula", auth="none"), "CurriculaResponse")


# ================================================================================= WebSockets (AudioWebSocketClient, WebSocketClient)
@pytest.fixture(scope="module")
def voice_peers():
    """Loopback OpenAI-compatible STT, LLM and TTS (the voice tests' peers)."""
    from tests.runtime.voice.peers import Peers, ServerThread

    peers = Peers()
    with ServerThread(peers.app) as server:
        peers.url = server.url
        yield peers


async def _ws_frames(ws: Any, until: str, timeout: float = 30.0) -> list[dict]:
    """Text frames (as JSON) up to and including the first of type ``until``; binary frames are skipped."""
    import asyncio

    frames: list[dict] = []
    while not frames or frames[-1].get("type") != until:
        raw = await asyncio.wait_for(ws.recv(), timeout)
        if isinstance(raw, str):
            frames.append(json.loads(raw))
    return frames


@one_call("WS /ws/audio?session={id}&token={token}")
async def test_audio_websocket_turn(make_app, shared_database, tenant, live_server, voice_peers, tmp_path, call_id):
    """AudioWebSocketClient: connect with ?session=&token=, send its ConfigMessage, start_recording,
    PCM16 audio, stop_recording; every text frame must decode as RawAudioMessage (turn_complete's
    metrics as TurnMetrics of Longs)."""
    from websockets.asyncio.client import connect

    from runtime.voice.config import VoiceSettings
    from tests.runtime.voice.wsclient import silence, tone

    voice = VoiceSettings(stt_provider="whisper", stt_url=voice_peers.url + "/v1", llm_provider="openai",
                          llm_url=voice_peers.url + "/v1", llm_model="tutor", tts_provider="openai",
                          tts_url=voice_peers.url + "/v1")
    server = live_server(make_app(["voice"], database=shared_database, **app_settings(tmp_path, voice=voice)))
    _tenant_id, token = await tenant(database=shared_database)
    voice_peers.stt_text = "why is mars red"
    url = f"{server.ws_url}/ws/audio?session={uuid.uuid4()}&token={token}"
    async with connect(url, compression=None, max_size=None, open_timeout=10) as ws:
        await ws.send(json.dumps({"type": "config", "sample_rate": 16000, "channels": 1, "format": "pcm16",
                                  "vad_enabled": True, "vad_threshold": 0.5}))
        await ws.send(json.dumps({"type": "start_recording"}))
        pcm = silence(0.3) + tone(0.8) + silence(1.0)
        for i in range(0, len(pcm), 4096):
            await ws.send(pcm[i:i + 4096])
        await ws.send(json.dumps({"type": "stop_recording"}))
        frames = await _ws_frames(ws, "turn_complete", timeout=60)
        await ws.send(json.dumps({"type": "ping"}))
        frames += await _ws_frames(ws, "pong")
    for frame in frames:
        decodes(frame, "RawAudioMessage")
    seen = {f["type"] for f in frames}
    expect({"transcript", "llm_complete", "tts_complete", "turn_complete"} <= seen, f"a turn without all its events: {seen}")


@one_call("WS /ws?token={token}")
async def test_event_websocket(make_app, shared_database, tenant, live_server, tmp_path, call_id):
    """WebSocketClient: connect /ws?token=, subscribe to its channels, ping; frames decode as RawWebSocketMessage."""
    from websockets.asyncio.client import connect

    server = live_server(make_app(None, database=shared_database, **app_settings(tmp_path)))
    _tenant_id, token = await tenant(database=shared_database)
    from websockets.exceptions import InvalidStatus

    refused: int | None = None
    try:
        async with connect(f"{server.ws_url}/ws?token={token}", open_timeout=10) as ws:
            await ws.send(json.dumps({"type": "subscribe", "channels": ["logs", "metrics", "sessions", "services", "imports"]}))
            await ws.send(json.dumps({"type": "ping"}))
            frames = await _ws_frames(ws, "pong", timeout=10)
    except InvalidStatus as error:
        refused, frames = error.response.status_code, []
    expect(refused is None, f"upgrade refused: HTTP {refused}")
    for frame in frames:
        decodes(frame, "RawWebSocketMessage")
