"""The Ollama HTTP API as the model routes use it (https://github.com/ollama/ollama/blob/main/docs/api.md,
read 2026-12-04): what a server has (``GET /api/tags``), what it holds in memory (``GET /api/ps``), a
model's context length (``POST /api/show``), loading and unloading (``POST /api/generate`` with no prompt
and ``keep_alive``: a duration loads and keeps it, ``0`` unloads it) and pulling (``POST /api/pull``,
a newline-delimited JSON stream of progress objects).
"""
from __future__ import annotations

import json
from typing import Any, AsyncIterator

import httpx

# Listing must stay fast when a server is down; loading a large model into VRAM takes tens of seconds.
LIST_TIMEOUT = 1.0
LOAD_TIMEOUT = httpx.Timeout(120.0, connect=3.0)
# A pull reads for as long as the download runs; this bounds the wait between two progress lines.
PULL_TIMEOUT = httpx.Timeout(None, connect=3.0, read=300.0)


class OllamaError(Exception):
    """The server answered with an error (``status`` is its HTTP status) or did not answer (``status`` 502)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or f"HTTP {response.status_code}"
    return str(body.get("error")) if isinstance(body, dict) and body.get("error") else f"HTTP {response.status_code}"


def _url(base: str, path: str) -> str:
    return base.rstrip("/") + path


async def _get_models(http: httpx.AsyncClient, base: str, path: str) -> list[dict]:
    try:
        response = await http.get(_url(base, path), timeout=LIST_TIMEOUT)
        if response.status_code != 200:
            raise OllamaError(response.status_code, _error_text(response))
        items = response.json().get("models")
    except (httpx.HTTPError, ValueError, AttributeError) as exc:
        raise OllamaError(502, f"{type(exc).__name__} from {base}") from None
    return [m for m in items if isinstance(m, dict) and isinstance(m.get("name"), str)] if isinstance(items, list) else []


async def tags(http: httpx.AsyncClient, base: str) -> list[dict]:
    """The models the server has (``name``, ``size``, ``details``…)."""
    return await _get_models(http, base, "/api/tags")


async def running(http: httpx.AsyncClient, base: str) -> list[dict]:
    """The models loaded in memory (``name``, ``size_vram``, ``expires_at``…)."""
    return await _get_models(http, base, "/api/ps")


async def context_length(http: httpx.AsyncClient, base: str, model: str) -> int | None:
    """The model's trained context length (``model_info["<architecture>.context_length"]``), None if unknown."""
    try:
        response = await http.post(_url(base, "/api/show"), json={"model": model}, timeout=LIST_TIMEOUT)
        info = response.json().get("model_info") if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError, AttributeError):
        return None
    if not isinstance(info, dict):
        return None
    for key, value in info.items():
        if key.endswith(".context_length") and isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


async def _generate(http: httpx.AsyncClient, base: str, model: str, keep_alive: str | int) -> None:
    try:
        response = await http.post(_url(base, "/api/generate"),
                                   json={"model": model, "keep_alive": keep_alive, "stream": False}, timeout=LOAD_TIMEOUT)
    except httpx.TimeoutException:
        raise OllamaError(504, f"{base} did not finish in time (the model may still be loading)") from None
    except httpx.HTTPError as exc:
        raise OllamaError(502, f"{type(exc).__name__} from {base}") from None
    if response.status_code != 200:
        raise OllamaError(response.status_code, _error_text(response))


async def load(http: httpx.AsyncClient, base: str, model: str, keep_alive: str | int) -> None:
    """Load ``model`` into memory and keep it there for ``keep_alive`` (e.g. ``"10m"``, ``-1``: until unloaded)."""
    await _generate(http, base, model, keep_alive)


async def unload(http: httpx.AsyncClient, base: str, model: str) -> None:
    await _generate(http, base, model, 0)


async def pull(http: httpx.AsyncClient, base: str, model: str) -> AsyncIterator[dict[str, Any]]:
    """Ollama's progress objects while it pulls ``model``; raises OllamaError when it refuses or fails
    (also when a progress line carries ``error``)."""
    try:
        async with http.stream("POST", _url(base, "/api/pull"), json={"model": model, "stream": True},
                               timeout=PULL_TIMEOUT) as response:
            if response.status_code != 200:
                await response.aread()
                raise OllamaError(response.status_code, _error_text(response))
            async for line in response.aiter_lines():
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(item, dict):
                    continue
                if item.get("error"):
                    raise OllamaError(502, str(item["error"]))
                yield item
    except httpx.HTTPError as exc:
        raise OllamaError(502, f"{type(exc).__name__} from {base}") from None
