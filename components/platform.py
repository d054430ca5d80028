"""`Platform`: the one top-level component that wires a whole stack from its `StackConfig`.

Order: network → security groups → NAT → data tier (database, buckets, queues, parameters)
→ edge (issue 3) → compute (issue 4) → observability (alarms on what compute created, the
budget). Sections hand each other typed attributes, never lookups by name:

- `self.network` (`vpc_id`, `subnet_ids[tier]`, `subnets`, `route_tables`, `azs`,
  `gpu_subnets_public`, `s3_endpoint.prefix_list_id`)
- `self.security_groups.ids[role]` for role in core, lambda, db, alb (ALB mode), gpu (if
  enabled), nat (NAT instance)
- `self.database` (`address`, `port`, `db_name`, `instance_identifier`, `url_parameter`),
  `self.storage.buckets[key]` (tts_cache, curricula, uploads), `self.queues` (`jobs`, `dlq`),
  `self.parameters` (SSM SecureStrings: `arns`, `names`, `read_policy_statement()`)
- `self.alarm_targets`: compute fills it (Lambda names, ECS cluster/service, ALB/API ids) so
  observability alarms on them.

Cost: the sum of its children's (see each component; `python -m components.plan <stack>`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi

from components.config import StackConfig
from components.database import Database, DatabaseArgs
from components.network import NatEgress, NatEgressArgs, Network, NetworkArgs
from components.observability import AlarmTargets, Observability, ObservabilityArgs
from components.queues import Queues, QueuesArgs
from components.secrets import SecretParameters, SecretParametersArgs
from components.security_groups import SecurityGroups, SecurityGroupsArgs
from components.storage import Storage, StorageArgs


@dataclass(frozen=True)
class PlatformArgs:
    config: StackConfig


class Platform(pulumi.ComponentResource):
    def __init__(self, name: str, args: PlatformArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("unamentis:index:Platform", name, None, opts)
        c = args.config
        self.config = c
        child = pulumi.ResourceOptions(parent=self)

        # --- network and security groups (issue 2) ---
        self.network = Network(f"{name}-network", NetworkArgs.from_config(c), opts=child)
        self.security_groups = SecurityGroups(
            f"{name}-sg", SecurityGroupsArgs.from_config(
                c, self.network.vpc_id, self.network.s3_endpoint.prefix_list_id), opts=child)
        self.nat: Optional[NatEgress] = None
        if c.network.nat != "none":
            self.nat = NatEgress(f"{name}-nat", NatEgressArgs(
                strategy=c.network.nat, network=self.network,
                security_group_id=self.security_groups.ids.get("nat"),
                instance_type=c.network.nat_instance_type, tags=c.tags), opts=child)

        # --- data tier (issue 2) ---
        self.database = Database(f"{name}-db", DatabaseArgs.from_config(
            c, subnet_ids=self.network.subnet_ids["data"],
            security_group_id=self.security_groups.ids["db"]), opts=child)
        self.storage = Storage(f"{name}-storage", StorageArgs.from_config(c), opts=child)
        self.queues = Queues(f"{name}-queues", QueuesArgs.from_config(c), opts=child)
        self.parameters = SecretParameters(f"{name}-params", SecretParametersArgs(
            path_prefix=f"/unamentis/{c.stack}", values=self.database.parameter_values(),
            tags=c.tags), opts=child)

        self.alarm_targets = AlarmTargets()

        # --- edge (issue 3) ---
        # `Edge` (zone settings, WAF, rate limit, headers, origin secret, Access, Tunnel, R2) comes
        # before compute, which reads its outputs; `EdgeRouting` (records to the AWS origins, ACM
        # validation, the edge router Worker) comes after it. `edge: none` creates neither.
        self.edge = self.edge_routing = None
        if c.use_cloudflare:
            from components.edge import Edge, EdgeArgs
            from components.web_apps import service_urls  # tunnel ingress of the web apps
            self.edge = Edge(f"{name}-edge", EdgeArgs.from_config(
                c, **(service_urls(c) if c.ingress == "tunnel" else {})), opts=child)

        # --- compute (issue 4) ---
        # Reads from `self.edge` (None with edge: none): `origin_secret`, `tunnel_token`,
        # `access_team_domain`, `access_aud`, `runtime_environment` / `runtime_secrets` (plain /
        # secret env for the runtime, e.g. R2); see `components.compute.ComputeArgs.from_platform`.
        # Gives the edge `compute.functions.origin_url` / `.origin_target` /
        # `.certificate_validation_options` (tunnel) and `compute.load_balancer.dns_name` /
        # `.certificate_validation_options` (alb).
        from components.compute import Compute, ComputeArgs, fill_alarm_targets
        self.compute = Compute(f"{name}-compute", ComputeArgs.from_platform(self), opts=child)
        self.core = self.compute.core
        self.functions = self.compute.functions
        self.load_balancer = self.compute.load_balancer
        self.gpu_fleet = self.compute.gpu
        fill_alarm_targets(self.compute, self.alarm_targets)

        # --- edge routing (issue 3): what points at the origins compute created ---
        if self.edge is not None and getattr(self, "compute", None) is not None:
            from components.edge import EdgeRouting, EdgeRoutingArgs
            self.edge_routing = EdgeRouting(f"{name}-edge-routing", EdgeRoutingArgs.from_platform(self),
                                            opts=child)

        # --- observability and budget (issue 2): last, so it sees what compute created ---
        self.observability = Observability(f"{name}-obs", ObservabilityArgs.from_config(
            c, targets=self.alarm_targets, db_instance_identifier=self.database.instance_identifier),
            opts=child)

        self.register_outputs({
            "vpc_id": self.network.vpc_id,
            "database_address": self.database.address,
            "jobs_queue_url": self.queues.jobs.url,
            "alerts_topic_arn": self.observability.topic.arn,
        })
