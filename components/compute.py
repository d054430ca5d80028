"""Compute: everything that runs the runtime, wired from the stack config and the platform's tiers.

Children (each documents its own cost):

* ``ContainerImage`` — ECR + multi-arch build, or ``core.image``;
* ``FunctionsApi`` — one arm64 Lambda per ``LAMBDA_SERVICES`` entry; HTTP API (tunnel) or ALB
  target groups + rules (alb);
* ``LoadBalancer`` — ALB mode only;
* ``CoreService`` — the voice core on Fargate (Spot), with the cloudflared sidecar in tunnel mode;
* ``GpuFleet`` — when ``gpu.enabled``;
* ``WebApps`` — the web client (3001) and ops console (3000) when enabled.

What the runtime is told (env names from ``runtime/settings.py`` and ``runtime/voice/config.py``):
plain values as environment variables; every secret (database URLs, origin secret, JWT secret,
R2 keys, provider keys) as an SSM SecureString referenced by ARN in the core task, and as an
encrypted Lambda environment variable for the functions (Lambda cannot resolve SSM references).

Cost: the sum of the children's; no fixed cost of its own.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

import pulumi
import pulumi_random as random

from components.config import StackConfig
from components.container_image import ContainerImage, ContainerImageArgs
from components.core_service import CoreService, CoreServiceArgs
from components.functions_api import FunctionsApi, FunctionsApiArgs
from components.gpu_fleet import DRAIN_HOOK, GpuFleet, GpuFleetArgs, node_token_parameter_name
from components.lambda_build import build_code_zip, resolve_layer
from components.load_balancer import LoadBalancer, LoadBalancerArgs
from components.web_apps import WebApp, WebApps, WebAppsArgs

APP_ROLE = "unamentis_app"  # runtime.settings default for UNAMENTIS_APP_ROLE
# runtime.registration_mode (config) -> UNAMENTIS_REGISTRATION (runtime.settings): invite-only
# sign-up is the runtime's beta-token mode.
REGISTRATION = {"open": "open", "invite": "beta_token", "closed": "closed"}


def running_under_mocks() -> bool:
    """True when the program runs on Pulumi's mock engine (``plan`` and tests): never touch the network."""
    from pulumi.runtime import mocks, settings

    return isinstance(getattr(settings.SETTINGS, "monitor", None), mocks.MockMonitor)


def provider_environment(keys: Mapping[str, Optional[pulumi.Input[str]]]) -> tuple[dict, dict]:
    """(plain env, secret env) choosing the hosted AI providers from the keys that are set.

    Groq serves the LLM and Whisper STT when its key is set, else OpenAI; Deepgram serves TTS when
    its key is set, else OpenAI. A kind with no key stays ``auto`` (GPU fleet or the offline
    engines).
    """
    groq, openai, deepgram = keys.get("groqApiKey"), keys.get("openaiApiKey"), keys.get("deepgramApiKey")
    plain: dict[str, str] = {}
    secret: dict[str, pulumi.Input[str]] = {}
    for kind, choices in (("LLM", (("groq", groq), ("openai", openai))),
                          ("STT", (("groq", groq), ("openai", openai))),
                          ("TTS", (("deepgram", deepgram), ("openai", openai)))):
        for provider, key in choices:
            if key is not None:
                plain[f"UNAMENTIS_{kind}_PROVIDER"] = provider
                secret[f"UNAMENTIS_{kind}_API_KEY"] = key
                break
    return plain, secret


@dataclass
class ComputeArgs:
    config: StackConfig
    vpc_id: pulumi.Input[str]
    subnet_ids: Mapping[str, pulumi.Input[list]]  # tier -> subnet ids (public, private, gpu, data)
    security_group_ids: Mapping[str, pulumi.Input[str]]  # role -> id (core, lambda, alb, gpu)
    gpu_subnets_public: bool
    db_address: pulumi.Input[str]
    db_port: pulumi.Input[int]
    db_name: str
    owner_database_url: Optional[pulumi.Input[str]] = None  # the master user's DSN (a secret)
    # plain runtime env the data tier produced (UNAMENTIS_STORAGE_URL, UNAMENTIS_SQS_QUEUE_URL ...)
    data_environment: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    # IAM statements for the data tier (buckets, queue) granted to the core and the functions
    core_statements: list[Mapping[str, Any]] = field(default_factory=list)
    function_statements: list[Mapping[str, Any]] = field(default_factory=list)
    model_bucket_arn: Optional[pulumi.Input[str]] = None  # GPU model cache + node agent archive
    model_bucket_name: Optional[pulumi.Input[str]] = None
    artifact_bucket: Optional[pulumi.Input[str]] = None  # where the Lambda layer is uploaded
    alert_topic_arn: Optional[pulumi.Input[str]] = None
    provider_keys: Mapping[str, Optional[pulumi.Input[str]]] = field(default_factory=dict)
    # from the edge (None with edge: none)
    origin_secret: Optional[pulumi.Input[str]] = None
    tunnel_token: Optional[pulumi.Input[str]] = None
    access_team_domain: Optional[pulumi.Input[str]] = None
    access_aud: Optional[pulumi.Input[str]] = None
    edge_environment: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    edge_secrets: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)


    @classmethod
    def from_platform(cls, platform: Any) -> "ComputeArgs":
        """Collect what compute needs from the platform's earlier sections (network, security
        groups, data tier, edge). Explicit attributes only; see ``components.platform``."""
        c = platform.config
        db, storage, queues = platform.database, platform.storage, platform.queues
        edge = getattr(platform, "edge", None)
        from components.config import provider_api_keys

        buckets = storage.buckets
        data_env: dict[str, pulumi.Input[str]] = {
            # S3 (not R2): the Lambdas reach it through the free gateway endpoint, without NAT.
            "UNAMENTIS_STORAGE_URL": pulumi.Output.concat("s3://", buckets["curricula"].bucket, "/"),
            "UNAMENTIS_S3_REGION": c.region,
        }
        # Jobs go through SQS only when every producer reaches it: Lambdas in the private subnets
        # need NAT for that (the beta has none), otherwise the PostgreSQL queue serves everyone.
        jobs_on_sqs = c.network.nat != "none"
        if jobs_on_sqs:
            data_env["UNAMENTIS_SQS_QUEUE_URL"] = queues.jobs.url
            data_env["UNAMENTIS_SQS_DLQ_URL"] = queues.dlq.url
        # The owner's URL (migrate, admin CLI) exists only when the program generated the master
        # password; with an RDS-managed password the operator runs migrate with its own DSN.
        owner = db.parameter_values().get("database-url")
        return cls(
            config=c,
            vpc_id=platform.network.vpc_id,
            subnet_ids=platform.network.subnet_ids,
            security_group_ids=platform.security_groups.ids,
            gpu_subnets_public=platform.network.gpu_subnets_public,
            db_address=db.address, db_port=db.port, db_name=db.db_name,
            owner_database_url=owner,
            data_environment=data_env,
            core_statements=[storage.access_policy_statements()]
            + ([queues.access_policy_statements()] if jobs_on_sqs else []),
            function_statements=[storage.access_policy_statements()]
            + ([queues.access_policy_statements()] if jobs_on_sqs else []),
            model_bucket_arn=buckets["curricula"].arn,
            model_bucket_name=buckets["curricula"].bucket,
            artifact_bucket=buckets["curricula"].bucket,
            provider_keys=provider_api_keys(),
            origin_secret=getattr(edge, "origin_secret", None),
            tunnel_token=getattr(edge, "tunnel_token", None),
            access_team_domain=getattr(edge, "access_team_domain", None),
            access_aud=getattr(edge, "access_aud", None),
            edge_environment=dict(getattr(edge, "runtime_environment", None) or {}),
            edge_secrets=dict(getattr(edge, "runtime_secrets", None) or {}),
        )


class Compute(pulumi.ComponentResource):
    def __init__(self, name: str, args: ComputeArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("unamentis:compute:Compute", name, None, opts)
        c = args.config
        child = pulumi.ResourceOptions(parent=self)
        prefix = f"uma-{c.stack}"
        api_host = f"api.{c.domain}"

        # Shared by the core and every function: user access JWTs are signed with it.
        self.jwt_secret = random.RandomPassword(f"{name}-jwt-secret", length=48, special=False, opts=child)
        # The runtime role (not owner, no BYPASSRLS): `python -m runtime migrate` creates it as
        # LOGIN with this password (UNAMENTIS_APP_ROLE_PASSWORD); every request runs as it.
        self.app_role_password = random.RandomPassword(
            f"{name}-app-role-password", length=40, special=False, opts=child)
        app_url = pulumi.Output.all(self.app_role_password.result, args.db_address, args.db_port).apply(
            lambda a: f"postgresql://{APP_ROLE}:{a[0]}@{a[1]}:{a[2]}/{args.db_name}?sslmode=require")

        plain_env: dict[str, pulumi.Input[str]] = {
            "UNAMENTIS_ENV": c.stack,
            "UNAMENTIS_AWS_REGION": c.region,
            "UNAMENTIS_REGISTRATION": REGISTRATION[c.runtime.registration_mode],
            "UNAMENTIS_MIN_CLIENT_VERSION": c.runtime.min_client_version,
            "UNAMENTIS_JWT_ISSUER": f"https://{api_host}",
            "UNAMENTIS_RATE_LIMIT_TOKEN": f"{c.runtime.rate_limits.per_token_per_minute}/60",
            "UNAMENTIS_RATE_LIMIT_USER": f"{c.runtime.rate_limits.per_user_per_minute}/60",
            "UNAMENTIS_RATE_LIMIT_IP": f"{c.runtime.rate_limits.per_ip_per_minute}/60",
            **args.data_environment,
            **args.edge_environment,
        }
        if c.runtime.cors_origins:
            plain_env["UNAMENTIS_CORS_ORIGINS"] = ",".join(c.runtime.cors_origins)
        if args.access_team_domain is not None:
            plain_env["UNAMENTIS_CF_ACCESS_TEAM_DOMAIN"] = args.access_team_domain
        if args.access_aud is not None:
            plain_env["UNAMENTIS_CF_ACCESS_AUD"] = args.access_aud
        plain_env["UNAMENTIS_APP_ROLE"] = APP_ROLE
        secret_env: dict[str, pulumi.Input[str]] = {
            **args.edge_secrets,
            "DATABASE_URL": app_url,
            "UNAMENTIS_JWT_SECRET": self.jwt_secret.result,
        }
        if args.origin_secret is not None:
            secret_env["UNAMENTIS_ORIGIN_SECRET"] = args.origin_secret
        # Only the core runs migrations and the admin CLI: only it gets the owner's credentials.
        core_only_secrets: dict[str, pulumi.Input[str]] = {
            "UNAMENTIS_APP_ROLE_PASSWORD": self.app_role_password.result}
        if args.owner_database_url is not None:
            core_only_secrets["UNAMENTIS_DATABASE_ADMIN_URL"] = args.owner_database_url
        # Marked secret explicitly: the plan redacts them and the policy can tell them apart.
        secret_env = {k: pulumi.Output.secret(v) for k, v in secret_env.items()}
        provider_plain, provider_secret = provider_environment(args.provider_keys)

        # --- the Lambda API --------------------------------------------------------------
        offline = running_under_mocks()
        self.code = build_code_zip()
        self.layer = resolve_layer(offline=offline)
        self.load_balancer: Optional[LoadBalancer] = None
        if c.ingress == "alb":
            self.load_balancer = LoadBalancer(f"{name}-lb", LoadBalancerArgs(
                name_prefix=prefix, vpc_id=args.vpc_id, subnet_ids=args.subnet_ids["public"],
                security_group_id=args.security_group_ids["alb"], domain=c.domain,
                certificate_arn=c.alb.certificate_arn, origin_secret=args.origin_secret,
                idle_timeout=c.alb.idle_timeout, deregistration_delay=c.alb.deregistration_delay,
                core_port=c.core.port, deletion_protection=c.profile == "prod"), opts=child)
        self.functions = FunctionsApi(f"{name}-fn", FunctionsApiArgs(
            name_prefix=prefix, ingress=c.ingress, code=self.code, layer=self.layer,
            subnet_ids=args.subnet_ids["private"],
            security_group_ids=[args.security_group_ids["lambda"]],
            memory_mb=c.functions.memory_mb, timeout_s=c.functions.timeout_s,
            reserved_concurrency=dict(c.functions.reserved_concurrency),
            log_retention_days=c.logs.retention_days,
            environment={**plain_env, **secret_env},
            policy_statements=list(args.function_statements),
            artifact_bucket=args.artifact_bucket,
            api_hostname=f"fn.{c.domain}" if c.ingress == "tunnel" else None,
            https_listener_arn=self.load_balancer.https_listener_arn if self.load_balancer else None,
            vpc_id=args.vpc_id, origin_secret=args.origin_secret,
        ), opts=child)

        # --- the GPU fleet ---------------------------------------------------------------
        self.gpu: Optional[GpuFleet] = None
        gpu_env: dict[str, str] = {}
        gpu_secrets: dict[str, pulumi.Input[str]] = {}
        if c.gpu.enabled:
            from gpu_nodes.bootstrap import DEFAULT_CACHE_PREFIX, agent_archive, render_user_data

            archive = agent_archive(DEFAULT_CACHE_PREFIX)
            # Nodes authenticate their events (drain, state, scale to zero) to the core with this; the
            # route is not behind Cloudflare Access (a node has no Access identity).
            self.gpu_node_token = random.RandomPassword(
                f"{name}-gpu-node-token", length=48, special=False, opts=child)
            gpu_secrets["UNAMENTIS_GPU_NODE_TOKEN"] = pulumi.Output.secret(self.gpu_node_token.result)
            # The bucket's name is known at deploy time only: render the text inside apply (a pure
            # function; no resource is created there).
            user_data = pulumi.Output.from_input(args.model_bucket_name).apply(
                lambda bucket: render_user_data(
                    region=c.region, model_bucket=bucket, core_url=f"https://{api_host}",
                    asg_name=f"{prefix}-gpu", lifecycle_hook_name=DRAIN_HOOK,
                    idle_minutes=c.gpu.idle_minutes, max_lifetime_hours=c.gpu.max_lifetime_hours,
                    # An idle node removes itself through the Auto Scaling API (decrementing desired
                    # capacity): scale-to-zero must not depend on reaching the core through the edge.
                    # Its other events (drain, state) go to the core's /api/gpu route with the token.
                    dormant_action="asg",
                    core_token_parameter=node_token_parameter_name(prefix),
                    cache_prefix=DEFAULT_CACHE_PREFIX))
            self.gpu = GpuFleet(f"{name}-gpu", GpuFleetArgs(
                name_prefix=prefix,
                subnet_ids=args.subnet_ids["gpu"],
                security_group_id=args.security_group_ids["gpu"],
                user_data=user_data,
                max_size=c.gpu.max_size, warm_min=c.gpu.warm_min,
                instance_types=tuple(c.gpu.instance_types), volume_gb=c.gpu.volume_gb,
                associate_public_ip=args.gpu_subnets_public,
                model_bucket_arn=args.model_bucket_arn, model_bucket_id=args.model_bucket_name,
                cache_prefix=DEFAULT_CACHE_PREFIX, agent_archive=(archive.key, archive.data),
                alert_topic_arn=args.alert_topic_arn,
                log_retention_days=c.logs.retention_days,
                # EC2 Auto Scaling's floor is one day; the node agent enforces gpu.max_lifetime_hours.
                max_instance_lifetime_s=max(86_400, c.gpu.max_lifetime_hours * 3600),
                node_token=self.gpu_node_token.result,
            ), opts=child)
            gpu_env = {"UNAMENTIS_GPU_ASG_NAME": f"{prefix}-gpu"}

        # --- the core --------------------------------------------------------------------
        self.image = ContainerImage(f"{name}-image", ContainerImageArgs(
            name_prefix=prefix, image=c.core.image, force_delete=c.profile == "beta"), opts=child)
        core_statements = list(args.core_statements)
        if self.gpu is not None:
            core_statements += self.gpu.core_policy_statements
        public_core = c.network.nat == "none"
        self.core = CoreService(f"{name}-core", CoreServiceArgs(
            name_prefix=prefix, region=c.region, ingress=c.ingress, image=self.image.image_ref,
            subnet_ids=args.subnet_ids["public" if public_core else "private"],
            security_group_ids=[args.security_group_ids["core"]],
            assign_public_ip=public_core,
            port=c.core.port, cpu=c.core.cpu, memory=c.core.memory,
            desired_count=c.core.desired_count, max_count=c.core.max_count,
            on_demand_base=c.core.on_demand_base, spot_weight=c.core.spot_weight,
            on_demand_weight=c.core.on_demand_weight,
            log_retention_days=c.logs.retention_days,
            environment={**plain_env, **provider_plain, **gpu_env,
                         "UNAMENTIS_DB_POOL_MAX": str(c.core.db_pool_size)},
            secret_values={**secret_env, **provider_secret, **core_only_secrets, **gpu_secrets},
            task_policy_statements=core_statements,
            cloudflared_image=c.core.cloudflared_image if c.ingress == "tunnel" else None,
            tunnel_token=args.tunnel_token if c.ingress == "tunnel" else None,
            target_group_arn=(self.load_balancer.core_target_group.arn
                              if self.load_balancer else None),
        ), opts=pulumi.ResourceOptions(parent=self, depends_on=[self.functions]))

        self.web_apps = None
        apps = [WebApp(key, getattr(c, key).image) for key in ("ops_console", "web_client")
                if getattr(c, key).enabled]
        if apps:
            self.web_apps = WebApps(f"{name}-web", WebAppsArgs(
                name_prefix=prefix, region=c.region, domain=c.domain, ingress=c.ingress, apps=apps,
                cluster_arn=self.core.cluster_arn, execution_role_arn=self.core.execution_role.arn,
                vpc_id=args.vpc_id, subnet_ids=args.subnet_ids["public" if public_core else "private"],
                assign_public_ip=public_core,
                front_door_sg_id=args.security_group_ids["alb" if c.ingress == "alb" else "core"],
                capacity_strategy=self.core.capacity_strategy,
                log_retention_days=c.logs.retention_days,
                https_listener_arn=self.load_balancer.https_listener_arn if self.load_balancer else None,
                origin_secret=args.origin_secret), opts=child)

        self.lambda_timeout_s = c.functions.timeout_s
        self.register_outputs({
            "core_service": self.core.service_name,
            "functions": self.functions.function_names,
            "lambda_origin_url": self.functions.origin_url,
            "alb_dns_name": self.load_balancer.dns_name if self.load_balancer else None,
            "gpu_asg": self.gpu.asg_name if self.gpu else None,
            "image": self.image.image_ref,
            "layer_placeholder": self.layer.placeholder,
        })


def fill_alarm_targets(compute: "Compute", targets: Any) -> None:
    """Hand observability what deserves an alarm (``components.observability.AlarmTargets``)."""
    targets.lambda_function_names.extend(compute.functions.function_names.values())
    targets.lambda_timeout_s = compute.lambda_timeout_s
    targets.ecs_cluster_name = compute.core.cluster_name
    targets.ecs_service_name = compute.core.service_name
    if compute.load_balancer is not None:
        targets.alb_arn_suffix = compute.load_balancer.alb.arn_suffix
    if compute.functions.api is not None:
        targets.http_api_id = compute.functions.api.id
