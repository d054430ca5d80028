"""Build the configured providers from VoiceSettings.

Selection (per kind, ``UNAMENTIS_<KIND>_PROVIDER``):
- ``auto`` (default): a configured URL wins (an OpenAI-compatible server); otherwise the offline
  provider when its package/binary is installed (PocketSphinx STT, eSpeak NG TTS); the LLM falls back
  to a local Ollama at 127.0.0.1:11434. When nothing can run, ``ProviderNotConfigured`` names what is
  missing and how to fix it.
- an explicit name builds exactly that provider.
"""
from __future__ import annotations

import httpx

from .base import ProviderNotConfigured
from .llm import OllamaChatLLM, OpenAIChatLLM
from .stt import OpenAITranscriptionSTT, PocketSphinxSTT, WhisperCppSTT
from .tts import DeepgramTTS, EspeakTTS, OpenAISpeechTTS

OPENAI_URL = "https://api.openai.com/v1"
GROQ_URL = "https://api.groq.com/openai/v1"
DEEPGRAM_URL = "https://api.deepgram.com"
OLLAMA_URL = "http://127.0.0.1:11434"


def build_stt(vs, http: httpx.AsyncClient):
    kind = vs.stt_provider
    if kind == "auto":
        if vs.stt_url:
            kind = "whisper"
        else:
            try:
                return PocketSphinxSTT(max_seconds=vs.max_utterance_seconds)
            except ProviderNotConfigured as exc:
                raise ProviderNotConfigured("stt", f"no speech-to-text provider: {exc.message}, or set "
                                            "UNAMENTIS_STT_PROVIDER=groq|openai|whisper with its URL/key") from exc
    if kind == "pocketsphinx":
        return PocketSphinxSTT(max_seconds=vs.max_utterance_seconds)
    if kind == "groq":
        return OpenAITranscriptionSTT(http, vs.stt_url or GROQ_URL, api_key=vs.stt_api_key, model=vs.stt_model, name="groq")
    if kind == "openai":
        return OpenAITranscriptionSTT(http, vs.stt_url or OPENAI_URL, api_key=vs.stt_api_key,
                                      model=vs.stt_model if vs.stt_url else "whisper-1", name="openai_stt")
    if kind == "whisper":  # self-hosted OpenAI-compatible (speaches / faster-whisper-server): not billed per call
        return OpenAITranscriptionSTT(http, vs.stt_url, api_key=vs.stt_api_key, model=vs.stt_model,
                                      name="whisper", paid=False)
    if kind == "whisper_cpp":
        return WhisperCppSTT(http, vs.stt_url)
    raise ProviderNotConfigured("stt", f"unknown STT provider {kind!r}")


def build_llm(vs, http: httpx.AsyncClient):
    kind = vs.llm_provider
    if kind == "auto":
        kind = "openai" if vs.llm_url else "ollama"
    if kind == "ollama":
        return OllamaChatLLM(http, vs.llm_url or OLLAMA_URL, model=vs.llm_model, keep_alive=vs.llm_keep_alive)
    if kind == "groq":
        return OpenAIChatLLM(http, vs.llm_url or GROQ_URL, api_key=vs.llm_api_key, model=vs.llm_model, name="groq")
    if kind == "openai":
        # A custom URL without a key is a self-hosted server (vLLM, llama.cpp, Ollama /v1): not billed.
        paid = bool(vs.llm_api_key) or not vs.llm_url
        return OpenAIChatLLM(http, vs.llm_url or OPENAI_URL, api_key=vs.llm_api_key, model=vs.llm_model,
                             name="openai" if paid else "openai_compatible", paid=paid)
    raise ProviderNotConfigured("llm", f"unknown LLM provider {kind!r}")


def build_tts(vs, http: httpx.AsyncClient, kind: str | None = None):
    kind = kind or vs.tts_provider
    if kind == "auto":
        if vs.tts_url:
            kind = "openai"
        else:
            try:
                return EspeakTTS()
            except ProviderNotConfigured as exc:
                raise ProviderNotConfigured("tts", f"no text-to-speech provider: {exc.message}, or set "
                                            "UNAMENTIS_TTS_PROVIDER=deepgram|openai with its URL/key") from exc
    if kind == "espeak":
        return EspeakTTS()
    if kind == "deepgram":
        return DeepgramTTS(http, api_key=vs.tts_api_key, base_url=vs.tts_url or DEEPGRAM_URL)
    if kind == "openai":
        paid = bool(vs.tts_api_key) or not vs.tts_url
        return OpenAISpeechTTS(http, vs.tts_url or OPENAI_URL, api_key=vs.tts_api_key, model=vs.tts_model,
                               name="openai_tts" if paid else "openai_compatible_tts", paid=paid)
    raise ProviderNotConfigured("tts", f"unknown TTS provider {kind!r}")
