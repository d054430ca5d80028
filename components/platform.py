"""`Platform`: the one top-level component that wires a whole stack from its `StackConfig`.

This is the stack layer: it reads the stack config (through `components.stack_args`, which turns
it into each component's args) and hands each section the typed attributes of the earlier ones,
never lookups by name. Order:

1. network → security groups → NAT egress;
2. data tier: database, buckets, queues, SSM parameters, the runtime's generated secrets;
3. `Edge` (Cloudflare zone settings, WAF, rate limit, headers, origin secret, Access, Tunnel, R2),
   before compute, which reads its outputs (origin secret, tunnel token, Access AUD);
4. `Compute` (image, functions, ALB, core, GPU fleet, web apps) — or, with `compute.platform: eks`,
   `EksCluster` (cluster, node groups, add-ons, pod role), `Cache` (with `cache.enabled`) and `EksApp`
   (the Helm chart released on the cluster, cloudflared connectors in tunnel mode);
5. `EdgeRouting` (records to the origins compute created, ACM validation, the edge router);
6. `Observability` last, so it alarms on what compute created, and the budget.

`edge: none` creates neither edge component. A component's argument error is re-raised as the
stack-config key behind it (`stack_args.config_errors`).

Cost: the sum of its children's (see each component; `python -m components.plan <stack>`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi

from components import stack_args as sa
from components.base import Component
from components.cache import Cache
from components.compute import Compute
from components.config import ConfigError, StackConfig
from components.database import Database
from components.edge import Edge, EdgeRouting
from components.eks_app import EksApp
from components.eks_cluster import EksCluster
from components.observability import AlarmTargets
from components.network import NatEgress, Network
from components.observability import Observability
from components.queues import Queues
from components.secrets import RuntimeSecrets, SecretParameters
from components.security_groups import SecurityGroups
from components.storage import Storage


@dataclass(frozen=True)
class PlatformArgs:
    """Arguments of `Platform`."""

    config: StackConfig
    """The validated stack config (`components.config.load_config`). Required."""


class Platform(Component):
    def __init__(self, name: str, args: PlatformArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(name, None, opts)
        c = self.config = args.config
        child = pulumi.ResourceOptions(parent=self)
        with sa.config_errors():
            self.network = Network(f"{name}-network", sa.network_args(c), opts=child)
            self.security_groups = SecurityGroups(f"{name}-sg", sa.security_groups_args(c, self.network), opts=child)
            sg_ids = self.security_groups.ids
            self.nat: Optional[NatEgress] = None
            if c.network.nat != "none":
                self.nat = NatEgress(f"{name}-nat", sa.nat_args(c, self.network, sg_ids), opts=child)

            self.database = Database(f"{name}-db", sa.database_args(c, self.network, sg_ids), opts=child)
            self.storage = Storage(f"{name}-storage", sa.storage_args(c), opts=child)
            self.queues = Queues(f"{name}-queues", sa.queues_args(c), opts=child)
            self.parameters = SecretParameters(f"{name}-params", sa.parameters_args(c, self.database), opts=child)
            self.runtime_secrets = RuntimeSecrets(f"{name}-runtime-secrets", sa.runtime_secrets_args(c), opts=child)

            self.edge: Optional[Edge] = None
            self.edge_routing: Optional[EdgeRouting] = None
            if c.use_cloudflare:
                self.edge = Edge(f"{name}-edge", sa.edge_args(c), opts=child)

            self.compute: Optional[Compute] = None
            self.eks: Optional[EksCluster] = None
            self.cache: Optional[Cache] = None
            self.eks_app: Optional[EksApp] = None
            if c.compute.platform == "eks":
                if self.edge is None:  # config validation refuses this first; never fall back to ECS silently
                    raise ConfigError("edge", "'none' with compute.platform: eks", "use edge: cloudflare")
                self.eks = EksCluster(f"{name}-eks", sa.eks_cluster_args(
                    c, network=self.network, storage=self.storage, queues=self.queues), opts=child)
                if c.cache.enabled:
                    self.cache = Cache(f"{name}-cache", sa.cache_args(c, self.network, self.eks), opts=child)
                self.eks_app = EksApp(f"{name}-app", sa.eks_app_args(
                    c, cluster=self.eks, database=self.database, storage=self.storage, queues=self.queues,
                    edge=self.edge, cache=self.cache), opts=child,
                    depends_on=[*self.eks.node_groups.values(), *self.eks.addons.values()])
                self.edge_routing = EdgeRouting(f"{name}-edge-routing", sa.eks_edge_routing_args(self.edge), opts=child)
                targets = AlarmTargets()
            else:
                self.compute = Compute(f"{name}-compute", sa.compute_args(
                    c, network=self.network, security_group_ids=sg_ids, database=self.database, storage=self.storage,
                    queues=self.queues, secrets=self.runtime_secrets, edge=self.edge), opts=child)
                if self.edge is not None:
                    self.edge_routing = EdgeRouting(f"{name}-edge-routing", sa.edge_routing_args(
                        self.edge, self.compute.functions, self.compute.load_balancer), opts=child)
                targets = self.compute.alarm_targets()

            self.observability = Observability(f"{name}-obs", sa.observability_args(
                c, targets, self.database.instance_identifier), opts=child)

        self.register_outputs({
            "vpc_id": self.network.vpc_id,
            "database_address": self.database.address,
            "jobs_queue_url": self.queues.jobs.url,
            "alerts_topic_arn": self.observability.topic.arn,
        })

    def ops_console_exports(self) -> Optional[dict]:
        """`pulumi stack output ops_console` (no secrets), or None without the console."""
        if not self.config.ops_console.enabled or self.compute is None:
            return None
        return sa.ops_console_output(self.config, self.compute, self.edge)
