"""Runtime settings, read once from environment variables.

Every field has one environment variable (documented in the README's runtime section). Parsing is
strict: a malformed value raises ``ConfigError`` naming the variable and the fix, so a task or a
Lambda fails at start instead of misbehaving later. Other runtime modules ADD fields here (with a
default, so ``Settings()`` stays valid) and one line in ``from_env``; nothing else reads
``os.environ``.
"""
from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from runtime.storage import StorageConfig, StorageConfigError
from runtime.validation import parse_bool


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable and the fix."""


_VERSION_RE = re.compile(r"^\d+(\.\d+){0,3}$")
# The runtime's release; /health reports it.
RUNTIME_VERSION = "0.1.0"

PLATFORMS = ("ios", "android", "web")


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = parse_bool(raw)
    if value is not None:
        return value
    raise ConfigError(f"{name}={raw!r} is not a boolean; use true or false")


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise ConfigError(f"{name}={value} must be at least {minimum}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, *, minimum: float = 0.0) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw.strip())
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if value < minimum:
        raise ConfigError(f"{name}={value} must be at least {minimum}")
    return value


def _str(env: Mapping[str, str], name: str, default: str | None = None) -> str | None:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    return raw.strip()


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = (_str(env, name) or default).lower()
    if value not in choices:
        raise ConfigError(f"{name}={value!r} is not one of {', '.join(choices)}")
    return value


def _list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    raw = env.get(name) or ""
    return tuple(item.strip() for item in raw.split(",") if item.strip())


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


def _min_versions(env: Mapping[str, str], name: str) -> dict[str, tuple[int, ...]]:
    """``"1.2.0"`` (every platform) or ``"ios=1.2.0,android=1.1,web=0"`` (per platform)."""
    raw = _str(env, name)
    if not raw:
        return {}
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


def _storage(env: Mapping[str, str]) -> StorageConfig:
    try:
        return StorageConfig.from_env(env)
    except StorageConfigError as exc:
        raise ConfigError(str(exc)) from None


def _voice_settings(env: Mapping[str, str]) -> Any:
    from runtime.voice.config import VoiceSettings  # imported late: it builds on the helpers above

    return VoiceSettings.from_env(env)


@dataclass(frozen=True)
class Settings:
    # --- database ---------------------------------------------------------------------------
    database_url: str | None = field(default=None, repr=False)  # DATABASE_URL: the runtime role (not owner, no BYPASSRLS)
    database_admin_url: str | None = field(default=None, repr=False)  # UNAMENTIS_DATABASE_ADMIN_URL: owner, for migrate/admin
    app_role: str = "unamentis_app"  # UNAMENTIS_APP_ROLE
    app_role_password: str | None = field(default=None, repr=False)  # UNAMENTIS_APP_ROLE_PASSWORD: migrate makes the role LOGIN
    db_mode: str = "pool"  # UNAMENTIS_DB_MODE: pool (container) | single (Lambda)
    db_pool_min: int = 1  # UNAMENTIS_DB_POOL_MIN
    db_pool_max: int = 10  # UNAMENTIS_DB_POOL_MAX
    db_connect_timeout: float = 5.0  # UNAMENTIS_DB_CONNECT_TIMEOUT (seconds)
    db_statement_timeout_ms: int = 15000  # UNAMENTIS_DB_STATEMENT_TIMEOUT_MS (0 = none)
    # --- edge / HTTP ------------------------------------------------------------------------
    origin_secret: str | None = field(default=None, repr=False)  # UNAMENTIS_ORIGIN_SECRET (Tier 3)
    cors_origins: tuple[str, ...] = ()  # UNAMENTIS_CORS_ORIGINS (comma list; no "*")
    min_client_versions: Mapping[str, tuple[int, ...]] = field(default_factory=dict)  # UNAMENTIS_MIN_CLIENT_VERSION
    max_body_bytes: int = 1024 * 1024  # UNAMENTIS_MAX_BODY_BYTES
    # --- auth dispatch ----------------------------------------------------------------------
    client_auth: str = "token"  # UNAMENTIS_CLIENT_AUTH: token | open (LAN installs only)
    open_tenant: str = "default"  # UNAMENTIS_OPEN_TENANT: tenant slug used when client_auth=open
    # --- default rate limits (capacity, per seconds); capacity 0 = off ---------------------
    rate_limit_token: tuple[int, float] = (300, 60.0)  # UNAMENTIS_RATE_LIMIT_TOKEN
    rate_limit_user: tuple[int, float] = (300, 60.0)  # UNAMENTIS_RATE_LIMIT_USER
    rate_limit_ip: tuple[int, float] = (600, 60.0)  # UNAMENTIS_RATE_LIMIT_IP
    rate_limit_leases: bool = True  # UNAMENTIS_RATE_LIMIT_LEASES (default: on, off on Lambda)
    # --- shared services --------------------------------------------------------------------
    redis_url: str | None = None  # REDIS_URL
    # --- auth, limits and budgets (RA; README "Auth, limits and budgets") ---------------------
    jwt_secret: str | None = field(default=None, repr=False)  # UNAMENTIS_JWT_SECRET (>= 32 chars; HS256 access tokens)
    jwt_issuer: str = "unamentis"  # UNAMENTIS_JWT_ISSUER
    jwt_audience: str = "unamentis-api"  # UNAMENTIS_JWT_AUDIENCE
    refresh_token_days: int = 30  # UNAMENTIS_REFRESH_TOKEN_DAYS
    registration: str = "beta_token"  # UNAMENTIS_REGISTRATION: open | beta_token | closed
    auth_cache_seconds: float = 10.0  # UNAMENTIS_AUTH_CACHE_SECONDS (revocation delay, <= 30)
    cf_access_team_domain: str | None = None  # UNAMENTIS_CF_ACCESS_TEAM_DOMAIN (e.g. myteam.cloudflareaccess.com)
    cf_access_aud: str | None = None  # UNAMENTIS_CF_ACCESS_AUD (the Access application's AUD tag)
    cf_access_certs_url: str | None = None  # UNAMENTIS_CF_ACCESS_CERTS_URL (default https://<team>/cdn-cgi/access/certs)
    rate_limit_login: tuple[int, float] = (5, 60.0)  # UNAMENTIS_RATE_LIMIT_LOGIN (per IP)
    rate_limit_register: tuple[int, float] = (10, 3600.0)  # UNAMENTIS_RATE_LIMIT_REGISTER (per IP)
    rate_limit_refresh: tuple[int, float] = (60, 60.0)  # UNAMENTIS_RATE_LIMIT_REFRESH (per IP)
    budget_tenant_monthly_usd: float = 25.0  # UNAMENTIS_BUDGET_TENANT_MONTHLY_USD (default per tenant)
    budget_user_daily_usd: float = 2.0  # UNAMENTIS_BUDGET_USER_DAILY_USD (default per user / beta token)
    # --- content (CT) -----------------------------------------------------------------------
    storage: StorageConfig = field(default_factory=StorageConfig)  # UNAMENTIS_STORAGE_URL + UNAMENTIS_S3_* (runtime/storage.py)
    telemetry_retention_days: int = 30  # UNAMENTIS_TELEMETRY_RETENTION_DAYS (metrics, logs, client registry)
    # --- identity / logging -----------------------------------------------------------------
    environment: str = "dev"  # UNAMENTIS_ENV
    server_name: str = field(default_factory=socket.gethostname)  # UNAMENTIS_SERVER_NAME
    version: str = RUNTIME_VERSION
    log_level: str = "INFO"  # UNAMENTIS_LOG_LEVEL
    access_log: bool = True  # UNAMENTIS_ACCESS_LOG
    # --- voice core (runtime/voice/config.py; None = its defaults) ----------------------------
    voice: Any = None  # VoiceSettings from UNAMENTIS_STT_*/LLM_*/TTS_*/GPU_*/WS_*/JOB_* variables

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> "Settings":
        database_url = _str(env, "DATABASE_URL")
        db_default_mode = "single" if env.get("AWS_LAMBDA_FUNCTION_NAME") else "pool"
        values: dict[str, Any] = dict(
            database_url=database_url,
            database_admin_url=_str(env, "UNAMENTIS_DATABASE_ADMIN_URL", database_url),
            app_role=_str(env, "UNAMENTIS_APP_ROLE", "unamentis_app"),
            app_role_password=_str(env, "UNAMENTIS_APP_ROLE_PASSWORD"),
            db_mode=_choice(env, "UNAMENTIS_DB_MODE", db_default_mode, ("pool", "single")),
            db_pool_min=_int(env, "UNAMENTIS_DB_POOL_MIN", 1),
            db_pool_max=_int(env, "UNAMENTIS_DB_POOL_MAX", 10, minimum=1),
            db_connect_timeout=_float(env, "UNAMENTIS_DB_CONNECT_TIMEOUT", 5.0, minimum=0.1),
            db_statement_timeout_ms=_int(env, "UNAMENTIS_DB_STATEMENT_TIMEOUT_MS", 15000),
            origin_secret=_str(env, "UNAMENTIS_ORIGIN_SECRET"),
            cors_origins=_list(env, "UNAMENTIS_CORS_ORIGINS"),
            min_client_versions=_min_versions(env, "UNAMENTIS_MIN_CLIENT_VERSION"),
            max_body_bytes=_int(env, "UNAMENTIS_MAX_BODY_BYTES", 1024 * 1024, minimum=1024),
            client_auth=_choice(env, "UNAMENTIS_CLIENT_AUTH", "token", ("token", "open")),
            open_tenant=_str(env, "UNAMENTIS_OPEN_TENANT", "default"),
            rate_limit_token=parse_rate("UNAMENTIS_RATE_LIMIT_TOKEN", env.get("UNAMENTIS_RATE_LIMIT_TOKEN") or "300/60"),
            rate_limit_user=parse_rate("UNAMENTIS_RATE_LIMIT_USER", env.get("UNAMENTIS_RATE_LIMIT_USER") or "300/60"),
            rate_limit_ip=parse_rate("UNAMENTIS_RATE_LIMIT_IP", env.get("UNAMENTIS_RATE_LIMIT_IP") or "600/60"),
            # Lambda environments are many, short-lived and serve one request at a time: no leases there.
            rate_limit_leases=_bool(env, "UNAMENTIS_RATE_LIMIT_LEASES", not env.get("AWS_LAMBDA_FUNCTION_NAME")),
            redis_url=_str(env, "REDIS_URL"),
            jwt_secret=_str(env, "UNAMENTIS_JWT_SECRET"),
            jwt_issuer=_str(env, "UNAMENTIS_JWT_ISSUER", "unamentis"),
            jwt_audience=_str(env, "UNAMENTIS_JWT_AUDIENCE", "unamentis-api"),
            refresh_token_days=_int(env, "UNAMENTIS_REFRESH_TOKEN_DAYS", 30, minimum=1),
            registration=_choice(env, "UNAMENTIS_REGISTRATION", "beta_token", ("open", "beta_token", "closed")),
            auth_cache_seconds=_float(env, "UNAMENTIS_AUTH_CACHE_SECONDS", 10.0),
            cf_access_team_domain=_str(env, "UNAMENTIS_CF_ACCESS_TEAM_DOMAIN"),
            cf_access_aud=_str(env, "UNAMENTIS_CF_ACCESS_AUD"),
            cf_access_certs_url=_str(env, "UNAMENTIS_CF_ACCESS_CERTS_URL"),
            rate_limit_login=parse_rate("UNAMENTIS_RATE_LIMIT_LOGIN", env.get("UNAMENTIS_RATE_LIMIT_LOGIN") or "5/60"),
            rate_limit_register=parse_rate("UNAMENTIS_RATE_LIMIT_REGISTER", env.get("UNAMENTIS_RATE_LIMIT_REGISTER") or "10/3600"),
            rate_limit_refresh=parse_rate("UNAMENTIS_RATE_LIMIT_REFRESH", env.get("UNAMENTIS_RATE_LIMIT_REFRESH") or "60/60"),
            budget_tenant_monthly_usd=_float(env, "UNAMENTIS_BUDGET_TENANT_MONTHLY_USD", 25.0),
            budget_user_daily_usd=_float(env, "UNAMENTIS_BUDGET_USER_DAILY_USD", 2.0),
            storage=_storage(env),
            telemetry_retention_days=_int(env, "UNAMENTIS_TELEMETRY_RETENTION_DAYS", 30, minimum=1),
            environment=_str(env, "UNAMENTIS_ENV", "dev"),
            server_name=_str(env, "UNAMENTIS_SERVER_NAME") or socket.gethostname(),
            log_level=(_str(env, "UNAMENTIS_LOG_LEVEL", "INFO") or "INFO").upper(),
            access_log=_bool(env, "UNAMENTIS_ACCESS_LOG", True),
            voice=_voice_settings(env),
        )
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Cross-field checks; raises ConfigError naming the variable and the fix."""
        if self.log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ConfigError(f"UNAMENTIS_LOG_LEVEL={self.log_level!r} is not one of DEBUG, INFO, WARNING, ERROR")
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
        if self.origin_secret is not None and len(self.origin_secret) < 16:
            raise ConfigError("UNAMENTIS_ORIGIN_SECRET must be at least 16 characters (generate 32 random bytes)")

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
