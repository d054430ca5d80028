"""Runtime settings: every environment variable the runtime reads, declared once, read once.

Each setting is one line — variable, cast, default, doc — in the ``Settings`` or ``VoiceSettings``
dataclass below (``setting(...)`` puts the declaration in the field's metadata and makes its value
the field's default), or in ``STORAGE_SETTINGS`` for the object-store variables. From that one
declaration come:

* ``Settings.from_env(env)``: strict parsing; a malformed value raises ``ConfigError`` naming the
  variable and the fix, so a task or a Lambda fails at start instead of misbehaving later;
* ``SETTINGS``: the ``Setting`` records, for the deploy program and the docs;
* ``env_vars(**fields)``: field values → environment variables, encoded the way ``from_env`` reads them;
* the README's configuration tables: ``python -m runtime.settings --write README.md`` rewrites them.

A new setting is one more ``setting(...)`` line; nothing else reads ``os.environ``.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import os
import re
import socket
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from runtime.storage import StorageConfig, StorageConfigError
from runtime.validation import parse_bool


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable and the fix."""


_VERSION_RE = re.compile(r"^\d+(\.\d+){0,3}$")
# The runtime's release; /health reports it.
RUNTIME_VERSION = "0.1.0"

PLATFORMS = ("ios", "android", "web")
STT_PROVIDERS = ("auto", "pocketsphinx", "openai", "groq", "whisper", "whisper_cpp")
LLM_PROVIDERS = ("auto", "openai", "groq", "ollama")
TTS_PROVIDERS = ("auto", "espeak", "deepgram", "openai")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

DEFAULT_SYSTEM_PROMPT = (
    "You are UnaMentis, a patient voice tutor. Answer in short spoken sentences without markdown, "
    "lists or symbols, and end with one question that checks understanding."
)


def parse_rate(name: str, raw: str) -> tuple[int, float]:
    """``"120/60"`` → (capacity 120, per 60 seconds); ``"0"`` disables (capacity 0)."""
    text = raw.strip()
    if text in ("0", "off"):
        return (0, 1.0)
    match = re.fullmatch(r"(\d+)\s*/\s*(\d+(?:\.\d+)?)\s*(s|m|h)?", text)
    if not match:
        raise ConfigError(f"{name}={raw!r} is not a rate; write <requests>/<seconds>, e.g. 120/60, or 0 to disable")
    capacity = int(match.group(1))
    per = float(match.group(2)) * {"s": 1, "m": 60, "h": 3600, None: 1}[match.group(3)]
    if capacity < 1 or per <= 0:
        raise ConfigError(f"{name}={raw!r}: requests and seconds must be positive")
    return (capacity, per)


def parse_version(text: str) -> tuple[int, ...]:
    """``"1.4.2"`` → (1, 4, 2); raises ValueError on anything else."""
    text = text.strip().lstrip("vV")
    # Accept build suffixes the apps send ("1.4.2 (37)", "1.4.2-beta"): compare the numeric head.
    head = re.match(r"^\d+(\.\d+){0,3}", text)
    if not head:
        raise ValueError(f"not a version: {text!r}")
    return tuple(int(part) for part in head.group(0).split("."))


# --- casts: how one variable's text becomes a value, and back ---------------------------------------
# ``parse`` gets the stripped, non-empty text (an unset or blank variable means the default);
# ``encode`` turns a value of the field's type into text that ``parse`` reads back as the same value.


class Cast:
    type_name = "text"

    def parse(self, name: str, raw: str) -> Any:
        return raw

    def encode(self, name: str, value: Any) -> str:
        return str(value)


class Str(Cast):
    pass


class Int(Cast):
    type_name = "integer"

    def __init__(self, minimum: int = 0):
        self.minimum = minimum

    def parse(self, name: str, raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name}={raw!r} is not an integer") from None
        if value < self.minimum:
            raise ConfigError(f"{name}={value} must be at least {self.minimum}")
        return value

    def encode(self, name: str, value: Any) -> str:
        return str(int(value))


class Float(Cast):
    type_name = "number"

    def __init__(self, minimum: float = 0.0):
        self.minimum = minimum

    def parse(self, name: str, raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{name}={raw!r} is not a number") from None
        if value < self.minimum:
            raise ConfigError(f"{name}={value} must be at least {self.minimum}")
        return value

    def encode(self, name: str, value: Any) -> str:
        number = float(value)
        return str(int(number)) if number.is_integer() else repr(number)


class Bool(Cast):
    type_name = "boolean"

    def parse(self, name: str, raw: str) -> bool:
        value = parse_bool(raw)
        if value is None:
            raise ConfigError(f"{name}={raw!r} is not a boolean; use true or false")
        return value

    def encode(self, name: str, value: Any) -> str:
        return "true" if value else "false"


class Choice(Cast):
    type_name = "choice"

    def __init__(self, *choices: str, upper: bool = False):
        self.choices, self.upper = choices, upper

    def parse(self, name: str, raw: str) -> str:
        value = raw.upper() if self.upper else raw.lower()
        if value not in self.choices:
            raise ConfigError(f"{name}={value!r} is not one of {', '.join(self.choices)}")
        return value


class CommaList(Cast):
    """``"a, b,c"`` → ``("a", "b", "c")``; empty items are dropped."""

    type_name = "comma-separated list"

    def parse(self, name: str, raw: str) -> tuple[str, ...]:
        return tuple(item.strip() for item in raw.split(",") if item.strip())

    def encode(self, name: str, value: Any) -> str:
        items = [str(item) for item in value]
        if any("," in item for item in items):
            raise ConfigError(f"{name}: an item contains a comma: {items!r}")
        return ",".join(items)


class Rate(Cast):
    """``"120/60"`` (requests per seconds, ``s``/``m``/``h`` suffixes) → ``(120, 60.0)``; ``"0"`` = off."""

    type_name = "rate"

    def parse(self, name: str, raw: str) -> tuple[int, float]:
        return parse_rate(name, raw)

    def encode(self, name: str, value: Any) -> str:
        capacity, per = value
        if int(capacity) == 0:
            return "0"
        return f"{int(capacity)}/{Float().encode(name, per)}"


class MinVersions(Cast):
    """``"1.2.0"`` (every platform) or ``"ios=1.2.0,android=1.1,web=0"`` (per platform)."""

    type_name = "version or platform=version list"

    def parse(self, name: str, raw: str) -> dict[str, tuple[int, ...]]:
        result: dict[str, tuple[int, ...]] = {}
        for item in raw.split(","):
            item = item.strip()
            if "=" in item:
                platform, version = (part.strip() for part in item.split("=", 1))
                platform = platform.lower()
                if platform not in PLATFORMS:
                    raise ConfigError(f"{name}: unknown platform {platform!r}; use {', '.join(PLATFORMS)}")
                targets = [platform]
            else:
                version, targets = item, list(PLATFORMS)
            if not _VERSION_RE.match(version):
                raise ConfigError(f"{name}: {version!r} is not a version like 1.4.0")
            for platform in targets:
                result[platform] = parse_version(version)
        return result

    def encode(self, name: str, value: Any) -> str:
        return ",".join(f"{platform}={'.'.join(str(part) for part in version)}" for platform, version in value.items())


# --- the declaration record -------------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """One environment variable: where its value lives, how it is read, its default and its doc."""

    field: str  # the attribute name (in Settings, Settings.voice, or for storage_*/s3_*: Settings.storage)
    env: str  # the environment variable
    cast: Cast
    default: Any  # the value when the variable is unset or blank (and the dataclass field's default)
    doc: str  # one line for the README: what it does, accepted values
    secret: bool = False  # hidden from repr; the deploy program passes it as a secret
    topic: str = "runtime"  # which README table lists it: runtime, auth, content, voice
    section: str = ""  # "" (Settings), "voice" (Settings.voice) or "storage" (Settings.storage)
    default_doc: str | None = None  # the default in words, when it is computed (shown in the README)
    env_default: Callable[[Mapping[str, str]], Any] | None = None  # a default computed from the environment

    @property
    def type_name(self) -> str:
        return self.cast.type_name

    def read(self, env: Mapping[str, str]) -> Any:
        raw = env.get(self.env)
        if raw is None or raw.strip() == "":
            return self.env_default(env) if self.env_default else copy.copy(self.default)
        return self.cast.parse(self.env, raw.strip())

    def encode(self, value: Any) -> Any:
        """The variable's text for ``value``; a value that is not plain Python (a Pulumi Output) as is."""
        if not isinstance(value, (str, bool, int, float, tuple, list, dict)):
            return value
        text = value if isinstance(value, str) else self.cast.encode(self.env, value)
        if text.strip():  # blank means the default
            self.cast.parse(self.env, text.strip())  # a bad value fails here, not at boot
        return text

    def readme_default(self) -> str:
        if self.default_doc is not None:
            return self.default_doc
        if self.default is None or self.default in ((), {}):
            return "—"
        return f"`{self.cast.encode(self.env, self.default)}`"


def setting(env: str, cast: Cast, default: Any, doc: str, *, secret: bool = False, topic: str = "runtime",
            default_doc: str | None = None, env_default: Callable[[Mapping[str, str]], Any] | None = None,
            factory: Callable[[], Any] | None = None) -> Any:
    """A dataclass field declared with its environment variable (the field name is filled in later)."""
    record = Setting("", env, cast, default, doc, secret, topic, "", default_doc, env_default)
    metadata = {"setting": record}
    if factory is not None:
        return field(default_factory=factory, repr=not secret, metadata=metadata)
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: copy.copy(default), repr=not secret, metadata=metadata)
    return field(default=default, repr=not secret, metadata=metadata)


def _declared(cls: type, section: str) -> tuple[Setting, ...]:
    return tuple(replace(f.metadata["setting"], field=f.name, section=section)
                 for f in dataclasses.fields(cls) if "setting" in f.metadata)


def _read_all(settings: Iterable[Setting], env: Mapping[str, str]) -> dict[str, Any]:
    return {s.field: s.read(env) for s in settings}


def _on_lambda(env: Mapping[str, str]) -> bool:
    return bool(env.get("AWS_LAMBDA_FUNCTION_NAME"))


# --- object storage (built into runtime.storage.StorageConfig; attribute = field name after its prefix) --

STORAGE_SETTINGS: tuple[Setting, ...] = tuple(
    Setting(name, env, cast, default, doc, secret, "content", "storage", default_doc)
    for name, env, cast, default, doc, secret, default_doc in (
        ("storage_url", "UNAMENTIS_STORAGE_URL", Str(), StorageConfig.url,
         "`file:///abs/path` or `s3://bucket[/prefix]`", False, None),
        ("s3_endpoint_url", "UNAMENTIS_S3_ENDPOINT_URL", Str(), None,
         "R2 `https://<account>.r2.cloudflarestorage.com`, MinIO, …", False, "— (AWS)"),
        ("s3_region", "UNAMENTIS_S3_REGION", Str(), StorageConfig.region, "R2 wants `auto`", False, None),
        ("s3_access_key_id", "UNAMENTIS_S3_ACCESS_KEY_ID", Str(), None,
         "static access key id (set both keys or neither)", True, "— (role credentials)"),
        ("s3_secret_access_key", "UNAMENTIS_S3_SECRET_ACCESS_KEY", Str(), None,
         "static secret access key (set both keys or neither)", True, "— (role credentials)"),
        ("s3_force_path_style", "UNAMENTIS_S3_FORCE_PATH_STYLE", Bool(), None,
         "path-style addressing (R2, MinIO)", False, "`true` with an endpoint"),
        ("s3_checksums", "UNAMENTIS_S3_CHECKSUMS", Choice("when_required", "when_supported"), None,
         "`when_supported` sends the newer checksum headers R2/MinIO reject", False, "`when_required` with an endpoint"),
    )
)


def _storage(env: Mapping[str, str]) -> StorageConfig:
    values = _read_all(STORAGE_SETTINGS, env)
    config = StorageConfig(**{name.split("_", 1)[1]: value for name, value in values.items()})
    try:
        config.validate()
    except StorageConfigError as exc:
        raise ConfigError(str(exc)) from None
    return config


# --- the voice core ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class VoiceSettings:
    """Providers, GPU routing, TTS cache, sockets and jobs of the voice core (``Settings.voice``).

    With no provider configured the offline PocketSphinx STT and eSpeak NG TTS are used; the LLM
    defaults to a local Ollama.
    """

    # --- providers ---------------------------------------------------------------------------
    stt_provider: str = setting("UNAMENTIS_STT_PROVIDER", Choice(*STT_PROVIDERS), "auto", topic="voice", doc=(
        "`auto` (`UNAMENTIS_STT_URL` if set, else PocketSphinx), `pocketsphinx`, `groq`, `openai`, `whisper` "
        "(self-hosted OpenAI-compatible, e.g. speaches), `whisper_cpp` (`POST /inference`)"))
    stt_url: str | None = setting("UNAMENTIS_STT_URL", Str(), None, "speech-to-text server base URL (OpenAI-style ending in `/v1`)", topic="voice")
    stt_api_key: str | None = setting("UNAMENTIS_STT_API_KEY", Str(), None, "speech-to-text API key", secret=True, topic="voice")
    stt_model: str = setting("UNAMENTIS_STT_MODEL", Str(), "whisper-large-v3-turbo", "speech-to-text model", topic="voice")
    stt_language: str | None = setting("UNAMENTIS_STT_LANGUAGE", Str(), "en", "language spoken to the tutor", topic="voice")
    llm_provider: str = setting("UNAMENTIS_LLM_PROVIDER", Choice(*LLM_PROVIDERS), "auto", topic="voice", doc=(
        "`auto` (`UNAMENTIS_LLM_URL` → OpenAI-compatible, else Ollama), `openai`, `groq`, `ollama` (native `/api/chat`)"))
    llm_url: str | None = setting("UNAMENTIS_LLM_URL", Str(), None, "LLM server base URL (OpenAI-style ending in `/v1`)", topic="voice")
    llm_api_key: str | None = setting("UNAMENTIS_LLM_API_KEY", Str(), None, "LLM API key", secret=True, topic="voice")
    llm_model: str = setting("UNAMENTIS_LLM_MODEL", Str(), "llama3.2", "LLM model", topic="voice")
    llm_keep_alive: str = setting("UNAMENTIS_LLM_KEEP_ALIVE", Str(), "10m", "how long Ollama keeps the model loaded (Ollama only)", topic="voice")
    llm_max_tokens: int = setting("UNAMENTIS_LLM_MAX_TOKENS", Int(minimum=1), 300, "longest tutor answer, in tokens", topic="voice")
    llm_temperature: float = setting("UNAMENTIS_LLM_TEMPERATURE", Float(), 0.7, "LLM sampling temperature", topic="voice")
    system_prompt: str = setting("UNAMENTIS_SYSTEM_PROMPT", Str(), DEFAULT_SYSTEM_PROMPT, "the tutor's system prompt", topic="voice",
                                 default_doc="short spoken answers ending in a question")
    tts_provider: str = setting("UNAMENTIS_TTS_PROVIDER", Choice(*TTS_PROVIDERS), "auto", topic="voice", doc=(
        "`auto` (`UNAMENTIS_TTS_URL` → OpenAI-compatible `/audio/speech`, else eSpeak NG), `espeak`, `deepgram`, `openai`"))
    tts_url: str | None = setting("UNAMENTIS_TTS_URL", Str(), None, "text-to-speech server base URL (OpenAI-style ending in `/v1`)", topic="voice")
    tts_api_key: str | None = setting("UNAMENTIS_TTS_API_KEY", Str(), None, "text-to-speech API key", secret=True, topic="voice")
    tts_model: str = setting("UNAMENTIS_TTS_MODEL", Str(), "tts-1", "text-to-speech model", topic="voice")
    tts_voice: str | None = setting("UNAMENTIS_TTS_VOICE", Str(), None, "default voice", topic="voice",
                                    default_doc="— (the provider's default)")
    provider_retries: int = setting("UNAMENTIS_PROVIDER_RETRIES", Int(), 1,
                                    "extra attempts after a retryable error (5xx, 429, timeouts)", topic="voice")
    # --- GPU fleet ---------------------------------------------------------------------------
    gpu_llm_url: str | None = setting("UNAMENTIS_GPU_LLM_URL", Str(), None, topic="voice", doc=(
        "fixed address of a GPU box's Ollama, e.g. `http://gpu.internal:11434` (self-hosting); "
        "used first while it answers"))
    gpu_stt_url: str | None = setting("UNAMENTIS_GPU_STT_URL", Str(), None, topic="voice", doc=(
        "fixed address of a GPU box's OpenAI-compatible Whisper (speaches), `…/v1`; used first while it answers"))
    gpu_tts_url: str | None = setting("UNAMENTIS_GPU_TTS_URL", Str(), None, topic="voice", doc=(
        "fixed address of a GPU box's OpenAI-compatible TTS, `…/v1`; used first while it answers"))
    gpu_asg_name: str | None = setting("UNAMENTIS_GPU_ASG_NAME", Str(), None, topic="voice", doc=(
        "the deployed fleet: without fixed URLs the core finds its node through the AWS API (an InService, Healthy "
        "instance of this group and its private IP; ports 11434 / 11401 / 8880), re-read every probe interval; a cold "
        "fleet → `SetDesiredCapacity 1` (at most once per probe interval) while the external provider serves"))
    aws_region: str = setting("UNAMENTIS_AWS_REGION", Str(), "us-east-1", "region of the AWS API calls (GPU fleet, SQS)",
                              topic="voice", default_doc="`AWS_REGION`, else `us-east-1`",
                              env_default=lambda env: env.get("AWS_REGION") or "us-east-1")
    aws_endpoint_url: str | None = setting("UNAMENTIS_AWS_ENDPOINT_URL", Str(), None,
                                           "a custom AWS API endpoint (tests, LocalStack-like servers)", topic="voice")
    gpu_probe_seconds: float = setting("UNAMENTIS_GPU_PROBE_SECONDS", Float(minimum=1.0), 15.0,
                                       "how often the GPU fleet is probed and its node looked up", topic="voice")
    gpu_node_token: str | None = setting("UNAMENTIS_GPU_NODE_TOKEN", Str(), None, secret=True, topic="voice", doc=(
        "the bearer token GPU node agents present on `POST /api/gpu/nodes/{id}/events` (≥ 24 characters; unset: the "
        "route answers 404). The deploy program generates it and gives it to the nodes through SSM "
        "(`/<prefix>/gpu/node-token`)"))
    # --- TTS cache ---------------------------------------------------------------------------
    tts_cache_local_entries: int = setting("UNAMENTIS_TTS_CACHE_LOCAL_ENTRIES", Int(), 2000,
                                           "entries of the in-process TTS cache in front of the object store", topic="voice")
    tts_cache_local_bytes: int = setting("UNAMENTIS_TTS_CACHE_LOCAL_BYTES", Int(), 256 * 1024 * 1024,
                                         "bytes of the in-process TTS cache", topic="voice")
    tts_cache_ttl_days: int = setting("UNAMENTIS_TTS_CACHE_TTL_DAYS", Int(minimum=1), 30, "lifetime of a cached TTS clip", topic="voice")
    # --- sockets -----------------------------------------------------------------------------
    ws_ping_seconds: float = setting("UNAMENTIS_WS_PING_SECONDS", Float(minimum=1.0), 20.0, topic="voice", doc=(
        "app-level and protocol pings; at most 25 (Cloudflare cuts idle sockets at ~100 s, a default ALB at 60 s)"))
    session_idle_seconds: float = setting("UNAMENTIS_SESSION_IDLE_SECONDS", Float(minimum=5.0), 900.0,
                                          "no audio or control for this long closes the socket (4000)", topic="voice")
    drain_seconds: float = setting("UNAMENTIS_DRAIN_SECONDS", Float(), 110.0, topic="voice", doc=(
        "on SIGTERM every socket is closed within this (at most 115: Fargate Spot kills 120 s after SIGTERM)"))
    playback_lead_ms: int = setting("UNAMENTIS_PLAYBACK_LEAD_MS", Int(), 200,
                                    "how far TTS audio may run ahead of real time (bounds barge-in latency)", topic="voice")
    max_utterance_seconds: float = setting("UNAMENTIS_MAX_UTTERANCE_SECONDS", Float(minimum=1.0), 30.0,
                                           "longest utterance transcribed at once", topic="voice")
    turns_per_minute: int = setting("UNAMENTIS_VOICE_TURNS_PER_MINUTE", Int(minimum=1), 30,
                                    "turns per caller (beta token / user); more closes the socket (4002)", topic="voice")
    # --- jobs --------------------------------------------------------------------------------
    sqs_queue_url: str | None = setting("UNAMENTIS_SQS_QUEUE_URL", Str(), None,
                                        "jobs on this SQS queue instead of the PostgreSQL queue", topic="voice")
    sqs_dlq_url: str | None = setting("UNAMENTIS_SQS_DLQ_URL", Str(), None, "the SQS queue that receives dead letters", topic="voice")
    job_max_attempts: int = setting("UNAMENTIS_JOB_MAX_ATTEMPTS", Int(minimum=1), 5,
                                    "attempts (with backoff) before a job's status becomes `dead`", topic="voice")
    job_visibility_seconds: int = setting("UNAMENTIS_JOB_VISIBILITY_SECONDS", Int(minimum=5), 60,
                                          "a job's lease, extended while it runs", topic="voice")
    job_workers: int = setting("UNAMENTIS_JOB_WORKERS", Int(), 2, "job workers per task", topic="voice")

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> "VoiceSettings":
        s = cls(**_read_all(_declared(cls, "voice"), env))
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


def voice_settings(settings: Any) -> VoiceSettings:
    """The voice settings of an app's Settings (defaults when none were given)."""
    return getattr(settings, "voice", None) or VoiceSettings()


# --- the runtime -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    # --- database ---------------------------------------------------------------------------
    database_url: str | None = setting("DATABASE_URL", Str(), None, secret=True, default_doc="— (required by `serve` and the Lambdas)", doc=(
        "the **runtime role**'s DSN: not the owner, not superuser, no BYPASSRLS, so row-level security binds it"))
    database_admin_url: str | None = setting("UNAMENTIS_DATABASE_ADMIN_URL", Str(), None, secret=True, default_doc="`DATABASE_URL`",
                                             env_default=lambda env: (env.get("DATABASE_URL") or "").strip() or None, doc=(
        "the **owner**'s DSN, used by `migrate` and `admin`. With one DSN for both, RLS is only enforced if that role "
        "is not the tables' owner — use two roles outside `dev`"))
    app_role: str = setting("UNAMENTIS_APP_ROLE", Str(), "unamentis_app", doc=(
        "the runtime role `migrate` creates (if missing) and grants DML on every table, sequences and functions of "
        "`public` (never the migration table)"))
    app_role_password: str | None = setting("UNAMENTIS_APP_ROLE_PASSWORD", Str(), None, secret=True, doc=(
        "when set, `migrate` gives the runtime role LOGIN and this password; unset, a new role is NOLOGIN (manage its "
        "login yourself, e.g. RDS IAM)"))
    db_mode: str = setting("UNAMENTIS_DB_MODE", Choice("pool", "single"), "pool", default_doc="`single` on Lambda, else `pool`",
                           env_default=lambda env: "single" if _on_lambda(env) else "pool", doc=(
        "`pool` (asyncpg pool) or `single` (one lazily opened connection, reconnected once when found dead)"))
    db_pool_min: int = setting("UNAMENTIS_DB_POOL_MIN", Int(), 1, "smallest pool per container task")
    db_pool_max: int = setting("UNAMENTIS_DB_POOL_MAX", Int(minimum=1), 10, "largest pool per container task")
    db_connect_timeout: float = setting("UNAMENTIS_DB_CONNECT_TIMEOUT", Float(minimum=0.1), 5.0, "seconds")
    db_statement_timeout_ms: int = setting("UNAMENTIS_DB_STATEMENT_TIMEOUT_MS", Int(), 15000,
                                           "server-side statement timeout (`0` = none); idle transactions are cut after 60 s")
    # --- edge / HTTP ------------------------------------------------------------------------
    origin_secret: str | None = setting("UNAMENTIS_ORIGIN_SECRET", Str(), None, secret=True, doc=(
        "Tier 3: when set, every request except `GET /health` must carry `X-Origin-Secret` with this value "
        "(≥ 16 characters; the edge injects it), else 403; only then is `CF-Connecting-IP` taken as the client IP"))
    cors_origins: tuple[str, ...] = setting("UNAMENTIS_CORS_ORIGINS", CommaList(), (), default_doc="— (no CORS)", doc=(
        "comma-separated allowlist, e.g. `https://app.example.com,http://localhost:3000`; `*` is refused"))
    min_client_versions: Mapping[str, tuple[int, ...]] = setting("UNAMENTIS_MIN_CLIENT_VERSION", MinVersions(), {}, doc=(
        "`1.4.0` (every platform) or `ios=1.4,android=1.3.2,web=0`: an `X-Client-Version` below it gets 426 "
        "`upgrade_required`"))
    max_body_bytes: int = setting("UNAMENTIS_MAX_BODY_BYTES", Int(minimum=1024), 1024 * 1024, doc=(
        "request body limit (413 `payload_too_large`); routes that allow more say so (asset upload 10 MiB)"))
    insecure_allow_rls_bypass: bool = setting("UNAMENTIS_INSECURE_ALLOW_RLS_BYPASS", Bool(), False, doc=(
        "`true` lets `serve`, the Lambdas and the app start outside `dev` although `DATABASE_URL`'s role bypasses "
        "row-level security (superuser, BYPASSRLS or table owner), so tenants can see each other's rows; never in "
        "production (without it, such a start stops with exit 2)"))
    # --- the server process (`serve`, `dev`) -------------------------------------------------
    host: str = setting("UNAMENTIS_HOST", Str(), "0.0.0.0", default_doc="`0.0.0.0` (`dev`: `127.0.0.1`)", doc=(
        "the address `serve` binds (`--host` wins); `dev` binds 127.0.0.1 unless given `--host`"))
    port: int = setting("PORT", Int(minimum=1), 8766, doc=(
        "the port `serve` listens on (`--port` wins); 8766 is the port the iOS app uses"))
    header_timeout: float = setting("UNAMENTIS_HEADER_TIMEOUT", Float(minimum=0.5), 10.0, doc=(
        "seconds a connection has to send a request's line and headers; slower or silent clients are cut"))
    keepalive_timeout: float = setting("UNAMENTIS_KEEPALIVE_TIMEOUT", Float(minimum=1.0), 75.0, doc=(
        "seconds an idle keep-alive connection is kept; above the load balancer's idle timeout (ALB 60 s) so the "
        "server never closes a connection the balancer is about to reuse"))
    max_connections: int = setting("UNAMENTIS_MAX_CONNECTIONS", Int(), 1000, doc=(
        "concurrent connections and WebSockets per process; beyond it new requests get 503 (`0` = no cap)"))
    ws_max_message_bytes: int = setting("UNAMENTIS_WS_MAX_MESSAGE_BYTES", Int(minimum=1024), 1024 * 1024, doc=(
        "largest WebSocket message; a bigger one closes the socket with 1009"))
    console_port: int | None = setting("UNAMENTIS_CONSOLE_PORT", Int(minimum=1), None, default_doc="— (no console entry)", doc=(
        "a second listener (same address as `serve`) for the Operations Console's server-side proxies only: every "
        "request on it acts as `UNAMENTIS_CONSOLE_ADMIN_EMAIL` and is audited; never publish it (the deploy admits "
        "only the console's network to it)"))
    console_host: str | None = setting("UNAMENTIS_CONSOLE_HOST", Str(), None, default_doc="`UNAMENTIS_HOST`", doc=(
        "the address the console listener binds: an address only the console's network reaches (Compose: the core's "
        "address on its `console` network)"))
    console_admin_email: str | None = setting("UNAMENTIS_CONSOLE_ADMIN_EMAIL", Str(), None, doc=(
        "the active admin user the console entry acts as (its tenant and role); required with `UNAMENTIS_CONSOLE_PORT`"))
    services: tuple[str, ...] = setting("UNAMENTIS_SERVICES", CommaList(), (), default_doc="— (every service)", doc=(
        "comma-separated services `serve` mounts (`--services` wins), e.g. the chart's stateless pods"))
    # --- auth dispatch ----------------------------------------------------------------------
    client_auth: str = setting("UNAMENTIS_CLIENT_AUTH", Choice("token", "open"), "token", doc=(
        "`open` lets Tier-1 requests without a token act as `UNAMENTIS_OPEN_TENANT` — for a LAN install only; logged "
        "loudly at start"))
    open_tenant: str = setting("UNAMENTIS_OPEN_TENANT", Str(), "default", default_doc="`default` (`dev`: the dev tenant)", doc=(
        "the tenant slug of `open` client auth (and of open registration); `python -m runtime dev` uses the tenant it "
        "creates unless this is set to another slug"))
    # --- default rate limits (capacity, per seconds); capacity 0 = off ---------------------
    rate_limit_token: tuple[int, float] = setting("UNAMENTIS_RATE_LIMIT_TOKEN", Rate(), (300, 60.0), doc=(
        "default limit per beta token (`<requests>/<seconds>`, `s`/`m`/`h` suffixes, `0` = off)"))
    rate_limit_user: tuple[int, float] = setting("UNAMENTIS_RATE_LIMIT_USER", Rate(), (300, 60.0), "default limit per user")
    rate_limit_ip: tuple[int, float] = setting("UNAMENTIS_RATE_LIMIT_IP", Rate(), (600, 60.0), doc=(
        "default limit per client IP for unauthenticated calls and failed authentications"))
    # Lambda environments are many, short-lived and serve one request at a time: no leases there.
    rate_limit_leases: bool = setting("UNAMENTIS_RATE_LIMIT_LEASES", Bool(), True, default_doc="`true` (`false` on Lambda)",
                                      env_default=lambda env: not _on_lambda(env), doc=(
        "for limits of ≥ 100 requests, a container takes small leases of tokens (each ≤ 2 % of the limit, the next one "
        "taken in the background before the last runs out) from the shared bucket instead of one round trip per request; "
        "the shared bucket is never overdrawn"))
    # --- shared services --------------------------------------------------------------------
    redis_url: str | None = setting("REDIS_URL", Str(), None, "rate limits (and event fan-out) in Redis instead of PostgreSQL")
    # --- auth, limits and budgets (README "Auth, limits and budgets") -----------------------
    jwt_secret: str | None = setting("UNAMENTIS_JWT_SECRET", Str(), None, secret=True, topic="auth",
                                     default_doc="— (required outside `dev`)", doc=(
        "HS256 key of access JWTs, ≥ 32 characters; the same on every instance"))
    jwt_issuer: str = setting("UNAMENTIS_JWT_ISSUER", Str(), "unamentis", "`iss` of access JWTs", topic="auth")
    jwt_audience: str = setting("UNAMENTIS_JWT_AUDIENCE", Str(), "unamentis-api", "`aud` of access JWTs", topic="auth")
    refresh_token_days: int = setting("UNAMENTIS_REFRESH_TOKEN_DAYS", Int(minimum=1), 30, "refresh-token lifetime", topic="auth")
    registration: str = setting("UNAMENTIS_REGISTRATION", Choice("open", "beta_token", "closed"), "beta_token",
                                "`open`, `beta_token` or `closed`", topic="auth")
    auth_cache_seconds: float = setting("UNAMENTIS_AUTH_CACHE_SECONDS", Float(), 10.0, topic="auth", doc=(
        "how long a token/session check is reused (≤ 30; revocation delay)"))
    cf_access_team_domain: str | None = setting("UNAMENTIS_CF_ACCESS_TEAM_DOMAIN", Str(), None, topic="auth", doc=(
        "e.g. `myteam.cloudflareaccess.com` (enables Access for Tier 2)"))
    cf_access_aud: str | None = setting("UNAMENTIS_CF_ACCESS_AUD", Str(), None, "the Access application's AUD tag", topic="auth")
    cf_access_certs_url: str | None = setting("UNAMENTIS_CF_ACCESS_CERTS_URL", Str(), None, "where the signing keys are fetched",
                                              topic="auth", default_doc="`https://<team>/cdn-cgi/access/certs`")
    rate_limit_login: tuple[int, float] = setting("UNAMENTIS_RATE_LIMIT_LOGIN", Rate(), (5, 60.0), topic="auth", doc=(
        "login attempts per client IP (`<requests>/<seconds>`, `0` = off)"))
    rate_limit_register: tuple[int, float] = setting("UNAMENTIS_RATE_LIMIT_REGISTER", Rate(), (10, 3600.0),
                                                     "registrations per client IP", topic="auth")
    rate_limit_refresh: tuple[int, float] = setting("UNAMENTIS_RATE_LIMIT_REFRESH", Rate(), (60, 60.0),
                                                    "refreshes per client IP", topic="auth")
    budget_tenant_monthly_usd: float = setting("UNAMENTIS_BUDGET_TENANT_MONTHLY_USD", Float(), 25.0,
                                               "default monthly AI budget of a tenant", topic="auth")
    budget_user_daily_usd: float = setting("UNAMENTIS_BUDGET_USER_DAILY_USD", Float(), 2.0,
                                           "default daily AI budget of a user / beta token", topic="auth")
    # --- content ----------------------------------------------------------------------------
    storage: StorageConfig = field(default_factory=StorageConfig)  # from STORAGE_SETTINGS
    import_catalogs: tuple[str, ...] = setting("UNAMENTIS_IMPORT_CATALOGS", CommaList(), (), topic="content",
                                               default_doc="— (no import sources)", doc=(
        "comma-separated course catalogs (JSON files on the server or https URLs) listed as import sources "
        "(`/api/import/sources`); format in the README's \"Import sources\""))
    map_tiles: tuple[str, ...] = setting("UNAMENTIS_MAP_TILES", CommaList(), (), topic="content",
                                         default_doc="— (maps in the `plain` style only)", doc=(
        "tile servers of the map styles, comma-separated `style=https://…/{z}/{x}/{y}.png` (a bare URL is style "
        "`standard`); keep to the tile server's usage policy"))
    telemetry_retention_days: int = setting("UNAMENTIS_TELEMETRY_RETENTION_DAYS", Int(minimum=1), 30, topic="content", doc=(
        "metrics, logs and silent clients older than this are purged as new data arrives"))
    # --- identity / logging -----------------------------------------------------------------
    environment: str = setting("UNAMENTIS_ENV", Str(), "dev", "environment name (logs, `application_name`)")
    server_name: str = setting("UNAMENTIS_SERVER_NAME", Str(), None, "`server_name` in `/health`",
                               factory=socket.gethostname, env_default=lambda env: socket.gethostname(), default_doc="host name")
    version: str = RUNTIME_VERSION
    log_level: str = setting("UNAMENTIS_LOG_LEVEL", Choice(*LOG_LEVELS, upper=True), "INFO", "`DEBUG`, `INFO`, `WARNING`, `ERROR`")
    access_log: bool = setting("UNAMENTIS_ACCESS_LOG", Bool(), True, "one JSON line per request")
    malloc_trim_seconds: float = setting("UNAMENTIS_MALLOC_TRIM_SECONDS", Float(), 60.0, (
        "how often a running app gives memory it freed back to the system (glibc's `malloc_trim`; keeps a "
        "long-running voice core's resident size flat); `0` = never"))
    # --- voice core (None = its defaults) ---------------------------------------------------
    voice: VoiceSettings | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> "Settings":
        values = _read_all(_declared(cls, ""), env)
        settings = cls(**values, storage=_storage(env), voice=VoiceSettings.from_env(env))
        settings.validate()
        return settings

    def validate(self) -> None:
        """Cross-field checks; raises ConfigError naming the variable and the fix."""
        if self.log_level not in LOG_LEVELS:
            raise ConfigError(f"UNAMENTIS_LOG_LEVEL={self.log_level!r} is not one of {', '.join(LOG_LEVELS)}")
        if "*" in self.cors_origins:
            raise ConfigError("UNAMENTIS_CORS_ORIGINS must list origins explicitly; '*' is not allowed")
        for origin in self.cors_origins:
            if not re.fullmatch(r"https?://[A-Za-z0-9.\-]+(:\d{1,5})?", origin):
                raise ConfigError(
                    f"UNAMENTIS_CORS_ORIGINS: {origin!r} is not an origin like https://app.example.com (no path)"
                )
        if self.db_pool_min > self.db_pool_max:
            raise ConfigError("UNAMENTIS_DB_POOL_MIN must not exceed UNAMENTIS_DB_POOL_MAX")
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", self.app_role):
            raise ConfigError(f"UNAMENTIS_APP_ROLE={self.app_role!r} must be a lower-case SQL identifier")
        if self.auth_cache_seconds > 30:
            raise ConfigError("UNAMENTIS_AUTH_CACHE_SECONDS must be at most 30 (revoked tokens must stop within 30 s)")
        if self.jwt_secret is not None and len(self.jwt_secret) < 32:
            raise ConfigError("UNAMENTIS_JWT_SECRET must be at least 32 characters (python -c 'import secrets; print(secrets.token_urlsafe(48))')")
        if bool(self.cf_access_team_domain) != bool(self.cf_access_aud):
            raise ConfigError("set both UNAMENTIS_CF_ACCESS_TEAM_DOMAIN and UNAMENTIS_CF_ACCESS_AUD (Cloudflare Access admin auth) or neither")
        if self.console_port is not None and not self.console_admin_email:
            raise ConfigError("UNAMENTIS_CONSOLE_PORT needs UNAMENTIS_CONSOLE_ADMIN_EMAIL: the admin user the console acts as")
        if self.console_port is not None and self.console_port == self.port:
            raise ConfigError(f"UNAMENTIS_CONSOLE_PORT={self.console_port} must differ from PORT: the console entry is its own listener")
        if self.origin_secret is not None and len(self.origin_secret) < 16:
            raise ConfigError("UNAMENTIS_ORIGIN_SECRET must be at least 16 characters (generate 32 random bytes)")
        self._validate_dsns()

    def _validate_dsns(self) -> None:
        for env, value in (("DATABASE_URL", self.database_url), ("UNAMENTIS_DATABASE_ADMIN_URL", self.database_admin_url)):
            if value and not re.match(r"postgres(ql)?://", value):
                raise ConfigError(f"{env} is not a PostgreSQL URL; write postgresql://<role>:<password>@<host>:5432/<database>")

    def with_overrides(self, **overrides: Any) -> "Settings":
        """A copy with some fields replaced (tests, Lambda handlers)."""
        return replace(self, **overrides)

    def require_database_url(self) -> str:
        if not self.database_url:
            raise ConfigError(
                "DATABASE_URL is not set; set it to postgresql://<app role>@<host>:5432/<db> "
                "or run `python -m runtime dev`, which starts a local database"
            )
        return self.database_url

    def require_admin_url(self) -> str:
        url = self.database_admin_url or self.database_url
        if not url:
            raise ConfigError(
                "UNAMENTIS_DATABASE_ADMIN_URL (or DATABASE_URL) is not set; set it to the owner's DSN, "
                "e.g. postgresql://postgres@127.0.0.1:5432/unamentis"
            )
        return url


# --- the declaration, for the deploy program and the docs --------------------------------------------

_CORE = _declared(Settings, "")
# The storage variables go where Settings.storage sits, so the README's content table keeps its order.
_storage_at = next(i for i, s in enumerate(_CORE) if s.topic == "content")
# --- Compose (read by deploy/compose/compose.yaml, never by the runtime; declared here so the README
# names no variable without a declaration)
COMPOSE_SETTINGS: tuple[Setting, ...] = tuple(
    Setting(name, env, cast, default, doc, False, "compose", "compose", default_doc)
    for name, env, cast, default, doc, default_doc in (
        ("compose_bind_address", "UNAMENTIS_BIND_ADDRESS", Str(), "0.0.0.0",
         "the host address Compose publishes the core's port on; `127.0.0.1` keeps it off the network (tunnel)", None),
        ("compose_http_port", "UNAMENTIS_HTTP_PORT", Int(minimum=1), 8766, "the host port Compose publishes", None),
        ("compose_image", "UNAMENTIS_IMAGE", Str(), "unamentis-runtime:0.1.0",
         "the runtime image Compose builds and runs (set a new tag to upgrade)", None),
        ("compose_console_image", "UNAMENTIS_CONSOLE_IMAGE", Str(), None,
         "profile `console`: your pinned image of the Operations Console (built with its `NEXT_PUBLIC_*` = "
         "`UNAMENTIS_CONSOLE_URL`)", None),
        ("compose_console_url", "UNAMENTIS_CONSOLE_URL", Str(), "http://localhost:3000",
         "profile `console`: where browsers open the console (its `NEXT_PUBLIC_*` API base)", None),
        ("compose_console_bind_address", "UNAMENTIS_CONSOLE_BIND_ADDRESS", Str(), "127.0.0.1",
         "profile `console`: the host address the console is published on; whoever reaches it acts as the console's "
         "admin", None),
        ("compose_console_http_port", "UNAMENTIS_CONSOLE_HTTP_PORT", Int(minimum=1), 3000,
         "profile `console`: the host port of the console", None),
    )
)

SETTINGS: tuple[Setting, ...] = (_CORE[:_storage_at] + STORAGE_SETTINGS + _CORE[_storage_at:] + _declared(VoiceSettings, "voice")
                                 + COMPOSE_SETTINGS)
"""Every environment variable the runtime reads (besides AWS's own AWS_REGION and AWS_LAMBDA_FUNCTION_NAME)."""
_BY_FIELD = {s.field: s for s in SETTINGS}


def env_vars(**fields: object) -> dict[str, object]:
    """``env_vars(db_pool_max=4, cors_origins=("https://a.example",))`` → ``{"UNAMENTIS_DB_POOL_MAX": "4", …}``.

    Keys are field names of ``SETTINGS``; each plain value is encoded the way ``Settings.from_env`` reads it
    back (and checked by that parser, so a bad value fails here), a string is checked and kept as written,
    any other object (a Pulumi ``Output``) passes through unchanged, and ``None`` leaves the variable unset.
    """
    unknown = sorted(set(fields) - set(_BY_FIELD))
    if unknown:
        raise ValueError(f"unknown runtime setting(s): {', '.join(unknown)} (see runtime.settings.SETTINGS)")
    return {_BY_FIELD[name].env: _BY_FIELD[name].encode(value) for name, value in fields.items() if value is not None}


# --- the README's configuration tables -----------------------------------------------------------------

TOPICS = ("runtime", "auth", "content", "voice", "compose")
README_COMMAND = "python -m runtime.settings --write README.md"


def markdown_table(topic: str) -> str:
    """The README table of one topic's variables."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for s in SETTINGS:
        if s.topic == topic:
            doc = ("secret — " if s.secret else "") + s.doc
            rows.append(f"| `{s.env}` | {s.readme_default()} | {doc.replace('|', chr(92) + '|')} |")
    return "\n".join(rows) + "\n"


def _markers(topic: str) -> tuple[str, str]:
    return (f"<!-- settings:{topic} (generated from runtime/settings.py: {README_COMMAND}) -->\n",
            f"<!-- /settings:{topic} -->\n")


def render_readme(text: str) -> str:
    """``text`` with every marked settings table replaced by the one generated from ``SETTINGS``."""
    for topic in TOPICS:
        begin, end = _markers(topic)
        start, stop = text.find(begin), text.find(end)
        if start < 0 or stop < start:
            raise ValueError(f"README lacks the markers of the {topic!r} settings table: {begin.strip()} … {end.strip()}")
        text = text[: start + len(begin)] + markdown_table(topic) + text[stop:]
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runtime.settings", description="the runtime's settings as docs")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--markdown", action="store_true", help="print every topic's table")
    group.add_argument("--write", metavar="README", type=Path, help="rewrite the marked tables of this file")
    group.add_argument("--check", metavar="README", type=Path, help="exit 1 when the marked tables are stale")
    args = parser.parse_args(argv)
    if args.markdown:
        for topic in TOPICS:
            print(f"### {topic}\n\n{markdown_table(topic)}")
        return 0
    path = args.write or args.check
    text = path.read_text(encoding="utf-8")
    fresh = render_readme(text)
    if args.check:
        if fresh != text:
            print(f"{path}: settings tables are stale; run {README_COMMAND}", file=sys.stderr)
            return 1
        return 0
    path.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
