"""The shared component base: type tokens and the per-child `transform` hook, under the mock engine."""
from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pytest

from components import mocks
from components.base import ArgsError, Component, type_token
from components.database import DatabaseArgs
from components.network import NatEgressArgs, Network, NetworkArgs
from components.observability import ObservabilityArgs
from components.queues import Queues, QueuesArgs
from components.secrets import SecretParametersArgs
from components.security_groups import SecurityGroupsArgs
from components.storage import StorageArgs

AZS = ("us-east-1a", "us-east-1b")


def _network(**kw) -> NetworkArgs:
    return NetworkArgs(azs=AZS, region="us-east-1", **kw)


def test_type_tokens_name_the_module_and_the_class():
    assert type_token(Network) == "unamentis:network:Network"
    from components.edge import Edge
    assert type_token(Edge) == "unamentis:edge:Edge"
    rec = mocks.record(lambda: Queues("q", QueuesArgs()))
    assert [c.type for c in rec.components] == ["unamentis:queues:Queues"]


def test_a_transform_reaches_the_child_inputs_and_keeps_parent_and_name():
    seen: list[str] = []

    def subnet(args: dict, opts: pulumi.ResourceOptions, name: str):
        seen.append(name)
        args["tags"] = {**args["tags"], "CostCentre": "edu"}
        opts.parent = None  # ignored: children always keep the component as parent

    rec = mocks.record(lambda: Network("net", _network(transform={
        "vpc": {"instance_tenancy": "default", "tags": {"Owner": "ops"}},
        "subnet": subnet,
    })))
    vpc = rec.named("net-vpc")
    assert vpc.get("instanceTenancy") == "default"
    assert vpc.get("tags") == {"Owner": "ops"}  # a mapping replaces the keys it names
    assert vpc.get("cidrBlock") == "10.0.0.0/16"  # and leaves the others alone
    subnets = rec.of_type("aws:ec2/subnet:Subnet")
    assert len(subnets) == 8 and sorted(seen) == sorted(s.name for s in subnets)
    for s in subnets:
        assert s.get("tags")["CostCentre"] == "edu" and s.get("tags")["Tier"] in ("public", "private", "gpu", "data")
        assert s.parent == rec.named("net").urn
    # Children the transform does not name are untouched.
    assert "CostCentre" not in (rec.named("net-igw").get("tags") or {})


def test_a_transform_may_return_new_args_and_options():
    def queue(args, opts, name):
        return {**args, "delay_seconds": 5}, pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=True))

    rec = mocks.record(lambda: Queues("q", QueuesArgs(transform={"queue": queue})))
    assert {r.name: r.get("delaySeconds") for r in rec.of_type("aws:sqs/queue:Queue")} == {"q-jobs": 5, "q-jobs-dlq": 5}


def test_an_unknown_transform_key_fails_in_the_components_terms():
    with pytest.raises(ValueError, match=r"NetworkArgs\.transform: .vcp. is not a child of Network\. Fix: use one of vpc, "):
        mocks.record(lambda: Network("net", _network(transform={"vcp": {}})))


def test_every_child_kind_a_component_creates_is_declared():
    class Loose(Component):
        CHILDREN = ()

        def __init__(self, name):
            super().__init__(name)
            self.child("queue", aws.sqs.Queue, f"{name}-q")

    with pytest.raises(TypeError, match="does not list it in CHILDREN"):
        mocks.record(lambda: Loose("loose"))


@pytest.mark.parametrize("build, message", [
    (lambda: _network(cidrs={"public": ("10.0.0.0/22",), "private": (), "gpu": (), "data": ()}),
     r"NetworkArgs\.cidrs: public has 1 CIDR\(s\) for 2 AZ\(s\)\. Fix: give one CIDR per entry of azs"),
    (lambda: NatEgressArgs(network=None, strategy="instance"), r"NatEgressArgs\.security_group_id: "),
    (lambda: DatabaseArgs(subnet_ids=[], security_group_id="sg", storage_gb=10), r"DatabaseArgs\.storage_gb: 10\. Fix: gp3 needs"),
    (lambda: DatabaseArgs(subnet_ids=[], security_group_id="sg", engine_version="15"), r"DatabaseArgs\.engine_version: '15'"),
    (lambda: QueuesArgs(retention_days=30), r"QueuesArgs\.retention_days: 30\. Fix: SQS keeps 1–14 days"),
    (lambda: StorageArgs(expiry_days={"logs": 3}), r"StorageArgs\.expiry_days\.logs: not a bucket"),
    (lambda: ObservabilityArgs(alert_emails=(), budget_usd=10, budget_name="b"), r"ObservabilityArgs\.alert_emails: "),
    (lambda: SecretParametersArgs(path_prefix="unamentis/beta/"), r"SecretParametersArgs\.path_prefix: "),
    (lambda: SecurityGroupsArgs(vpc_id="v", s3_prefix_list_id="pl", ingress="nlb"), r"SecurityGroupsArgs\.ingress: 'nlb'"),
])
def test_data_tier_args_fail_in_their_own_terms(build, message):
    with pytest.raises(ArgsError, match="^" + message):
        build()


# The stack layer (reads the stack config) and the checks of a whole stack (plan, policy, pricing).
STACK_LAYER = {
    "components.config", "components.stack_args", "components.platform", "components.plan",
    "components.policy", "components.policy_core", "components.aws_policy", "components.compute_policy",
    "components.edge.policy", "components.pricing", "components.pricing_core", "components.aws_pricing",
    "components.compute_pricing", "components.edge.pricing", "components.edge", "components.aws_api_policy",
    "components.eks_pricing", "components.eks_policy",
}


def test_every_component_module_is_fenced_off_the_stack_config():
    """A new module of the library is either stack layer (listed above) or kept from the stack
    config by the import contract: nothing slips through unlisted."""
    import configparser
    import pkgutil
    from pathlib import Path

    import components

    root = Path(components.__file__).parent
    ini = configparser.ConfigParser()
    ini.read(root.parent / ".importlinter")
    fenced = set(ini["importlinter:contract:stack-config-in-the-stack-layer"]["source_modules"].split())
    modules = {m.name for m in pkgutil.walk_packages([str(root)], "components.")}
    assert modules - STACK_LAYER == fenced


def test_compute_hands_each_child_component_its_transform():
    from dataclasses import replace

    from components.compute import Compute

    with pytest.raises(ArgsError, match=r"^ComputeArgs\.transform: 'lambda' is not a child of Compute"):
        replace(_compute_args(), transform={"lambda": {}})
    rec = mocks.record(lambda: Compute("c", replace(
        _compute_args(), transform={"core": {"taskDefinition": {"tags": {"Team": "voice"}}},
                                    "functions": {"function": lambda args, opts, name: args.update(memory_size=2048)}})))
    assert {t.get("tags", {}).get("Team") for t in rec.of_type("aws:ecs/taskDefinition:TaskDefinition")} == {"voice"}
    assert {f.get("memorySize") for f in rec.of_type("aws:lambda/function:Function")} == {2048}


def _compute_args():
    from components.compute import ComputeArgs
    from components.lambda_build import Artifact
    from components.runtime_env import Environment, RuntimeEnvironment

    code = Artifact("/tmp/code.zip", "ab" * 32, "q83vEjRWeJA=", 10)
    return ComputeArgs(
        name_prefix="uma-t", region="us-east-1", domain="example.org", ingress="tunnel", vpc_id="vpc-1",
        subnet_ids={"public": ["s-1"], "private": ["s-2"], "gpu": ["s-3"]},
        security_group_ids={"core": "sg-core", "lambda": "sg-fn"},
        environment=RuntimeEnvironment(Environment({"UNAMENTIS_ENV": "t"}), Environment()),
        code=code, layer=code, tunnel_token="tok", cloudflared_image="cloudflare/cloudflared:2026.8.2",
        core_image="ghcr.io/acme/unamentis-runtime:1.0.0")
