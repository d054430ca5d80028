"""Runtime secrets as SSM Parameter Store SecureStrings (standard tier: free).

Each value (an Output, made secret here whatever it was) becomes
`<path_prefix>/<key>`, encrypted with the account's `aws/ssm` key. ECS task definitions
reference them by ARN (`secrets[].valueFrom`); Lambdas read them at cold start. Use Secrets
Manager only where rotation is needed (it costs $0.40/secret-month).

Cost: $0 (standard parameters, standard throughput).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

import pulumi
import pulumi_aws as aws

SSM_CORE_POLICY_ARN = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
PARAMETER_READS = ("ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath", "ssm:GetParameterHistory")
PUBLIC_PARAMETERS_ARN = "arn:aws:ssm:*::parameter/aws/service/*"  # AWS's own (AMI ids …), no account


def fence_parameter_reads(readable: Sequence[pulumi.Input[str]] = ()) -> dict:
    """An IAM Deny for EC2 roles that carry ``AmazonSSMManagedInstanceCore`` (Session Manager).

    That managed policy allows ``ssm:GetParameter(s)`` on every parameter of the account — the
    core's ``DATABASE_URL``, the owner's DSN, the JWT secret, provider keys. A GPU node runs third-party
    model servers and a NAT instance faces the internet: neither may read them. Only ``readable``
    (e.g. the node token) and AWS's public parameters stay readable."""
    return {"Effect": "Deny", "Action": list(PARAMETER_READS),
            "NotResource": [*readable, PUBLIC_PARAMETERS_ARN]}


@dataclass(frozen=True)
class SecretParametersArgs:
    path_prefix: str  # e.g. /unamentis/beta
    values: Mapping[str, pulumi.Input[str]]
    tags: dict[str, str]


class SecretParameters(pulumi.ComponentResource):
    """`arns[key]`, `names[key]`; `add(key, value)` for values other sections produce."""

    def __init__(self, name: str, args: SecretParametersArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("unamentis:aws:SecretParameters", name, None, opts)
        self._name = name
        self._args = args
        self.parameters: dict[str, aws.ssm.Parameter] = {}
        self.arns: dict[str, pulumi.Output[str]] = {}
        self.names: dict[str, str] = {}
        for key, value in args.values.items():
            self.add(key, value)
        self.register_outputs({"path_prefix": args.path_prefix})

    def add(self, key: str, value: pulumi.Input[str], description: str = "") -> aws.ssm.Parameter:
        """Store one more secret (e.g. the origin secret, the tunnel token)."""
        if key in self.parameters:
            raise ValueError(f"SSM parameter {key!r} is already defined")
        full = f"{self._args.path_prefix}/{key}"
        p = aws.ssm.Parameter(f"{self._name}-{key}", name=full, type="SecureString", tier="Standard",
                              value=pulumi.Output.secret(value), description=description or key,
                              tags=self._args.tags, opts=pulumi.ResourceOptions(parent=self))
        self.parameters[key] = p
        self.arns[key] = p.arn
        self.names[key] = full
        return p

    def read_policy_statement(self, keys: Optional[list[str]] = None) -> pulumi.Output[dict]:
        """IAM statement allowing `ssm:GetParameters` on `keys` (default: all)."""
        wanted = [self.arns[k] for k in (keys or list(self.arns))]
        return pulumi.Output.all(*wanted).apply(lambda arns: {
            "Effect": "Allow", "Action": ["ssm:GetParameters", "ssm:GetParameter"],
            "Resource": list(arns)})
