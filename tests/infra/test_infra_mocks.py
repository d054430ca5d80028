"""The recording mocks: strict invokes, realistic outputs, secrets kept secret."""
from __future__ import annotations

import asyncio

import pulumi
import pulumi_aws as aws
import pytest
from pulumi.runtime.stack import run_pulumi_func

from components import mocks


def _run(build):
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    monitor = mocks.install("t", "unamentis-cloud")
    try:
        loop.run_until_complete(run_pulumi_func(build))
    finally:
        loop.close()
    return monitor


def test_unknown_invoke_is_an_error():
    m = mocks.RecordingMocks()
    with pytest.raises(NotImplementedError, match="aws:kms/getKey:getKey"):
        m.call(pulumi.runtime.MockCallArgs("aws:kms/getKey:getKey", {}, ""))


def test_records_type_name_parent_inputs_and_realistic_outputs():
    def build():
        class C(pulumi.ComponentResource):
            def __init__(self, name):
                super().__init__("test:index:C", name, None, None)
                self.q = aws.sqs.Queue(f"{name}-q", opts=pulumi.ResourceOptions(parent=self))
                aws.ssm.Parameter(f"{name}-p", type="SecureString", value=pulumi.Output.secret("hunter2"),
                                  name="/x/p", opts=pulumi.ResourceOptions(parent=self))
                self.register_outputs({})
        C("c")

    rec = _run(build).recording
    comp = rec.named("c")
    q = rec.named("c-q")
    assert (comp.custom, q.custom, q.parent) == (False, True, comp.urn)
    assert rec.component_of(q) == "c"
    assert q.out("url").startswith("https://sqs.us-east-1.amazonaws.com/123456789012/c-q-")
    assert q.out("arn").startswith("arn:aws:sqs:us-east-1:123456789012:c-q-")
    p = rec.named("c-p")
    assert p.secret_inputs == ["value"] and p.get("value") == "hunter2"
    assert p.redacted["value"] == mocks.REDACTED
    assert p.out("arn") == "arn:aws:ssm:us-east-1:123456789012:parameter/x/p"
