"""The model servers the stack knows, with their health: the GPU node's servers (fixed URLs or the
discovered node), the providers configured by URL (``UNAMENTIS_{LLM,STT,TTS}_URL``), and servers an
admin added (``ops_servers``).

An added server is a URL typed by a person, so the core fetches it only through the import's SSRF
guard (``runtime.curricula.fetch``): http(s), no credentials, every resolved address public or in a
private network where model servers live (RFC 1918 / unique local), never loopback, link-local (the
metadata service), CGNAT or reserved, and the connection pinned to the checked address.
"""
from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from runtime.curricula.fetch import FetchError, FetchPolicy, check_url, fetch_bytes
from runtime.errors import InvalidField
from runtime.voice.gpu import NODE_PORTS, GpuFleet, node_urls

SERVER_TYPES = ("ollama", "whisper", "piper", "vibevoice", "custom")
# Where operators run model servers: a VPC or a LAN. Everything else private stays refused.
MODEL_SERVER_NETWORKS = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
PROBE_SECONDS = 1.0
ADDED_SERVER_POLICY = FetchPolicy(max_bytes=256 * 1024, timeout_seconds=PROBE_SECONDS, max_redirects=0,
                                  schemes=("http", "https"), ports=None, private_networks=MODEL_SERVER_NETWORKS)
# The path whose answer tells a server of each type is up (Ollama's also lists its models).
HEALTH_PATH = {"ollama": "/api/tags", "whisper": "/health", "piper": "/health", "vibevoice": "/health",
               "custom": "/health", "unamentisGateway": "/health"}


@dataclass(frozen=True)
class Server:
    id: str
    name: str
    type: str
    url: str  # scheme://host:port, no path
    port: int
    probe_path: str
    added: bool  # by an admin: fetched through the SSRF guard
    api_key: str | None = None


def base_url(url: str, port: int) -> str:
    """``scheme://host:port`` of a server given as a URL (its own port wins) and a port."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidField("'url' must be an http(s) URL such as http://10.0.0.5.")
    if parts.username or parts.password:
        raise InvalidField("'url' must not carry credentials.")
    try:
        port = parts.port or port
    except ValueError:
        raise InvalidField("'url' has an invalid port.") from None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return urlunsplit((parts.scheme, f"{host}:{port}", "", "", ""))


async def check_added(url: str) -> None:
    """400 for an added server's URL the guard refuses (see the module docstring)."""
    try:
        await check_url(url, ADDED_SERVER_POLICY)
    except FetchError as exc:
        raise InvalidField(f"'url' is not allowed: {exc.message}.") from None


def configured(fleet: GpuFleet, vs: Any) -> list[Server]:
    """The servers the settings name: the GPU node's and the providers configured by URL."""
    out: list[Server] = []
    gpu = fleet.fixed or (node_urls(fleet.address) if fleet.address else {})
    for kind, server_type, name in (("llm", "ollama", "GPU Ollama"), ("stt", "whisper", "GPU Whisper"),
                                    ("tts", "custom", "GPU TTS")):
        if kind in gpu:
            parts = urlsplit(gpu[kind])
            port = parts.port or NODE_PORTS[kind]
            path = "/api/tags" if kind == "llm" else parts.path.rstrip("/") + "/models"
            out.append(Server(f"gpu-{kind}", name, server_type, f"{parts.scheme}://{parts.hostname}:{port}", port,
                              path, added=False))
    for kind, name in (("llm", "LLM provider"), ("stt", "Speech-to-text provider"), ("tts", "Text-to-speech provider")):
        url = getattr(vs, f"{kind}_url", None)
        if url:
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
            out.append(Server(f"provider-{kind}", name, "custom", f"{parts.scheme}://{parts.hostname}:{port}", port,
                              parts.path.rstrip("/") + "/models", added=False, api_key=getattr(vs, f"{kind}_api_key", None)))
    return out


def added(rows: list[Any]) -> list[Server]:
    return [Server(str(r["id"]), r["name"], r["type"], r["url"], r["port"], HEALTH_PATH.get(r["type"], "/health"),
                   added=True) for r in rows]


def _models(body: bytes) -> list[str]:
    """Model names from an Ollama ``/api/tags`` or an OpenAI-style ``/models`` answer."""
    try:
        data = json.loads(body)
    except ValueError:
        return []
    items = data.get("models") or data.get("data") or [] if isinstance(data, dict) else []
    return [str(m.get("name") or m.get("id")) for m in items if isinstance(m, dict) and (m.get("name") or m.get("id"))][:100]


async def probe(server: Server, http: httpx.AsyncClient) -> dict[str, Any]:
    """The console's ServerStatus of ``server``: healthy (answers 200), degraded (reachable, answers an
    error) or unhealthy (unreachable)."""
    started = time.monotonic()
    status, error, models = "healthy", None, []
    url = server.url + server.probe_path
    try:
        if server.added:
            body = await fetch_bytes(url, policy=ADDED_SERVER_POLICY)
        else:
            headers = {"Authorization": f"Bearer {server.api_key}"} if server.api_key else {}
            response = await http.get(url, headers=headers, timeout=PROBE_SECONDS)
            if response.status_code != 200:
                raise FetchError(502, "fetch_failed", f"the remote server answered {response.status_code}")
            body = response.content
        models = _models(body)
    except FetchError as exc:
        status = "degraded" if exc.message.startswith("the remote server answered") else "unhealthy"
        error = exc.message
    except httpx.HTTPError as exc:
        status, error = "unhealthy", f"unreachable ({type(exc).__name__})"
    answer: dict[str, Any] = {
        "id": server.id, "name": server.name, "type": server.type, "url": server.url, "port": server.port,
        "status": status, "last_check": int(time.time() * 1000),
        "response_time_ms": round((time.monotonic() - started) * 1000, 1), "models": models,
        "capabilities": {"added": server.added}}
    if error:
        answer["error_message"] = error
    return answer


async def probe_all(servers: list[Server], http: httpx.AsyncClient) -> list[dict[str, Any]]:
    return list(await asyncio.gather(*(probe(s, http) for s in servers)))


def counts(statuses: list[dict[str, Any]]) -> dict[str, int]:
    return {"total": len(statuses), **{k: sum(s["status"] == k for s in statuses)
                                       for k in ("healthy", "degraded", "unhealthy")}}
