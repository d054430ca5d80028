"""WebApps: the web client (port 3001, ``app.<domain>``) and the ops console (port 3000,
``admin.<domain>``) as optional Fargate services in the core's cluster, from published, pinned images.

Each enabled app gets a log group, an ARM64 task definition, a service with the core's capacity
strategy, and its own security group admitting only its front door on its port:

* ``tunnel``: the front door is the ``cloudflared`` sidecar in the core task. The apps register in
  the core's Cloud Map private DNS namespace (``<prefix>.internal``, `namespace_id`), so the tunnel's ingress points at
  :func:`service_url` (``http://ops-console.<prefix>.internal:3000``); the core's security group
  gets an egress rule to each app's port.
* ``alb``: one IP target group per app and a host-header listener rule (ahead of the API's path
  rules; with the origin-secret header condition behind Cloudflare); the ALB's security group gets
  an egress rule to each app's port.

The ops console (see `components.ops_console`) also gets its container environment from the console's
own sources (`BACKEND_URL` → the core's console listener at `core.<prefix>.internal`, `NEXT_PUBLIC_*` →
`admin.<domain>`), the only rule admitting anything to that listener (from its group), and in ALB mode
the `admin.` host's path split (its proxy routes first, the API's `/ws` and `/api/*` ahead of its pages).

Cost: per app task the Fargate rate of its size (0.25 vCPU / 0.5 GB ARM Spot ≈ $2.2/month, plus
$3.65/month for a public IPv4 without NAT); the Cloud Map namespace is a Route 53 private hosted
zone ($0.50/month). Disabled by default in every stack.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import pulumi
import pulumi_aws as aws

from components.base import ArgsError, Component, Transforms
from components.facts import is_pinned
from components.load_balancer import FIRST_PRIORITY, ORIGIN_SECRET_HEADER
from components.ops_console import ALB_API_FIRST, alb_pattern_chunks, console_environment

# key -> (port, host label, DNS name in the namespace, ALB rule priority)
APPS: dict[str, tuple[int, str, str, int]] = {
    # The console's host rule comes after the API's path rules (priorities from 100): admin.<domain>
    # sends its proxy routes (first, from CONSOLE_PROXY_PRIORITY) and its pages to the console, every
    # other /api/ path and /ws to the API, which checks the Access JWT.
    "ops_console": (3000, "admin", "ops-console", 49_000),
    "web_client": (3001, "app", "web-client", 20),
}
CONSOLE_PROXY_PRIORITY = 30  # after the web client's host rule (20), before the API's (FIRST_PRIORITY)


def namespace_name(name_prefix: str) -> str:
    return f"{name_prefix}.internal"


def service_url(key: str, name_prefix: str) -> str:
    """Where cloudflared reaches an app in tunnel mode: its Cloud Map name, e.g.
    `http://ops-console.uma-beta.internal:3000`."""
    port, _, dns, _ = APPS[key]
    return f"http://{dns}.{namespace_name(name_prefix)}:{port}"


@dataclass
class WebApp:
    """One web app of `WebAppsArgs.apps`."""

    key: str
    """`ops_console` (admin.<domain>, port 3000) or `web_client` (app.<domain>, port 3001). Required."""
    image: str
    """Its published, pinned image. Required."""
    cpu: int = 256
    """Fargate CPU units. Default: `256`."""
    memory: int = 512
    """MiB. Default: `512`."""


@dataclass
class WebAppsArgs:
    """Arguments of `WebApps`."""

    name_prefix: str
    """Physical-name prefix, e.g. `uma-beta`. Required."""
    region: str
    """The AWS region (log driver). Required."""
    domain: str
    """The zone (`admin.` and `app.<domain>` in ALB mode). Required."""
    ingress: str
    """`tunnel`: registered in Cloud Map for cloudflared; `alb`: host-header rules on
    `https_listener_arn`. Required."""
    apps: Sequence[WebApp]
    """The apps to run. Required."""
    cluster_arn: pulumi.Input[str]
    """The ECS cluster. Required."""
    execution_role_arn: pulumi.Input[str]
    """The task execution role. Required."""
    vpc_id: pulumi.Input[str]
    """The VPC. Required."""
    subnet_ids: pulumi.Input[Sequence[str]]
    """Where the tasks run. Required."""
    assign_public_ip: bool
    """A public IP per task (public subnets without NAT). Required."""
    front_door_sg_id: pulumi.Input[str]
    """The group allowed in: the core's (cloudflared, tunnel) or the ALB's (alb). Required."""
    capacity_strategy: Sequence[dict] = field(default_factory=lambda: [
        {"capacity_provider": "FARGATE_SPOT", "weight": 1}])
    """The capacity-provider strategy of every app. Default: all on FARGATE_SPOT."""
    log_retention_days: int = 14
    """Retention of the apps' log groups. Default: `14`."""
    https_listener_arn: Optional[pulumi.Input[str]] = None
    """The ALB's HTTPS listener; required with `ingress="alb"`. Default: none."""
    origin_secret: Optional[pulumi.Input[str]] = None
    """When set, the ALB rules also require `X-Origin-Secret`. Default: none."""
    namespace_id: Optional[pulumi.Input[str]] = None
    """The Cloud Map namespace the apps register in (`namespace_name`); required with `tunnel`.
    Default: none."""
    core_sg_id: Optional[pulumi.Input[str]] = None
    """The core's security group: it admits the ops console on `console_port`; required with the
    ops console. Default: none."""
    console_port: Optional[int] = None
    """The core's console listener, where the ops console's proxies call; required with the ops
    console. Default: none."""
    core_target_group_arn: Optional[pulumi.Input[str]] = None
    """The ALB's core target group: `admin.<domain>`'s API paths the route table leaves to the
    catch-all (`/ws`, core-only `/api/…`) go there, ahead of the console's host rule; required with
    the ops console in `alb` mode. Default: none."""

    transform: Transforms = field(default_factory=dict)
    """Per child kind (`WebApps.CHILDREN`), a change to its arguments (`components.base`). Default:
    none."""

    def validate(self) -> None:
        for app in self.apps:
            if app.key not in APPS:
                raise ArgsError("WebAppsArgs", "apps", f"unknown web app {app.key!r}", f"use one of {', '.join(sorted(APPS))}")
            if not is_pinned(app.image):
                raise ArgsError("WebAppsArgs", "apps", f"{app.key} image {app.image!r} is not pinned",
                                "use a version tag or @sha256 digest, never :latest or no tag")
        if self.ingress == "alb" and self.https_listener_arn is None:
            raise ArgsError("WebAppsArgs", "https_listener_arn", "alb ingress needs the HTTPS listener", "pass it")
        if self.ingress == "tunnel" and self.namespace_id is None:
            raise ArgsError("WebAppsArgs", "namespace_id", "tunnel ingress reaches the apps by Cloud Map name",
                            "pass the namespace")
        if self.ingress == "alb" and any(app.key == "ops_console" for app in self.apps) and self.core_target_group_arn is None:
            raise ArgsError("WebAppsArgs", "core_target_group_arn", "admin.<domain> sends its API paths to the core",
                            "pass the ALB's core target group")
        if any(app.key == "ops_console" for app in self.apps) and (
                self.core_sg_id is None or self.console_port is None or self.namespace_id is None):
            raise ArgsError("WebAppsArgs", "console_port", "the ops console calls the core's console listener",
                            "pass console_port, core_sg_id and namespace_id (the core registered as core.<namespace>)")


class WebApps(Component):
    CHILDREN = (
        "discoveryService", "securityGroup", "securityGroupIngressRule",
        "securityGroupEgressRule", "securityGroupRule", "logGroup", "taskDefinition", "service",
        "targetGroup", "listenerRule",
    )

    def __init__(self, name: str, args: WebAppsArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(name, args.transform, opts)
        args.validate()
        self.services: dict[str, aws.ecs.Service] = {}
        for app in args.apps:
            self._app(name, args, app)
        self.register_outputs({k: s.name for k, s in self.services.items()})

    def _app(self, name: str, args: WebAppsArgs, app: WebApp) -> None:
        child = pulumi.ResourceOptions(parent=self)
        port, label, dns, priority = APPS[app.key]
        base = f"{name}-{dns}"
        sg = self.child("securityGroup", aws.ec2.SecurityGroup,
            f"{base}-sg", vpc_id=args.vpc_id, description=f"{app.key}: only its front door on {port}",
            tags={"unamentis:role": f"web-{dns}"}, opts=child)
        self.child("securityGroupIngressRule", aws.vpc.SecurityGroupIngressRule,
            f"{base}-in", security_group_id=sg.id, ip_protocol="tcp", from_port=port, to_port=port,
            referenced_security_group_id=args.front_door_sg_id, description="from its front door",
            opts=child)
        self.child("securityGroupEgressRule", aws.vpc.SecurityGroupEgressRule,
            f"{base}-out-https", security_group_id=sg.id, ip_protocol="tcp", from_port=443, to_port=443,
            cidr_ipv4="0.0.0.0/0", description="HTTPS to the API and registries", opts=child)
        if app.key == "ops_console":
            # The console's proxies → the core's console listener: the only way into that port.
            self.child("securityGroupEgressRule", aws.vpc.SecurityGroupEgressRule,
                f"{base}-out-core", security_group_id=sg.id, ip_protocol="tcp", from_port=args.console_port,
                to_port=args.console_port, referenced_security_group_id=args.core_sg_id,
                description="to the console listener of the core", opts=child)
            self.child("securityGroupIngressRule", aws.vpc.SecurityGroupIngressRule,
                f"{base}-core-in", security_group_id=args.core_sg_id, ip_protocol="tcp", from_port=args.console_port,
                to_port=args.console_port, referenced_security_group_id=sg.id,
                description="the ops console to the console listener, its only source", opts=child)
        if args.ingress == "tunnel":
            # The core SG's rules are vpc.* rule resources (see components.security_groups).
            self.child("securityGroupEgressRule", aws.vpc.SecurityGroupEgressRule,
                f"{base}-front-out", security_group_id=args.front_door_sg_id, ip_protocol="tcp",
                from_port=port, to_port=port, referenced_security_group_id=sg.id,
                description=f"cloudflared to {app.key}", opts=child)
        else:
            # The ALB SG holds only classic rules (never mix the two kinds on one group).
            self.child("securityGroupRule", aws.ec2.SecurityGroupRule,
                f"{base}-front-out", type="egress", security_group_id=args.front_door_sg_id,
                protocol="tcp", from_port=port, to_port=port, source_security_group_id=sg.id,
                description=f"ALB to {app.key}", opts=child)

        lg = self.child("logGroup", aws.cloudwatch.LogGroup, f"{base}-logs", name=f"/ecs/{args.name_prefix}-{dns}",
                                     retention_in_days=args.log_retention_days, opts=child)
        td = self.child("taskDefinition", aws.ecs.TaskDefinition,
            f"{base}-task", family=f"{args.name_prefix}-{dns}", requires_compatibilities=["FARGATE"],
            network_mode="awsvpc", cpu=str(app.cpu), memory=str(app.memory),
            runtime_platform={"cpu_architecture": "ARM64", "operating_system_family": "LINUX"},
            execution_role_arn=args.execution_role_arn,
            container_definitions=pulumi.Output.json_dumps([{
                "name": dns, "image": app.image, "essential": True,
                "portMappings": [{"containerPort": port, "protocol": "tcp"}],
                "environment": [{"name": k, "value": v} for k, v in sorted(self._environment(args, app.key, port).items())],
                "stopTimeout": 120,  # a maximum, not a delay: on Spot the task may use the whole notice
                "logConfiguration": {"logDriver": "awslogs", "options": {
                    "awslogs-group": lg.name, "awslogs-region": args.region, "awslogs-stream-prefix": dns}},
            }]),
            opts=child)

        registries, load_balancers = [], []
        if args.ingress == "tunnel":
            disc = self.child("discoveryService", aws.servicediscovery.Service,
                f"{base}-discovery", name=dns,
                dns_config={"namespace_id": args.namespace_id, "routing_policy": "MULTIVALUE",
                            "dns_records": [{"type": "A", "ttl": 10}]},
                health_check_custom_config={"failure_threshold": 1}, opts=child)
            registries = [{"registry_arn": disc.arn}]
        else:
            tg = self.child("targetGroup", aws.lb.TargetGroup,
                f"{base}-tg", name=f"{args.name_prefix}-{dns}"[:32], target_type="ip", protocol="HTTP",
                port=port, vpc_id=args.vpc_id, deregistration_delay=30,
                health_check={"path": "/", "matcher": "200-399", "interval": 15}, opts=child)
            conds: list[dict] = [{"host_header": {"values": [f"{label}.{args.domain}"]}}]
            if args.origin_secret is not None:
                conds.append({"http_header": {"http_header_name": ORIGIN_SECRET_HEADER,
                                              "values": [args.origin_secret]}})
            if app.key == "ops_console":
                chunks = alb_pattern_chunks(other_values=len(conds))
                if CONSOLE_PROXY_PRIORITY + len(chunks) > FIRST_PRIORITY:
                    raise ArgsError("WebAppsArgs", "apps", "the ops console's proxy routes need more ALB rules than fit "
                                    "before the API's", "merge path patterns in components.ops_console")
                self.child("listenerRule", aws.lb.ListenerRule,
                    f"{base}-api-first-rule", listener_arn=args.https_listener_arn, priority=CONSOLE_PROXY_PRIORITY - 1,
                    conditions=[*conds, {"path_pattern": {"values": list(ALB_API_FIRST)}}],
                    actions=[{"type": "forward", "target_group_arn": args.core_target_group_arn}], opts=child)
                self.child("listenerRule", aws.lb.ListenerRule,
                    f"{base}-api-rule", listener_arn=args.https_listener_arn, priority=priority - 1,
                    conditions=[*conds, {"path_pattern": {"values": ["/api/*", "/ws"]}}],
                    actions=[{"type": "forward", "target_group_arn": args.core_target_group_arn}], opts=child)
                for i, patterns in enumerate(chunks):
                    self.child("listenerRule", aws.lb.ListenerRule,
                        f"{base}-proxy-rule-{i}", listener_arn=args.https_listener_arn,
                        priority=CONSOLE_PROXY_PRIORITY + i, conditions=[*conds, {"path_pattern": {"values": patterns}}],
                        actions=[{"type": "forward", "target_group_arn": tg.arn}], opts=child)
            self.child("listenerRule", aws.lb.ListenerRule,
                f"{base}-rule", listener_arn=args.https_listener_arn, priority=priority, conditions=conds,
                actions=[{"type": "forward", "target_group_arn": tg.arn}], opts=child)
            load_balancers = [{"target_group_arn": tg.arn, "container_name": dns, "container_port": port}]

        self.services[app.key] = self.child("service", aws.ecs.Service,
            f"{base}-service", name=f"{args.name_prefix}-{dns}", cluster=args.cluster_arn,
            task_definition=td.arn, desired_count=1,
            capacity_provider_strategies=list(args.capacity_strategy),
            platform_version="1.4.0",
            network_configuration={"subnets": args.subnet_ids, "security_groups": [sg.id],
                                   "assign_public_ip": args.assign_public_ip},
            service_registries=registries[0] if registries else None,
            load_balancers=load_balancers,
            deployment_circuit_breaker={"enable": True, "rollback": True},
            opts=child)

    @staticmethod
    def _environment(args: WebAppsArgs, key: str, port: int) -> dict[str, str]:
        if key == "ops_console":
            return console_environment(admin_origin=f"https://admin.{args.domain}", port=port,
                                       backend_url=f"http://core.{namespace_name(args.name_prefix)}:{args.console_port}")
        return {"PORT": str(port), "UNAMENTIS_API_URL": f"https://api.{args.domain}"}
