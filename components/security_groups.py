"""Security groups as one matrix: who may talk to whom, on which port, and nothing else.

The matrix (`matrix(args)`) is plain data, so it reads as a table of who may reach whom and
tests can compare it exactly:

| group  | admits (ingress)                                   | may reach (egress)                       |
|--------|----------------------------------------------------|------------------------------------------|
| alb    | Cloudflare ranges (IPv4+IPv6) on 443; any on 443   | core on its port                         |
|        | only when `edge: none`                             |                                          |
| core   | nothing in tunnel mode; the ALB on its port        | 443 anywhere (AWS APIs, AI providers);   |
|        | in ALB mode                                        | 7844 tcp/udp (cloudflared); db 5432; GPU |
| lambda | nothing                                            | db 5432; S3 (gateway prefix list) 443;   |
|        |                                                    | 443 anywhere when there is NAT           |
| gpu    | the core on 11434 (Ollama), 8880 (TTS), 11401 (STT)| 443/80 anywhere (models, packages)       |
|        | and 11400 (the node agent: health, activity)       |                                          |
| db     | core and lambda on 5432                            | nothing                                  |
| nat    | everything from inside the VPC                     | everything (it forwards the VPC's egress)|

Rules are separate `aws.vpc.SecurityGroupIngressRule`/`EgressRule` resources (one per peer),
except on the ALB group, whose Cloudflare ranges arrive as a list at deploy time
(`cloudflare.get_ip_ranges_output()`), so it uses `aws.ec2.SecurityGroupRule` with CIDR
lists for all of its rules (never mixing the two kinds on one group).

Cost: security groups and rules are free.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Mapping, Optional

import pulumi
import pulumi_aws as aws
import pulumi_cloudflare as cloudflare

from components.base import ArgsError, Component, Transforms
from gpu_nodes.bootstrap import AGENT_PORT, MODEL_PORTS

# The ports the node software listens on (gpu_nodes/bootstrap.py is their one source).
GPU_PORTS: dict[str, int] = {**MODEL_PORTS, "agent": AGENT_PORT}
POSTGRES_PORT = 5432
CLOUDFLARED_PORT = 7844  # cloudflared's edge connections (QUIC/UDP, HTTP2/TCP)


@dataclass(frozen=True)
class SgRule:
    group: str  # role that owns the rule
    direction: str  # ingress | egress
    protocol: str  # tcp | udp | -1
    port: Optional[int]  # None = all ports
    peer: str  # "sg:<role>" | "cidr:<cidr>" | "cloudflare" | "prefix:s3"
    description: str


@dataclass(frozen=True)
class SecurityGroupsArgs:
    """Arguments of `SecurityGroups`: which groups exist and what the matrix admits."""

    vpc_id: pulumi.Input[str]
    """The VPC of the groups. Required."""
    s3_prefix_list_id: pulumi.Input[str]
    """The S3 gateway endpoint's prefix list (the Lambdas reach S3 through it). Required."""
    ingress: Literal["tunnel", "alb"] = "tunnel"
    """`tunnel`: the core admits nothing and dials Cloudflare on 7844; `alb`: an `alb` group
    admits HTTPS and the core admits the ALB. Default: `tunnel`."""
    cloudflare: bool = True
    """With `ingress="alb"`: the ALB admits only Cloudflare's published ranges (else any source,
    on 443 only). Default: `True`."""
    core_port: int = 8080
    """The core container's port. Default: `8080`."""
    gpu: bool = False
    """Add the `gpu` group (model servers and node agent reachable from the core). Default: `False`."""
    nat: Literal["none", "instance", "gateway"] = "none"
    """With NAT the Lambdas may reach HTTPS anywhere; `instance` adds the `nat` group. Default: `none`."""
    vpc_cidr: str = "10.0.0.0/16"
    """What the NAT instance admits. Default: `10.0.0.0/16`."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags on every group and rule. Default: none."""
    transform: Transforms = field(default_factory=dict)
    """Per child kind (`SecurityGroups.CHILDREN`), a change to its arguments (`components.base`).
    Default: none."""

    def __post_init__(self) -> None:
        if self.ingress not in ("tunnel", "alb"):
            raise ArgsError("SecurityGroupsArgs", "ingress", f"{self.ingress!r}", "use tunnel or alb")


def roles(a: SecurityGroupsArgs) -> list[str]:
    r = ["core", "lambda", "db"]
    if a.ingress == "alb":
        r.append("alb")
    if a.gpu:
        r.append("gpu")
    if a.nat == "instance":
        r.append("nat")
    return r


def matrix(a: SecurityGroupsArgs) -> list[SgRule]:
    """Every allowed flow for these arguments."""
    has = set(roles(a))
    p = a.core_port
    rules: list[SgRule] = []
    if "alb" in has:
        if a.cloudflare:
            rules.append(SgRule("alb", "ingress", "tcp", 443, "cloudflare",
                                "HTTPS from the published Cloudflare ranges only"))
        else:
            rules += [SgRule("alb", "ingress", "tcp", 443, "cidr:0.0.0.0/0", "HTTPS from anywhere (no CDN)"),
                      SgRule("alb", "ingress", "tcp", 443, "cidr:::/0", "HTTPS from anywhere over IPv6")]
        rules.append(SgRule("alb", "egress", "tcp", p, "sg:core", "to the core service"))
        rules.append(SgRule("core", "ingress", "tcp", p, "sg:alb", "from the ALB"))
    rules += [
        SgRule("core", "egress", "tcp", 443, "cidr:0.0.0.0/0", "HTTPS to AWS APIs and AI providers"),
        SgRule("core", "egress", "tcp", POSTGRES_PORT, "sg:db", "PostgreSQL"),
        SgRule("lambda", "egress", "tcp", POSTGRES_PORT, "sg:db", "PostgreSQL"),
        SgRule("lambda", "egress", "tcp", 443, "prefix:s3", "S3 through the gateway endpoint"),
        SgRule("db", "ingress", "tcp", POSTGRES_PORT, "sg:core", "from the core service"),
        SgRule("db", "ingress", "tcp", POSTGRES_PORT, "sg:lambda", "from the Lambdas"),
    ]
    if a.ingress == "tunnel":
        rules += [SgRule("core", "egress", "tcp", CLOUDFLARED_PORT, "cidr:0.0.0.0/0", "cloudflared to Cloudflare (HTTP/2)"),
                  SgRule("core", "egress", "udp", CLOUDFLARED_PORT, "cidr:0.0.0.0/0", "cloudflared to Cloudflare (QUIC)")]
    if a.nat != "none":
        rules.append(SgRule("lambda", "egress", "tcp", 443, "cidr:0.0.0.0/0", "HTTPS via NAT"))
    if "gpu" in has:
        for svc, port in GPU_PORTS.items():
            rules.append(SgRule("gpu", "ingress", "tcp", port, "sg:core", f"{svc} from the core"))
            rules.append(SgRule("core", "egress", "tcp", port, "sg:gpu", f"{svc} on the GPU nodes"))
        rules += [SgRule("gpu", "egress", "tcp", 443, "cidr:0.0.0.0/0", "models, images and the core API"),
                  SgRule("gpu", "egress", "tcp", 80, "cidr:0.0.0.0/0", "package mirrors")]
    if "nat" in has:
        rules += [SgRule("nat", "ingress", "-1", None, f"cidr:{a.vpc_cidr}", "anything from the VPC"),
                  SgRule("nat", "egress", "-1", None, "cidr:0.0.0.0/0", "forwarded egress")]
    return rules


class SecurityGroups(Component):
    """One security group per role and exactly the rules of `matrix`. `ids[role]`."""
    CHILDREN = ("securityGroup", "securityGroupRule", "securityGroupIngressRule", "securityGroupEgressRule")

    def __init__(self, name: str, args: SecurityGroupsArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(name, args.transform, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.groups: dict[str, aws.ec2.SecurityGroup] = {}
        for role in roles(args):
            self.groups[role] = self.child("securityGroup", aws.ec2.SecurityGroup,
                f"{name}-{role}", vpc_id=args.vpc_id, description=f"UnaMentis {role} ({name})",
                tags={**args.tags, "Name": f"{name}-{role}", "unamentis:role": role},
                revoke_rules_on_delete=True, opts=child)
        self.ids = {role: sg.id for role, sg in self.groups.items()}
        cf_ranges = None
        counts: dict[str, int] = {}
        for rule in matrix(args):
            key = f"{rule.group}-{rule.direction}-{rule.peer.split(':', 1)[-1]}-{rule.protocol}-{rule.port or 'all'}"
            key = key.replace("/", "_").replace(":", "_").replace(".", "-")
            counts[key] = counts.get(key, 0) + 1
            rname = f"{name}-{key}" if counts[key] == 1 else f"{name}-{key}-{counts[key]}"
            if rule.group == "alb":
                if rule.peer == "cloudflare" and cf_ranges is None:
                    cf_ranges = cloudflare.get_ip_ranges_output(opts=pulumi.InvokeOutputOptions(parent=self))
                self._classic_rule(rname, rule, cf_ranges, child)
            else:
                self._vpc_rule(rname, rule, args, child)
        self.register_outputs({f"{role}_sg_id": i for role, i in self.ids.items()})

    def _peer_kwargs(self, rule: SgRule, args: SecurityGroupsArgs) -> dict:
        kind, _, value = rule.peer.partition(":")
        if kind == "sg":
            return {"referenced_security_group_id": self.ids[value]}
        if kind == "cidr":
            return {"cidr_ipv6": value} if ":" in value else {"cidr_ipv4": value}
        if kind == "prefix":
            return {"prefix_list_id": args.s3_prefix_list_id}
        raise ValueError(f"peer {rule.peer!r} is not valid for a VPC security group rule")

    def _vpc_rule(self, rname: str, rule: SgRule, args: SecurityGroupsArgs, child) -> None:
        ports = {} if rule.port is None else {"from_port": rule.port, "to_port": rule.port}
        kind, cls = (("securityGroupIngressRule", aws.vpc.SecurityGroupIngressRule) if rule.direction == "ingress"
                     else ("securityGroupEgressRule", aws.vpc.SecurityGroupEgressRule))
        self.child(kind, cls, rname, security_group_id=self.ids[rule.group], ip_protocol=rule.protocol,
            description=rule.description, **ports, **self._peer_kwargs(rule, args),
            tags={**args.tags, "Name": rname}, opts=child)

    def _classic_rule(self, rname: str, rule: SgRule, cf_ranges, child) -> None:
        kind, _, value = rule.peer.partition(":")
        peer: dict = {}
        if rule.peer == "cloudflare":
            peer = {"cidr_blocks": cf_ranges.ipv4_cidrs, "ipv6_cidr_blocks": cf_ranges.ipv6_cidrs}
        elif kind == "cidr":
            peer = {"ipv6_cidr_blocks": [value]} if ":" in value else {"cidr_blocks": [value]}
        elif kind == "sg":
            peer = {"source_security_group_id": self.ids[value]}
        else:
            raise ValueError(f"peer {rule.peer!r} is not valid for the ALB group")
        port = rule.port if rule.port is not None else 0
        self.child("securityGroupRule", aws.ec2.SecurityGroupRule, rname, type=rule.direction, security_group_id=self.ids[rule.group],
                                  protocol=rule.protocol, from_port=port, to_port=port,
                                  description=rule.description, **peer, opts=child)
