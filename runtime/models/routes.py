"""Models (``/api/models*``): the ``models`` Lambda service.

Answers from configuration — the external/default LLM the voice core is configured with
(``UNAMENTIS_LLM_*``) — and, when the GPU fleet is warm, from the fleet's Ollama (``GET /api/tags``
on ``UNAMENTIS_GPU_LLM_URL``, probed with a one-second timeout so a cold fleet never slows the call).
``/api/models/config`` keeps per-tenant generation settings (what iOS ``ServerConfigManager`` edits).
API keys are never returned.
"""
from __future__ import annotations

import re
import time
from urllib.parse import urlsplit

import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from runtime import client_shapes
from runtime.auth.principal import principal
from runtime.content.http import dumps, iso, reply, tx
from runtime.context import ctx
from runtime.errors import ApiError, InvalidField
from runtime.models import store
from runtime.providers.registry import GROQ_URL, OLLAMA_URL, OPENAI_URL
from runtime.service import Service
from runtime.settings import VoiceSettings, voice_settings
from runtime.validation import field_float, field_int, field_str, json_body

MODEL_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")
# Generation parameters as iOS ServerConfigManager.getModelParameters reads them: (min, max, step, description).
PARAMETERS = {
    "temperature": (0.0, 2.0, 0.05, "Sampling temperature: higher is more varied, lower more focused."),
    "max_tokens": (1, 32768, 1, "Longest answer, in tokens."),
    "top_p": (0.0, 1.0, 0.05, "Nucleus sampling: only the most likely tokens whose probabilities add up to this."),
    "context_window": (512, 2_000_000, 512, "Tokens of conversation the model sees."),
}
CONFIG_KEYS = ("default_model", "temperature", "max_tokens", "top_p", "context_window", "keep_alive", "system_prompt")


def _voice(request: Request) -> VoiceSettings:
    return voice_settings(ctx(request).settings)


def _defaults(request: Request) -> dict:
    vs = _voice(request)
    return {"default_model": vs.llm_model, "temperature": vs.llm_temperature, "max_tokens": vs.llm_max_tokens,
            "top_p": 1.0, "context_window": 8192, "keep_alive": vs.llm_keep_alive, "system_prompt": None}


async def _gpu_models(request: Request) -> tuple[bool, list[dict]]:
    """(warm, models) of the GPU fleet, probed at most every ``UNAMENTIS_GPU_PROBE_SECONDS`` per app
    (kept on ``app.state``), so a cold fleet costs one short timeout per interval, not one per call."""
    vs = _voice(request)
    if not vs.gpu_llm_url:
        return False, []
    cached = getattr(request.app.state, "models_gpu_probe", None)
    now = time.monotonic()
    if cached is not None and now - cached[0] < vs.gpu_probe_seconds:
        return cached[1], cached[2]
    warm, models = await _probe(request, vs)
    request.app.state.models_gpu_probe = (now, warm, models)
    return warm, models


async def _probe(request: Request, vs) -> tuple[bool, list[dict]]:
    try:
        r = await ctx(request).http.get(vs.gpu_llm_url.rstrip("/") + "/api/tags", timeout=1.0)
        if r.status_code != 200:
            return False, []
        tags = r.json().get("models") or []
    except (httpx.HTTPError, ValueError, AttributeError):
        return False, []
    models = []
    for tag in tags if isinstance(tags, list) else []:
        if not isinstance(tag, dict) or not isinstance(tag.get("name"), str):
            continue
        details = tag.get("details") if isinstance(tag.get("details"), dict) else {}
        models.append({"id": tag["name"], "name": tag["name"], "model": tag.get("model") or tag["name"],
                       "type": "llm", "provider": "ollama", "source": "gpu", "server_id": "gpu",
                       "server_name": "GPU fleet", "status": "loaded", "available": True, "loaded": True,
                       "size": tag.get("size"), "family": details.get("family"),
                       "parameter_size": details.get("parameter_size"),
                       "quantization_level": details.get("quantization_level")})
    return True, models


def _configured_server(vs) -> tuple[str, str, str]:
    """(provider, base URL, server_id) of the configured LLM, resolved as ``providers.registry.build_llm`` does."""
    kind = vs.llm_provider
    if kind == "auto":
        kind = "openai" if vs.llm_url else "ollama"
    if kind == "ollama":
        return kind, vs.llm_url or OLLAMA_URL, "ollama"
    if kind == "groq":
        return kind, vs.llm_url or GROQ_URL, "groq"
    return kind, vs.llm_url or OPENAI_URL, "openai" if vs.llm_api_key or not vs.llm_url else "openai_compatible"


async def _served_models(request: Request, vs) -> list[str] | None:
    """The model names the configured LLM server lists (Ollama ``GET /api/tags``, OpenAI-compatible
    ``GET {base}/models``), or None when it does not answer. Cached on ``app.state`` like the fleet probe."""
    cached = getattr(request.app.state, "models_llm_probe", None)
    now = time.monotonic()
    if cached is not None and now - cached[0] < vs.gpu_probe_seconds:
        return cached[1]
    kind, base, _ = _configured_server(vs)
    names: list[str] | None = None
    try:
        if kind == "ollama":
            r = await ctx(request).http.get(base.rstrip("/") + "/api/tags", timeout=1.0)
            items, key = (r.json().get("models") if r.status_code == 200 else None), "name"
        else:
            headers = {"Authorization": f"Bearer {vs.llm_api_key}"} if vs.llm_api_key else {}
            r = await ctx(request).http.get(base.rstrip("/") + "/models", headers=headers, timeout=1.0)
            items, key = (r.json().get("data") if r.status_code == 200 else None), "id"
        if isinstance(items, list):
            names = [m[key] for m in items if isinstance(m, dict) and isinstance(m.get(key), str)]
    except (httpx.HTTPError, ValueError, AttributeError):
        names = None
    request.app.state.models_llm_probe = (now, names)
    return names


def _same_model(a: str, b: str) -> bool:
    """Ollama lists ``llama3.2:latest`` for a configured ``llama3.2``."""
    return a == b or a.removesuffix(":latest") == b.removesuffix(":latest")


def _entry(model_id: str, provider: str, source: str, server_id: str, server_name: str, *, available: bool,
           loaded: bool) -> dict:
    """One model as every app reads it: ``type, server_id, server_name, status`` for iOS
    (``ServerConfigManager.discoverManagementModels``) and Android (``ModelInfo``), the rest for the others."""
    return {"id": model_id, "name": model_id, "model": model_id, "type": "llm", "provider": provider,
            "source": source, "server_id": server_id, "server_name": server_name,
            "status": "loaded" if loaded else "available" if available else "unavailable",
            "available": available, "loaded": loaded, "size": None, "family": None,
            "parameter_size": None, "quantization_level": None}


async def _configured(request: Request) -> list[dict]:
    """The configured model, available only when its server lists it, and the server's other models."""
    vs = _voice(request)
    kind, base, server_id = _configured_server(vs)
    host = urlsplit(base).netloc or base
    served = await _served_models(request, vs)
    listed = served or []
    configured = _entry(vs.llm_model, kind, "configured", server_id, f"{server_id} ({host})",
                        available=any(_same_model(n, vs.llm_model) for n in listed), loaded=False)
    others = [_entry(n, kind, "server", server_id, f"{server_id} ({host})", available=True, loaded=False)
              for n in listed if not _same_model(n, vs.llm_model)]
    return [configured, *others]


async def _tenant_config(request: Request) -> dict:
    async with tx(request) as conn:
        stored = await store.config(conn)
    return {**_defaults(request), **stored}


async def list_models(request: Request) -> Response:
    """The configured LLM plus the GPU fleet's models when it is warm."""
    warm, gpu = await _gpu_models(request)
    seen = {m["id"] for m in gpu}
    models = gpu + [m for m in await _configured(request) if m["id"] not in seen]
    config = await _tenant_config(request)
    return reply(client_shapes.model_list(request, {
        "models": models, "total": len(models), "default_model": config["default_model"],
        "gpu": {"configured": bool(_voice(request).gpu_llm_url), "warm": warm}}))


async def model_parameters(request: Request) -> Response:
    """Generation parameters for one model (tenant settings over configured defaults)."""
    model_id = request.path_params.get("model_id", "")
    if not MODEL_ID.match(model_id):
        raise ApiError(400, "invalid_id", "'model_id' must be 1-200 letters, digits or _.:-", details={"field": "model_id"})
    config = await _tenant_config(request)
    params = {name: {"value": config[name], "min": lo, "max": hi, "step": step, "description": text}
              for name, (lo, hi, step, text) in PARAMETERS.items()}
    return reply({"status": "ok", "model_id": model_id, "model": model_id, "parameters": params,
                  "is_default": model_id == config["default_model"]})


async def set_model_parameters(request: Request) -> Response:
    """iOS ``ServerConfigManager.saveModelParameters``: ``{parameters: {name: value}}`` into the tenant's settings."""
    model_id = request.path_params.get("model_id", "")
    if not MODEL_ID.match(model_id):
        raise ApiError(400, "invalid_id", "'model_id' must be 1-200 letters, digits or _.:-", details={"field": "model_id"})
    body = await json_body(request)
    params = body.get("parameters", body)
    if not isinstance(params, dict) or not params:
        raise InvalidField("'parameters' must be an object of parameter values.", details={"field": "parameters"})
    unknown = sorted(set(params) - set(PARAMETERS))
    if unknown:
        raise InvalidField(f"Unknown parameters: {unknown}", details={"field": unknown[0]})
    return await _save_config(request, params)


async def get_config(request: Request) -> Response:
    """The tenant's model settings."""
    config = await _tenant_config(request)
    return reply({"config": config, **config})


async def put_config(request: Request) -> Response:
    """Change the tenant's model settings (only the keys sent); PUT, or POST as iOS sends it."""
    body = await json_body(request)
    if isinstance(body.get("config"), dict):
        body = body["config"]
    return await _save_config(request, body)


async def _save_config(request: Request, body: dict) -> Response:
    who = principal(request)
    unknown = sorted(set(body) - set(CONFIG_KEYS))
    if unknown:
        raise InvalidField(f"Unknown settings: {unknown}", details={"field": unknown[0]})
    changes = {
        "default_model": field_str(body, "default_model", max_len=200, pattern=MODEL_ID),
        "temperature": field_float(body, "temperature", min=0.0, max=2.0),
        "max_tokens": field_int(body, "max_tokens", min=1, max=32768),
        "top_p": field_float(body, "top_p", min=0.0, max=1.0),
        "context_window": field_int(body, "context_window", min=512, max=2_000_000),
        "keep_alive": field_str(body, "keep_alive", max_len=20, pattern=r"-?\d+[smh]?"),
        "system_prompt": field_str(body, "system_prompt", max_len=20_000),
    }
    changes = {k: v for k, v in changes.items() if k in body}
    async with tx(request, who) as conn:
        stored, updated_at = await store.merge_config(conn, who.tenant_id, dumps(changes))
    config = {**_defaults(request), **stored}
    return reply({"status": "ok", "config": config, "updated_at": iso(updated_at)})


SERVICE = Service(
    name="models",
    routes=[
        Route("/api/models", list_models, methods=["GET"]),
        Route("/api/models/config", get_config, methods=["GET"]),
        Route("/api/models/config", put_config, methods=["PUT", "POST"]),
        Route("/api/models/{model_id}/parameters", model_parameters, methods=["GET"]),
        Route("/api/models/{model_id}/parameters", set_model_parameters, methods=["POST"]),
    ],
)
