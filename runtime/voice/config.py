"""Voice-core settings (providers, GPU routing, TTS cache, sockets, jobs), read from the environment.

`runtime.settings.Settings.voice` holds one of these (``None`` means all defaults). With no provider
configured the offline PocketSphinx STT and eSpeak NG TTS are used; the LLM defaults to a local Ollama.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Mapping

from runtime.settings import ConfigError, _choice, _float, _int, _str

STT_PROVIDERS = ("auto", "pocketsphinx", "openai", "groq", "whisper", "whisper_cpp")
LLM_PROVIDERS = ("auto", "openai", "groq", "ollama")
TTS_PROVIDERS = ("auto", "espeak", "deepgram", "openai")

DEFAULT_SYSTEM_PROMPT = (
    "You are UnaMentis, a patient voice tutor. Answer in short spoken sentences without markdown, "
    "lists or symbols, and end with one question that checks understanding."
)


@dataclass(frozen=True)
class VoiceSettings:
    # --- providers (UNAMENTIS_<KIND>_PROVIDER / _URL / _API_KEY / _MODEL) --------------------
    stt_provider: str = "auto"
    stt_url: str | None = None
    stt_api_key: str | None = field(default=None, repr=False)
    stt_model: str = "whisper-large-v3-turbo"
    stt_language: str | None = "en"
    llm_provider: str = "auto"
    llm_url: str | None = None
    llm_api_key: str | None = field(default=None, repr=False)
    llm_model: str = "llama3.2"
    llm_keep_alive: str = "10m"  # UNAMENTIS_LLM_KEEP_ALIVE (Ollama only)
    llm_max_tokens: int = 300
    llm_temperature: float = 0.7
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    tts_provider: str = "auto"
    tts_url: str | None = None
    tts_api_key: str | None = field(default=None, repr=False)
    tts_model: str = "tts-1"
    tts_voice: str | None = None  # default voice of the chosen provider when unset
    provider_retries: int = 1  # UNAMENTIS_PROVIDER_RETRIES: extra attempts on a retryable error
    # --- GPU fleet ---------------------------------------------------------------------------
    gpu_llm_url: str | None = None  # Ollama on the GPU node, e.g. http://gpu.internal:11434
    gpu_stt_url: str | None = None  # OpenAI-compatible Whisper (speaches) on the GPU node, …/v1
    gpu_tts_url: str | None = None  # OpenAI-compatible TTS on the GPU node, …/v1
    gpu_asg_name: str | None = None  # the Auto Scaling group to wake
    aws_region: str = "us-east-1"
    aws_endpoint_url: str | None = None  # tests/LocalStack-like endpoints
    gpu_probe_seconds: float = 15.0
    # The bearer token GPU node agents present on POST /api/gpu/nodes/{id}/events (unset: route off)
    gpu_node_token: str | None = field(default=None, repr=False)
    # --- TTS cache ---------------------------------------------------------------------------
    tts_cache_local_entries: int = 2000
    tts_cache_local_bytes: int = 256 * 1024 * 1024
    tts_cache_ttl_days: int = 30
    # --- sockets -----------------------------------------------------------------------------
    ws_ping_seconds: float = 20.0  # app-level + protocol pings; must stay ≤ 25 s (Cloudflare ~100 s idle)
    session_idle_seconds: float = 900.0  # no audio or control for this long → close 4000
    drain_seconds: float = 110.0  # SIGTERM → close every socket within this (Fargate Spot gives 120 s)
    playback_lead_ms: int = 200  # how far TTS audio may run ahead of real time (barge-in latency bound)
    max_utterance_seconds: float = 30.0
    turns_per_minute: int = 30  # per caller (beta token / user): more closes the socket 4002
    # --- jobs --------------------------------------------------------------------------------
    sqs_queue_url: str | None = None  # UNAMENTIS_SQS_QUEUE_URL: SQS backend instead of PostgreSQL
    sqs_dlq_url: str | None = None
    job_max_attempts: int = 5
    job_visibility_seconds: int = 60
    job_workers: int = 2

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> "VoiceSettings":
        s = cls(
            stt_provider=_choice(env, "UNAMENTIS_STT_PROVIDER", "auto", STT_PROVIDERS),
            stt_url=_str(env, "UNAMENTIS_STT_URL"),
            stt_api_key=_str(env, "UNAMENTIS_STT_API_KEY"),
            stt_model=_str(env, "UNAMENTIS_STT_MODEL", "whisper-large-v3-turbo"),
            stt_language=_str(env, "UNAMENTIS_STT_LANGUAGE", "en"),
            llm_provider=_choice(env, "UNAMENTIS_LLM_PROVIDER", "auto", LLM_PROVIDERS),
            llm_url=_str(env, "UNAMENTIS_LLM_URL"),
            llm_api_key=_str(env, "UNAMENTIS_LLM_API_KEY"),
            llm_model=_str(env, "UNAMENTIS_LLM_MODEL", "llama3.2"),
            llm_keep_alive=_str(env, "UNAMENTIS_LLM_KEEP_ALIVE", "10m"),
            llm_max_tokens=_int(env, "UNAMENTIS_LLM_MAX_TOKENS", 300, minimum=1),
            llm_temperature=_float(env, "UNAMENTIS_LLM_TEMPERATURE", 0.7),
            system_prompt=_str(env, "UNAMENTIS_SYSTEM_PROMPT", DEFAULT_SYSTEM_PROMPT),
            tts_provider=_choice(env, "UNAMENTIS_TTS_PROVIDER", "auto", TTS_PROVIDERS),
            tts_url=_str(env, "UNAMENTIS_TTS_URL"),
            tts_api_key=_str(env, "UNAMENTIS_TTS_API_KEY"),
            tts_model=_str(env, "UNAMENTIS_TTS_MODEL", "tts-1"),
            tts_voice=_str(env, "UNAMENTIS_TTS_VOICE"),
            provider_retries=_int(env, "UNAMENTIS_PROVIDER_RETRIES", 1),
            gpu_llm_url=_str(env, "UNAMENTIS_GPU_LLM_URL"),
            gpu_stt_url=_str(env, "UNAMENTIS_GPU_STT_URL"),
            gpu_tts_url=_str(env, "UNAMENTIS_GPU_TTS_URL"),
            gpu_asg_name=_str(env, "UNAMENTIS_GPU_ASG_NAME"),
            aws_region=_str(env, "UNAMENTIS_AWS_REGION", env.get("AWS_REGION") or "us-east-1"),
            aws_endpoint_url=_str(env, "UNAMENTIS_AWS_ENDPOINT_URL"),
            gpu_probe_seconds=_float(env, "UNAMENTIS_GPU_PROBE_SECONDS", 15.0, minimum=1.0),
            gpu_node_token=_str(env, "UNAMENTIS_GPU_NODE_TOKEN"),
            tts_cache_local_entries=_int(env, "UNAMENTIS_TTS_CACHE_LOCAL_ENTRIES", 2000),
            tts_cache_local_bytes=_int(env, "UNAMENTIS_TTS_CACHE_LOCAL_BYTES", 256 * 1024 * 1024),
            tts_cache_ttl_days=_int(env, "UNAMENTIS_TTS_CACHE_TTL_DAYS", 30, minimum=1),
            ws_ping_seconds=_float(env, "UNAMENTIS_WS_PING_SECONDS", 20.0, minimum=1.0),
            session_idle_seconds=_float(env, "UNAMENTIS_SESSION_IDLE_SECONDS", 900.0, minimum=5.0),
            drain_seconds=_float(env, "UNAMENTIS_DRAIN_SECONDS", 110.0, minimum=0.0),
            playback_lead_ms=_int(env, "UNAMENTIS_PLAYBACK_LEAD_MS", 200),
            max_utterance_seconds=_float(env, "UNAMENTIS_MAX_UTTERANCE_SECONDS", 30.0, minimum=1.0),
            turns_per_minute=_int(env, "UNAMENTIS_VOICE_TURNS_PER_MINUTE", 30, minimum=1),
            sqs_queue_url=_str(env, "UNAMENTIS_SQS_QUEUE_URL"),
            sqs_dlq_url=_str(env, "UNAMENTIS_SQS_DLQ_URL"),
            job_max_attempts=_int(env, "UNAMENTIS_JOB_MAX_ATTEMPTS", 5, minimum=1),
            job_visibility_seconds=_int(env, "UNAMENTIS_JOB_VISIBILITY_SECONDS", 60, minimum=5),
            job_workers=_int(env, "UNAMENTIS_JOB_WORKERS", 2),
        )
        s.validate()
        return s

    def validate(self) -> None:
        if self.gpu_node_token is not None and len(self.gpu_node_token) < 24:
            raise ConfigError("UNAMENTIS_GPU_NODE_TOKEN must be at least 24 characters (a random secret the GPU "
                              "nodes share with the core; the deploy program generates one)")
        if self.ws_ping_seconds > 25:
            raise ConfigError("UNAMENTIS_WS_PING_SECONDS must be at most 25 (idle sockets are cut at ~100 s "
                              "by Cloudflare and 60 s by a default ALB)")
        if self.drain_seconds > 115:
            raise ConfigError("UNAMENTIS_DRAIN_SECONDS must be at most 115: Fargate sends SIGKILL 120 s after SIGTERM")
        for kind in ("stt", "llm", "tts"):
            provider = getattr(self, f"{kind}_provider")
            if provider in ("openai", "groq", "whisper", "whisper_cpp") and provider != "groq" \
                    and not getattr(self, f"{kind}_url") and not (provider == "openai" and getattr(self, f"{kind}_api_key")):
                raise ConfigError(f"UNAMENTIS_{kind.upper()}_PROVIDER={provider} needs UNAMENTIS_{kind.upper()}_URL "
                                  f"(the server's base URL) or, for OpenAI itself, UNAMENTIS_{kind.upper()}_API_KEY")
            if provider in ("groq", "deepgram") and not getattr(self, f"{kind}_api_key"):
                raise ConfigError(f"UNAMENTIS_{kind.upper()}_PROVIDER={provider} needs UNAMENTIS_{kind.upper()}_API_KEY")


def voice_settings(settings) -> VoiceSettings:
    """The voice settings of an app's Settings (defaults when none were given)."""
    return getattr(settings, "voice", None) or VoiceSettings()
