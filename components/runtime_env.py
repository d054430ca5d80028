"""The runtime's environment contract: what the deployed runtime is told, and which of it is secret.

The runtime reads its settings from environment variables (`runtime/settings.py`); this module
turns the stack's choices into those variables for the two ways it runs:

- `shared`: every runtime process (the core task and each Lambda);
- `core_only`: the core alone, because only it runs migrations and the admin CLI (the owner's
  database URL, the app role's password) and talks to the GPU fleet.

Each part is split into plain values and secrets. Secrets are marked `pulumi.Output.secret`, so the
plan redacts them and the policy can tell them apart; compute stores them as SSM SecureStrings
(core) or encrypted Lambda variables, never as plain task-definition values.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Mapping, Optional

import pulumi

APP_ROLE = "unamentis_app"  # the runtime's database role (not the owner, no BYPASSRLS)

# The stack's sign-up mode -> the runtime's: invite-only sign-up is the runtime's beta-token mode.
REGISTRATION = {"open": "open", "invite": "beta_token", "closed": "closed"}

# Which hosted provider serves each kind of model, in order of preference, when its key is set.
PROVIDER_CHOICES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("LLM", ("groq", "openai")),
    ("STT", ("groq", "openai")),
    ("TTS", ("deepgram", "openai")),
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


def provider_environment(keys: Mapping[str, Optional[pulumi.Input[str]]]) -> Environment:
    """Choose the hosted AI providers from the keys that are set (`groq`, `openai`, `deepgram`).

    Groq serves the LLM and Whisper STT when its key is set, else OpenAI; Deepgram serves TTS when
    its key is set, else OpenAI. A kind with no key stays `auto` (GPU fleet or the offline engines).
    """
    plain: dict[str, str] = {}
    secret: dict[str, pulumi.Input[str]] = {}
    for kind, providers in PROVIDER_CHOICES:
        for provider in providers:
            key = keys.get(provider)
            if key is not None:
                plain[f"UNAMENTIS_{kind}_PROVIDER"] = provider
                secret[f"UNAMENTIS_{kind}_API_KEY"] = key
                break
    return Environment(plain, secret)


def app_database_url(password: pulumi.Input[str], address: pulumi.Input[str], port: pulumi.Input[int],
                     db_name: str) -> pulumi.Output[str]:
    """The request path's DSN: the RLS-bound app role, TLS required."""
    return pulumi.Output.all(password, address, port).apply(
        lambda a: f"postgresql://{APP_ROLE}:{a[0]}@{a[1]}:{a[2]}/{db_name}?sslmode=require")


def runtime_environment(
    *, env: str, region: str, api_host: str, registration: Literal["open", "invite", "closed"],
    min_client_version: str, rate_limits_per_minute: tuple[int, int, int], cors_origins: tuple[str, ...],
    database_url: pulumi.Input[str], jwt_secret: pulumi.Input[str], app_role_password: pulumi.Input[str],
    owner_database_url: Optional[pulumi.Input[str]] = None, core_db_pool: int = 5,
    storage: Optional[Mapping[str, pulumi.Input[str]]] = None,
    origin_secret: Optional[pulumi.Input[str]] = None, access_team_domain: Optional[pulumi.Input[str]] = None,
    access_aud: Optional[pulumi.Input[str]] = None, providers: Optional[Environment] = None,
    gpu_asg_name: Optional[str] = None, gpu_node_token: Optional[pulumi.Input[str]] = None,
) -> RuntimeEnvironment:
    """The runtime's environment for one stack.

    `rate_limits_per_minute` is (per token, per user, per IP); `storage` the plain data-tier values
    (object store URL, region, queue URLs); `providers` the AI providers (`provider_environment`,
    core only).
    """
    per_token, per_user, per_ip = rate_limits_per_minute
    plain: dict[str, pulumi.Input[str]] = {
        "UNAMENTIS_ENV": env,
        "UNAMENTIS_AWS_REGION": region,
        "UNAMENTIS_REGISTRATION": REGISTRATION[registration],
        "UNAMENTIS_MIN_CLIENT_VERSION": min_client_version,
        "UNAMENTIS_JWT_ISSUER": f"https://{api_host}",
        "UNAMENTIS_RATE_LIMIT_TOKEN": f"{per_token}/60",
        "UNAMENTIS_RATE_LIMIT_USER": f"{per_user}/60",
        "UNAMENTIS_RATE_LIMIT_IP": f"{per_ip}/60",
        **(storage or {}),
    }
    if cors_origins:
        plain["UNAMENTIS_CORS_ORIGINS"] = ",".join(cors_origins)
    if access_team_domain is not None:
        plain["UNAMENTIS_CF_ACCESS_TEAM_DOMAIN"] = access_team_domain
    if access_aud is not None:
        plain["UNAMENTIS_CF_ACCESS_AUD"] = access_aud
    plain["UNAMENTIS_APP_ROLE"] = APP_ROLE
    secret: dict[str, pulumi.Input[str]] = {
        "DATABASE_URL": database_url,
        "UNAMENTIS_JWT_SECRET": jwt_secret,
    }
    if origin_secret is not None:
        secret["UNAMENTIS_ORIGIN_SECRET"] = origin_secret
    secret = {k: pulumi.Output.secret(v) for k, v in secret.items()}

    providers = providers or Environment()
    core_plain: dict[str, pulumi.Input[str]] = dict(providers.plain)
    if gpu_asg_name is not None:
        core_plain["UNAMENTIS_GPU_ASG_NAME"] = gpu_asg_name
    core_plain["UNAMENTIS_DB_POOL_MAX"] = str(core_db_pool)
    core_secret: dict[str, pulumi.Input[str]] = {
        **providers.secret, "UNAMENTIS_APP_ROLE_PASSWORD": app_role_password}
    if owner_database_url is not None:
        core_secret["UNAMENTIS_DATABASE_ADMIN_URL"] = owner_database_url
    if gpu_node_token is not None:
        core_secret["UNAMENTIS_GPU_NODE_TOKEN"] = pulumi.Output.secret(gpu_node_token)
    return RuntimeEnvironment(shared=Environment(plain, secret), core_only=Environment(core_plain, core_secret))
