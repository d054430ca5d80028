"""CoreService: the stateful voice core as an ARM64 task on ECS Fargate (Spot).

Creates the ECS cluster with the ``FARGATE`` and ``FARGATE_SPOT`` capacity providers, the task
definition (the runtime image running ``python -m runtime serve`` on 8766, ``stopTimeout`` 120 s so
the core drains voice sessions inside the Fargate Spot notice, a container health check on
``/health``), the service with its capacity-provider strategy (beta: 100 % Spot; prod: an on-demand
base plus Spot), a log group with retention, an execution role that can read only this service's
SSM parameters, a task role holding only the statements the platform passes in (its buckets, queue,
GPU fleet), and CPU target-tracking autoscaling when ``max_count`` exceeds ``desired_count``.

Secrets never enter the task definition as values: each secret env var is an SSM SecureString
parameter (Standard tier: free) referenced by ARN in the container's ``secrets``.

Ingress, by mode:

* ``tunnel``: a ``cloudflared`` sidecar (pinned image, ``tunnel run`` with ``TUNNEL_TOKEN`` from a
  secret, ``tunnel ready`` health check, grace period that covers the drain) dials out to Cloudflare;
  the task's security group (from the network component) has **no ingress rule**. No
  ``dependsOn`` between the two containers on purpose: ECS stops dependants first, which would cut
  the tunnel before the core has closed its sockets; both get SIGTERM together instead.
* ``alb``: the core container registers in the load balancer's core target group.

A second task definition, ``<prefix>-migrate``, runs ``python -m runtime migrate`` (and, with a
command override, the admin CLI) as a one-off task with the core's image, environment and secrets
but without the sidecar.

Cost: Fargate Spot ARM ≈ $0.0097 per vCPU-hour + $0.00107 per GB-hour (≈ 70 % below the on-demand ARM
rates $0.03238 / $0.00356); the beta's 0.25 vCPU / 0.5 GB task ≈ $2.16/month, plus $3.65/month for
its public IPv4 when ``assign_public_ip`` (no NAT). Logs $0.50/GB ingested.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

import pulumi
import pulumi_aws as aws

from components.base import ArgsError, Component, Transforms
from components.facts import FARGATE_SIZES, is_pinned

CORE_PORT = 8766
STOP_TIMEOUT_S = 120  # the Fargate maximum, and the length of the Spot interruption notice
CLOUDFLARED_METRICS = "127.0.0.1:2000"


def health_probe(port: int) -> str:
    """The container health check: the image has no curl, the standard library does the probe."""
    return ("import sys,urllib.request; sys.exit(0 if urllib.request.urlopen("
            f"'http://127.0.0.1:{port}/health', timeout=3).status == 200 else 1)")


def policy_document(statements: Sequence[Any]) -> pulumi.Output[str]:
    """An IAM policy JSON from statements given as dicts, or Outputs of a dict or a list of dicts
    (the data tier hands out ``Output[list[dict]]``)."""
    def flatten(items: list) -> str:
        flat: list = []
        for item in items:
            flat.extend(item if isinstance(item, list) else [item])
        return json.dumps({"Version": "2012-10-17", "Statement": flat})

    return pulumi.Output.all(*[pulumi.Output.from_input(s) for s in statements]).apply(flatten)


def _trust(service: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": service}}]})


@dataclass
class CoreServiceArgs:
    """Arguments of `CoreService`."""

    name_prefix: str
    """Physical-name prefix, e.g. `uma-beta` (cluster `<prefix>-core`). Required."""
    region: str
    """The AWS region (log driver, SSM references). Required."""
    ingress: str
    """`tunnel`: a cloudflared sidecar dials Cloudflare, nothing dials in; `alb`: the service registers
    in `target_group_arn`. Required."""
    image: pulumi.Input[str]
    """The runtime image reference (pinned tag or digest). Required."""
    subnet_ids: pulumi.Input[Sequence[str]]
    """Where the tasks run. Required."""
    security_group_ids: pulumi.Input[Sequence[str]]
    """The tasks' security groups. Required."""
    assign_public_ip: bool = True
    """A public IP per task (public subnets without NAT need it for egress). Default: `True`."""
    port: int = CORE_PORT
    """The runtime's port in the container. Default: `CORE_PORT` (8080)."""
    cpu: int = 256
    """Fargate CPU units (256 = 0.25 vCPU). Default: `256`."""
    memory: int = 512
    """MiB; must fit `cpu` (Fargate's size table). Default: `512`."""
    desired_count: int = 1
    """Tasks to run. Default: `1`."""
    max_count: int = 1
    """Above `desired_count`, CPU target-tracking autoscaling up to this many tasks. Default: `1`."""
    on_demand_base: int = 0
    """Tasks always on FARGATE (on-demand) before the weights apply. Default: `0`."""
    spot_weight: int = 1
    """FARGATE_SPOT's weight in the capacity-provider strategy. Default: `1`."""
    on_demand_weight: int = 0
    """FARGATE's weight in the capacity-provider strategy. Default: `0`."""
    cpu_target_percent: float = 60.0
    """The autoscaling target. Default: `60.0`."""
    log_retention_days: int = 14
    """Retention of the task log group. Default: `14`."""
    environment: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Plain environment variables of the runtime container. Default: none."""
    secret_values: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Env name -> secret value, stored as an SSM SecureString owned by this service and referenced by
    ARN. Default: none."""
    secret_arns: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Env name -> ARN of an existing SSM parameter or Secrets Manager secret. Default: none."""
    task_policy_statements: Sequence[Any] = field(default_factory=list)
    """IAM statements (dicts or Outputs of them) for the task role. Default: none."""
    cloudflared_image: Optional[str] = None
    """The pinned cloudflared sidecar image; required with `ingress="tunnel"`. Default: none."""
    tunnel_token: Optional[pulumi.Input[str]] = None
    """The tunnel's token (secret); required with `ingress="tunnel"`. Default: none."""
    target_group_arn: Optional[pulumi.Input[str]] = None
    """The ALB's core target group; required with `ingress="alb"`. Default: none."""
    vpc_id: Optional[pulumi.Input[str]] = None
    """The VPC; required with `discovery_namespace`. Default: none."""
    discovery_namespace: Optional[str] = None
    """A Cloud Map private DNS namespace to create (e.g. `uma-beta.internal`) for the web apps and the
    core's own name in it. Default: none."""
    console_port: Optional[int] = None
    """The runtime's console listener (`UNAMENTIS_CONSOLE_PORT`): a second port mapping, and the core
    registered as `core.<discovery_namespace>` so the ops console finds it; never given to the ALB or
    the tunnel. Needs `discovery_namespace`. Default: none."""

    transform: Transforms = field(default_factory=dict)
    """Per child kind (`CoreService.CHILDREN`), a change to its arguments (`components.base`). Default:
    none."""

    def validate(self) -> None:
        if self.ingress not in ("tunnel", "alb"):
            raise ArgsError("CoreServiceArgs", "ingress", f"{self.ingress!r}", "use tunnel or alb")
        if self.cpu not in FARGATE_SIZES:
            raise ArgsError("CoreServiceArgs", "cpu", f"{self.cpu} is not a Fargate size",
                            f"use one of {', '.join(map(str, FARGATE_SIZES))} (CPU units)")
        if self.memory not in FARGATE_SIZES[self.cpu]:
            raise ArgsError("CoreServiceArgs", "memory", f"{self.memory} MiB does not fit cpu {self.cpu}",
                            f"use one of {', '.join(map(str, FARGATE_SIZES[self.cpu]))}")
        if not 0 <= self.desired_count <= self.max_count:
            raise ArgsError("CoreServiceArgs", "desired_count", f"{self.desired_count} with max_count {self.max_count}",
                            "keep it between 0 and max_count")
        if self.spot_weight < 0 or self.on_demand_weight < 0 or self.on_demand_base < 0:
            raise ArgsError("CoreServiceArgs", "spot_weight", "spot_weight, on_demand_weight and on_demand_base "
                            "must be >= 0", "use 0 or more")
        if self.spot_weight + self.on_demand_weight == 0:
            raise ArgsError("CoreServiceArgs", "spot_weight", "spot_weight and on_demand_weight are both 0",
                            "give one of them a weight")
        overlap = set(self.secret_values) & set(self.secret_arns) | (
            (set(self.secret_values) | set(self.secret_arns)) & set(self.environment))
        if overlap:
            raise ArgsError("CoreServiceArgs", "environment", f"names given twice (plain and secret): {sorted(overlap)}",
                            "pass each variable once")
        if self.ingress == "tunnel":
            if not self.cloudflared_image or self.tunnel_token is None:
                raise ArgsError("CoreServiceArgs", "cloudflared_image", "tunnel ingress needs the sidecar image "
                                "and tunnel_token", "pass both")
            if not is_pinned(self.cloudflared_image):
                raise ArgsError("CoreServiceArgs", "cloudflared_image", f"{self.cloudflared_image!r} is not pinned",
                                "use a release tag such as cloudflare/cloudflared:2026.8.2 or a digest")
        if self.discovery_namespace and self.vpc_id is None:
            raise ArgsError("CoreServiceArgs", "vpc_id", "a discovery namespace lives in a VPC", "pass vpc_id")
        if self.console_port is not None and (not self.discovery_namespace or self.console_port == self.port):
            raise ArgsError("CoreServiceArgs", "console_port", "the console listener needs discovery_namespace and a "
                            "port of its own", "pass discovery_namespace and a console_port other than port")
        if self.ingress == "alb" and self.target_group_arn is None:
            raise ArgsError("CoreServiceArgs", "target_group_arn", "alb ingress needs the core target group",
                            "pass the ALB's core target group")

    def capacity_strategy(self) -> list[dict]:
        strategy = []
        if self.on_demand_base or self.on_demand_weight:
            strategy.append({"capacity_provider": "FARGATE", "base": self.on_demand_base,
                             "weight": self.on_demand_weight})
        if self.spot_weight:
            strategy.append({"capacity_provider": "FARGATE_SPOT", "weight": self.spot_weight})
        return strategy


class CoreService(Component):
    """ECS cluster + the core service (and, in tunnel mode, its cloudflared sidecar)."""
    CHILDREN = (
        "cluster", "clusterCapacityProviders", "logGroup", "parameter", "role", "rolePolicyAttachment",
        "rolePolicy", "taskDefinition", "service", "target", "policy", "privateDnsNamespace",
        "discoveryService",
    )

    def __init__(self, name: str, args: CoreServiceArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(name, args.transform, opts)
        args.validate()
        child = pulumi.ResourceOptions(parent=self)

        self.cluster = self.child("cluster", aws.ecs.Cluster,
            f"{name}-cluster", name=f"{args.name_prefix}-core",
            # Container Insights bills custom metrics; the alarms use the free service metrics.
            settings=[{"name": "containerInsights", "value": "disabled"}],
            opts=child)
        self.capacity_providers = self.child("clusterCapacityProviders", aws.ecs.ClusterCapacityProviders,
            f"{name}-capacity", cluster_name=self.cluster.name,
            capacity_providers=["FARGATE", "FARGATE_SPOT"],
            default_capacity_provider_strategies=args.capacity_strategy(),
            opts=child)
        self.log_group = self.child("logGroup", aws.cloudwatch.LogGroup,
            f"{name}-logs", name=f"/ecs/{args.name_prefix}-core",
            retention_in_days=args.log_retention_days, opts=child)

        # Secrets: SecureString parameters (free, KMS aws/ssm key) referenced by ARN.
        self.parameters: dict[str, aws.ssm.Parameter] = {}
        secret_arns: dict[str, pulumi.Input[str]] = dict(args.secret_arns)
        secret_values = dict(args.secret_values)
        if args.ingress == "tunnel":
            secret_values["TUNNEL_TOKEN"] = args.tunnel_token
        for env_name in sorted(secret_values):
            param = self.child("parameter", aws.ssm.Parameter,
                f"{name}-secret-{env_name.lower().replace('_', '-')}",
                name=f"/{args.name_prefix}/core/{env_name}",
                type="SecureString",
                value=pulumi.Output.secret(secret_values[env_name]),
                description=f"{env_name} for the {args.name_prefix} core task",
                opts=child)
            self.parameters[env_name] = param
            secret_arns[env_name] = param.arn

        self.execution_role = self.child("role", aws.iam.Role,
            f"{name}-exec-role", assume_role_policy=_trust("ecs-tasks.amazonaws.com"),
            description="Pulls the core image, writes its logs, reads its secrets", opts=child)
        self.child("rolePolicyAttachment", aws.iam.RolePolicyAttachment,
            f"{name}-exec-managed", role=self.execution_role.name,
            policy_arn="arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy",
            opts=child)
        if secret_arns:
            self.child("rolePolicy", aws.iam.RolePolicy,
                f"{name}-exec-secrets", role=self.execution_role.id,
                # Each service's action on its own ARNs only (parliament flags a Secrets Manager
                # action granted on SSM parameter ARNs: it matches nothing).
                policy=pulumi.Output.all(*[secret_arns[k] for k in sorted(secret_arns)]).apply(_secret_read_policy),
                opts=child)
        self.task_role = self.child("role", aws.iam.Role,
            f"{name}-task-role", assume_role_policy=_trust("ecs-tasks.amazonaws.com"),
            description="What the running core may call: its buckets, queue, GPU fleet", opts=child)
        if args.task_policy_statements:
            self.child("rolePolicy", aws.iam.RolePolicy,
                f"{name}-task-policy", role=self.task_role.id,
                policy=policy_document(args.task_policy_statements),
                opts=child)

        containers = [self._core_container(args, secret_arns)]
        if args.ingress == "tunnel":
            containers.append(self._cloudflared_container(args, secret_arns["TUNNEL_TOKEN"]))
        def fargate_task(resource_name: str, family: str, definitions) -> aws.ecs.TaskDefinition:
            """An ARM64 Fargate task of the core's size, roles and the given containers."""
            return self.child("taskDefinition", aws.ecs.TaskDefinition,
                resource_name,
                family=family,
                requires_compatibilities=["FARGATE"],
                network_mode="awsvpc",
                cpu=str(args.cpu),
                memory=str(args.memory),
                runtime_platform={"cpu_architecture": "ARM64", "operating_system_family": "LINUX"},
                execution_role_arn=self.execution_role.arn,
                task_role_arn=self.task_role.arn,
                container_definitions=pulumi.Output.json_dumps(definitions),
                opts=child)

        self.task_definition = fargate_task(f"{name}-task", f"{args.name_prefix}-core", containers)

        # One-off tasks (`aws ecs run-task --task-definition <prefix>-migrate`): the core's image,
        # environment and secrets without the sidecar, so a migration never joins the tunnel.
        core = containers[0]
        one_off = {k: v for k, v in core.items() if k not in ("portMappings", "healthCheck")}
        self.migrate_task_definition = fargate_task(
            f"{name}-migrate-task", f"{args.name_prefix}-migrate",
            [{**one_off, "name": "migrate", "command": ["migrate"], "logConfiguration": self._logs(args, "migrate")}])

        self.namespace: Optional[aws.servicediscovery.PrivateDnsNamespace] = None
        registry = None
        if args.discovery_namespace:
            self.namespace = self.child("privateDnsNamespace", aws.servicediscovery.PrivateDnsNamespace,
                f"{name}-ns", name=args.discovery_namespace, vpc=args.vpc_id,
                description="UnaMentis web apps and the core's console listener, inside the VPC", opts=child)
        if args.console_port is not None and self.namespace is not None:
            discovery = self.child("discoveryService", aws.servicediscovery.Service,
                f"{name}-discovery", name="core",
                dns_config={"namespace_id": self.namespace.id, "routing_policy": "MULTIVALUE",
                            "dns_records": [{"type": "A", "ttl": 10}]},
                health_check_custom_config={"failure_threshold": 1}, opts=child)
            registry = {"registry_arn": discovery.arn}

        load_balancers = []
        if args.ingress == "alb":
            load_balancers = [{"target_group_arn": args.target_group_arn,
                               "container_name": "core", "container_port": args.port}]
        self.service = self.child("service", aws.ecs.Service,
            f"{name}-service",
            name=f"{args.name_prefix}-core",
            cluster=self.cluster.arn,
            task_definition=self.task_definition.arn,
            desired_count=args.desired_count,
            capacity_provider_strategies=args.capacity_strategy(),
            platform_version="1.4.0",  # Fargate Spot on ARM64 needs >= 1.4.0
            network_configuration={"subnets": args.subnet_ids,
                                   "security_groups": args.security_group_ids,
                                   "assign_public_ip": args.assign_public_ip},
            load_balancers=load_balancers,
            service_registries=registry,
            health_check_grace_period_seconds=60 if load_balancers else None,
            deployment_minimum_healthy_percent=100,
            deployment_maximum_percent=200,
            deployment_circuit_breaker={"enable": True, "rollback": True},
            enable_execute_command=False,
            propagate_tags="SERVICE",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.capacity_providers]))

        self.autoscaling_target = None
        if args.max_count > args.desired_count:
            resource_id = pulumi.Output.concat("service/", self.cluster.name, "/", self.service.name)
            self.autoscaling_target = self.child("target", aws.appautoscaling.Target,
                f"{name}-scaling-target",
                service_namespace="ecs",
                scalable_dimension="ecs:service:DesiredCount",
                resource_id=resource_id,
                min_capacity=args.desired_count,
                max_capacity=args.max_count,
                opts=child)
            self.child("policy", aws.appautoscaling.Policy,
                f"{name}-cpu-scaling",
                policy_type="TargetTrackingScaling",
                service_namespace=self.autoscaling_target.service_namespace,
                scalable_dimension=self.autoscaling_target.scalable_dimension,
                resource_id=self.autoscaling_target.resource_id,
                target_tracking_scaling_policy_configuration={
                    "predefined_metric_specification": {
                        "predefined_metric_type": "ECSServiceAverageCPUUtilization"},
                    "target_value": args.cpu_target_percent,
                    # Scale in slowly: every removed task drains its voice sockets.
                    "scale_in_cooldown": 600,
                    "scale_out_cooldown": 60,
                },
                opts=child)

        self.capacity_strategy = args.capacity_strategy()
        self.cluster_arn = self.cluster.arn
        self.cluster_name = self.cluster.name
        self.service_name = self.service.name
        self.register_outputs({
            "cluster_arn": self.cluster_arn,
            "service_name": self.service_name,
            "log_group": self.log_group.name,
        })

    def _logs(self, args: CoreServiceArgs, prefix: str) -> dict:
        return {"logDriver": "awslogs", "options": {
            "awslogs-group": self.log_group.name, "awslogs-region": args.region,
            "awslogs-stream-prefix": prefix}}

    def _core_container(self, args: CoreServiceArgs, secret_arns: Mapping[str, pulumi.Input[str]]) -> dict:
        return {
            "name": "core",
            "image": args.image,
            "essential": True,
            # Migrations run on every start, before serving: `migrate` takes PostgreSQL's advisory
            # lock, so tasks starting together apply them once, and a release that adds one needs
            # no manual step. `exec` hands the shell's PID to the server (SIGTERM drains it).
            "entryPoint": ["/bin/sh", "-c"],
            "command": [f"python -m runtime migrate && exec python -m runtime serve --host 0.0.0.0 --port {args.port}"],
            "portMappings": [{"containerPort": port, "protocol": "tcp"}
                             for port in (args.port, args.console_port) if port is not None],
            "environment": [{"name": k, "value": args.environment[k]} for k in sorted(args.environment)],
            "secrets": [{"name": k, "valueFrom": secret_arns[k]}
                        for k in sorted(secret_arns) if k != "TUNNEL_TOKEN"],
            "stopTimeout": STOP_TIMEOUT_S,
            "healthCheck": {"command": ["CMD", "python", "-c", health_probe(args.port)],
                            "interval": 15, "timeout": 5, "retries": 3, "startPeriod": 30},
            "linuxParameters": {"initProcessEnabled": True},
            "logConfiguration": self._logs(args, "core"),
        }

    def _cloudflared_container(self, args: CoreServiceArgs, token_arn: pulumi.Input[str]) -> dict:
        return {
            "name": "cloudflared",
            "image": args.cloudflared_image,
            "essential": True,
            # The image's entrypoint is `cloudflared --no-autoupdate`. The grace period keeps
            # established streams open while the core closes its sockets (inside stopTimeout).
            "command": ["tunnel", "--metrics", CLOUDFLARED_METRICS, "--grace-period", "100s", "run"],
            "secrets": [{"name": "TUNNEL_TOKEN", "valueFrom": token_arn}],
            "stopTimeout": STOP_TIMEOUT_S,
            # Distroless image: no shell, so the probe is cloudflared's own `tunnel ready`.
            "healthCheck": {"command": ["CMD", "cloudflared", "tunnel", "--metrics",
                                        CLOUDFLARED_METRICS, "ready"],
                            "interval": 15, "timeout": 5, "retries": 3, "startPeriod": 20},
            "logConfiguration": self._logs(args, "cloudflared"),
        }


def _secret_read_policy(arns: Sequence[str]) -> str:
    """The execution role's read of the task's secrets: SSM parameters and Secrets Manager secrets."""
    statements = []
    for action, marker in (("ssm:GetParameters", ":ssm:"), ("secretsmanager:GetSecretValue", ":secretsmanager:")):
        mine = [a for a in arns if marker in a]
        if mine:
            statements.append({"Effect": "Allow", "Action": [action], "Resource": mine})
    return json.dumps({"Version": "2012-10-17", "Statement": statements})
