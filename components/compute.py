"""Compute: everything that runs the runtime, wired together.

Children (each documents its own cost):

* ``ContainerImage`` — ECR + multi-arch build, or a published image;
* ``FunctionsApi`` — one arm64 Lambda per service; HTTP API (tunnel) or ALB target groups + rules (alb);
* ``LoadBalancer`` — ALB ingress only;
* ``CoreService`` — the voice core on Fargate (Spot), with the cloudflared sidecar in tunnel mode;
* ``GpuFleet`` — when ``gpu`` is on;
* ``WebApps`` — the web client and ops console, when given.

`Compute` only wires them: the ALB's listener to the functions and web apps, the core's cluster
and execution role to the web apps, the fleet's wake/sleep permissions to the core. What the runtime
is told comes in ready-made (`components.runtime_env`), as do the generated secrets
(`components.secrets.RuntimeSecrets`) and the Lambda artifacts (`components.lambda_build`).

Cost: the sum of the children's; no fixed cost of its own.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Optional, Sequence

import pulumi

from components.base import ArgsError, Component, Transforms
from components.container_image import ContainerImage, ContainerImageArgs
from components.core_service import CoreService, CoreServiceArgs
from components.functions_api import FunctionsApi, FunctionsApiArgs
from components.gpu_fleet import GpuFleet, GpuFleetArgs, node_user_data
from components.lambda_build import Artifact
from components.load_balancer import LoadBalancer, LoadBalancerArgs
from components.observability import AlarmTargets
from components.runtime_env import RuntimeEnvironment
from components.ops_console import CONSOLE_PORT
from components.web_apps import WebApp, WebApps, WebAppsArgs, namespace_name
from gpu_nodes.bootstrap import DEFAULT_CACHE_PREFIX, agent_archive


COMPUTE_CHILDREN = ("image", "functions", "load_balancer", "gpu", "core", "web_apps")


@dataclass(frozen=True)
class ComputeArgs:
    """Arguments of `Compute`. Settings of one child carry its prefix (`core_`, `functions_`,
    `alb_`, `gpu_`); see that child's args for what they mean."""

    name_prefix: str
    """Physical-name prefix of every child, e.g. `uma-beta`. Required."""
    region: str
    """The AWS region. Required."""
    domain: str
    """The zone: the API is `api.<domain>`, the Lambda API's custom domain `fn.<domain>`. Required."""
    ingress: Literal["tunnel", "alb"]
    """`tunnel`: Cloudflare Tunnel to the core and an HTTP API for the functions; `alb`: an ALB in
    front of both. Required."""
    vpc_id: pulumi.Input[str]
    """The VPC. Required."""
    subnet_ids: Mapping[str, pulumi.Input[Sequence[str]]]
    """Tier (`public`, `private`, `gpu`) -> its subnet ids. Required."""
    security_group_ids: Mapping[str, pulumi.Input[str]]
    """Role (`core`, `lambda`, and `alb` / `gpu` when used) -> its security group. Required."""
    environment: RuntimeEnvironment
    """What the runtime is told (`components.runtime_env.runtime_environment`). Required."""
    code: Artifact
    """The Lambda code zip. Required."""
    layer: Artifact
    """The Lambda dependency layer. Required."""
    public_core: bool = False
    """Core tasks (and web apps) run in the public subnets with a public IP (no NAT); else in the
    private subnets. Default: `False`."""
    log_retention_days: int = 14
    """Retention of every log group. Default: `14`."""
    origin_secret: Optional[pulumi.Input[str]] = None
    """The edge's origin secret (ALB rules require it). Default: none (no Cloudflare)."""
    tunnel_token: Optional[pulumi.Input[str]] = None
    """The tunnel's token for the cloudflared sidecar; required with `ingress="tunnel"`. Default: none."""
    core_image: Optional[str] = None
    """A published, pinned runtime image; without it the image is built and pushed to ECR. Default: none."""
    image_force_delete: bool = False
    """Destroying the stack may delete the ECR repository with its images. Default: `False`."""
    core_port: int = 8080
    """Default: `8080`."""
    core_cpu: int = 256
    """Default: `256`."""
    core_memory: int = 512
    """Default: `512`."""
    core_desired_count: int = 1
    """Default: `1`."""
    core_max_count: int = 1
    """Default: `1`."""
    core_on_demand_base: int = 0
    """Default: `0`."""
    core_spot_weight: int = 1
    """Default: `1`."""
    core_on_demand_weight: int = 0
    """Default: `0`."""
    cloudflared_image: Optional[str] = None
    """The pinned cloudflared sidecar image; required with `ingress="tunnel"`. Default: none."""
    core_policy_statements: Sequence[Any] = ()
    """IAM statements for the core's task role (data tier access). Default: none."""
    functions_memory_mb: int = 512
    """Default: `512`."""
    functions_timeout_s: int = 15
    """Default: `15`."""
    functions_reserved_concurrency: Mapping[str, int] = field(default_factory=dict)
    """Default: none (each service gets `FunctionsApiArgs.default_reserved_concurrency`)."""
    functions_reserve_concurrency: bool = True
    """`FunctionsApiArgs.reserve_concurrency`. Default: `True`."""
    functions_policy_statements: Sequence[Any] = ()
    """IAM statements for the functions' role (data tier access). Default: none."""
    artifact_bucket: Optional[pulumi.Input[str]] = None
    """Where the Lambda layer is uploaded. Default: none."""
    alb_certificate_arn: Optional[pulumi.Input[str]] = None
    """Default: none (an ACM certificate validated through DNS)."""
    alb_idle_timeout: int = 900
    """Default: `900`."""
    alb_deregistration_delay: int = 60
    """Default: `60`."""
    alb_deletion_protection: bool = False
    """Default: `False`."""
    gpu: bool = False
    """Create the GPU fleet. Default: `False`."""
    gpu_max_size: int = 1
    """Default: `1`."""
    gpu_warm_min: int = 0
    """Default: `0`."""
    gpu_instance_types: Sequence[str] = ("g4dn.xlarge", "g4dn.2xlarge", "g5.xlarge", "g6.xlarge")
    """Default: g4dn.xlarge, g4dn.2xlarge, g5.xlarge, g6.xlarge."""
    gpu_volume_gb: int = 100
    """Default: `100`."""
    gpu_idle_minutes: int = 15
    """A node scales the fleet back to `gpu_warm_min` after this long idle. Default: `15`."""
    gpu_max_lifetime_hours: int = 12
    """The node agent retires a node after this (Auto Scaling's own floor is one day). Default: `12`."""
    gpu_subnets_public: bool = False
    """The GPU subnets route to the internet gateway (nodes need a public IP). Default: `False`."""
    gpu_node_token: Optional[pulumi.Input[str]] = None
    """The token nodes present to the core; required with `gpu`. Default: none."""
    model_bucket_arn: Optional[pulumi.Input[str]] = None
    """The GPU model cache and agent archive bucket; required with `gpu`. Default: none."""
    model_bucket_name: Optional[pulumi.Input[str]] = None
    """Its name; required with `gpu`. Default: none."""
    alert_topic_arn: Optional[pulumi.Input[str]] = None
    """Where Spot interruption events go. Default: none."""
    web_apps: Sequence[WebApp] = ()
    """The web apps to run. Default: none."""
    transform: Mapping[str, Transforms] = field(default_factory=dict)
    """Per child component (`image`, `functions`, `load_balancer`, `gpu`, `core`, `web_apps`), the
    `transform` of its args, e.g. `{"core": {"taskDefinition": fn}}` (`components.base`). Default: none."""

    def __post_init__(self) -> None:
        unknown = sorted(set(self.transform) - set(COMPUTE_CHILDREN))
        if unknown:
            raise ArgsError("ComputeArgs", "transform", f"{', '.join(map(repr, unknown))} is not a child of Compute",
                            f"use one of {', '.join(COMPUTE_CHILDREN)}")
        if self.ingress not in ("tunnel", "alb"):
            raise ArgsError("ComputeArgs", "ingress", f"{self.ingress!r}", "use tunnel or alb")
        if self.gpu and (self.gpu_node_token is None or self.model_bucket_name is None):
            raise ArgsError("ComputeArgs", "gpu_node_token", "the GPU fleet needs its node token and model bucket",
                            "pass gpu_node_token, model_bucket_arn and model_bucket_name")

    @property
    def api_host(self) -> str:
        return f"api.{self.domain}"


class Compute(Component):
    def __init__(self, name: str, args: ComputeArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        a, prefix = args, args.name_prefix
        env = a.environment
        shared = {**env.shared.plain, **env.shared.secret}

        self.load_balancer: Optional[LoadBalancer] = None
        if a.ingress == "alb":
            self.load_balancer = LoadBalancer(f"{name}-lb", LoadBalancerArgs(
                name_prefix=prefix, vpc_id=a.vpc_id, subnet_ids=a.subnet_ids["public"],
                security_group_id=a.security_group_ids["alb"], domain=a.domain,
                certificate_arn=a.alb_certificate_arn, origin_secret=a.origin_secret,
                idle_timeout=a.alb_idle_timeout, deregistration_delay=a.alb_deregistration_delay,
                core_port=a.core_port, deletion_protection=a.alb_deletion_protection,
                transform=a.transform.get("load_balancer", {})), opts=child)
        listener = self.load_balancer.https_listener_arn if self.load_balancer else None

        self.functions = FunctionsApi(f"{name}-fn", FunctionsApiArgs(
            name_prefix=prefix, ingress=a.ingress, code=a.code, layer=a.layer,
            subnet_ids=a.subnet_ids["private"], security_group_ids=[a.security_group_ids["lambda"]],
            memory_mb=a.functions_memory_mb, timeout_s=a.functions_timeout_s,
            reserved_concurrency=dict(a.functions_reserved_concurrency),
            reserve_concurrency=a.functions_reserve_concurrency,
            log_retention_days=a.log_retention_days, environment=shared,
            policy_statements=list(a.functions_policy_statements), artifact_bucket=a.artifact_bucket,
            api_hostname=f"fn.{a.domain}" if a.ingress == "tunnel" else None,
            https_listener_arn=listener, vpc_id=a.vpc_id, origin_secret=a.origin_secret,
            transform=a.transform.get("functions", {})), opts=child)

        self.gpu: Optional[GpuFleet] = None
        if a.gpu:
            archive = agent_archive()
            self.gpu = GpuFleet(f"{name}-gpu", GpuFleetArgs(
                name_prefix=prefix, subnet_ids=a.subnet_ids["gpu"], security_group_id=a.security_group_ids["gpu"],
                user_data=node_user_data(name_prefix=prefix, region=a.region, model_bucket=a.model_bucket_name,
                                         core_url=f"https://{a.api_host}", idle_minutes=a.gpu_idle_minutes,
                                         max_lifetime_hours=a.gpu_max_lifetime_hours),
                max_size=a.gpu_max_size, warm_min=a.gpu_warm_min, instance_types=tuple(a.gpu_instance_types),
                volume_gb=a.gpu_volume_gb, associate_public_ip=a.gpu_subnets_public,
                model_bucket_arn=a.model_bucket_arn, model_bucket_id=a.model_bucket_name,
                cache_prefix=DEFAULT_CACHE_PREFIX, agent_archive=(archive.key, archive.data),
                alert_topic_arn=a.alert_topic_arn, log_retention_days=a.log_retention_days,
                max_instance_lifetime_s=max(86_400, a.gpu_max_lifetime_hours * 3600),
                node_token=a.gpu_node_token, transform=a.transform.get("gpu", {})), opts=child)

        self.image = ContainerImage(f"{name}-image", ContainerImageArgs(
            name_prefix=prefix, image=a.core_image, force_delete=a.image_force_delete,
            transform=a.transform.get("image", {})), opts=child)
        core_statements = list(a.core_policy_statements)
        if self.gpu is not None:
            core_statements += self.gpu.core_policy_statements
        tier = "public" if a.public_core else "private"
        console = any(app.key == "ops_console" for app in a.web_apps)
        if console and "UNAMENTIS_CONSOLE_PORT" not in env.core_only.plain:
            raise ArgsError("ComputeArgs", "environment", "the ops console runs but the core opens no console listener",
                            "give runtime_environment the console's admin e-mail (console_admin_email)")
        # Cloud Map: cloudflared finds the web apps by name (tunnel), the ops console finds the core's
        # console listener (any ingress).
        discovery = namespace_name(prefix) if a.web_apps and (a.ingress == "tunnel" or console) else None
        self.core = CoreService(f"{name}-core", CoreServiceArgs(
            name_prefix=prefix, region=a.region, ingress=a.ingress, image=self.image.image_ref,
            subnet_ids=a.subnet_ids[tier], security_group_ids=[a.security_group_ids["core"]],
            assign_public_ip=a.public_core, port=a.core_port, cpu=a.core_cpu, memory=a.core_memory,
            desired_count=a.core_desired_count, max_count=a.core_max_count,
            on_demand_base=a.core_on_demand_base, spot_weight=a.core_spot_weight,
            on_demand_weight=a.core_on_demand_weight, log_retention_days=a.log_retention_days,
            environment={**env.shared.plain, **env.core_only.plain},
            secret_values={**env.shared.secret, **env.core_only.secret},
            task_policy_statements=core_statements,
            cloudflared_image=a.cloudflared_image if a.ingress == "tunnel" else None,
            tunnel_token=a.tunnel_token if a.ingress == "tunnel" else None,
            target_group_arn=self.load_balancer.core_target_group.arn if self.load_balancer else None,
            vpc_id=a.vpc_id, discovery_namespace=discovery, console_port=CONSOLE_PORT if console else None,
            transform=a.transform.get("core", {})), opts=pulumi.ResourceOptions(parent=self, depends_on=[self.functions]))

        self.web_apps: Optional[WebApps] = None
        if a.web_apps:
            self.web_apps = WebApps(f"{name}-web", WebAppsArgs(
                name_prefix=prefix, region=a.region, domain=a.domain, ingress=a.ingress, apps=list(a.web_apps),
                cluster_arn=self.core.cluster_arn, execution_role_arn=self.core.execution_role.arn,
                vpc_id=a.vpc_id, subnet_ids=a.subnet_ids[tier], assign_public_ip=a.public_core,
                front_door_sg_id=a.security_group_ids["alb" if a.ingress == "alb" else "core"],
                capacity_strategy=self.core.capacity_strategy, log_retention_days=a.log_retention_days,
                https_listener_arn=listener, origin_secret=a.origin_secret,
                namespace_id=self.core.namespace.id if self.core.namespace is not None else None,
                core_sg_id=a.security_group_ids["core"], console_port=CONSOLE_PORT if console else None,
                core_target_group_arn=self.load_balancer.core_target_group.arn if self.load_balancer else None,
                transform=a.transform.get("web_apps", {})), opts=child)

        self.lambda_timeout_s = a.functions_timeout_s
        self.register_outputs({
            "core_service": self.core.service_name,
            "functions": self.functions.function_names,
            "lambda_origin_url": self.functions.origin_url,
            "alb_dns_name": self.load_balancer.dns_name if self.load_balancer else None,
            "gpu_asg": self.gpu.asg_name if self.gpu else None,
            "image": self.image.image_ref,
            "layer_placeholder": a.layer.placeholder,
        })

    def alarm_targets(self) -> AlarmTargets:
        """What deserves an alarm (`components.observability.AlarmTargets`)."""
        return AlarmTargets(
            lambda_function_names=list(self.functions.function_names.values()),
            lambda_timeout_s=self.lambda_timeout_s,
            ecs_cluster_name=self.core.cluster_name, ecs_service_name=self.core.service_name,
            alb_arn_suffix=self.load_balancer.alb.arn_suffix if self.load_balancer else None,
            http_api_id=self.functions.api.id if self.functions.api is not None else None,
            gpu_asg_name=self.gpu.asg_name if self.gpu is not None else None)
