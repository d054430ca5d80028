"""Streaming language-model providers.

- ``OpenAIChatLLM``: ``POST {base}/chat/completions`` with ``stream: true`` (SSE, ``data: [DONE]``)
  and ``stream_options.include_usage`` (usage arrives in a last chunk with empty/null ``choices``).
- ``OllamaChatLLM``: native ``POST {base}/api/chat`` (NDJSON, final object ``done: true`` with
  ``prompt_eval_count``/``eval_count``) and ``keep_alive`` so the model stays resident on the GPU node.

Both estimate usage when the stream ends without counts (cancelled by barge-in, or a server that
never sends them) so metering can settle an estimate.
"""
from __future__ import annotations

import json
from typing import AsyncIterator

import httpx

from .base import LLMDelta, LLMUsage, ProviderError, estimate_tokens, messages_tokens
from .http import auth_headers, raise_for_status, transport_error


class OpenAIChatLLM:
    def __init__(self, http: httpx.AsyncClient, base_url: str, *, api_key: str | None, model: str,
                 name: str = "openai_llm", timeout: float = 60.0, paid: bool = True):
        self.http, self.base_url, self.api_key, self.model = http, base_url.rstrip("/"), api_key, model
        self.name, self.timeout, self.paid = name, timeout, paid

    async def stream(self, messages: list[dict], *, max_tokens: int, temperature: float) -> AsyncIterator[LLMDelta]:
        payload = {"model": self.model, "messages": messages, "stream": True, "max_tokens": max_tokens,
                   "temperature": temperature, "stream_options": {"include_usage": True}}
        out_text: list[str] = []
        usage: LLMUsage | None = None
        finish: str | None = None
        try:
            async with self.http.stream("POST", f"{self.base_url}/chat/completions", json=payload,
                                        headers=auth_headers(self.api_key), timeout=self.timeout) as r:
                if r.status_code >= 400:
                    raise_for_status(self.name, r, await r.aread())
                async for line in r.aiter_lines():
                    if not line.startswith("data:"):
                        continue  # SSE comments, event names and blank separators
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    try:
                        chunk = json.loads(data)
                    except ValueError as exc:
                        raise ProviderError(self.name, f"bad SSE chunk: {data[:80]}") from exc
                    if chunk.get("error"):
                        raise ProviderError(self.name, str(chunk["error"])[:200])
                    u = chunk.get("usage")
                    if isinstance(u, dict):
                        usage = LLMUsage(int(u.get("prompt_tokens") or 0), int(u.get("completion_tokens") or 0), False)
                    for choice in chunk.get("choices") or ():  # vLLM sends choices: null on the usage chunk
                        delta = (choice or {}).get("delta") or {}
                        text = delta.get("content")
                        if text:
                            out_text.append(text)
                            yield LLMDelta(text=text)
                        if choice.get("finish_reason"):
                            finish = choice["finish_reason"]
        except httpx.HTTPError as exc:
            raise transport_error(self.name, exc) from exc
        if usage is None:
            usage = LLMUsage(messages_tokens(messages), estimate_tokens("".join(out_text)), True)
        yield LLMDelta(usage=usage, finish_reason=finish or "stop")


class OllamaChatLLM:
    def __init__(self, http: httpx.AsyncClient, base_url: str, *, model: str, keep_alive: str = "10m",
                 name: str = "ollama", timeout: float = 120.0, paid: bool = False):
        self.http, self.base_url, self.model, self.keep_alive = http, base_url.rstrip("/"), model, keep_alive
        self.name, self.timeout, self.paid = name, timeout, paid

    def _keep_alive_value(self):
        # Ollama takes a duration string or a number of seconds ("0" unloads, negative keeps forever).
        try:
            return int(self.keep_alive)
        except ValueError:
            return self.keep_alive

    async def stream(self, messages: list[dict], *, max_tokens: int, temperature: float) -> AsyncIterator[LLMDelta]:
        payload = {"model": self.model, "messages": messages, "stream": True, "keep_alive": self._keep_alive_value(),
                   "options": {"num_predict": max_tokens, "temperature": temperature}}
        out_text: list[str] = []
        usage: LLMUsage | None = None
        finish: str | None = None
        try:
            async with self.http.stream("POST", f"{self.base_url}/api/chat", json=payload, timeout=self.timeout) as r:
                if r.status_code >= 400:
                    raise_for_status(self.name, r, await r.aread())
                async for line in r.aiter_lines():
                    if not line.strip():
                        continue
                    try:
                        obj = json.loads(line)
                    except ValueError as exc:
                        raise ProviderError(self.name, f"bad NDJSON line: {line[:80]}") from exc
                    if obj.get("error"):
                        raise ProviderError(self.name, str(obj["error"])[:200])
                    text = (obj.get("message") or {}).get("content")
                    if text:
                        out_text.append(text)
                        yield LLMDelta(text=text)
                    if obj.get("done"):
                        finish = obj.get("done_reason") or "stop"
                        if "eval_count" in obj or "prompt_eval_count" in obj:
                            usage = LLMUsage(int(obj.get("prompt_eval_count") or 0), int(obj.get("eval_count") or 0), False)
                        break
        except httpx.ConnectError as exc:
            raise ProviderError(self.name, f"cannot reach Ollama at {self.base_url}: start it (ollama serve) or set "
                                           "UNAMENTIS_LLM_URL / UNAMENTIS_LLM_PROVIDER", retryable=True) from exc
        except httpx.HTTPError as exc:
            raise transport_error(self.name, exc) from exc
        if usage is None:
            usage = LLMUsage(messages_tokens(messages), estimate_tokens("".join(out_text)), True)
        yield LLMDelta(usage=usage, finish_reason=finish or "stop")
