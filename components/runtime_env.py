"""The runtime's environment contract: what the deployed runtime is told, and which of it is secret.

The runtime declares every setting once (`runtime.settings.SETTINGS`: field, variable, type,
default, secret flag); this module names settings by their field and lets `runtime.settings.env_vars`
turn them into variables, encoded the way the runtime parses them. It builds them for the two ways
the runtime runs:

- `shared`: every runtime process (the core task and each Lambda);
- `core_only`: the core alone, because only it runs migrations and the admin CLI (the owner's
  database URL, the app role's password) and talks to the GPU fleet and the AI providers.

Each part is split into plain values and secrets by the settings' own secret flag. Secrets are
marked `pulumi.Output.secret`, so the plan redacts them and the policy can tell them apart; compute
stores them as SSM SecureStrings (core) or encrypted Lambda variables, never as plain
task-definition values.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Mapping, Optional

import pulumi

from components.ops_console import CONSOLE_PORT
from runtime.settings import SETTINGS, env_vars

_SECRET_VARIABLES = frozenset(s.env for s in SETTINGS if s.secret)

# The runtime's database role (not the owner, no BYPASSRLS), as the runtime declares it.
APP_ROLE: str = next(s.default for s in SETTINGS if s.field == "app_role")

# The stack's sign-up mode -> the runtime's: invite-only sign-up is the runtime's beta-token mode.
REGISTRATION = {"open": "open", "invite": "beta_token", "closed": "closed"}

# Which hosted provider serves each kind of model, in order of preference, when its key is set.
PROVIDER_CHOICES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("llm", ("groq", "openai")),
    ("stt", ("groq", "openai")),
    ("tts", ("deepgram", "openai")),
)


@dataclass(frozen=True)
class Environment:
    """Plain and secret environment variables of one audience."""

    plain: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    secret: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class RuntimeEnvironment:
    """What every runtime process gets (`shared`) and what only the core gets (`core_only`)."""

    shared: Environment
    core_only: Environment


def split(variables: Mapping[str, pulumi.Input[str]]) -> "Environment":
    """Plain and secret variables, by the runtime's own secret flag; secrets marked secret."""
    return Environment(
        plain={k: v for k, v in variables.items() if k not in _SECRET_VARIABLES},
        secret={k: pulumi.Output.secret(v) for k, v in variables.items() if k in _SECRET_VARIABLES})


def provider_settings(keys: Mapping[str, Optional[pulumi.Input[str]]]) -> dict[str, pulumi.Input[str]]:
    """Settings choosing the hosted AI providers from the keys that are set (`groq`, `openai`, `deepgram`).

    Groq serves the LLM and Whisper STT when its key is set, else OpenAI; Deepgram serves TTS when
    its key is set, else OpenAI. A kind with no key stays `auto` (GPU fleet or the offline engines).
    """
    fields: dict[str, pulumi.Input[str]] = {}
    for kind, providers in PROVIDER_CHOICES:
        for provider in providers:
            key = keys.get(provider)
            if key is not None:
                fields[f"{kind}_provider"] = provider
                fields[f"{kind}_api_key"] = key
                break
    return fields


def app_database_url(password: pulumi.Input[str], address: pulumi.Input[str], port: pulumi.Input[int],
                     db_name: str) -> pulumi.Output[str]:
    """The request path's DSN: the RLS-bound app role, TLS required."""
    return pulumi.Output.all(password, address, port).apply(
        lambda a: f"postgresql://{APP_ROLE}:{a[0]}@{a[1]}:{a[2]}/{db_name}?sslmode=require")


def runtime_environment(
    *, env: str, region: str, api_host: str, registration: Literal["open", "invite", "closed"],
    min_client_version: str, rate_limits_per_minute: tuple[int, int, int], cors_origins: tuple[str, ...],
    database_url: pulumi.Input[str], jwt_secret: pulumi.Input[str], app_role_password: pulumi.Input[str],
    storage_url: pulumi.Input[str], s3_region: str, sqs_queue_url: Optional[pulumi.Input[str]] = None,
    sqs_dlq_url: Optional[pulumi.Input[str]] = None, owner_database_url: Optional[pulumi.Input[str]] = None,
    core_db_pool: int = 5, origin_secret: Optional[pulumi.Input[str]] = None,
    access_team_domain: Optional[pulumi.Input[str]] = None, access_aud: Optional[pulumi.Input[str]] = None,
    provider_keys: Optional[Mapping[str, Optional[pulumi.Input[str]]]] = None,
    gpu_asg_name: Optional[str] = None, gpu_node_token: Optional[pulumi.Input[str]] = None,
    console_admin_email: Optional[str] = None,
) -> RuntimeEnvironment:
    """The runtime's environment for one stack.

    `rate_limits_per_minute` is (per token, per user, per IP); `storage_url`, `s3_region` and the
    SQS URLs are the data tier (no queue URL: the runtime uses its PostgreSQL queue);
    `provider_keys` the AI providers' keys (`provider_settings`, core only); `console_admin_email`
    opens the core's console listener on `CONSOLE_PORT` as that admin (core only). A setting given as
    None stays unset, so the runtime's declared default applies.
    """
    per_token, per_user, per_ip = rate_limits_per_minute
    shared = env_vars(
        environment=env, aws_region=region, registration=REGISTRATION[registration],
        min_client_versions=min_client_version, jwt_issuer=f"https://{api_host}",
        rate_limit_token=(per_token, 60), rate_limit_user=(per_user, 60), rate_limit_ip=(per_ip, 60),
        storage_url=storage_url, s3_region=s3_region, sqs_queue_url=sqs_queue_url, sqs_dlq_url=sqs_dlq_url,
        cors_origins=cors_origins or None, cf_access_team_domain=access_team_domain, cf_access_aud=access_aud,
        app_role=APP_ROLE, database_url=database_url, jwt_secret=jwt_secret, origin_secret=origin_secret)
    core_only = env_vars(
        **provider_settings(provider_keys or {}), gpu_asg_name=gpu_asg_name, db_pool_max=core_db_pool,
        app_role_password=app_role_password, database_admin_url=owner_database_url, gpu_node_token=gpu_node_token,
        console_port=CONSOLE_PORT if console_admin_email else None, console_admin_email=console_admin_email)
    return RuntimeEnvironment(shared=split(shared), core_only=split(core_only))
