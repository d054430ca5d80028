"""Text-to-speech providers. All return PCM16 mono plus its sample rate.

- ``DeepgramTTS``: ``POST {base}/v1/speak?model=…&encoding=linear16&sample_rate=…&container=none``,
  ``Authorization: Token <key>``, body ``{"text"}``; raw PCM back.
- ``OpenAISpeechTTS``: ``POST {base}/audio/speech`` ``{model, input, voice, response_format:"wav", speed}``
  (OpenAI, and the GPU node's OpenAI-compatible TTS server).
- ``EspeakTTS``: offline, the Debian ``espeak-ng`` binary writing WAV to stdout.
"""
from __future__ import annotations

import asyncio
import shutil
import subprocess

import httpx

from runtime.processes import communicate

from .audio import AudioFormatError, parse_wav, to_mono
from .base import ProviderError, ProviderNotConfigured, SpeechAudio, TTSRequest
from .http import auth_headers, raise_for_status, transport_error


class DeepgramTTS:
    default_voice = "asteria"

    def __init__(self, http: httpx.AsyncClient, *, api_key: str | None, base_url: str = "https://api.deepgram.com",
                 sample_rate: int = 24000, name: str = "deepgram", timeout: float = 30.0, paid: bool = True):
        if not api_key:
            raise ProviderNotConfigured(name, "UNAMENTIS_TTS_API_KEY (a Deepgram key) is required for Deepgram TTS")
        self.http, self.api_key, self.base_url = http, api_key, base_url.rstrip("/")
        self.sample_rate, self.name, self.timeout, self.paid = sample_rate, name, timeout, paid

    def model_for(self, voice: str) -> str:
        # Accept a full model id ("aura-2-thalia-en") or a bare voice name ("thalia").
        return voice if voice.startswith("aura") else f"aura-2-{voice}-en"

    async def synthesize(self, request: TTSRequest) -> SpeechAudio:
        params = {"model": self.model_for(request.voice or self.default_voice), "encoding": "linear16",
                  "sample_rate": str(self.sample_rate), "container": "none"}
        try:
            r = await self.http.post(f"{self.base_url}/v1/speak", params=params, json={"text": request.text},
                                     headers=auth_headers(self.api_key, "Token"), timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise transport_error(self.name, exc) from exc
        raise_for_status(self.name, r, r.content)
        pcm = r.content
        if pcm[:4] == b"RIFF":  # some proxies ignore container=none
            pcm, rate, ch = parse_wav(pcm)
            return SpeechAudio(to_mono(pcm, ch), rate)
        return SpeechAudio(pcm[: len(pcm) - len(pcm) % 2], self.sample_rate)


class OpenAISpeechTTS:
    default_voice = "nova"

    def __init__(self, http: httpx.AsyncClient, base_url: str, *, api_key: str | None, model: str = "tts-1",
                 name: str = "openai_tts", timeout: float = 30.0, paid: bool = True):
        self.http, self.base_url, self.api_key, self.model = http, base_url.rstrip("/"), api_key, model
        self.name, self.timeout, self.paid = name, timeout, paid

    async def synthesize(self, request: TTSRequest) -> SpeechAudio:
        body = {"model": self.model, "input": request.text, "voice": request.voice or self.default_voice,
                "response_format": "wav", "speed": request.speed}
        # Provider options (e.g. chatterbox exaggeration/cfg_weight/language) pass through as extra fields.
        body.update({k: v for k, v in request.options.items() if k not in body})
        try:
            r = await self.http.post(f"{self.base_url}/audio/speech", json=body,
                                     headers=auth_headers(self.api_key), timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise transport_error(self.name, exc) from exc
        raise_for_status(self.name, r, r.content)
        try:
            pcm, rate, ch = parse_wav(r.content)
        except AudioFormatError as exc:
            raise ProviderError(self.name, f"speech response is not PCM16 WAV: {exc}") from exc
        return SpeechAudio(to_mono(pcm, ch), rate)


class EspeakTTS:
    """eSpeak NG: formant synthesis, robotic but real, fast (~50x real time) and fully offline."""

    name = "espeak"
    paid = False
    default_voice = "en-us"
    base_wpm = 175

    def __init__(self, binary: str | None = None, max_concurrency: int = 4):
        self.binary = binary or shutil.which("espeak-ng") or shutil.which("espeak")
        if not self.binary:
            raise ProviderNotConfigured(self.name, "the 'espeak-ng' binary is not installed (apt-get install espeak-ng)")
        self._sem = asyncio.Semaphore(max_concurrency)
        self._voices = self._installed_voices()

    def _installed_voices(self) -> frozenset[str]:
        try:
            out = subprocess.run([self.binary, "--voices"], capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            return frozenset()
        names = set()
        for line in out.splitlines()[1:]:
            cols = line.split()
            if len(cols) >= 4:
                names.update({cols[1].lower(), cols[3].lower()})
        return frozenset(names)

    def resolve_voice(self, voice: str | None) -> str:
        """The eSpeak voice to use: clients send other providers' names ("nova", "alloy"), which
        eSpeak does not have; those get the default voice instead of an error."""
        if not voice:
            return self.default_voice
        base = voice.split("+", 1)[0].lower()
        if self._voices and base not in self._voices:
            return self.default_voice
        return voice

    async def synthesize(self, request: TTSRequest) -> SpeechAudio:
        wpm = max(80, min(450, int(self.base_wpm * (request.speed or 1.0))))
        voice = self.resolve_voice(request.voice)
        if not all(c.isalnum() or c in "-_+" for c in voice):
            raise ProviderError(self.name, f"invalid espeak voice {voice!r}", retryable=False, status=422)
        async with self._sem:
            # Text goes through stdin so it can never be parsed as an option.
            proc = await asyncio.create_subprocess_exec(
                self.binary, "-v", voice, "-s", str(wpm), "-b", "1", "--stdout",
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            out, err = await communicate(proc, request.text.encode("utf-8"))
        if proc.returncode != 0:
            raise ProviderError(self.name, f"espeak-ng exited {proc.returncode}: {err[:200].decode(errors='replace')}",
                                retryable=False)
        try:
            pcm, rate, ch = parse_wav(out)
        except AudioFormatError as exc:
            raise ProviderError(self.name, f"espeak-ng produced no WAV: {exc}") from exc
        return SpeechAudio(to_mono(pcm, ch), rate)
