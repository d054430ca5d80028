"""Runtime secrets as SSM Parameter Store SecureStrings (standard tier: free).

Each value (an Output, made secret here whatever it was) becomes
`<path_prefix>/<key>`, encrypted with the account's `aws/ssm` key. ECS task definitions
reference them by ARN (`secrets[].valueFrom`); Lambdas read them at cold start. Use Secrets
Manager only where rotation is needed (it costs $0.40/secret-month).

Cost: $0 (standard parameters, standard throughput; generated secrets exist only in state).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components.base import ArgsError, Component, Transforms

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
    """Arguments of `SecretParameters`."""

    path_prefix: str
    """Every parameter is `<path_prefix>/<key>`, e.g. `/unamentis/beta`. Required."""
    values: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Key -> value of the first parameters (`add` stores more later). Default: none."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags on every parameter. Default: none."""
    transform: Transforms = field(default_factory=dict)
    """Per child kind (`SecretParameters.CHILDREN`), a change to its arguments (`components.base`).
    Default: none."""

    def __post_init__(self) -> None:
        if not self.path_prefix.startswith("/") or self.path_prefix.endswith("/"):
            raise ArgsError("SecretParametersArgs", "path_prefix", f"{self.path_prefix!r}",
                            "start it with / and end it without one, e.g. /unamentis/beta")


class SecretParameters(Component):
    """`arns[key]`, `names[key]`; `add(key, value)` for values other sections produce."""
    CHILDREN = ("parameter",)

    def __init__(self, name: str, args: SecretParametersArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(name, args.transform, opts)
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
        p = self.child("parameter", aws.ssm.Parameter, f"{self._name}-{key}", name=full, type="SecureString", tier="Standard",
                              value=pulumi.Output.secret(value), description=description or key,
                              tags=dict(self._args.tags), opts=pulumi.ResourceOptions(parent=self))
        self.parameters[key] = p
        self.arns[key] = p.arn
        self.names[key] = full
        return p


@dataclass(frozen=True)
class RuntimeSecretsArgs:
    """Arguments of `RuntimeSecrets`."""

    gpu_node_token: bool = False
    """Also generate the token GPU nodes present to the core's event route. Default: `False`."""
    transform: Transforms = field(default_factory=dict)
    """Per child kind (`RuntimeSecrets.CHILDREN`), a change to its arguments (`components.base`).
    Default: none."""


class RuntimeSecrets(Component):
    """The secrets the program generates for the runtime; they live only in Pulumi's encrypted state.

    - `jwt_secret`: signs user access JWTs (shared by the core and every function);
    - `app_role_password`: `python -m runtime migrate` creates the runtime's login role (not the
      owner, no BYPASSRLS) with it, and every request runs as that role;
    - `gpu_node_token` (with `gpu_node_token=True`): nodes authenticate their events (drain, state,
      scale to zero) to the core with it; that route is not behind Cloudflare Access, since a node
      has no Access identity.

    Alphanumeric only, so they sit in URLs and headers without escaping.

    Cost: $0 (`random` resources exist only in state).
    """

    CHILDREN = ("randomPassword",)

    def __init__(self, name: str, args: RuntimeSecretsArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(name, args.transform, opts)
        self.jwt_secret = self.child("randomPassword", random.RandomPassword, f"{name}-jwt-secret",
                                     length=48, special=False)
        self.app_role_password = self.child("randomPassword", random.RandomPassword, f"{name}-app-role-password",
                                            length=40, special=False)
        self.gpu_node_token: Optional[random.RandomPassword] = None
        if args.gpu_node_token:
            self.gpu_node_token = self.child("randomPassword", random.RandomPassword, f"{name}-gpu-node-token",
                                             length=48, special=False)
        self.register_outputs({})
