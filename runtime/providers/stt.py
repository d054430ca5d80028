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
import threading

import httpx

from .audio import duration_seconds, resample, wav_bytes
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
    """Offline recogniser. Decoders are not thread-safe and cost ~0.3 s to build, so a small pool
    of them is reused across sessions; decoding runs in a worker thread to keep the loop free."""

    name = "pocketsphinx"
    paid = False
    sample_rate = 16000

    def __init__(self, pool_size: int = 2):
        if importlib.util.find_spec("pocketsphinx") is None:
            raise ProviderNotConfigured(self.name, "the 'pocketsphinx' package is not installed "
                                        "(pip install pocketsphinx)")
        self._free: list = []
        self._lock = threading.Lock()
        self._sem = asyncio.Semaphore(pool_size)

    def _decoder(self):
        with self._lock:
            if self._free:
                return self._free.pop()
        from pocketsphinx import Decoder  # optional and heavy: loaded only when this provider runs
        return Decoder(samprate=self.sample_rate, loglevel="FATAL")

    def _give_back(self, decoder) -> None:
        with self._lock:
            self._free.append(decoder)

    def _decode(self, pcm: bytes) -> tuple[str, float | None]:
        decoder = self._decoder()
        try:
            decoder.start_utt()
            decoder.process_raw(pcm, no_search=False, full_utt=True)
            decoder.end_utt()
            hyp = decoder.hyp()
            if hyp is None:
                return "", None
            # The default search computes no posterior (hyp.prob reads as certainty), so report unknown.
            conf = None
            return hyp.hypstr.strip(), conf
        finally:
            self._give_back(decoder)

    async def transcribe(self, pcm: bytes, sample_rate: int, *, language: str | None = None) -> Transcript:
        if sample_rate != self.sample_rate:
            pcm = resample(pcm, sample_rate, self.sample_rate)
        async with self._sem:
            text, conf = await asyncio.to_thread(self._decode, pcm)
        return Transcript(text=text, confidence=conf, audio_seconds=duration_seconds(len(pcm), self.sample_rate))
