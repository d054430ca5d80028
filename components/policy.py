"""The security and money rules `plan` and the tests run over a recorded stack.

The rules live in five sets — the AWS baseline (`aws_policy`), AWS's own validators over the
recorded requests (`aws_api_policy`), compute (`compute_policy`), the EKS path (`eks_policy`) and the
Cloudflare edge (`edge.policy`) — built on the types of `policy_core`; this module only
composes them and evaluates a recording.
"""
from __future__ import annotations

from components import aws_api_policy, aws_policy, compute_policy, eks_policy
from components.edge import policy as edge_policy
from components.mocks import Recording
from components.policy_core import Finding, PolicyContext, Rule

RULES: list[Rule] = [
    *aws_policy.RULES, *aws_api_policy.RULES, *compute_policy.RULES, *eks_policy.RULES, *edge_policy.RULES,
]


def evaluate(rec: Recording, config, cost=None) -> list[Finding]:
    ctx = PolicyContext(rec=rec, config=config, cost=cost)
    out: list[Finding] = []
    for rule in RULES:
        out += rule.run(ctx)
    return out

