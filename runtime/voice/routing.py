"""Which provider serves a call, with metering around every paid attempt and bounded fallback.

Candidates per call: the GPU fleet's provider when the fleet is warm (when it is cold the fleet is
woken and the external/offline provider serves meanwhile), then the configured provider. A retryable
error moves to the next candidate, then retries the configured one up to ``provider_retries`` times
with a short backoff. A streamed LLM reply is never re-issued after its first token (the client
already heard it); when a GPU node fails mid-reply the next candidate continues it.
"""
from __future__ import annotations

import asyncio
from typing import AsyncIterator, Awaitable, Callable

from runtime.providers import registry
from runtime.providers.base import LLMDelta, ProviderError, ProviderNotConfigured, SpeechAudio, TTSRequest, Transcript
from runtime.providers.llm import OllamaChatLLM
from runtime.providers.stt import OpenAITranscriptionSTT
from runtime.providers.tts import OpenAISpeechTTS

from .gpu import GpuFleet
from .metering import Meter


class ProviderRouter:
    def __init__(self, vs, http, meter: Meter, gpu: GpuFleet):
        self.vs, self.http, self.meter, self.gpu = vs, http, meter, gpu
        self._primary: dict[str, object] = {}
        self._gpu_providers: dict[tuple[str, str], object] = {}  # (kind, base URL) -> provider

    def gpu_provider(self, kind: str):
        """The fleet's provider of ``kind`` at the node in use now (None when the fleet has none)."""
        url = self.gpu.urls().get(kind)
        if url is None:
            return None
        key = (kind, url)
        if key not in self._gpu_providers:
            vs, http = self.vs, self.http
            self._gpu_providers[key] = {
                "llm": lambda: OllamaChatLLM(http, url, model=vs.llm_model, keep_alive=vs.llm_keep_alive,
                                             name="gpu_ollama"),
                "stt": lambda: OpenAITranscriptionSTT(http, url, api_key=None, model=vs.stt_model,
                                                      name="gpu_whisper", paid=False),
                "tts": lambda: OpenAISpeechTTS(http, url, api_key=None, model=vs.tts_model, name="gpu_tts",
                                               paid=False),
            }[kind]()
        return self._gpu_providers[key]

    def _is_gpu(self, provider) -> bool:
        return any(provider is p for p in self._gpu_providers.values())

    def primary(self, kind: str):
        """The configured provider (built on first use; ProviderNotConfigured names what is missing)."""
        if kind not in self._primary:
            builder = {"stt": registry.build_stt, "llm": registry.build_llm, "tts": registry.build_tts}[kind]
            self._primary[kind] = builder(self.vs, self.http)
        return self._primary[kind]

    def close(self) -> None:
        """Stop what the providers run outside this process (the offline recogniser's workers)."""
        for provider in self._primary.values():
            close = getattr(provider, "close", None)
            if callable(close):
                close()

    def tts_named(self, name: str | None):
        """A TTS provider by the name a client asked for (``/api/tts`` ``tts_provider``)."""
        if not name or name in ("auto", "default"):
            return self.primary("tts")
        key = f"tts:{name}"
        if key not in self._primary:
            if name in ("gpu", "gpu_tts") and self.gpu.urls().get("tts"):
                return self.gpu_provider("tts")  # follows the node in use, not cached here
            else:
                self._primary[key] = registry.build_tts(self.vs, self.http, kind=name)
        return self._primary[key]

    async def candidates(self, kind: str) -> list:
        out = []
        if self.gpu.configured and (kind in self.gpu.fixed or self.gpu.discovering):
            provider = self.gpu_provider(kind) if await self.gpu.is_warm() else None
            if provider is not None:
                out.append(provider)
            else:
                await self.gpu.ensure_waking()
        try:
            out.append(self.primary(kind))
        except ProviderNotConfigured:
            if not out:
                raise
        return out

    async def _attempts(self, kind: str):
        cands = await self.candidates(kind)
        for p in cands:
            yield p
        for i in range(self.vs.provider_retries):
            await asyncio.sleep(0.2 * (2 ** i))
            yield cands[-1]

    async def _run(self, kind: str, call: Callable[[object], Awaitable]):
        last: ProviderError | None = None
        async for provider in self._attempts(kind):
            try:
                return await call(provider)
            except ProviderError as exc:
                last = exc
                if self._is_gpu(provider):
                    self.gpu.mark_failed()
                if not exc.retryable:
                    raise
        assert last is not None
        raise last

    async def transcribe(self, principal, pcm: bytes, sample_rate: int) -> tuple[Transcript, object]:
        async def call(p):
            seconds = len(pcm) / (2 * sample_rate)
            async with self.meter.charge(principal, p, "stt", {"stt_seconds": seconds}) as charge:
                t = await p.transcribe(pcm, sample_rate, language=self.vs.stt_language)
                charge.actual({"stt_seconds": t.audio_seconds})
                return t, p
        return await self._run("stt", call)

    async def synthesize(self, principal, request: TTSRequest, provider=None) -> tuple[SpeechAudio, object]:
        async def call(p):
            async with self.meter.charge(principal, p, "tts", {"tts_characters": len(request.text)}):
                return await p.synthesize(request), p
        if provider is not None:
            return await call(provider)
        return await self._run("tts", call)

    async def stream_llm(self, principal, messages: list[dict]) -> AsyncIterator[LLMDelta]:
        """Stream the reply; falls back to the next candidate while nothing was emitted. A GPU node
        that fails mid-reply (a Spot node drained and stopped) hands over to the next candidate,
        which continues the reply from what the learner already heard instead of starting again."""
        last: ProviderError | None = None
        said = ""  # what a GPU node streamed before it failed: the fallback continues from there
        async for provider in self._attempts("llm"):
            emitted = False
            asked = continuation_messages(messages, said) if said else messages
            est_in = sum(len(str(m.get("content", ""))) for m in asked) // 4 + 4 * len(asked)
            try:
                async with self.meter.charge(principal, provider, "llm",
                                             {"llm_input_tokens": est_in, "llm_output_tokens": self.vs.llm_max_tokens},
                                             ) as charge:
                    # If this generator is cancelled (barge-in), ``charge`` settles the estimate so far.
                    charge.actual({"llm_input_tokens": est_in, "llm_output_tokens": 0})
                    out_chars = 0
                    async for delta in provider.stream(asked, max_tokens=self.vs.llm_max_tokens,
                                                       temperature=self.vs.llm_temperature):
                        if delta.text:
                            emitted = True
                            if self._is_gpu(provider):
                                said += delta.text
                            out_chars += len(delta.text)
                            charge.actual({"llm_input_tokens": est_in, "llm_output_tokens": (out_chars + 3) // 4})
                        if delta.usage is not None:
                            charge.actual({"llm_input_tokens": delta.usage.input_tokens,
                                           "llm_output_tokens": delta.usage.output_tokens})
                        yield delta
                return
            except ProviderError as exc:
                last = exc
                if self._is_gpu(provider):
                    self.gpu.mark_failed()
                    if exc.retryable:
                        continue
                if emitted or not exc.retryable:
                    raise
        assert last is not None
        raise last


CONTINUE_PROMPT = ("Your previous answer was cut off. Continue it from exactly where it stopped, "
                   "without repeating anything already said.")


def continuation_messages(messages: list[dict], said: str) -> list[dict]:
    """The conversation with the part of the reply already spoken, asking for the rest of it."""
    return [*messages, {"role": "assistant", "content": said}, {"role": "user", "content": CONTINUE_PROMPT}]
