"""The shipped iOS app's calls to the management API (port 8766), sent as the app sends them (method,
path, query, body, headers) plus a beta token, answers checked against JSON Schemas written from the
app's own decoders (``runtime/api_schemas/ios/``). The app's sources: the ``UnaMentis/`` tree of the
sirfifer/unamentis repository; each schema names the Swift file and type it came from.

Calls the app makes to other servers (Ollama, the provider APIs, the dev log server on :8765, the
gateway probe of ``/`` on :11400) are not the runtime's and are not tested here; see ios_calls.md.
``schema=None``: the app reads only the status of that answer.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.clients import support
from tests.clients.support import assert_answer

caller, open_caller = support.caller, support.open_caller  # fixtures, registered by name

CURRICULUM, TOPIC = "solar-system-intro", "topic-sun"
MODULE, PACK, QUESTION = "knowledge-bowl", "pack-starter", "sys-scie-001"
ACCEPT_JSON = {"Accept": "application/json"}
JSON_BODY = {"Content-Type": "application/json"}
DEVICE = {"X-Client-ID": "5F0C6C1E-0B7A-4C84-9C1A-1D2E3F405060", "X-Client-Name": "Test iPhone"}


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    schema: str | None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    status: int | tuple[int, ...] = 200


PLACEHOLDERS = {CURRICULUM: "{id}", TOPIC: "{topic_id}", MODULE: "{id}", PACK: "{id}", QUESTION: "{question_id}",
                "llama3.2": "{id}", "run-1": "{run_id}", "{question_id}/question": "{question_id}/{segment}",
                "{question_id}/hint": "{question_id}/{segment}", "feedback/correct": "feedback/{type}"}


def call(c: Call, *marks: Any, label: str = "") -> Any:
    """A pytest param whose id reads like ``GET /api/curricula/{id}``."""
    route = c.path.split("?")[0]
    for value, placeholder in PLACEHOLDERS.items():
        route = route.replace(value, placeholder)
    return pytest.param(c, id=f"{c.method} {route}{label}", marks=marks)


async def send(client, c: Call, headers: dict[str, str]) -> Any:
    kwargs: dict[str, Any] = {"headers": {**c.headers, **headers}}
    if c.body is not None:
        kwargs["json"] = c.body
    return await client.request(c.method, c.path, **kwargs)


async def check(caller, c: Call) -> Any:
    return assert_answer(await send(caller.client, c, caller.beta_headers), "ios", c.schema, c.status)


# ------------------------------------------------------------------------------------------ health
HEALTH = [
    # SubnetScanDiscovery / CachedServerDiscovery / DeviceDiscoveryManager / SettingsView / ServerSettingsView
    call(Call("GET", "/health", "health")),
    # KBTeamSyncProtocol.isServerReachable: HEAD, any 2xx
    call(Call("HEAD", "/api/health", None, status=(200, 204))),
]


@pytest.mark.parametrize("c", HEALTH)
async def test_health(caller, c):
    await check(caller, c)


# ---------------------------------------------------------------------------------------- curricula
SUGGEST = Call("POST", "/api/curricula/suggest", "curriculum_suggestions", {"query": "planets"}, JSON_BODY, (200, 404))
CURRICULA = [
    call(Call("GET", "/api/curricula", "curricula_list")),
    call(Call("GET", "/api/curricula?search=solar&difficulty=easy", "curricula_list"), label="?search&difficulty"),
    call(Call("GET", f"/api/curricula/{CURRICULUM}", "curriculum_detail")),
    call(Call("GET", f"/api/curricula/{CURRICULUM}/full", "curriculum_full")),
    call(Call("GET", f"/api/curricula/{CURRICULUM}/full-with-assets", "curriculum_full_with_assets")),
    call(Call("GET", f"/api/curricula/{CURRICULUM}/topics/{TOPIC}/transcript", "topic_transcript"), label=" (CurriculumService)"),
    call(Call("GET", f"/api/curricula/{CURRICULUM}/topics/topic-rocky-planets/transcript", "transcript_stream"),
         label=" (TranscriptStreamingService, text-only topic)"),
    call(Call("POST", "/api/curricula/reload", None)),
    # (CurriculumDownloadManager fetches /full-with-assets with the same UMCFDocument decoder.)
    # CurriculumSuggestionService: a 404 is handled (local search fallback)
    call(SUGGEST),
]


@pytest.mark.parametrize("c", CURRICULA)
async def test_curricula(caller, c):
    await check(caller, c)


# ------------------------------------------------------------------------------------------ modules
MODULES = [
    call(Call("GET", "/api/modules", "module_list", headers=ACCEPT_JSON)),
    call(Call("GET", f"/api/modules/{MODULE}", "module_detail", headers=ACCEPT_JSON)),
    call(Call("POST", f"/api/modules/{MODULE}/download", "module_download", headers=ACCEPT_JSON), label=" (ModuleService)"),
    # KBQuestionService.fetchQuestionsFromServer: the same route, another decoder, no headers
    call(Call("POST", f"/api/modules/{MODULE}/download", "kb_module_content"), label=" (KBQuestionService)"),
]


@pytest.mark.parametrize("c", MODULES)
async def test_modules(caller, c):
    await check(caller, c)


APPLE_EPOCH = 978_307_200  # 2001-01-01T00:00:00Z: JSONDecoder's default dateDecodingStrategy counts from here


@pytest.mark.parametrize("_", [pytest.param(None, id="POST /api/modules/{id}/download (downloadedAt as a Date)")])
async def test_module_download_date(caller, _):
    import time

    body = await check(caller, Call("POST", f"/api/modules/{MODULE}/download", "module_download", headers=ACCEPT_JSON))
    assert abs(body["downloaded_at"] - (time.time() - APPLE_EPOCH)) < 600


# -------------------------------------------------------------------------------- Knowledge Bowl
KB = [
    call(Call("GET", "/api/kb/packs", "kb_packs", headers=ACCEPT_JSON)),
    call(Call("GET", f"/api/kb/packs/{PACK}", "kb_pack", headers=ACCEPT_JSON)),
    call(Call("GET", f"/api/kb/packs/{PACK}/questions", "kb_pack_questions", headers=ACCEPT_JSON)),
    # KBAudioCache: audio bytes; 404 = not generated yet (handled)
    call(Call("GET", f"/api/kb/audio/{QUESTION}/question?module_id={MODULE}", None, status=(200, 404)), label="?module_id"),
    call(Call("GET", f"/api/kb/audio/{QUESTION}/hint?module_id={MODULE}&hint_index=0", None, status=(200, 404)),
         label="?module_id&hint_index (hint)"),
    call(Call("POST", "/api/kb/audio/batch", "kb_audio_batch",
              {"module_id": MODULE, "question_ids": [QUESTION, "sys-math-001"], "segments": ["question", "answer", "explanation"]},
              JSON_BODY)),
    call(Call("GET", "/api/kb/feedback/correct", None, status=(200, 404))),
]


@pytest.mark.parametrize("c", KB)
async def test_knowledge_bowl(caller, c):
    await check(caller, c)


@pytest.mark.parametrize("_", [pytest.param(None, id="GET /api/kb/audio/{question_id}/{segment} (audio body)")])
async def test_kb_audio_is_audio(caller, _):
    """GET /api/kb/audio: the app caches the body as audio and reads X-KB-Duration-Seconds as a Double."""
    response = await send(caller.client, Call("GET", f"/api/kb/audio/{QUESTION}/question?module_id={MODULE}", None),
                          caller.beta_headers)
    assert response.status_code == 200, response.text[:300]
    assert response.content[:4] == b"RIFF" and response.headers["content-type"].startswith("audio/")
    float(response.headers.get("X-KB-Duration-Seconds", "0"))


# -------------------------------------------------------------------------------------- telemetry
SESSION_METRICS = {  # MetricsUploadService.transformToServerFormat
    "timestamp": "2026-12-03T20:00:00Z", "sessionDuration": 312.5, "turnsTotal": 14, "interruptions": 2,
    "sttLatencyMedian": 180.0, "sttLatencyP99": 420.0, "llmTTFTMedian": 350.0, "llmTTFTP99": 900.0,
    "ttsTTFBMedian": 120.0, "ttsTTFBP99": 300.0, "e2eLatencyMedian": 650.0, "e2eLatencyP99": 1400.0,
    "sttCost": 0.01, "ttsCost": 0.02, "llmCost": 0.03, "totalCost": 0.06, "thermalThrottleEvents": 0,
    "networkDegradations": 1, "llmInputTokens": 5200, "llmOutputTokens": 900, "interruptionSuccessRate": 0.5,
}
UNIFIED_METRIC = {  # UnifiedMetricPayload as JSONEncoder writes it (nil fields omitted)
    "client": "ios", "clientId": DEVICE["X-Client-ID"], "clientName": "Test iPhone", "sessionId": "session-1",
    "timestamp": "2026-12-03T20:00:00Z",
    "metrics": {"stt_latency_ms": 180.0, "llm_ttfb_ms": 350.0, "llm_completion_ms": 1200.0, "tts_ttfb_ms": 120.0,
                "tts_completion_ms": 800.0, "e2e_latency_ms": 650.0, "llm_input_tokens": 400, "llm_output_tokens": 80},
    "providers": {"stt": "deepgram", "llm": "anthropic", "llm_model": "claude-3-5-haiku", "tts": "elevenlabs"},
    "resources": {"cpu_percent": 35.0, "memory_mb": 210.0, "thermal_state": "nominal", "battery_level": 0.8},
    "quality": {"success": True},
}
TELEMETRY = [
    call(Call("POST", "/api/metrics", None, SESSION_METRICS, {**JSON_BODY, **DEVICE})),
    # MetricsExporter.sendBatch: any 2xx
    call(Call("POST", "/api/metrics/ingest", None,
              {"client": "ios", "clientId": DEVICE["X-Client-ID"], "clientName": "Test iPhone", "batchSize": 2,
               "metrics": [UNIFIED_METRIC, {**UNIFIED_METRIC, "sessionId": "session-2"}]},
              {**JSON_BODY, "X-Client-ID": DEVICE["X-Client-ID"], "X-Client-Type": "ios"}, (200, 201, 202, 204))),
    # LatencyTestCoordinator.sendResultBatch (UnaMentis/Testing/LatencyHarness): logs any non-2xx and goes on
    call(Call("POST", "/api/latency-tests/runs/run-1/results", None,
              {"results": [{"id": "result-1", "configId": "config-1", "scenarioName": "short", "repetition": 1,
                            "e2eLatencyMs": 640.0, "isSuccess": True}]},
              {**JSON_BODY, "X-Client-ID": DEVICE["X-Client-ID"]}, (410,))),
    # ^ a development harness driven by the self-hosted management server's test runs; it reports
    # fire-and-forget and only logs a non-2xx, so the hosted API answers a clear 410 latency_tests_not_hosted
]


@pytest.mark.parametrize("c", TELEMETRY)
async def test_telemetry(caller, c):
    await check(caller, c)


# ----------------------------------------------------------------------------------------- models
MODELS = [
    call(Call("GET", "/api/models", "models_list")),
    call(Call("GET", "/api/models/llama3.2/parameters", "model_parameters")),
    call(Call("POST", "/api/models/llama3.2/parameters", "status_ok", {"parameters": {"temperature": 0.5, "top_p": 0.9}},
              JSON_BODY)),
    call(Call("GET", "/api/models/config", "model_config")),
    call(Call("POST", "/api/models/config", "status_ok", {"default_model": "llama3.2", "temperature": 0.5}, JSON_BODY)),
]


@pytest.mark.parametrize("c", MODELS)
async def test_models(caller, c):
    await check(caller, c)


# ---------------------------------------------------------------------- the app as shipped: no token
OPEN = [
    call(Call("GET", "/health", "health")),
    call(Call("GET", "/api/curricula", "curricula_list")),
    call(Call("GET", f"/api/curricula/{CURRICULUM}", "curriculum_detail")),
    call(Call("GET", f"/api/curricula/{CURRICULUM}/full", "curriculum_full")),
    call(Call("GET", "/api/modules", "module_list", headers=ACCEPT_JSON)),
    call(Call("POST", f"/api/modules/{MODULE}/download", "module_download", headers=ACCEPT_JSON)),
    call(Call("GET", "/api/kb/packs", "kb_packs", headers=ACCEPT_JSON)),
    call(Call("POST", "/api/metrics", None, SESSION_METRICS, {**JSON_BODY, **DEVICE})),
]


@pytest.mark.parametrize("c", OPEN)
async def test_without_token_when_client_auth_is_open(open_caller, c):
    """UNAMENTIS_CLIENT_AUTH=open (LAN installs): the app's requests exactly as shipped, no Authorization."""
    client = await open_caller()
    assert_answer(await send(client, c, {}), "ios", c.schema, c.status)


async def test_without_token_is_refused_by_default(caller):
    """With the default client auth (token), the shipped app's token-less request is a 401, not data."""
    response = await caller.client.get("/api/curricula")
    assert response.status_code == 401
