"""Cache: an ElastiCache Redis for the runtime's shared rate limits and its event bus.

Children: a subnet group in the data subnets, a security group that admits only `client_security_group_id`
on 6379, and a replication group (Redis OSS) with encryption at rest and TLS in transit; with two
or more nodes a replica in another AZ and automatic failover. The runtime reads `url`
(`rediss://<primary>:6379/0`) as `REDIS_URL`.

Cost: each node at its hourly price (cache.t4g.small $0.032/h ≈ $23/month); backups within the
node's size are free. See `components.eks_pricing`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

import pulumi
import pulumi_aws as aws

from components.base import ArgsError, Component, Transforms

PORT = 6379


@dataclass(frozen=True)
class CacheArgs:
    """Arguments of `Cache`."""

    name_prefix: str
    """Physical-name prefix. Required."""
    vpc_id: pulumi.Input[str]
    """Required."""
    subnet_ids: pulumi.Input[Sequence[str]]
    """The data subnets. Required."""
    client_security_group_id: pulumi.Input[str]
    """The only security group admitted on 6379 (the EKS cluster's). Required."""
    node_type: str = "cache.t4g.small"
    """Default: `"cache.t4g.small"`."""
    nodes: int = 1
    """1: a primary only; 2+: replicas with automatic failover. Default: `1`."""
    engine_version: str = "7.1"
    """Default: `"7.1"`."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Default: none."""
    transform: Transforms = field(default_factory=dict)
    """Per child kind (`Cache.CHILDREN`) (`components.base`). Default: none."""

    def validate(self) -> None:
        if not 1 <= self.nodes <= 6:
            raise ArgsError("CacheArgs", "nodes", f"{self.nodes}", "use 1–6")


class Cache(Component):
    CHILDREN = ("subnetGroup", "securityGroup", "replicationGroup")

    def __init__(self, name: str, args: CacheArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(name, args.transform, opts, args_name="CacheArgs")
        args.validate()
        a = args
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(a.tags)
        self.subnet_group = self.child("subnetGroup", aws.elasticache.SubnetGroup, f"{name}-subnets",
                                       name=f"{a.name_prefix}-redis", subnet_ids=a.subnet_ids,
                                       description="UnaMentis Redis (data tier)", tags=tags, opts=child)
        self.security_group = self.child("securityGroup", aws.ec2.SecurityGroup, f"{name}-sg",
            vpc_id=a.vpc_id, description="UnaMentis Redis: only the EKS cluster on 6379",
            ingress=[{"protocol": "tcp", "from_port": PORT, "to_port": PORT,
                      "security_groups": [a.client_security_group_id], "description": "EKS cluster"}],
            tags={**tags, "unamentis:role": "cache"}, opts=child)
        multi = a.nodes > 1
        self.group = self.child("replicationGroup", aws.elasticache.ReplicationGroup, f"{name}-redis",
            replication_group_id=f"{a.name_prefix}-redis", description="UnaMentis rate limits and event bus",
            engine="redis", engine_version=a.engine_version, node_type=a.node_type, num_cache_clusters=a.nodes,
            automatic_failover_enabled=multi, multi_az_enabled=multi, port=PORT,
            subnet_group_name=self.subnet_group.name, security_group_ids=[self.security_group.id],
            at_rest_encryption_enabled=True, transit_encryption_enabled=True, snapshot_retention_limit=1,
            tags=tags, opts=child)
        self.url: pulumi.Output[str] = pulumi.Output.concat("rediss://", self.group.primary_endpoint_address,
                                                            f":{PORT}/0")
        self.register_outputs({"url": self.url})
