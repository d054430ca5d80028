"""WebApps: the web client (port 3001, ``app.<domain>``) and the ops console (port 3000,
``admin.<domain>``) as optional Fargate services in the core's cluster, from images in config.

Each enabled app gets a log group, an ARM64 task definition, a service with the core's capacity
strategy, and its own security group admitting only its front door on its port:

* ``tunnel``: the front door is the ``cloudflared`` sidecar in the core task. The apps register in
  a Cloud Map private DNS namespace (``<prefix>.internal``), so the tunnel's ingress points at
  :func:`service_urls` (``http://ops-console.<prefix>.internal:3000``); the core's security group
  gets an egress rule to each app's port.
* ``alb``: one IP target group per app and a host-header listener rule (ahead of the API's path
  rules; with the origin-secret header condition behind Cloudflare); the ALB's security group gets
  an egress rule to each app's port.

Cost: per app task the Fargate rate of its size (0.25 vCPU / 0.5 GB ARM Spot ≈ $2.2/month, plus
$3.65/month for a public IPv4 without NAT); the Cloud Map namespace is a Route 53 private hosted
zone ($0.50/month). Disabled by default in every stack.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import pulumi
import pulumi_aws as aws

from components.container_image import validate_published_image
from components.load_balancer import ORIGIN_SECRET_HEADER

# key -> (port, host label, DNS name in the namespace, ALB rule priority)
APPS: dict[str, tuple[int, str, str, int]] = {
    "ops_console": (3000, "admin", "ops-console", 10),
    "web_client": (3001, "app", "web-client", 20),
}


def namespace_name(name_prefix: str) -> str:
    return f"{name_prefix}.internal"


def service_urls(config: Any) -> dict[str, str]:
    """What the tunnel's ingress points at (tunnel mode), for the enabled apps only:
    ``{"ops_console_service": ..., "web_client_service": ...}`` (``EdgeArgs.from_config`` kwargs)."""
    ns = namespace_name(f"uma-{config.stack}")
    out = {}
    for key, (port, _, dns, _) in APPS.items():
        if getattr(config, key).enabled:
            out[f"{key}_service"] = f"http://{dns}.{ns}:{port}"
    return out


@dataclass
class WebApp:
    key: str  # ops_console | web_client
    image: str
    cpu: int = 256
    memory: int = 512


@dataclass
class WebAppsArgs:
    name_prefix: str
    region: str
    domain: str
    ingress: str
    apps: Sequence[WebApp]
    cluster_arn: pulumi.Input[str]
    execution_role_arn: pulumi.Input[str]
    vpc_id: pulumi.Input[str]
    subnet_ids: pulumi.Input[Sequence[str]]
    assign_public_ip: bool
    front_door_sg_id: pulumi.Input[str]  # core SG (tunnel: cloudflared) or ALB SG (alb)
    capacity_strategy: Sequence[dict] = field(default_factory=lambda: [
        {"capacity_provider": "FARGATE_SPOT", "weight": 1}])
    log_retention_days: int = 14
    https_listener_arn: Optional[pulumi.Input[str]] = None
    origin_secret: Optional[pulumi.Input[str]] = None

    def validate(self) -> None:
        for app in self.apps:
            if app.key not in APPS:
                raise ValueError(f"unknown web app {app.key!r}: use one of {sorted(APPS)}")
            validate_published_image(app.image)
        if self.ingress == "alb" and self.https_listener_arn is None:
            raise ValueError("WebApps: alb mode needs the HTTPS listener")


class WebApps(pulumi.ComponentResource):
    def __init__(self, name: str, args: WebAppsArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("unamentis:compute:WebApps", name, None, opts)
        args.validate()
        child = pulumi.ResourceOptions(parent=self)
        self.namespace = None
        if args.ingress == "tunnel":
            self.namespace = aws.servicediscovery.PrivateDnsNamespace(
                f"{name}-ns", name=namespace_name(args.name_prefix), vpc=args.vpc_id,
                description="UnaMentis web apps reached by the core's cloudflared sidecar", opts=child)
        self.services: dict[str, aws.ecs.Service] = {}
        for app in args.apps:
            self._app(name, args, app)
        self.register_outputs({k: s.name for k, s in self.services.items()})

    def _app(self, name: str, args: WebAppsArgs, app: WebApp) -> None:
        child = pulumi.ResourceOptions(parent=self)
        port, label, dns, priority = APPS[app.key]
        base = f"{name}-{dns}"
        sg = aws.ec2.SecurityGroup(
            f"{base}-sg", vpc_id=args.vpc_id, description=f"{app.key}: only its front door on {port}",
            tags={"unamentis:role": f"web-{dns}"}, opts=child)
        aws.vpc.SecurityGroupIngressRule(
            f"{base}-in", security_group_id=sg.id, ip_protocol="tcp", from_port=port, to_port=port,
            referenced_security_group_id=args.front_door_sg_id, description="from its front door",
            opts=child)
        aws.vpc.SecurityGroupEgressRule(
            f"{base}-out-https", security_group_id=sg.id, ip_protocol="tcp", from_port=443, to_port=443,
            cidr_ipv4="0.0.0.0/0", description="HTTPS to the API and registries", opts=child)
        if args.ingress == "tunnel":
            # The core SG's rules are vpc.* rule resources (see components.security_groups).
            aws.vpc.SecurityGroupEgressRule(
                f"{base}-front-out", security_group_id=args.front_door_sg_id, ip_protocol="tcp",
                from_port=port, to_port=port, referenced_security_group_id=sg.id,
                description=f"cloudflared to {app.key}", opts=child)
        else:
            # The ALB SG holds only classic rules (never mix the two kinds on one group).
            aws.ec2.SecurityGroupRule(
                f"{base}-front-out", type="egress", security_group_id=args.front_door_sg_id,
                protocol="tcp", from_port=port, to_port=port, source_security_group_id=sg.id,
                description=f"ALB to {app.key}", opts=child)

        lg = aws.cloudwatch.LogGroup(f"{base}-logs", name=f"/ecs/{args.name_prefix}-{dns}",
                                     retention_in_days=args.log_retention_days, opts=child)
        td = aws.ecs.TaskDefinition(
            f"{base}-task", family=f"{args.name_prefix}-{dns}", requires_compatibilities=["FARGATE"],
            network_mode="awsvpc", cpu=str(app.cpu), memory=str(app.memory),
            runtime_platform={"cpu_architecture": "ARM64", "operating_system_family": "LINUX"},
            execution_role_arn=args.execution_role_arn,
            container_definitions=pulumi.Output.json_dumps([{
                "name": dns, "image": app.image, "essential": True,
                "portMappings": [{"containerPort": port, "protocol": "tcp"}],
                "environment": [{"name": "PORT", "value": str(port)},
                                {"name": "UNAMENTIS_API_URL", "value": f"https://api.{args.domain}"}],
                "stopTimeout": 120,  # a maximum, not a delay: on Spot the task may use the whole notice
                "logConfiguration": {"logDriver": "awslogs", "options": {
                    "awslogs-group": lg.name, "awslogs-region": args.region, "awslogs-stream-prefix": dns}},
            }]),
            opts=child)

        registries, load_balancers = [], []
        if args.ingress == "tunnel":
            disc = aws.servicediscovery.Service(
                f"{base}-discovery", name=dns,
                dns_config={"namespace_id": self.namespace.id, "routing_policy": "MULTIVALUE",
                            "dns_records": [{"type": "A", "ttl": 10}]},
                health_check_custom_config={"failure_threshold": 1}, opts=child)
            registries = [{"registry_arn": disc.arn}]
        else:
            tg = aws.lb.TargetGroup(
                f"{base}-tg", name=f"{args.name_prefix}-{dns}"[:32], target_type="ip", protocol="HTTP",
                port=port, vpc_id=args.vpc_id, deregistration_delay=30,
                health_check={"path": "/", "matcher": "200-399", "interval": 15}, opts=child)
            conds: list[dict] = [{"host_header": {"values": [f"{label}.{args.domain}"]}}]
            if args.origin_secret is not None:
                conds.append({"http_header": {"http_header_name": ORIGIN_SECRET_HEADER,
                                              "values": [args.origin_secret]}})
            aws.lb.ListenerRule(
                f"{base}-rule", listener_arn=args.https_listener_arn, priority=priority, conditions=conds,
                actions=[{"type": "forward", "target_group_arn": tg.arn}], opts=child)
            load_balancers = [{"target_group_arn": tg.arn, "container_name": dns, "container_port": port}]

        self.services[app.key] = aws.ecs.Service(
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
