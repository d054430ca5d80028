"""The stack layer's translation: the stack config into each component's arguments.

Components know nothing of the stack config (an import contract keeps it so): they take typed
args and fail in their own terms (`DatabaseArgs.instance_class: …`). This module is the one
place that reads `StackConfig` for them, and `config_errors()` turns a component's complaint
back into the stack-config key the operator has to edit (`unamentis-cloud:database.instance_class:
… Fix: …`). The config's own validation (`components.config`) catches nearly everything before
any resource exists; the translation is the backstop for what only a component knows.
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator, Mapping, Optional

import pulumi

from components.base import ArgsError
from components.cache import Cache, CacheArgs
from components.compute import ComputeArgs
from components.config import ConfigError, StackConfig, provider_api_keys
from components.database import DB_NAME, MASTER_USERNAME, Database, DatabaseArgs
from components.edge import Edge, EdgeArgs, EdgeRoutingArgs
from components.edge.component import host_of
from components.eks_app import EksAppArgs, core_service_url
from components.eks_cluster import EksCluster, EksClusterArgs
from components.facts import TIERS
from components.gpu_fleet import DEFAULT_CACHE_PREFIX, asg_name
from components.lambda_build import program_artifacts
from components.mocks import running_under_mocks
from components.network import NatEgressArgs, Network, NetworkArgs
from components.observability import AlarmTargets, ObservabilityArgs
from components.ops_console import API_PATH_REGEX, CONSOLE_PORT, build_environment
from components.queues import Queues, QueuesArgs
from components.runtime_env import app_database_url, provider_settings, runtime_environment
from components.secrets import RuntimeSecrets, RuntimeSecretsArgs, SecretParametersArgs
from components.security_groups import SecurityGroupsArgs
from components.storage import Storage, StorageArgs
from components.web_apps import WebApp, namespace_name, service_url
from runtime.settings import env_vars

# `<ArgsClass>.<field>` -> the stack-config key it comes from (prefix match for sub-fields such as
# `FunctionsApiArgs.reserved_concurrency.auth`).
CONFIG_KEYS: dict[str, str] = {
    "NetworkArgs.cidrs": "network.cidrs",
    "NetworkArgs.nat": "network.nat",
    "NatEgressArgs.instance_type": "network.nat_instance_type",
    "DatabaseArgs.instance_class": "database.instance_class",
    "DatabaseArgs.storage_gb": "database.storage_gb",
    "DatabaseArgs.max_storage_gb": "database.max_storage_gb",
    "DatabaseArgs.backup_retention_days": "database.backup_retention_days",
    "DatabaseArgs.engine_version": "database.engine_version",
    "StorageArgs.expiry_days.tts_cache": "buckets.tts_cache_days",
    "StorageArgs.expiry_days.curricula": "buckets.curricula_days",
    "StorageArgs.expiry_days.uploads": "buckets.uploads_days",
    "QueuesArgs.visibility_timeout": "queues.visibility_timeout",
    "QueuesArgs.max_receives": "queues.max_receives",
    "QueuesArgs.retention_days": "queues.retention_days",
    "ObservabilityArgs.alert_emails": "budget.alert_emails",
    "ObservabilityArgs.budget_usd": "budget.monthly_usd",
    "CoreServiceArgs.cpu": "core.cpu",
    "CoreServiceArgs.memory": "core.memory",
    "CoreServiceArgs.desired_count": "core.desired_count",
    "CoreServiceArgs.spot_weight": "core.spot_weight",
    "CoreServiceArgs.cloudflared_image": "core.cloudflared_image",
    "ContainerImageArgs.image": "core.image",
    "FunctionsApiArgs.memory_mb": "functions.memory_mb",
    "FunctionsApiArgs.timeout_s": "functions.timeout_s",
    "FunctionsApiArgs.reserved_concurrency": "functions.reserved_concurrency",
    "FunctionsApiArgs.reserve_concurrency": "functions.reserve_concurrency",
    "LoadBalancerArgs.idle_timeout": "alb.idle_timeout",
    "LoadBalancerArgs.deregistration_delay": "alb.deregistration_delay",
    "GpuFleetArgs.instance_types": "gpu.instance_types",
    "GpuFleetArgs.warm_min": "gpu.warm_min",
    "GpuFleetArgs.max_size": "gpu.max_size",
    "GpuFleetArgs.volume_gb": "gpu.volume_gb",
    "WebAppsArgs.apps": "web_client / ops_console",
    "EdgeArgs.plan": "cloudflare.plan",
    "EdgeArgs.allowed_emails": "cloudflare.access.allowed_emails",
    "EdgeArgs.session_duration": "cloudflare.access.session_duration",
    "EdgeArgs.r2_assets_bucket": "cloudflare.r2.assets_bucket",
    "EdgeArgs.r2_tts_bucket": "cloudflare.r2.tts_bucket",
    "EksClusterArgs.endpoint_public_cidrs": "compute.eks.endpoint_public_cidrs",
    "EksClusterArgs.app_on_demand_base": "compute.eks.app_on_demand_base",
    "EksClusterArgs.app_spot_max": "compute.eks.app_spot_max",
    "EksClusterArgs.gpu_desired_size": "gpu.warm_min",
    "EksAppArgs.image": "core.image",
    "EksAppArgs.cloudflared_image": "core.cloudflared_image",
    "EksAppArgs.core_max_replicas": "core.max_count",
    "CacheArgs.nodes": "cache.nodes",
}


def config_key(e: ArgsError) -> Optional[str]:
    """The stack-config key behind a component's argument, if it comes from one."""
    arg = f"{e.args_name}.{e.field}"
    for prefix, key in CONFIG_KEYS.items():
        if arg == prefix or arg.startswith(prefix + "."):
            return key + arg[len(prefix):]
    return None


@contextlib.contextmanager
def config_errors() -> Iterator[None]:
    """Re-raise a component's `ArgsError` as the `ConfigError` of the key the operator edits."""
    try:
        yield
    except ArgsError as e:
        key = config_key(e)
        if key is None:
            raise
        raise ConfigError(key, e.problem, e.fix) from e


# --------------------------------------------------------------------------- network and data tier


def network_args(c: StackConfig) -> NetworkArgs:
    return NetworkArgs(azs=c.azs, region=c.region, vpc_cidr=c.network.cidr,
                       cidrs={t: getattr(c.network.cidrs, t) for t in TIERS}, nat=c.network.nat,
                       flow_logs=c.network.flow_logs, log_retention_days=c.logs.retention_days, tags=c.tags)


def security_groups_args(c: StackConfig, network: Network) -> SecurityGroupsArgs:
    return SecurityGroupsArgs(vpc_id=network.vpc_id, s3_prefix_list_id=network.s3_endpoint.prefix_list_id,
                              ingress=c.ingress, cloudflare=c.use_cloudflare, core_port=c.core.port,
                              gpu=c.gpu.enabled, nat=c.network.nat, vpc_cidr=c.network.cidr, tags=c.tags)


def nat_args(c: StackConfig, network: Network, security_group_ids: Mapping[str, Any]) -> NatEgressArgs:
    return NatEgressArgs(network=network, strategy=c.network.nat, security_group_id=security_group_ids.get("nat"),
                         instance_type=c.network.nat_instance_type, tags=c.tags)


def database_args(c: StackConfig, network: Network, security_group_ids: Mapping[str, Any]) -> DatabaseArgs:
    d = c.database
    return DatabaseArgs(subnet_ids=network.subnet_ids["data"], security_group_id=security_group_ids["db"],
                        instance_class=d.instance_class, storage_gb=d.storage_gb, max_storage_gb=d.max_storage_gb,
                        multi_az=d.multi_az, deletion_protection=d.deletion_protection,
                        backup_retention_days=d.backup_retention_days, engine_version=d.engine_version,
                        managed_master_password=d.managed_master_password, tags=c.tags)


def storage_args(c: StackConfig) -> StorageArgs:
    b = c.buckets
    return StorageArgs(expiry_days={"tts_cache": b.tts_cache_days, "curricula": b.curricula_days,
                                    "uploads": b.uploads_days}, versioned=("curricula",), tags=c.tags)


def queues_args(c: StackConfig) -> QueuesArgs:
    q = c.queues
    return QueuesArgs(visibility_timeout=q.visibility_timeout, max_receives=q.max_receives,
                      retention_days=q.retention_days, tags=c.tags)


def parameters_args(c: StackConfig, database: Database) -> SecretParametersArgs:
    return SecretParametersArgs(path_prefix=f"/unamentis/{c.stack}", values=database.parameter_values(), tags=c.tags)


def runtime_secrets_args(c: StackConfig) -> RuntimeSecretsArgs:
    return RuntimeSecretsArgs(gpu_node_token=c.gpu.enabled)


# --------------------------------------------------------------------------- edge


def compute_prefix(c: StackConfig) -> str:
    """Physical-name prefix of compute's resources (short: ALB and target-group names are capped at 32)."""
    return f"uma-{c.stack}"


def web_apps(c: StackConfig) -> list[WebApp]:
    return [WebApp(key, getattr(c, key).image) for key in ("ops_console", "web_client") if getattr(c, key).enabled]


def edge_args(c: StackConfig) -> EdgeArgs:
    cf = c.cloudflare
    # Tunnel ingress of the enabled web apps: their Cloud Map names.
    services = ({f"{app.key}_service": service_url(app.key, compute_prefix(c)) for app in web_apps(c)}
                if c.ingress == "tunnel" else {})
    return EdgeArgs(
        name_prefix=c.name_prefix, account_id=cf.account_id, zone_id=cf.zone_id, domain=c.domain, plan=cf.plan,
        ingress=c.ingress, team_domain=cf.access.team_domain,
        allowed_email_domains=tuple(cf.access.allowed_email_domains), allowed_emails=tuple(cf.access.allowed_emails),
        session_duration=cf.access.session_duration, core_port=c.core.port, web_client=c.web_client.enabled,
        r2_enabled=cf.r2.enabled, r2_assets_bucket=cf.r2.assets_bucket or f"{c.stack}-unamentis-assets",
        r2_tts_bucket=cf.r2.tts_bucket or f"{c.stack}-unamentis-tts", r2_tts_days=c.buckets.tts_cache_days,
        core_service=core_service_url(c.compute.eks.namespace) if c.compute.platform == "eks" else None,
        **services)


def edge_routing_args(edge: Edge, functions: Any, load_balancer: Any) -> EdgeRoutingArgs:
    """The origins compute created: tunnel: the Lambda API's custom domain (`fn.`) and its
    certificate's validation; alb: the ALB for `api.`, `admin.` (and `app.`) and its certificate's
    validation (none with a customer-provided certificate)."""
    e = edge.args
    records: dict[str, tuple[pulumi.Input[str], pulumi.Input[str]]] = {}
    validations: list[tuple[pulumi.Input[Any], list[str]]] = []
    lambda_origin = None
    if e.ingress == "tunnel":
        lambda_origin = functions.origin_url
        records["fn"] = (pulumi.Output.from_input(functions.origin_url).apply(host_of), functions.origin_target)
        if functions.certificate_validation_options is not None:
            validations.append((functions.certificate_validation_options, ["fn"]))
    else:
        for label in ["api", "admin"] + (["app"] if e.web_client else []):
            records[label] = (e.host(label), load_balancer.dns_name)
        if load_balancer.certificate_validation_options is not None:
            # The ALB certificate covers api, app and admin (components.load_balancer).
            validations.append((load_balancer.certificate_validation_options, ["api", "app", "admin"]))
    return EdgeRoutingArgs(edge=e, origin_secret=edge.origin_secret, records=records, validations=validations,
                           lambda_origin=lambda_origin, core_origin=edge.core_origin)


# --------------------------------------------------------------------------- compute


def compute_args(c: StackConfig, *, network: Network, security_group_ids: Mapping[str, Any], database: Database,
                 storage: Storage, queues: Queues, secrets: RuntimeSecrets, edge: Optional[Edge]) -> ComputeArgs:
    prefix = compute_prefix(c)
    buckets = storage.buckets
    # Jobs go through SQS only when every producer reaches it: Lambdas in the private subnets need
    # NAT for that (the beta has none); otherwise the PostgreSQL queue serves everyone.
    jobs_on_sqs = c.network.nat != "none"
    # Only the GPU nodes write the model cache they load: every other role is denied writes there.
    statements = [storage.access_policy_statements(read_only_prefixes=(DEFAULT_CACHE_PREFIX,))] \
        + ([queues.access_policy_statements()] if jobs_on_sqs else [])
    keys = provider_api_keys()
    rl = c.runtime.rate_limits
    environment = runtime_environment(
        env=c.stack, region=c.region, api_host=c.hostname("api"), registration=c.runtime.registration_mode,
        min_client_version=c.runtime.min_client_version,
        rate_limits_per_minute=(rl.per_token_per_minute, rl.per_user_per_minute, rl.per_ip_per_minute),
        cors_origins=c.runtime.cors_origins,
        database_url=app_database_url(secrets.app_role_password.result, database.address, database.port,
                                      database.db_name),
        jwt_secret=secrets.jwt_secret.result, app_role_password=secrets.app_role_password.result,
        # The owner's URL (migrate, admin CLI) exists only when the program generated the master
        # password; with an RDS-managed password the operator runs migrate with its own DSN.
        owner_database_url=database.parameter_values().get("database-url"),
        core_db_pool=c.core.db_pool_size,
        # S3 (not R2) is the runtime's object store: the Lambdas reach it through the free gateway endpoint.
        storage_url=pulumi.Output.concat("s3://", buckets["curricula"].bucket, "/"), s3_region=c.region,
        sqs_queue_url=queues.jobs.url if jobs_on_sqs else None, sqs_dlq_url=queues.dlq.url if jobs_on_sqs else None,
        origin_secret=edge.origin_secret if edge else None,
        access_team_domain=edge.access_team_domain if edge else None,
        access_aud=edge.access_aud if edge else None,
        provider_keys={"groq": keys.get("groqApiKey"), "openai": keys.get("openaiApiKey"),
                       "deepgram": keys.get("deepgramApiKey")},
        gpu_asg_name=asg_name(prefix) if c.gpu.enabled else None,
        gpu_node_token=secrets.gpu_node_token.result if secrets.gpu_node_token is not None else None,
        console_admin_email=c.ops_console.admin_email if c.ops_console.enabled else None)
    code, layer = program_artifacts(offline=running_under_mocks())
    k, f, g = c.core, c.functions, c.gpu
    return ComputeArgs(
        name_prefix=prefix, region=c.region, domain=c.domain, ingress=c.ingress, vpc_id=network.vpc_id,
        subnet_ids=network.subnet_ids, security_group_ids=security_group_ids, environment=environment,
        code=code, layer=layer, public_core=c.network.nat == "none", log_retention_days=c.logs.retention_days,
        origin_secret=edge.origin_secret if edge else None, tunnel_token=edge.tunnel_token if edge else None,
        core_image=k.image, image_force_delete=c.profile == "beta", core_port=k.port, core_cpu=k.cpu,
        core_memory=k.memory, core_desired_count=k.desired_count, core_max_count=k.max_count,
        core_on_demand_base=k.on_demand_base, core_spot_weight=k.spot_weight,
        core_on_demand_weight=k.on_demand_weight, cloudflared_image=k.cloudflared_image,
        core_policy_statements=statements, functions_memory_mb=f.memory_mb, functions_timeout_s=f.timeout_s,
        functions_reserved_concurrency=dict(f.reserved_concurrency), functions_policy_statements=statements,
        functions_reserve_concurrency=f.reserve_concurrency,
        artifact_bucket=buckets["curricula"].bucket, alb_certificate_arn=c.alb.certificate_arn,
        alb_idle_timeout=c.alb.idle_timeout, alb_deregistration_delay=c.alb.deregistration_delay,
        alb_deletion_protection=c.profile == "prod", gpu=g.enabled, gpu_max_size=g.max_size,
        gpu_warm_min=g.warm_min, gpu_instance_types=tuple(g.instance_types), gpu_volume_gb=g.volume_gb,
        gpu_idle_minutes=g.idle_minutes, gpu_max_lifetime_hours=g.max_lifetime_hours,
        gpu_subnets_public=network.gpu_subnets_public,
        gpu_node_token=secrets.gpu_node_token.result if secrets.gpu_node_token is not None else None,
        model_bucket_arn=buckets["curricula"].arn, model_bucket_name=buckets["curricula"].bucket,
        web_apps=web_apps(c))


# --------------------------------------------------------------------------- ops console


def ops_console_output(c: StackConfig, compute: Any, edge: Optional[Edge]) -> dict[str, Any]:
    """`pulumi stack output ops_console`: what an operator needs to build, reach and audit the console."""
    admin = f"https://{c.hostname('admin')}"
    web = compute.web_apps
    return {
        "url": admin,
        "service": web.services["ops_console"].name if web is not None else None,
        "image": c.ops_console.image,
        "acts_as": c.ops_console.admin_email,
        "backend_url": f"http://core.{namespace_name(compute_prefix(c))}:{CONSOLE_PORT}",
        # NEXT_PUBLIC_* are compiled into the browser bundle: build the image with these.
        "build_env": build_environment(admin),
        "access_aud": edge.access_aud if edge is not None else None,
        "to_api": API_PATH_REGEX,
        "events": "the console opens ws://localhost:8766/ws (hard-coded): live events reach only a browser on the core's "
                  f"own machine; {admin}/ws is the event bus behind Access",
    }


# --------------------------------------------------------------------------- observability


def observability_args(c: StackConfig, targets: AlarmTargets, db_instance_identifier: pulumi.Input[str]) -> ObservabilityArgs:
    return ObservabilityArgs(targets=targets, db_instance_identifier=db_instance_identifier,
                             db_max_connections=c.database.max_connections, alert_emails=c.budget.alert_emails,
                             budget_usd=c.budget.monthly_usd, per_function_alarms=c.profile != "beta",
                             budget_name=f"{c.name_prefix}-monthly", tags=c.tags)


# --------------------------------------------------------------------------- the EKS path (compute.platform: eks)


def eks_cluster_args(c: StackConfig, *, network: Network, storage: Storage, queues: Queues) -> EksClusterArgs:
    """The cluster in the private subnets; the runtime's pod role gets the buckets and queues only
    (its secrets come through the chart's Kubernetes Secret, so it reads no SSM parameter)."""
    e, g = c.compute.eks, c.gpu
    return EksClusterArgs(
        name_prefix=compute_prefix(c), subnet_ids=network.subnet_ids["private"], region=c.region, version=e.version,
        endpoint_public_cidrs=tuple(e.endpoint_public_cidrs), app_instance_types=tuple(e.app_instance_types),
        app_on_demand_base=e.app_on_demand_base, app_spot_min=e.app_spot_min, app_spot_desired=e.app_spot_desired,
        app_spot_max=e.app_spot_max, node_volume_gb=e.node_volume_gb, gpu=g.enabled,
        gpu_instance_types=tuple(g.instance_types), gpu_max_size=g.max_size, gpu_desired_size=g.warm_min,
        gpu_volume_gb=g.volume_gb, namespace=e.namespace,
        pod_policy_statements=[storage.access_policy_statements(read_only_prefixes=(DEFAULT_CACHE_PREFIX,)), queues.access_policy_statements()],
        log_retention_days=c.logs.retention_days, tags=c.tags)


def cache_args(c: StackConfig, network: Network, cluster: EksCluster) -> CacheArgs:
    return CacheArgs(name_prefix=compute_prefix(c), vpc_id=network.vpc_id, subnet_ids=network.subnet_ids["data"],
                     client_security_group_id=cluster.cluster.vpc_config.cluster_security_group_id,
                     node_type=c.cache.node_type, nodes=c.cache.nodes, engine_version=c.cache.engine_version,
                     tags=c.tags)


def eks_app_args(c: StackConfig, *, cluster: EksCluster, database: Database, storage: Storage, queues: Queues,
                 edge: Edge, cache: Optional[Cache]) -> EksAppArgs:
    if c.core.image is None or database.password is None:  # config validation refuses both; say it in args terms
        raise ArgsError("EksAppArgs", "image", "the EKS path needs a published image and a generated owner password",
                        "set core.image and leave database.managed_master_password off")
    rl = c.runtime.rate_limits
    keys = provider_api_keys()
    providers = provider_settings({"groq": keys.get("groqApiKey"), "openai": keys.get("openaiApiKey"),
                                   "deepgram": keys.get("deepgramApiKey")})
    return EksAppArgs(
        kubeconfig=cluster.kubeconfig, image=c.core.image, env=c.stack, region=c.region,
        database_host=database.address, database_owner_password=database.password.result,
        database_name=DB_NAME, database_owner_user=MASTER_USERNAME,
        bucket=storage.buckets["curricula"].bucket, database_cidrs=tuple(c.network.cidrs.data),
        tunnel_token=edge.tunnel_token, origin_secret=edge.origin_secret,
        # The runtime settings the chart does not set itself, encoded by the runtime's own declarations.
        extra_env=env_vars(
            aws_region=c.region, sqs_queue_url=queues.jobs.url, sqs_dlq_url=queues.dlq.url,
            rate_limit_token=(rl.per_token_per_minute, 60), rate_limit_user=(rl.per_user_per_minute, 60),
            rate_limit_ip=(rl.per_ip_per_minute, 60), jwt_issuer=f"https://{c.hostname('api')}",
            min_client_versions=c.runtime.min_client_version, cf_access_team_domain=edge.access_team_domain,
            cf_access_aud=edge.access_aud, **{k: v for k, v in providers.items() if k.endswith("_provider")}),
        provider_api_keys={k.removesuffix("_api_key"): v for k, v in providers.items() if k.endswith("_api_key")},
        redis_url=cache.url if cache is not None else None, namespace=c.compute.eks.namespace,
        registration=c.runtime.registration_mode, cors_origins=tuple(c.runtime.cors_origins),
        core_min_replicas=c.core.desired_count, core_max_replicas=c.core.max_count,
        cloudflared_image=c.core.cloudflared_image, gpu=c.gpu.enabled,
        # GPU model servers cannot start while the GPU group is at 0 nodes: do not wait for them.
        wait=not (c.gpu.enabled and c.gpu.warm_min == 0))


def eks_edge_routing_args(edge: Edge) -> EdgeRoutingArgs:
    """Tunnel mode on EKS: the core in the cluster serves every route, so the edge router sends both
    the stateless and the stateful paths through the tunnel; no AWS origin records."""
    return EdgeRoutingArgs(edge=edge.args, origin_secret=edge.origin_secret, lambda_origin=edge.core_origin,
                           core_origin=edge.core_origin)
