"""Speech-to-text providers.

- ``OpenAITranscriptionSTT``: OpenAI-compatible ``POST {base}/audio/transcriptions`` (Groq, OpenAI,
  speaches / faster-whisper-server on the GPU node).
- ``WhisperCppSTT``: whisper.cpp's server ``POST {base}/inference``.
- ``PocketSphinxSTT``: offline, the CMU model shipped inside the ``pocketsphinx`` wheel.
"""
from __future__ import annotations

import asyncio
import importlib.util
import math
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import httpx

from .audio import duration_seconds, resample, wav_bytes
from . import sphinx_worker
from .base import ProviderError, ProviderNotConfigured, Transcript
from .http import auth_headers, raise_for_status, transport_error


def _confidence_from_segments(segments) -> float | None:
    """Whisper verbose_json: mean exp(avg_logprob) over segments, the usual confidence proxy."""
    if not isinstance(segments, list):
        return None
    probs = [math.exp(s["avg_logprob"]) for s in segments
             if isinstance(s, dict) and isinstance(s.get("avg_logprob"), (int, float))]
    return round(sum(probs) / len(probs), 4) if probs else None


class OpenAITranscriptionSTT:
    paid = True

    def __init__(self, http: httpx.AsyncClient, base_url: str, *, api_key: str | None, model: str,
                 name: str = "openai_stt", timeout: float = 30.0, paid: bool = True):
        self.http, self.base_url, self.api_key, self.model = http, base_url.rstrip("/"), api_key, model
        self.name, self.timeout, self.paid = name, timeout, paid

    async def transcribe(self, pcm: bytes, sample_rate: int, *, language: str | None = None) -> Transcript:
        data = {"model": self.model, "response_format": "verbose_json", "temperature": "0"}
        if language:
            data["language"] = language
        files = {"file": ("speech.wav", wav_bytes(pcm, sample_rate), "audio/wav")}
        try:
            r = await self.http.post(f"{self.base_url}/audio/transcriptions", data=data, files=files,
                                     headers=auth_headers(self.api_key), timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise transport_error(self.name, exc) from exc
        raise_for_status(self.name, r, r.content)
        try:
            body = r.json()
            text = body["text"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ProviderError(self.name, "transcription response without 'text'") from exc
        return Transcript(text=str(text).strip(), confidence=_confidence_from_segments(body.get("segments")),
                          audio_seconds=duration_seconds(len(pcm), sample_rate))


class WhisperCppSTT:
    paid = False

    def __init__(self, http: httpx.AsyncClient, base_url: str, *, name: str = "whisper_cpp", timeout: float = 30.0):
        self.http, self.base_url, self.name, self.timeout = http, base_url.rstrip("/"), name, timeout

    async def transcribe(self, pcm: bytes, sample_rate: int, *, language: str | None = None) -> Transcript:
        data = {"temperature": "0", "response_format": "json"}
        if language:
            data["language"] = language
        files = {"file": ("speech.wav", wav_bytes(pcm, sample_rate), "audio/wav")}
        try:
            r = await self.http.post(f"{self.base_url}/inference", data=data, files=files, timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise transport_error(self.name, exc) from exc
        raise_for_status(self.name, r, r.content)
        try:
            text = r.json()["text"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ProviderError(self.name, "inference response without 'text'") from exc
        return Transcript(text=str(text).strip(), confidence=None,
                          audio_seconds=duration_seconds(len(pcm), sample_rate))


class PocketSphinxSTT:
    """Offline recogniser, decoding in a small pool of worker processes (``sphinx_worker``).

    Limits per utterance: at most ``max_seconds`` of audio (longer input is cut to that length;
    the session already ends an utterance there) and ``timeout`` seconds of decoding, after which
    the turn fails with a retryable error. A slot of the pool stays taken until its worker is
    really done, so a stuck decode can never pile more work onto the workers."""

    name = "pocketsphinx"
    paid = False
    sample_rate = sphinx_worker.SAMPLE_RATE

    def __init__(self, pool_size: int = 2, *, max_seconds: float = 30.0, timeout: float | None = None):
        if importlib.util.find_spec("pocketsphinx") is None:
            raise ProviderNotConfigured(self.name, "the 'pocketsphinx' package is not installed "
                                        "(pip install pocketsphinx)")
        self.pool_size = pool_size
        self.max_bytes = int(max_seconds * self.sample_rate) * 2
        # Decoding takes about real time on one small shared core (less on a free one): twice the
        # longest utterance plus a margin only catches a wedged worker.
        self.timeout = timeout if timeout is not None else 2 * max_seconds + 10.0
        self._executor: ProcessPoolExecutor | None = None
        self._sem = asyncio.Semaphore(pool_size)

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            # spawn, not fork: a forked copy of a running server (threads, sockets, an event loop) is unsafe.
            self._executor = ProcessPoolExecutor(max_workers=self.pool_size, mp_context=multiprocessing.get_context("spawn"))
        return self._executor

    async def transcribe(self, pcm: bytes, sample_rate: int, *, language: str | None = None) -> Transcript:
        if sample_rate != self.sample_rate:
            pcm = resample(pcm, sample_rate, self.sample_rate)
        pcm = pcm[: self.max_bytes]
        await self._sem.acquire()
        try:
            future = asyncio.get_running_loop().run_in_executor(self._pool(), sphinx_worker.decode, pcm)
        except BaseException:
            self._sem.release()
            raise
        future.add_done_callback(lambda _done: self._sem.release())
        try:
            text = await asyncio.wait_for(asyncio.shield(future), self.timeout)
        except asyncio.TimeoutError:
            # Not retried: the same audio would only queue behind the stuck decode.
            raise ProviderError(self.name, f"decoding took longer than {self.timeout:g} s", retryable=False) from None
        except BrokenProcessPool:
            self._executor = None  # a worker died (e.g. out of memory): the next call starts a fresh pool
            raise ProviderError(self.name, "the decoder process stopped unexpectedly") from None
        # The default search computes no posterior (hyp.prob reads as certainty), so report unknown.
        return Transcript(text=text, confidence=None, audio_seconds=duration_seconds(len(pcm), self.sample_rate))

    def close(self) -> None:
        if self._executor is not None:
            executor, self._executor = self._executor, None
            executor.shutdown(wait=False, cancel_futures=True)
