"""The typed stack configuration of UnaMentis Cloud.

One model (`StackConfig`) for every stack. Values come from three layers, later wins:
the dataclass defaults below, the defaults of the stack's `profile` (`PROFILE_DEFAULTS`),
and the stack file (`Pulumi.<stack>.yaml`, namespace `unamentis-cloud:`; the region is the
AWS provider's own `aws:region`). Everything is validated before any resource exists:
a bad value raises `ConfigError` whose one-line message names the full key and the fix.

Adding a field: add it to the right dataclass with a default, add per-profile
defaults to `PROFILE_DEFAULTS` if they differ, document it in `Pulumi.yaml`, and add a
cross-field check to `_validate` if it depends on another key. The generic builder
(`_build`) handles str, int, float, bool, Optional[...], Literal[...], tuple[str, ...],
dict[str, int|bool|str] and nested dataclasses, and rejects unknown keys (typos).
"""
from __future__ import annotations

import dataclasses
import ipaddress
import json
import re
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Optional

import pulumi
from pulumi.runtime import config as pulumi_config

from components.facts import (FARGATE_SIZES, GPU_FAMILIES, HTTP_API_MAX_LAMBDA_TIMEOUT_S, LOG_RETENTION_DAYS,
                              R2_BUCKET_RE, TIERS, is_pinned)
from runtime.route_table import LAMBDA_SERVICES

PROJECT = "unamentis-cloud"

Profile = Literal["beta", "prod", "customer"]
NatStrategy = Literal["none", "instance", "gateway"]
Ingress = Literal["tunnel", "alb"]
EdgeProvider = Literal["cloudflare", "none"]
ComputePlatform = Literal["ecs", "eks"]

# Secret config keys holding provider API keys; read with `provider_api_keys()`, never defaulted.
PROVIDER_KEY_NAMES: tuple[str, ...] = ("groqApiKey", "openaiApiKey", "deepgramApiKey")



class ConfigError(ValueError):
    """A stack config value is missing, malformed or contradicts another one.

    `key` is the full config key (e.g. `unamentis-cloud:network.cidrs.data`); the message
    is one line: `<key>: <problem>. Fix: <how>`.
    """

    def __init__(self, key: str, problem: str, fix: str):
        self.key = key if ":" in key else f"{PROJECT}:{key}"
        self.problem = problem
        self.fix = fix
        super().__init__(f"{self.key}: {problem}. Fix: {fix}")


# --------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class CidrsConfig:
    """One CIDR per AZ per tier, in the order of `azs`. Never derived from the AZ count, so
    adding an AZ never renumbers (and replaces) existing subnets."""
    public: tuple[str, ...] = ("10.0.0.0/22", "10.0.4.0/22")
    private: tuple[str, ...] = ("10.0.16.0/20", "10.0.32.0/20")
    gpu: tuple[str, ...] = ("10.0.48.0/22", "10.0.52.0/22")
    data: tuple[str, ...] = ("10.0.56.0/24", "10.0.57.0/24")


@dataclass(frozen=True)
class NetworkConfig:
    cidr: str = "10.0.0.0/16"
    cidrs: CidrsConfig = field(default_factory=CidrsConfig)
    nat: NatStrategy = "none"
    nat_instance_type: str = "t4g.nano"
    flow_logs: bool = False


@dataclass(frozen=True)
class AccessConfig:
    team_domain: str = ""  # e.g. "myteam.cloudflareaccess.com"
    allowed_email_domains: tuple[str, ...] = ()
    allowed_emails: tuple[str, ...] = ()
    session_duration: str = "8h"


@dataclass(frozen=True)
class R2Config:
    # Off unless asked for: the runtime's object store is S3 in every profile (the Lambdas reach
    # S3 through the VPC endpoint), so buckets and a read-write token nothing uses would only be
    # one more credential to guard. On, the account must have R2 activated (a payment method).
    enabled: bool = False
    assets_bucket: str = ""  # default "<stack>-unamentis-assets"
    tts_bucket: str = ""  # default "<stack>-unamentis-tts"


@dataclass(frozen=True)
class CloudflareConfig:
    account_id: str = ""
    zone_id: str = ""
    plan: Literal["free", "pro"] = "free"
    access: AccessConfig = field(default_factory=AccessConfig)
    r2: R2Config = field(default_factory=R2Config)


@dataclass(frozen=True)
class AlbConfig:
    # Optional: without it (and with edge cloudflare) an ACM certificate is validated through
    # Cloudflare DNS. `ingress: alb` with `edge: none` needs it.
    certificate_arn: Optional[str] = None
    idle_timeout: int = 300  # seconds; voice WebSockets need >= 300
    deregistration_delay: int = 60  # seconds; < 120 so Fargate Spot drains in time


@dataclass(frozen=True)
class DatabaseConfig:
    instance_class: str = "db.t4g.micro"
    storage_gb: int = 20
    max_storage_gb: int = 50  # storage autoscaling ceiling (billed only when used)
    multi_az: bool = False
    deletion_protection: bool = False
    backup_retention_days: int = 7
    max_connections: int = 80  # what the instance allows our roles (class memory bound)
    managed_master_password: bool = False  # True: RDS keeps it in Secrets Manager (+$0.40/mo)
    engine_version: str = "16"


@dataclass(frozen=True)
class BucketsConfig:
    # Days after which objects expire; 0 keeps them forever.
    tts_cache_days: int = 30
    curricula_days: int = 0
    uploads_days: int = 30


@dataclass(frozen=True)
class QueuesConfig:
    visibility_timeout: int = 300
    max_receives: int = 5
    retention_days: int = 4


@dataclass(frozen=True)
class CoreConfig:
    cpu: int = 256  # Fargate CPU units (256 = 0.25 vCPU)
    memory: int = 512  # MiB
    desired_count: int = 1
    on_demand_base: int = 0
    spot_weight: int = 1
    on_demand_weight: int = 0
    max_count: int = 1  # > desired_count enables CPU autoscaling
    port: int = 8080
    db_pool_size: int = 5  # connections per core task
    image: Optional[str] = None  # published image; unset = built and pushed to ECR
    cloudflared_image: str = "cloudflare/cloudflared:2026.8.2"


@dataclass(frozen=True)
class FunctionsConfig:
    memory_mb: int = 512
    timeout_s: int = 15
    # Per Lambda service (runtime.route_table.LAMBDA_SERVICES); each instance holds one
    # database connection, so the sum must fit database.max_connections with the core.
    reserved_concurrency: Mapping[str, int] = field(default_factory=lambda: {
        "auth": 5, "curricula": 5, "kb": 5, "sessions": 5, "telemetry": 3})
    # Whether `reserved_concurrency` is applied as Lambda reserved concurrency. A new account's
    # concurrency quota starts at 10 and Lambda keeps 100 unreserved, so any reservation fails
    # there until "Concurrent executions" (L-B99A9384) is raised; off, the numbers still size
    # the database connections and the HTTP API's throttle bounds the load.
    reserve_concurrency: bool = True


@dataclass(frozen=True)
class AppConfig:
    enabled: bool = False
    image: Optional[str] = None


@dataclass(frozen=True)
class OpsConsoleConfig(AppConfig):
    # The active admin user (e-mail) the console's server-side proxies act as on the core's console listener.
    admin_email: Optional[str] = None


@dataclass(frozen=True)
class GpuConfig:
    enabled: bool = True
    max_size: int = 1
    warm_min: int = 0
    instance_types: tuple[str, ...] = ("g4dn.xlarge", "g4dn.2xlarge", "g5.xlarge", "g6.xlarge")
    volume_gb: int = 100
    idle_minutes: int = 15  # node agent scales the fleet back to warm_min after this
    max_lifetime_hours: int = 12


@dataclass(frozen=True)
class EksConfig:
    """The Kubernetes scaling path (`compute.platform: eks`): cluster, node groups, the Helm release."""
    version: str = "1.33"
    # CIDRs that may reach the public API endpoint; empty: the endpoint is private (VPC only).
    endpoint_public_cidrs: tuple[str, ...] = ()
    # ARM (Graviton) app nodes: an on-demand base group plus a Spot group, first type preferred.
    app_instance_types: tuple[str, ...] = ("m7g.large", "m6g.large", "c7g.xlarge")
    app_on_demand_base: int = 1  # nodes of the on-demand group (always running)
    app_spot_min: int = 1
    app_spot_desired: int = 1
    app_spot_max: int = 4
    node_volume_gb: int = 40
    namespace: str = "unamentis"


@dataclass(frozen=True)
class ClusterComputeConfig:
    platform: ComputePlatform = "ecs"  # ecs: Fargate + Lambda (Phases 1-2); eks: the Helm chart on EKS
    eks: EksConfig = field(default_factory=EksConfig)


@dataclass(frozen=True)
class CacheConfig:
    """ElastiCache Redis for shared rate limits and the event bus (Phase 2+)."""
    enabled: bool = False
    node_type: str = "cache.t4g.small"
    nodes: int = 1  # 2+: a replica in another AZ with automatic failover
    engine_version: str = "7.1"


@dataclass(frozen=True)
class BudgetConfig:
    monthly_usd: float = 50.0  # AWS budget and plan ceiling for the whole estimate
    fixed_ceiling_usd: Optional[float] = None  # plan ceiling for the always-on part only
    alert_emails: tuple[str, ...] = ()


@dataclass(frozen=True)
class LogsConfig:
    retention_days: int = 14


@dataclass(frozen=True)
class RateLimitsConfig:
    per_token_per_minute: int = 120
    per_user_per_minute: int = 120
    per_ip_per_minute: int = 100


@dataclass(frozen=True)
class RuntimeConfig:
    registration_mode: Literal["open", "invite", "closed"] = "invite"
    cors_origins: tuple[str, ...] = ()
    min_client_version: str = "1.0.0"
    rate_limits: RateLimitsConfig = field(default_factory=RateLimitsConfig)


@dataclass(frozen=True)
class UsageConfig:
    """Monthly usage assumptions the cost estimate prices (stated next to every line)."""
    gpu_hours: float = 30.0
    lambda_requests: int = 300_000
    lambda_avg_ms: int = 150
    api_requests: int = 300_000
    log_ingest_gb: float = 1.0
    s3_storage_gb: float = 5.0
    s3_put_requests: int = 20_000
    s3_get_requests: int = 200_000
    sqs_requests: int = 100_000
    ecr_storage_gb: float = 0.5
    nat_processed_gb: float = 5.0
    alb_avg_lcu: float = 0.2
    r2_storage_gb: float = 5.0  # R2: curriculum assets and TTS overflow
    r2_class_a_requests: int = 50_000
    r2_class_b_requests: int = 500_000
    fargate_spot_discount: float = 0.69  # typical: observed us-east-1 x86 Spot vs on-demand
    # Spot floats: AWS advertises "up to 70 %" off, and the discount has been seen near 50 %.
    # Plan prices the Fargate Spot lines at both (and GPU Spot hours at on-demand, Spot's ceiling)
    # and states the worst case.
    fargate_spot_discount_worst: float = 0.50
    apply_free_tiers: bool = True  # the account's always-free allowances go to this stack


@dataclass(frozen=True)
class StackConfig:
    stack: str
    profile: Profile
    domain: str
    region: str
    azs: tuple[str, ...]
    ingress: Ingress
    edge: EdgeProvider
    network: NetworkConfig = field(default_factory=NetworkConfig)
    cloudflare: CloudflareConfig = field(default_factory=CloudflareConfig)
    alb: AlbConfig = field(default_factory=AlbConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    buckets: BucketsConfig = field(default_factory=BucketsConfig)
    queues: QueuesConfig = field(default_factory=QueuesConfig)
    core: CoreConfig = field(default_factory=CoreConfig)
    functions: FunctionsConfig = field(default_factory=FunctionsConfig)
    web_client: AppConfig = field(default_factory=AppConfig)
    ops_console: OpsConsoleConfig = field(default_factory=OpsConsoleConfig)
    gpu: GpuConfig = field(default_factory=GpuConfig)
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    logs: LogsConfig = field(default_factory=LogsConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    usage: UsageConfig = field(default_factory=UsageConfig)
    compute: ClusterComputeConfig = field(default_factory=ClusterComputeConfig)
    cache: CacheConfig = field(default_factory=CacheConfig)

    # ---- derived values every component uses (one place, not re-derived per component)
    @property
    def name_prefix(self) -> str:
        """Physical-name prefix: `unamentis-<stack>` (short, lowercase, DNS-safe)."""
        return f"unamentis-{self.stack}".lower()

    def hostname(self, label: str) -> str:
        """`app`, `api`, `admin` -> `<label>.<domain>`."""
        return f"{label}.{self.domain}"

    @property
    def use_cloudflare(self) -> bool:
        return self.edge == "cloudflare"

    @property
    def tags(self) -> dict[str, str]:
        return {"Project": PROJECT, "Stack": self.stack, "Profile": self.profile}

    @property
    def core_db_connections(self) -> int:
        return self.core.db_pool_size * max(self.core.max_count, self.core.desired_count)


# Keys the model reads from the project namespace (everything except stack/region).
TOP_LEVEL_KEYS: tuple[str, ...] = tuple(
    f.name for f in dataclasses.fields(StackConfig) if f.name not in ("stack", "region"))

# Per-profile defaults, applied over the dataclass defaults and under the stack file.
PROFILE_DEFAULTS: dict[str, dict[str, Any]] = {
    "beta": {
        "ingress": "tunnel",
        "edge": "cloudflare",
        "network": {"nat": "none"},
        "database": {"instance_class": "db.t4g.micro", "multi_az": False,
                     "deletion_protection": False, "backup_retention_days": 7},
        "core": {"cpu": 256, "memory": 512, "desired_count": 1, "on_demand_base": 0,
                 "spot_weight": 1, "on_demand_weight": 0, "max_count": 1},
        "functions": {"reserve_concurrency": False},
        "gpu": {"max_size": 1, "warm_min": 0},
        "budget": {"monthly_usd": 50.0, "fixed_ceiling_usd": 20.0},
        "logs": {"retention_days": 14},
        "usage": {"gpu_hours": 30.0, "apply_free_tiers": True},
    },
    "prod": {
        "ingress": "alb",
        "edge": "cloudflare",
        "network": {"nat": "instance", "flow_logs": True},
        "database": {"instance_class": "db.t4g.small", "storage_gb": 50, "max_storage_gb": 200,
                     "multi_az": True, "deletion_protection": True,
                     "backup_retention_days": 14, "max_connections": 150},
        "core": {"cpu": 512, "memory": 1024, "desired_count": 2, "on_demand_base": 1,
                 "spot_weight": 3, "on_demand_weight": 1, "max_count": 6},
        "functions": {"memory_mb": 1024},
        "gpu": {"max_size": 3, "warm_min": 0},
        "budget": {"monthly_usd": 400.0},
        "logs": {"retention_days": 30},
        "usage": {"gpu_hours": 200.0, "lambda_requests": 5_000_000, "api_requests": 5_000_000,
                  "log_ingest_gb": 10.0, "s3_storage_gb": 50.0, "s3_put_requests": 200_000,
                  "s3_get_requests": 2_000_000, "sqs_requests": 1_000_000,
                  "ecr_storage_gb": 2.0, "nat_processed_gb": 50.0, "alb_avg_lcu": 0.5,
                  "apply_free_tiers": False},
    },
    "customer": {
        "ingress": "alb",
        "edge": "none",
        "network": {"nat": "instance", "flow_logs": True},
        "database": {"instance_class": "db.t4g.small", "storage_gb": 20, "multi_az": False,
                     "deletion_protection": True, "backup_retention_days": 7},
        "core": {"cpu": 512, "memory": 1024, "desired_count": 1, "on_demand_base": 1,
                 "spot_weight": 1, "on_demand_weight": 1, "max_count": 3},
        "gpu": {"max_size": 1, "warm_min": 0},
        "budget": {"monthly_usd": 200.0},
        "logs": {"retention_days": 30},
        "usage": {"gpu_hours": 60.0, "lambda_requests": 1_000_000, "api_requests": 1_000_000,
                  "apply_free_tiers": False},
    },
}


# --------------------------------------------------------------------------- loading


def _deep_merge(base: dict, over: Mapping) -> dict:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = _deep_merge(dict(out[k]), v)
        else:
            out[k] = v
    return out


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Turn a YAML/JSON value into `tp`, or raise ConfigError naming `key`."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Union:  # Optional[X]
        if value is None:
            return None
        inner = [a for a in args if a is not type(None)][0]
        return _coerce(value, inner, key)
    if origin is Literal:
        if value not in args:
            raise ConfigError(key, f"{value!r} is not allowed",
                              f"use one of {', '.join(repr(a) for a in args)}")
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(key, f"expected a map, got {value!r}", "write it as nested keys")
        return _build(tp, value, key)
    if origin is tuple:
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            raise ConfigError(key, f"expected a list, got {value!r}",
                              "write it as a YAML list")
        return tuple(_coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value))
    if origin in (dict, typing.Mapping) or (origin is not None and origin.__name__ == "Mapping"):
        if not isinstance(value, Mapping):
            raise ConfigError(key, f"expected a map, got {value!r}", "write it as nested keys")
        return {str(k): _coerce(v, args[1], f"{key}.{k}") for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ConfigError(key, f"expected true or false, got {value!r}", "write true or false")
    if tp is int:
        if isinstance(value, bool):
            raise ConfigError(key, f"expected a whole number, got {value!r}", "write a number")
        if isinstance(value, int):
            return value
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
            return int(value)
        raise ConfigError(key, f"expected a whole number, got {value!r}", "write a number")
    if tp is float:
        if isinstance(value, bool):
            raise ConfigError(key, f"expected a number, got {value!r}", "write a number")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(key, f"expected a number, got {value!r}", "write a number") from None
    if tp is str:
        if isinstance(value, (dict, list)):
            raise ConfigError(key, f"expected text, got {value!r}", "write a single value")
        return str(value)
    raise TypeError(f"unsupported config type {tp!r} at {key}")


def _build(cls: type, data: Mapping[str, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for k in data:
        if k not in names:
            known = ", ".join(sorted(names))
            raise ConfigError(f"{prefix}.{k}" if prefix else k, "unknown key",
                              f"remove it or use one of: {known}")
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            key = f"{prefix}.{f.name}" if prefix else f.name
            kwargs[f.name] = _coerce(data[f.name], hints[f.name], key)
    return cls(**kwargs)


def parse_config(stack: str, values: Mapping[str, Any], region: Optional[str]) -> StackConfig:
    """Build and validate a `StackConfig` from the project namespace's values.

    `values` maps un-namespaced keys (`profile`, `network`, …) to parsed YAML/JSON values;
    `region` is `aws:region`. Raises ConfigError (one line, names the key) on any problem.
    """
    for k in values:
        if k not in TOP_LEVEL_KEYS:
            raise ConfigError(k, "unknown key", f"remove it or use one of: {', '.join(TOP_LEVEL_KEYS)}")
    profile = values.get("profile")
    if profile is None:
        raise ConfigError("profile", "missing", "set it to beta, prod or customer")
    _coerce(profile, Profile, "profile")
    if not region:
        raise ConfigError("aws:region", "missing",
                          "set aws:region in the stack file (e.g. us-east-1)")
    merged = _deep_merge(PROFILE_DEFAULTS[profile], values)
    for required in ("domain", "azs"):
        if required not in merged:
            raise ConfigError(required, "missing", {
                "domain": "set it to the DNS zone the stack serves (e.g. example.org)",
                "azs": "list two or more availability zones of the region, e.g. [us-east-1a, us-east-1b]",
            }[required])
    cfg = _build(StackConfig, {**merged, "stack": stack, "region": region}, "")
    _validate(cfg)
    return cfg


# --------------------------------------------------------------------------- validation

_HOST_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_REGION_RE = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")


def _net(key: str, text: str) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(text, strict=True)
    except ValueError as e:
        raise ConfigError(key, f"{text!r} is not an IPv4 network ({e})",
                          "write it as a.b.c.d/len with the host bits zero") from None


def _validate(c: StackConfig) -> None:
    if not _HOST_RE.match(c.domain):
        raise ConfigError("domain", f"{c.domain!r} is not a DNS name",
                          "write the bare zone name in lower case, e.g. example.org")
    if not _REGION_RE.match(c.region):
        raise ConfigError("aws:region", f"{c.region!r} is not an AWS region", "e.g. us-east-1")
    # AZs: explicit, in the region, at least two (an RDS subnet group needs two).
    if len(c.azs) < 2:
        raise ConfigError("azs", f"{len(c.azs)} availability zone(s) given; RDS and the "
                          "subnet tiers need two", f"list two AZs, e.g. [{c.region}a, {c.region}b]")
    if len(set(c.azs)) != len(c.azs):
        raise ConfigError("azs", "an availability zone is listed twice", "list distinct AZs")
    for i, az in enumerate(c.azs):
        if not re.fullmatch(re.escape(c.region) + r"[a-z]", az):
            raise ConfigError(f"azs[{i}]", f"{az!r} is not an AZ of {c.region}",
                              f"use names like {c.region}a")
    _validate_network(c)
    # Ingress / edge combinations.
    if c.ingress == "tunnel" and c.edge != "cloudflare":
        raise ConfigError("ingress", "tunnel ingress needs Cloudflare (edge: none has no tunnel)",
                          "set edge: cloudflare, or ingress: alb with alb.certificate_arn")
    if c.ingress == "alb" and c.edge == "none" and not c.alb.certificate_arn:
        raise ConfigError("alb.certificate_arn", "ingress alb without Cloudflare needs a "
                          "certificate (none can be validated through Cloudflare DNS)",
                          "set alb.certificate_arn to an ACM certificate ARN for the domain")
    if c.alb.certificate_arn and not c.alb.certificate_arn.startswith("arn:aws:acm:"):
        raise ConfigError("alb.certificate_arn", f"{c.alb.certificate_arn!r} is not an ACM ARN",
                          "use arn:aws:acm:<region>:<account>:certificate/<id>")
    if not 300 <= c.alb.idle_timeout <= 4000:
        raise ConfigError("alb.idle_timeout", f"{c.alb.idle_timeout} s is outside 300–4000",
                          "voice WebSockets need at least 300 s; ALB allows at most 4000")
    if not 0 <= c.alb.deregistration_delay < 120:
        raise ConfigError("alb.deregistration_delay", f"{c.alb.deregistration_delay} s",
                          "use 0–119 s so tasks deregister within the Spot 2-minute notice")
    if c.edge == "cloudflare":
        cf = c.cloudflare
        for k in ("account_id", "zone_id"):
            v = getattr(cf, k)
            if not re.fullmatch(r"[0-9a-f]{32}", v or ""):
                raise ConfigError(f"cloudflare.{k}", f"{v!r} is not a Cloudflare id",
                                  f"copy the 32-hex-digit {k.replace('_', ' ')} from the dashboard")
        if not cf.access.team_domain.endswith(".cloudflareaccess.com"):
            raise ConfigError("cloudflare.access.team_domain", f"{cf.access.team_domain!r}",
                              "set it to <team>.cloudflareaccess.com (Zero Trust settings)")
        if not cf.access.allowed_email_domains and not cf.access.allowed_emails:
            raise ConfigError("cloudflare.access.allowed_emails", "nobody may reach the admin "
                              "console", "list allowed_emails or allowed_email_domains")
        for i, e in enumerate(cf.access.allowed_emails):
            if not _EMAIL_RE.match(e):
                raise ConfigError(f"cloudflare.access.allowed_emails[{i}]", f"{e!r}",
                                  "write a full e-mail address")
        if cf.r2.enabled:
            buckets = {"assets_bucket": cf.r2.assets_bucket or f"{c.stack}-unamentis-assets",
                       "tts_bucket": cf.r2.tts_bucket or f"{c.stack}-unamentis-tts"}
            for k, name in buckets.items():
                if not R2_BUCKET_RE.match(name):
                    raise ConfigError(f"cloudflare.r2.{k}", f"{name!r} is not an R2 bucket name",
                                      "set 3-63 lower-case letters, digits and hyphens")
            if buckets["assets_bucket"] == buckets["tts_bucket"]:
                raise ConfigError("cloudflare.r2.tts_bucket", "the same bucket as assets_bucket", "use two buckets")
        if not re.fullmatch(r"\d+(h|m)", cf.access.session_duration):
            raise ConfigError("cloudflare.access.session_duration",
                              f"{cf.access.session_duration!r}", "write e.g. 8h or 30m")
    _validate_database(c)
    _validate_compute(c)
    _validate_eks(c)
    _validate_runtime(c)
    if c.queues.max_receives < 1 or not 0 <= c.queues.visibility_timeout <= 43200:
        raise ConfigError("queues", "max_receives must be >= 1 and visibility_timeout 0–43200 s",
                          "fix the queue settings")
    if not 1 <= c.queues.retention_days <= 14:
        raise ConfigError("queues.retention_days", f"{c.queues.retention_days}", "SQS keeps 1–14 days")
    for k in ("tts_cache_days", "curricula_days", "uploads_days"):
        if getattr(c.buckets, k) < 0:
            raise ConfigError(f"buckets.{k}", "negative", "use 0 (keep) or a number of days")
    if c.budget.monthly_usd <= 0:
        raise ConfigError("budget.monthly_usd", f"{c.budget.monthly_usd}", "set a positive USD amount")
    if c.budget.fixed_ceiling_usd is not None and not 0 < c.budget.fixed_ceiling_usd <= c.budget.monthly_usd:
        raise ConfigError("budget.fixed_ceiling_usd", f"{c.budget.fixed_ceiling_usd}",
                          "set it above 0 and at most budget.monthly_usd")
    if not c.budget.alert_emails:
        raise ConfigError("budget.alert_emails", "no one would hear about overspend",
                          "list at least one e-mail address")
    for i, e in enumerate(c.budget.alert_emails):
        if not _EMAIL_RE.match(e):
            raise ConfigError(f"budget.alert_emails[{i}]", f"{e!r}", "write a full e-mail address")
    if c.logs.retention_days not in LOG_RETENTION_DAYS:
        raise ConfigError("logs.retention_days", f"{c.logs.retention_days} is not a CloudWatch "
                          "retention", f"use one of {', '.join(map(str, LOG_RETENTION_DAYS[:9]))}, …")
    if not 0 <= c.usage.fargate_spot_discount < 1:
        raise ConfigError("usage.fargate_spot_discount", f"{c.usage.fargate_spot_discount}",
                          "a fraction between 0 and 1 (0.69 = 69 % off)")
    if not 0 <= c.usage.fargate_spot_discount_worst <= c.usage.fargate_spot_discount:
        raise ConfigError("usage.fargate_spot_discount_worst", f"{c.usage.fargate_spot_discount_worst}",
                          "a fraction between 0 and usage.fargate_spot_discount (0.5 = 50 % off)")


def _validate_network(c: StackConfig) -> None:
    vpc = _net("network.cidr", c.network.cidr)
    if vpc.prefixlen < 16 or vpc.prefixlen > 24:
        raise ConfigError("network.cidr", f"/{vpc.prefixlen}", "AWS VPCs are /16 to /24")
    seen: list[tuple[str, ipaddress.IPv4Network]] = []
    for tier in TIERS:
        cidrs = getattr(c.network.cidrs, tier)
        key = f"network.cidrs.{tier}"
        if len(cidrs) != len(c.azs):
            raise ConfigError(key, f"{len(cidrs)} CIDR(s) for {len(c.azs)} AZ(s)",
                              "give exactly one CIDR per entry of azs, in the same order")
        for i, text in enumerate(cidrs):
            net = _net(f"{key}[{i}]", text)
            if not net.subnet_of(vpc):
                raise ConfigError(f"{key}[{i}]", f"{text} does not fit the VPC {vpc}",
                                  f"pick a range inside {vpc}")
            if net.prefixlen > 28:
                raise ConfigError(f"{key}[{i}]", f"{text} is smaller than /28", "AWS subnets are /16–/28")
            for other_key, other in seen:
                if net.overlaps(other):
                    raise ConfigError(f"{key}[{i}]", f"{text} overlaps {other} ({other_key})",
                                      "give every subnet its own range")
            seen.append((f"{key}[{i}]", net))
    if not re.fullmatch(r"t4g\.(nano|micro|small|medium)", c.network.nat_instance_type):
        raise ConfigError("network.nat_instance_type", f"{c.network.nat_instance_type!r}",
                          "use an ARM t4g size (the fck-nat image is arm64)")


def _validate_database(c: StackConfig) -> None:
    d = c.database
    if not re.fullmatch(r"db\.[a-z0-9]+\.[a-z0-9]+", d.instance_class):
        raise ConfigError("database.instance_class", f"{d.instance_class!r}", "e.g. db.t4g.micro")
    if not 20 <= d.storage_gb <= 65536:
        raise ConfigError("database.storage_gb", f"{d.storage_gb}", "gp3 needs 20–65536 GB")
    if d.max_storage_gb < d.storage_gb:
        raise ConfigError("database.max_storage_gb", f"{d.max_storage_gb} < storage_gb {d.storage_gb}",
                          "set it at least as large as storage_gb")
    if not 1 <= d.backup_retention_days <= 35:
        raise ConfigError("database.backup_retention_days", f"{d.backup_retention_days}",
                          "keep 1–35 days of backups (0 would disable them)")
    if d.engine_version.split(".")[0] != "16":
        raise ConfigError("database.engine_version", f"{d.engine_version!r}",
                          "the parameter group is postgres16; use 16 or 16.x")


def _validate_compute(c: StackConfig) -> None:
    k = c.core
    if k.cpu not in FARGATE_SIZES:
        raise ConfigError("core.cpu", f"{k.cpu}", f"use one of {', '.join(map(str, FARGATE_SIZES))}")
    if k.memory not in FARGATE_SIZES[k.cpu]:
        raise ConfigError("core.memory", f"{k.memory} MiB does not fit cpu {k.cpu}",
                          f"use one of {', '.join(map(str, FARGATE_SIZES[k.cpu]))}")
    if k.desired_count < 1 or k.max_count < k.desired_count:
        raise ConfigError("core.max_count", f"desired {k.desired_count}, max {k.max_count}",
                          "desired_count >= 1 and max_count >= desired_count")
    if k.on_demand_base > k.max_count:
        raise ConfigError("core.on_demand_base", f"{k.on_demand_base} > max_count {k.max_count}",
                          "lower on_demand_base")
    if k.spot_weight + k.on_demand_weight < 1 or k.spot_weight < 0 or k.on_demand_weight < 0:
        raise ConfigError("core.spot_weight", "weights must be >= 0 and not both 0",
                          "e.g. spot_weight: 1, on_demand_weight: 0")
    f = c.functions
    if not 128 <= f.memory_mb <= 10240:
        raise ConfigError("functions.memory_mb", f"{f.memory_mb}", "Lambda allows 128–10240 MB")
    if not 1 <= f.timeout_s <= 900:
        raise ConfigError("functions.timeout_s", f"{f.timeout_s}", "Lambda allows 1–900 s")
    if c.ingress == "tunnel" and f.timeout_s > HTTP_API_MAX_LAMBDA_TIMEOUT_S:
        raise ConfigError("functions.timeout_s", f"{f.timeout_s} s behind the HTTP API (tunnel ingress)",
                          f"use at most {HTTP_API_MAX_LAMBDA_TIMEOUT_S} s: the HTTP API cuts requests at 30 s")
    for svc, n in f.reserved_concurrency.items():
        if svc not in LAMBDA_SERVICES:
            raise ConfigError(f"functions.reserved_concurrency.{svc}", "not a Lambda service",
                              f"use one of {', '.join(LAMBDA_SERVICES)}")
        if n < 1:
            raise ConfigError(f"functions.reserved_concurrency.{svc}", f"{n}",
                              "reserve at least 1 (0 would disable the function)")
    missing = [s for s in LAMBDA_SERVICES if s not in f.reserved_concurrency]
    if missing:
        raise ConfigError("functions.reserved_concurrency", f"no reservation for {', '.join(missing)}",
                          "give every Lambda service a reserved concurrency")
    # Each Lambda instance holds one connection; the core holds db_pool_size per task;
    # keep 3 for the superuser/migrations.
    used = sum(f.reserved_concurrency.values()) + c.core_db_connections + 3
    if used > c.database.max_connections:
        raise ConfigError("functions.reserved_concurrency",
                          f"Lambdas ({sum(f.reserved_concurrency.values())}) + core "
                          f"({c.core_db_connections}) + 3 admin = {used} connections exceed "
                          f"database.max_connections {c.database.max_connections}",
                          "lower the reservations or core.db_pool_size, or raise database.max_connections")
    g = c.gpu
    if g.enabled:
        if not g.instance_types:
            raise ConfigError("gpu.instance_types", "empty", "list g4dn.xlarge and fallbacks")
        bad = [t for t in g.instance_types if not t.startswith(GPU_FAMILIES)]
        if bad:
            raise ConfigError("gpu.instance_types", f"{', '.join(bad)} not x86_64 NVIDIA",
                              f"use the families {', '.join(x.rstrip('.') for x in GPU_FAMILIES)}")
        if len(set(g.instance_types)) != len(g.instance_types):
            raise ConfigError("gpu.instance_types", "a type is listed twice", "list each type once")
        if g.max_size < 1 or not 0 <= g.warm_min <= g.max_size:
            raise ConfigError("gpu.warm_min", f"warm_min {g.warm_min}, max_size {g.max_size}",
                              "0 <= warm_min <= max_size and max_size >= 1")
        if not 30 <= g.volume_gb <= 1000:
            raise ConfigError("gpu.volume_gb", f"{g.volume_gb}", "use 30–1000 GB (the GPU AMI needs at least 30)")
    for app in ("web_client", "ops_console"):
        a = getattr(c, app)
        if a.enabled and not a.image:
            raise ConfigError(f"{app}.image", "enabled without an image",
                              "set the image (registry/name:tag) or enabled: false")
        if a.enabled and not is_pinned(a.image):
            raise ConfigError(f"{app}.image", f"{a.image!r} is not pinned",
                              "use a version tag or @sha256 digest, never :latest or no tag")
    o = c.ops_console
    if o.enabled and not _EMAIL_RE.match(o.admin_email or ""):
        raise ConfigError("ops_console.admin_email", f"{o.admin_email!r} with the ops console enabled",
                          "set the e-mail of the active admin user the console's server side acts as "
                          "(python -m runtime admin user promote <email>)")
    if o.enabled and not c.use_cloudflare:
        raise ConfigError("ops_console.enabled", "the ops console without Cloudflare Access",
                          "use edge: cloudflare (Access with MFA guards admin.<domain>, where the console acts as an admin), "
                          "or enabled: false")
    if o.enabled and c.compute.platform == "eks":
        raise ConfigError("ops_console.enabled", "with compute.platform: eks (the Helm chart has no console deployment "
                          "and NetworkPolicy yet)", "run the console on ecs, or enabled: false")
    if c.ingress == "tunnel" and not is_pinned(k.cloudflared_image):
        raise ConfigError("core.cloudflared_image", f"{k.cloudflared_image!r} is not pinned",
                          "use a release tag such as cloudflare/cloudflared:2026.8.2 or a digest")
    if k.image is not None and not is_pinned(k.image):
        raise ConfigError("core.image", f"{k.image!r} is not pinned",
                          "use a version tag or @sha256 digest (or unset it to build from runtime/)")


_ARM_TYPE_RE = re.compile(r"[a-z]+\d+g[a-z]*\.[a-z0-9]+")


def _validate_eks(c: StackConfig) -> None:
    """`compute.platform: eks` and `cache`: checked before any resource exists."""
    if c.cache.enabled:
        if not re.fullmatch(r"cache\.[a-z0-9]+\.[a-z0-9]+", c.cache.node_type):
            raise ConfigError("cache.node_type", f"{c.cache.node_type!r}", "e.g. cache.t4g.small")
        if not 1 <= c.cache.nodes <= 6:
            raise ConfigError("cache.nodes", f"{c.cache.nodes}", "use 1 (no replica) to 6")
    if c.compute.platform != "eks":
        return
    e = c.compute.eks
    if c.network.nat == "none":
        raise ConfigError("network.nat", "'none' with compute.platform: eks (the nodes run in the private "
                          "subnets and pull images through NAT)", "set network.nat to instance or gateway")
    if c.ingress != "tunnel" or not c.use_cloudflare:
        raise ConfigError("ingress", f"{c.ingress!r} with compute.platform: eks", "use ingress: tunnel with "
                          "edge: cloudflare (the ALB path needs the AWS Load Balancer Controller, not installed "
                          "by this program yet)")
    if not re.fullmatch(r"1\.(2[89]|3\d)", e.version):
        raise ConfigError("compute.eks.version", f"{e.version!r}", "use a supported EKS version such as 1.33")
    for i, text in enumerate(e.endpoint_public_cidrs):
        net = _net(f"compute.eks.endpoint_public_cidrs[{i}]", text)
        if net.prefixlen < 8:
            raise ConfigError(f"compute.eks.endpoint_public_cidrs[{i}]", f"{text} opens the API to the internet",
                              "list your office/VPN ranges, or leave the list empty for a private endpoint")
    if not e.app_instance_types:
        raise ConfigError("compute.eks.app_instance_types", "empty", "list ARM types such as m7g.large")
    bad = [t for t in e.app_instance_types if not _ARM_TYPE_RE.fullmatch(t)]
    if bad:
        raise ConfigError("compute.eks.app_instance_types", f"{', '.join(bad)} not ARM (Graviton)",
                          "use ARM types such as m7g.large, c7g.xlarge (the runtime image is arm64)")
    if e.app_on_demand_base < 1:
        raise ConfigError("compute.eks.app_on_demand_base", f"{e.app_on_demand_base}",
                          "keep at least 1 on-demand node so a Spot reclaim never empties the cluster")
    if not 0 <= e.app_spot_min <= e.app_spot_desired <= e.app_spot_max or e.app_spot_max < 1:
        raise ConfigError("compute.eks.app_spot_max", f"min {e.app_spot_min}, desired {e.app_spot_desired}, "
                          f"max {e.app_spot_max}", "0 <= app_spot_min <= app_spot_desired <= app_spot_max, max >= 1")
    if not 20 <= e.node_volume_gb <= 1000:
        raise ConfigError("compute.eks.node_volume_gb", f"{e.node_volume_gb}", "use 20–1000 GB")
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", e.namespace):
        raise ConfigError("compute.eks.namespace", f"{e.namespace!r}", "a DNS label: lower-case letters, digits, -")
    if c.core.image is None:
        raise ConfigError("core.image", "unset with compute.platform: eks",
                          "set a published, pinned runtime image (registry/name:tag); the EKS path does not build one")


def _validate_runtime(c: StackConfig) -> None:
    for i, origin in enumerate(c.runtime.cors_origins):
        if not re.fullmatch(r"https://[a-z0-9.-]+(:\d+)?|http://(localhost|127\.0\.0\.1)(:\d+)?", origin):
            raise ConfigError(f"runtime.cors_origins[{i}]", f"{origin!r}",
                              "write an origin: https://host[:port] (http only for localhost)")
    for i, dom in enumerate(c.cloudflare.access.allowed_email_domains):
        if not _HOST_RE.match(dom):
            raise ConfigError(f"cloudflare.access.allowed_email_domains[{i}]", f"{dom!r}",
                              "write a bare domain such as example.org")
    rl = c.runtime.rate_limits
    for k in ("per_token_per_minute", "per_user_per_minute", "per_ip_per_minute"):
        if getattr(rl, k) < 1:
            raise ConfigError(f"runtime.rate_limits.{k}", f"{getattr(rl, k)}", "use a positive number")


# --------------------------------------------------------------------------- Pulumi side


def load_config() -> StackConfig:
    """Read the running stack's config through Pulumi and validate it.

    Structured values arrive as JSON strings; unknown project keys are rejected so a typo
    in a stack file fails here instead of being silently ignored.
    """
    cfg = pulumi.Config(PROJECT)
    values: dict[str, Any] = {}
    for key in TOP_LEVEL_KEYS:
        raw = cfg.get(key)
        if raw is None:
            continue
        values[key] = _parse_raw(raw)
    present = set(pulumi_config.CONFIG.get()) | set(pulumi_config.get_config_env())
    secret_names = set(PROVIDER_KEY_NAMES)
    for full in sorted(present):
        ns, _, key = full.partition(":")
        if ns == PROJECT and key.split(".")[0] not in TOP_LEVEL_KEYS and key not in secret_names:
            raise ConfigError(key, "unknown key",
                              f"remove it or use one of: {', '.join(TOP_LEVEL_KEYS)}")
    region = pulumi.Config("aws").get("region")
    return parse_config(pulumi.get_stack(), values, region)


def _parse_raw(raw: str) -> Any:
    text = raw.strip()
    if text[:1] in "[{" or text in ("true", "false") or re.fullmatch(r"-?\d+(\.\d+)?", text):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return raw
    return raw


def provider_api_keys() -> dict[str, Any]:
    """Provider API keys as secret Outputs (or None when unset). Set with
    `pulumi config set --secret groqApiKey …`; never defaulted in files."""
    cfg = pulumi.Config(PROJECT)
    return {name: cfg.get_secret(name) for name in PROVIDER_KEY_NAMES}
