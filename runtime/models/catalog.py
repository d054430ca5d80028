"""Which models exist, where, and in what state: the ``/api/models`` list and the servers the model
controls act on.

Servers: the GPU fleet's Ollama (``server_id`` ``gpu``: a fixed ``UNAMENTIS_GPU_LLM_URL`` or the node the
voice core's fleet discovery found, listed while the fleet is warm) and the configured LLM server
(``UNAMENTIS_LLM_*``: an Ollama — ``ollama`` — that can be managed too, or an OpenAI-compatible/Groq/OpenAI
API listed through ``GET {base}/models``). The configured speech-to-text and text-to-speech models are
listed as ``stt`` / ``tts`` entries, available when their provider can run here (and, with a server URL,
when the server lists its models); the warm fleet's speech servers add theirs.

A server that did not answer is not asked again for ``UNAMENTIS_GPU_PROBE_SECONDS`` (remembered per
task on ``app.state``), so a dead server costs one short timeout per interval, not one per call.
API keys are never returned.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from starlette.requests import Request

from runtime.context import ctx
from runtime.models import ollama
from runtime.providers.base import ProviderNotConfigured
from runtime.providers.registry import GROQ_URL, OLLAMA_URL, OPENAI_URL
from runtime.providers.stt import OpenAITranscriptionSTT
from runtime.providers.tts import OpenAISpeechTTS
from runtime.settings import VoiceSettings, voice_settings
from runtime.voice.core import voice_core

KINDS = ("llm", "stt", "tts")
GB = 1024 ** 3


@dataclass(frozen=True)
class OllamaServer:
    id: str
    name: str
    url: str


def voice(request: Request) -> VoiceSettings:
    return voice_settings(ctx(request).settings)


def _host(url: str) -> str:
    return urlsplit(url).netloc or url


def configured_llm(vs: VoiceSettings) -> tuple[str, str, str]:
    """(provider, base URL, server_id) of the configured LLM, resolved as ``providers.registry.build_llm`` does."""
    kind = vs.llm_provider
    if kind == "auto":
        kind = "openai" if vs.llm_url else "ollama"
    if kind == "ollama":
        return kind, vs.llm_url or OLLAMA_URL, "ollama"
    if kind == "groq":
        return kind, vs.llm_url or GROQ_URL, "groq"
    return kind, vs.llm_url or OPENAI_URL, "openai" if vs.llm_api_key or not vs.llm_url else "openai_compatible"


def same_model(a: str, b: str) -> bool:
    """Ollama lists ``llama3.2:latest`` for a configured ``llama3.2``."""
    return a == b or a.removesuffix(":latest") == b.removesuffix(":latest")


# ------------------------------------------------------------------------------------- servers
def _down(request: Request) -> dict[str, float]:
    state = request.app.state
    if not hasattr(state, "models_servers_down"):
        state.models_servers_down = {}
    return state.models_servers_down


def is_down(request: Request, url: str) -> bool:
    since = _down(request).get(url)
    return since is not None and time.monotonic() - since < voice(request).gpu_probe_seconds


def mark(request: Request, url: str, *, up: bool) -> None:
    if up:
        _down(request).pop(url, None)
    else:
        _down(request)[url] = time.monotonic()


async def gpu_server(request: Request) -> tuple[OllamaServer | None, dict]:
    """The fleet's Ollama when the fleet is warm, and the fleet's state ``{configured, warm}``."""
    fleet = voice_core(ctx(request)).gpu
    if not fleet.configured:
        return None, {"configured": False, "warm": False}
    warm = await fleet.is_warm()
    url = fleet.urls().get("llm")
    server = OllamaServer("gpu", "GPU fleet", url) if warm and url else None
    return server, {"configured": True, "warm": warm}


async def ollama_servers(request: Request) -> tuple[list[OllamaServer], dict]:
    """The Ollama servers the model controls act on (the warm fleet first), and the fleet's state."""
    gpu, fleet = await gpu_server(request)
    servers = [gpu] if gpu else []
    kind, base, server_id = configured_llm(voice(request))
    if kind == "ollama" and all(s.url.rstrip("/") != base.rstrip("/") for s in servers):
        servers.append(OllamaServer(server_id, f"Ollama ({_host(base)})", base))
    return servers, fleet


# ------------------------------------------------------------------------------------- entries
def entry(model_id: str, kind: str, server_id: str, server_name: str, provider: str, source: str, *,
          status: str, **extra) -> dict:
    """One model as every caller reads it: ``id, name, type, server_id, server_name, status`` (iOS
    ``ServerConfigManager.discoverManagementModels``, the console's ``ModelInfo``, Android's ``ModelInfo``);
    optional numbers and strings only when known (the console's types do not admit null)."""
    item = {"id": model_id, "name": model_id, "model": model_id, "type": kind, "server_id": server_id,
            "server_name": server_name, "status": status, "provider": provider, "source": source,
            "available": status in ("available", "loaded"), "loaded": status == "loaded"}
    item.update({k: v for k, v in extra.items() if v is not None and v != ""})
    return item


def int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _ollama_entry(server: OllamaServer, tag: dict, loaded: dict | None) -> dict:
    details: dict = tag["details"] if isinstance(tag.get("details"), dict) else {}
    size = int_or_none(tag.get("size"))
    vram = int_or_none(loaded.get("size_vram")) if loaded is not None else None
    return entry(tag["name"], "llm", server.id, server.name, "ollama", "gpu" if server.id == "gpu" else "server",
                 status="loaded" if loaded is not None else "available",
                 size_bytes=size, size_gb=round(size / GB, 2) if size is not None else None,
                 family=_text(details.get("family")), parameter_size=_text(details.get("parameter_size")),
                 quantization=_text(details.get("quantization_level")),
                 quantization_level=_text(details.get("quantization_level")),
                 vram_bytes=vram, vram_gb=round(vram / GB, 2) if vram is not None else None)


async def ollama_models(request: Request, server: OllamaServer) -> list[dict] | None:
    """The server's models with their loaded state; None when it does not answer."""
    if is_down(request, server.url):
        return None
    http = ctx(request).http
    try:
        tags = await ollama.tags(http, server.url)
    except ollama.OllamaError:
        mark(request, server.url, up=False)
        return None
    mark(request, server.url, up=True)
    try:
        loaded = {m["name"]: m for m in await ollama.running(http, server.url)}
    except ollama.OllamaError:  # an older server without /api/ps: its models are listed, not their memory
        loaded = {}
    return [_ollama_entry(server, tag, loaded.get(tag["name"])) for tag in tags]


async def openai_models(request: Request, base: str, api_key: str | None) -> list[str] | None:
    """Model ids an OpenAI-compatible server lists (``GET {base}/models``); None when it does not answer."""
    if is_down(request, base):
        return None
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        r = await ctx(request).http.get(base.rstrip("/") + "/models", headers=headers, timeout=ollama.LIST_TIMEOUT)
        items = r.json().get("data") if r.status_code == 200 else None
    except (httpx.HTTPError, ValueError, AttributeError):
        items = None
    if not isinstance(items, list):
        mark(request, base, up=False)
        return None
    mark(request, base, up=True)
    return [m["id"] for m in items if isinstance(m, dict) and isinstance(m.get("id"), str)]


async def _configured_llm(request: Request, gpu: OllamaServer | None) -> list[dict]:
    """The configured model (available only when its server lists it) and the server's other models."""
    vs = voice(request)
    kind, base, server_id = configured_llm(vs)
    if kind == "ollama":
        server = OllamaServer(server_id, f"Ollama ({_host(base)})", base)
        if gpu is not None and gpu.url.rstrip("/") == base.rstrip("/"):
            server = gpu  # the fleet's own Ollama: listed once, as the fleet's
        listed = await ollama_models(request, server) or []
        name = server.name
    else:
        name = f"{server_id} ({_host(base)})"
        names = await openai_models(request, base, vs.llm_api_key) or []
        listed = [entry(n, "llm", server_id, name, kind, "server", status="available") for n in names]
    others = [m for m in listed if not same_model(m["id"], vs.llm_model)]
    mine = next((m for m in listed if same_model(m["id"], vs.llm_model)), None)
    configured = {**(mine or {}), **entry(vs.llm_model, "llm", mine["server_id"] if mine else server_id,
                                           mine["server_name"] if mine else name, kind, "configured",
                                           status=mine["status"] if mine else "unavailable")}
    return [configured, *others]


async def _speech(request: Request, kind: str) -> list[dict]:
    """The configured STT or TTS model, and the warm fleet's speech server's models."""
    core = voice_core(ctx(request))
    out: list[dict] = []
    try:
        provider = core.router.primary(kind)
    except ProviderNotConfigured as exc:
        model = voice(request).stt_model if kind == "stt" else voice(request).tts_model
        out.append(entry(model, kind, kind, "not configured", kind, "configured", status="unavailable",
                         error=exc.message[:300]))
        provider = None
    name = str(getattr(provider, "name", kind))
    if isinstance(provider, (OpenAITranscriptionSTT, OpenAISpeechTTS)):
        # An OpenAI-compatible server: available while it answers its model list.
        listed = await openai_models(request, provider.base_url, provider.api_key)
        out.append(entry(provider.model, kind, name, f"{name} ({_host(provider.base_url)})", name, "configured",
                         status="available" if listed is not None else "unavailable"))
    elif provider is not None:
        # Built in (PocketSphinx, eSpeak NG: their package was found) or an API without a model list
        # (Deepgram, whisper.cpp): configured is all that can be known without a paid call.
        model = str(getattr(provider, "model", None) or name)
        out.append(entry(model, kind, name, name, name, "configured", status="available"))
    fleet_url = core.gpu.urls().get(kind) if core.gpu.warm else None
    if fleet_url:
        for model_id in await openai_models(request, fleet_url, None) or []:
            out.append(entry(model_id, kind, "gpu", "GPU fleet", "speaches", "gpu", status="available"))
    return out


async def all_models(request: Request) -> tuple[list[dict], dict]:
    """Every model entry (the fleet's first, no duplicate LLM ids) and the fleet's state."""
    gpu, fleet = await gpu_server(request)
    fleet_models = (await ollama_models(request, gpu) or []) if gpu else []
    seen = {m["id"] for m in fleet_models}
    llm = fleet_models + [m for m in await _configured_llm(request, gpu) if m["id"] not in seen]
    return llm + await _speech(request, "stt") + await _speech(request, "tts"), fleet


def by_type(models: list[dict]) -> dict[str, int]:
    return {kind: sum(1 for m in models if m["type"] == kind) for kind in KINDS}
