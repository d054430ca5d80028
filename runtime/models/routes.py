"""Models (``/api/models*`` and ``POST /api/system/unload-models``): the ``models`` service, served by the core.

- ``GET /api/models``: every model the deployment can use (``runtime.models.catalog``) — the GPU fleet's
  and the configured Ollama's (with loaded state and sizes), the configured LLM, STT and TTS models with
  their real availability — as ``{models, total, by_type: {llm, stt, tts}, default_model, gpu}``.
- ``/api/models/config`` and ``/api/models/{id}/parameters``: the tenant's model settings and per-model
  generation parameters (``runtime.models.parameters``), validated, stored under RLS.
- Fleet controls (administrators only): load / unload one model, pull one (progress streamed), unload
  everything, against the Ollama servers ``catalog.ollama_servers`` finds. A cold fleet is woken and the
  call answers 503 with ``Retry-After``.
- ``GET /api/models/capabilities``: each model's context length and streaming support (Android).
"""
from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any, AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from runtime import client_shapes
from runtime.auth.principal import admin_principal, principal
from runtime.content.http import dumps, iso, reply, tx
from runtime.context import ctx
from runtime.errors import ApiError, Conflict, InvalidField
from runtime.models import catalog, ollama, store
from runtime.models import parameters as params
from runtime.service import Service
from runtime.validation import field_str, json_body
from runtime.voice.core import voice_core

GPU_RETRY_SECONDS = 60  # a Spot GPU node takes a few minutes from "desired 1" to a warm Ollama


_ADMIN_ONLY = "Managing models on the model servers needs an administrator."


async def _config(request: Request) -> dict[str, Any]:
    async with tx(request) as conn:
        stored = await store.config(conn)
    defaults = params.config_defaults(catalog.voice(request))
    # A null default model means "the deployment's": it falls back to the configured one.
    return {**defaults, **{k: v for k, v in stored.items() if v is not None or k not in ("default_model", "stt_model")}}


def _server_ids(servers: list[catalog.OllamaServer]) -> set[str]:
    return {"gpu", "ollama", *(s.id for s in servers)}


# ------------------------------------------------------------------------------------- listing
async def list_models(request: Request) -> Response:
    """Every model, its type, server and status."""
    models, fleet = await catalog.all_models(request)
    config = await _config(request)
    sizes = [m.get("size_bytes", 0) for m in models]
    vram = [m.get("vram_bytes", 0) for m in models]
    return reply(client_shapes.model_list(request, {
        "models": models, "total": len(models), "by_type": catalog.by_type(models),
        "default_model": config["default_model"], "gpu": fleet,
        "total_size_gb": round(sum(sizes) / catalog.GB, 2), "loaded_vram_gb": round(sum(vram) / catalog.GB, 2)}))


async def capabilities(request: Request) -> Response:
    """Each model's context length (``max_tokens``) and whether it streams."""
    models, _fleet = await catalog.all_models(request)
    servers, _ = await catalog.ollama_servers(request)
    urls = {s.id: s.url for s in servers}
    out = []
    for m in models:
        context = None
        if m["provider"] == "ollama" and m["status"] != "unavailable" and m["server_id"] in urls:
            context = await ollama.context_length(ctx(request).http, urls[m["server_id"]], m["name"])
        item = {"id": m["id"], "name": m["name"], "type": m["type"], "server_id": m["server_id"],
                "provider": m["provider"], "status": m["status"],
                # LLM answers stream token by token; speech is synthesised and transcribed whole.
                "supports_streaming": m["type"] == "llm"}
        if context:
            item.update(max_tokens=context, context_window=context)
        out.append(item)
    return reply({"status": "ok", "models": out, "total": len(out)})


# ------------------------------------------------------------------------------------- settings
async def get_config(request: Request) -> Response:
    """The tenant's model settings: flat (iOS) and as ``services`` (the console)."""
    config = await _config(request)
    return reply({"status": "ok", "config": params.config_view(config), **config})


async def put_config(request: Request) -> Response:
    """Change the tenant's model settings (only the keys sent): flat, ``{config: {...}}`` or ``{config: {services}}``."""
    body = await json_body(request)
    if isinstance(body.get("config"), dict):
        body = body["config"]
    changes = params.config_changes(body)
    who = principal(request)
    async with tx(request, who) as conn:
        _stored, updated_at = await store.merge_config(conn, who.tenant_id, dumps(changes))
    config = await _config(request)
    return reply({"status": "ok", "config": params.config_view(config), "message": "Configuration saved",
                  "updated_at": iso(updated_at)})


async def _context_length(request: Request, model: str) -> int | None:
    servers, _ = await catalog.ollama_servers(request)
    for server in servers:
        if not catalog.is_down(request, server.url):
            found = await ollama.context_length(ctx(request).http, server.url, model)
            if found:
                return found
    return None


async def model_parameters(request: Request) -> Response:
    """One model's generation parameters with their ranges (the tenant's values over the defaults)."""
    servers, _ = await catalog.ollama_servers(request)
    model = params.model_name(request.path_params["model_id"], _server_ids(servers))
    config = await _config(request)
    async with tx(request) as conn:
        stored = await store.parameters(conn, model)
    context = await _context_length(request, model)
    answer: dict[str, Any] = {
        "status": "ok", "model": model, "model_id": request.path_params["model_id"],
        "parameters": params.parameter_view(params.parameter_values(config, stored), context),
        "is_default": catalog.same_model(model, config["default_model"])}
    if context:
        answer["model_info"] = {"context_window": context,
                                "context_window_formatted": f"{context // 1000}K" if context >= 1000 else str(context)}
    return reply(answer)


async def set_model_parameters(request: Request) -> Response:
    """Save some of one model's parameters: ``{parameters: {name: number}}``."""
    servers, _ = await catalog.ollama_servers(request)
    model = params.model_name(request.path_params["model_id"], _server_ids(servers))
    body = await json_body(request)
    changes = params.parameter_changes(body.get("parameters", body))
    who = principal(request)
    async with tx(request, who) as conn:
        stored = await store.merge_parameters(conn, who.tenant_id, model, dumps(changes))
    values = params.parameter_values(await _config(request), stored)
    return reply({"status": "ok", "model": model, "parameters": values, "message": "Parameters saved"})


# ------------------------------------------------------------------------------------- fleet controls
async def _no_server(request: Request, fleet: dict) -> ApiError:
    if fleet["configured"]:
        gpu = voice_core(ctx(request)).gpu
        if gpu.discovering:
            await gpu.ensure_waking()
            return ApiError(503, "gpu_waking", "The GPU fleet is cold; it is being started. Try again in a few minutes.",
                            headers={"Retry-After": str(GPU_RETRY_SECONDS)})
        return ApiError(503, "gpu_unreachable", "The GPU server (UNAMENTIS_GPU_LLM_URL) does not answer.",
                        headers={"Retry-After": str(GPU_RETRY_SECONDS)})
    return Conflict("No Ollama server is configured: set UNAMENTIS_GPU_LLM_URL or UNAMENTIS_GPU_ASG_NAME (the GPU "
                    "fleet), or UNAMENTIS_LLM_PROVIDER=ollama with UNAMENTIS_LLM_URL.", error="no_model_server")


async def _target(request: Request, model_id: str, server_id: str | None = None
                  ) -> tuple[catalog.OllamaServer, str]:
    """The Ollama server to act on and the model name: the server the id or ``server_id`` names, else
    the one that has the model, else the first (the warm fleet's)."""
    servers, fleet = await catalog.ollama_servers(request)
    ids = _server_ids(servers)
    model = params.model_name(model_id, ids)
    if model != model_id:
        server_id = model_id.partition(":")[0]
    if server_id is not None:
        named = [s for s in servers if s.id == server_id]
        if not named:
            if server_id == "gpu":
                raise await _no_server(request, fleet)
            raise InvalidField(f"No model server {server_id!r} here; servers: {sorted(s.id for s in servers)}",
                               details={"field": "server_id"})
        servers = named
    if not servers:
        raise await _no_server(request, fleet)
    for server in servers:
        if catalog.is_down(request, server.url):
            continue
        try:
            if any(catalog.same_model(t["name"], model) for t in await ollama.tags(ctx(request).http, server.url)):
                return server, model
        except ollama.OllamaError:
            catalog.mark(request, server.url, up=False)
    return servers[0], model


def _refused(exc: ollama.OllamaError, server: catalog.OllamaServer, model: str) -> ApiError:
    """Ollama's refusal as our error: its 404 (no such model) stays 404, its other answers are a bad gateway."""
    if exc.status == 404:
        return ApiError(404, "model_not_found", f"{server.name} has no model {model!r}: pull it first.",
                        details={"server_id": server.id, "model": model})
    return ApiError(504 if exc.status == 504 else 502, "model_server_error", f"{server.name}: {exc.message}",
                    details={"server_id": server.id, "model": model})


async def _loaded(request: Request, server: catalog.OllamaServer, model: str) -> dict | None:
    try:
        running = await ollama.running(ctx(request).http, server.url)
    except ollama.OllamaError:
        return None
    return next((m for m in running if catalog.same_model(m["name"], model)), None)


def _entry(server: catalog.OllamaServer, model: str, status: str, **extra: Any) -> dict:
    source = "gpu" if server.id == "gpu" else "server"
    return catalog.entry(model, "llm", server.id, server.name, "ollama", source, status=status, **extra)


async def load_model(request: Request) -> Response:
    """Load a model into the server's memory (``keep_alive``: how long it stays; default the tenant's)."""
    admin_principal(request, _ADMIN_ONLY)
    body = await json_body(request, allow_empty=True)
    server, model = await _target(request, request.path_params["model_id"], field_str(body, "server_id", max_len=100))
    keep_alive: Any = body.get("keep_alive")
    if isinstance(keep_alive, bool) or not (keep_alive is None or isinstance(keep_alive, int)):
        keep_alive = field_str(body, "keep_alive", max_len=20, pattern=params.KEEP_ALIVE)
    if keep_alive is None:
        keep_alive = (await _config(request))["keep_alive"]
    started = time.monotonic()
    try:
        await ollama.load(ctx(request).http, server.url, model, keep_alive)
    except ollama.OllamaError as exc:
        raise _refused(exc, server, model) from None
    load_ms = int((time.monotonic() - started) * 1000)
    running = await _loaded(request, server, model) or {}
    vram = catalog.int_or_none(running.get("size_vram")) or 0
    await ctx(request).events.publish("model_loaded", {"model": model, "server_id": server.id, "vram_bytes": vram})
    return reply(client_shapes.model_action(
        request,
        {"status": "ok", "model": model, "server_id": server.id, "message": f"Model {model} loaded on {server.name}",
         "vram_bytes": vram, "vram_gb": round(vram / catalog.GB, 2), "load_time_ms": load_ms,
         "keep_alive": keep_alive},
        _entry(server, model, "loaded", vram_bytes=vram, loaded_at=iso(dt.datetime.now(dt.timezone.utc)))))


async def unload_model(request: Request) -> Response:
    """Unload a model from the server's memory (a model that was not loaded answers ok, 0 bytes freed)."""
    admin_principal(request, _ADMIN_ONLY)
    server, model = await _target(request, request.path_params["model_id"])
    running = await _loaded(request, server, model)
    freed = catalog.int_or_none(running.get("size_vram")) or 0 if running is not None else 0
    if running is not None:
        try:
            await ollama.unload(ctx(request).http, server.url, running["name"])
        except ollama.OllamaError as exc:
            raise _refused(exc, server, model) from None
        await ctx(request).events.publish("model_unloaded", {"model": model, "server_id": server.id,
                                                             "freed_vram_bytes": freed})
    message = f"Model {model} unloaded from {server.name}" if running is not None else f"Model {model} was not loaded"
    return reply(client_shapes.model_action(
        request,
        {"status": "ok", "model": model, "server_id": server.id, "message": message,
         "freed_vram_bytes": freed, "freed_vram_gb": round(freed / catalog.GB, 2)},
        _entry(server, model, "available")))


def _progress(item: dict, model: str) -> dict:
    """One progress object as the console's ModelPullProgress (numbers always present)."""
    out: dict[str, Any] = {"status": str(item.get("status") or ""), "model": model,
                           "completed": item.get("completed") if isinstance(item.get("completed"), int) else 0,
                           "total": item.get("total") if isinstance(item.get("total"), int) else 0}
    if isinstance(item.get("digest"), str):
        out["digest"] = item["digest"]
    return out


async def pull_model(request: Request) -> Response:
    """Pull a model onto the server: ``{model}`` (console: progress streamed as server-sent events) or
    ``{model_id}`` (Android: one answer when the pull is done)."""
    admin_principal(request, _ADMIN_ONLY)
    body = await json_body(request)
    key = next((k for k in ("model", "model_id", "name") if body.get(k) is not None), "model")
    model_id = field_str(body, key, required=True, max_len=200, pattern=params.MODEL_ID)
    assert model_id is not None
    server, model = await _target(request, model_id, field_str(body, "server_id", max_len=100))
    progress = ollama.pull(ctx(request).http, server.url, model)
    try:
        first = await progress.__anext__()  # Ollama's refusal (bad name, unreachable) is still a plain error here
    except ollama.OllamaError as exc:
        raise _refused(exc, server, model) from None
    except StopAsyncIteration:
        first = {"status": "success"}
    if not client_shapes.model_pull_streams(request):
        try:
            async for _item in progress:
                pass
        except ollama.OllamaError as exc:
            raise _refused(exc, server, model) from None
        await ctx(request).events.publish("model_pulled", {"model": model, "server_id": server.id})
        return reply(_entry(server, model, "available"))

    async def events() -> AsyncIterator[bytes]:
        yield _sse(_progress(first, model))
        try:
            async for item in progress:
                yield _sse(_progress(item, model))
        except ollama.OllamaError as exc:
            yield _sse({"status": "error", "model": model, "completed": 0, "total": 0, "error": exc.message})
            return
        await ctx(request).events.publish("model_pulled", {"model": model, "server_id": server.id})
        yield _sse({"status": "success", "model": model, "completed": 0, "total": 0})

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _sse(data: dict) -> bytes:
    return f"data: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


async def unload_all(request: Request) -> Response:
    """Unload every loaded model on every reachable Ollama server: ``{status, results: {server_id: ok}}``."""
    admin_principal(request, _ADMIN_ONLY)
    servers, fleet = await catalog.ollama_servers(request)
    results: dict[str, bool] = {}
    unloaded: dict[str, list[str]] = {}
    for server in servers:
        try:
            names = [m["name"] for m in await ollama.running(ctx(request).http, server.url)]
            for name in names:
                await ollama.unload(ctx(request).http, server.url, name)
            results[server.id], unloaded[server.id] = True, names
        except ollama.OllamaError:
            results[server.id] = False
    if fleet["configured"] and "gpu" not in results:
        results["gpu"] = True  # a cold fleet holds nothing in memory
        unloaded["gpu"] = []
    await ctx(request).events.publish("models_unloaded", results)
    return reply({"status": "ok" if all(results.values()) else "partial", "results": results, "unloaded": unloaded})


SERVICE = Service(
    name="models",
    routes=[
        Route("/api/models", list_models, methods=["GET"]),
        Route("/api/models/capabilities", capabilities, methods=["GET"]),
        Route("/api/models/config", get_config, methods=["GET"]),
        Route("/api/models/config", put_config, methods=["PUT", "POST"]),
        Route("/api/models/pull", pull_model, methods=["POST"]),
        Route("/api/models/{model_id}/parameters", model_parameters, methods=["GET"]),
        Route("/api/models/{model_id}/parameters", set_model_parameters, methods=["POST"]),
        Route("/api/models/{model_id}/load", load_model, methods=["POST"]),
        Route("/api/models/{model_id}/unload", unload_model, methods=["POST"]),
        Route("/api/system/unload-models", unload_all, methods=["POST"]),
    ],
)
