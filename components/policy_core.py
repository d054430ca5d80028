"""What every policy rule is made of: findings, the context a rule reads, the rule itself, and the
builders of the small example graphs each rule proves itself on.

The rule sets (`aws_policy`, `compute_policy`, `edge.policy`) build on this module and
`components.policy` composes them; keeping the types here lets every rule set import them
without importing the others.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Optional, Sequence

from components.config import parse_config
from components.mocks import Recording, RecordedResource, rpc


@dataclass(frozen=True)
class Finding:
    rule: str
    resource: str
    severity: str  # error | warning
    message: str

    def as_dict(self) -> dict:
        return {"rule": self.rule, "resource": self.resource, "severity": self.severity,
                "message": self.message}


@dataclass
class PolicyContext:
    rec: Recording
    config: Any  # StackConfig
    cost: Any = None  # pricing.CostReport (None: cost rules are skipped)

    def of(self, type_: str) -> list[RecordedResource]:
        return [r for r in self.rec.of_type(type_) if not r.read]


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str
    description: str
    checkov: tuple[str, ...]
    check: Callable[[PolicyContext], Iterable[Finding]]
    bad: Callable[[], PolicyContext]

    def run(self, ctx: PolicyContext) -> list[Finding]:
        return list(self.check(ctx))

    def finding(self, r: Optional[RecordedResource], message: str, severity: Optional[str] = None) -> Finding:
        return Finding(self.id, r.name if r is not None else "(stack)", severity or self.severity, message)


# --------------------------------------------------------------------------- example builders


def fake(type_: str, name: str, inputs: Optional[dict] = None, outputs: Optional[dict] = None,
         id: Optional[str] = None, secret: tuple[str, ...] = ()) -> RecordedResource:
    """A recorded resource for rule examples; keys in `secret` are marked secret inputs."""
    ins = dict(inputs or {})
    for k in secret:
        ins[k] = {rpc._special_sig_key: rpc._special_secret_sig, "value": ins[k]}
    rid = id or f"{name}-id"
    return RecordedResource(type=type_, name=name, urn=f"urn:pulumi:ex::ex::{type_}::{name}",
                            parent=None, custom=True, inputs=ins,
                            outputs={**ins, "id": rid, **(outputs or {})}, id=rid)


def example_config(**values: Any):
    """A valid beta StackConfig, with `values` (un-namespaced keys) merged over it."""
    base: dict = {
        "profile": "beta", "domain": "example.org", "azs": ["us-east-1a", "us-east-1b"],
        "cloudflare": {"account_id": "a" * 32, "zone_id": "b" * 32,
                       "access": {"team_domain": "t.cloudflareaccess.com",
                                  "allowed_emails": ["ops@example.org"]}},
        "budget": {"alert_emails": ["ops@example.org"]},
    }
    base.update(values)
    return parse_config("example", base, "us-east-1")


def example(*resources: RecordedResource, config=None, cost=None) -> PolicyContext:
    rec = Recording()
    for r in resources:
        rec.add(r)
    return PolicyContext(rec=rec, config=config or example_config(), cost=cost)


# --------------------------------------------------------------------------- helpers shared by rule sets

OPEN = ("0.0.0.0/0", "::/0")


def rule_finder(rules: Callable[[], Sequence[Rule]]) -> Callable[[str], Rule]:
    """`finder(rule_id)` -> the rule of that id in a rule set (looked up when a check runs, so a
    check can name its own rule although the list is defined after the checks)."""
    def find(rule_id: str) -> Rule:
        return next(r for r in rules() if r.id == rule_id)
    return find


def ingress_rules(ctx: PolicyContext) -> Iterable[tuple[RecordedResource, Optional[str], str, Optional[int], Optional[int], list[str]]]:
    """(resource, sg id, protocol, from, to, cidrs) for every ingress rule, whatever its kind."""
    for sg in ctx.of("aws:ec2/securityGroup:SecurityGroup"):
        for ing in sg.get("ingress") or []:
            yield (sg, sg.id, str(ing.get("protocol")), ing.get("fromPort"), ing.get("toPort"),
                   list(ing.get("cidrBlocks") or []) + list(ing.get("ipv6CidrBlocks") or []))
    for r in ctx.of("aws:ec2/securityGroupRule:SecurityGroupRule"):
        if r.get("type") == "ingress":
            yield (r, r.get("securityGroupId"), str(r.get("protocol")), r.get("fromPort"), r.get("toPort"),
                   list(r.get("cidrBlocks") or []) + list(r.get("ipv6CidrBlocks") or []))
    for r in ctx.of("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"):
        cidrs = [c for c in (r.get("cidrIpv4"), r.get("cidrIpv6")) if c]
        yield (r, r.get("securityGroupId"), str(r.get("ipProtocol")), r.get("fromPort"), r.get("toPort"), cidrs)

