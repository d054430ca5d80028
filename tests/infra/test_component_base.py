"""The shared component base: type tokens and the per-child `transform` hook, under the mock engine."""
from __future__ import annotations

import pulumi
import pytest

from components import mocks
from components.base import Component, type_token
from components.network import Network, NetworkArgs
from components.queues import Queues, QueuesArgs

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
            self.child("queue", __import__("pulumi_aws").sqs.Queue, f"{name}-q")

    with pytest.raises(TypeError, match="does not list it in CHILDREN"):
        mocks.record(lambda: Loose("loose"))
