"""Every policy rule fires on its bad example and stays quiet on every stack file."""
from __future__ import annotations

import pytest

from components import policy, policy_core, pricing


@pytest.mark.parametrize("rule", policy.RULES, ids=[r.id for r in policy.RULES])
def test_rule_fires_on_its_bad_example(rule):
    findings = rule.run(rule.bad())
    assert findings, f"{rule.id} did not fire on its bad example"
    assert all(f.rule == rule.id and f.severity in ("error", "warning") for f in findings)
    assert all(f.message for f in findings)


def test_rule_ids_are_unique_and_documented():
    ids = [r.id for r in policy.RULES]
    assert len(ids) == len(set(ids))
    assert all(r.description and r.severity in ("error", "warning") for r in policy.RULES)


@pytest.mark.parametrize("stack", ["beta", "prod", "customer"])
def test_every_rule_passes_on_every_stack(stack_run, stack):
    run = stack_run(stack)
    cost = pricing.price_resources(run.recording, run.config)
    findings = policy.evaluate(run.recording, run.config, cost)
    # The expected warnings, beta only: no Lambda reserved concurrency (saying which quota to raise
    # before turning it on), and the fixed part at the worst-case Spot price above the ceiling.
    expected = {("lambda.reserved-concurrency", "warning"), ("cost.spot-worst-case", "warning")} \
        if stack == "beta" else set()
    assert {(f.rule, f.severity) for f in findings} == expected, \
        "\n".join(f"{f.rule} {f.resource}: {f.message}" for f in findings)
    by_rule = {f.rule: f.message for f in findings}
    if stack == "beta":
        assert "L-B99A9384" in by_rule["lambda.reserved-concurrency"]
        assert "$19.86" in by_rule["cost.spot-worst-case"] and "$21.23" in by_rule["cost.spot-worst-case"]


def test_good_variants_do_not_fire():
    """The rules are not trigger-happy: the fixed version of a bad example passes."""
    f = policy_core.fake
    ok_rds = policy_core.example(
        f("aws:rds/instance:Instance", "db", {"publiclyAccessible": False, "storageEncrypted": True,
                                             "backupRetentionPeriod": 1, "parameterGroupName": "pg",
                                             "deletionProtection": False}),
        f("aws:rds/parameterGroup:ParameterGroup", "pg", {"name": "pg", "parameters": [{"name": "rds.force_ssl", "value": "1"}]}))
    assert policy.evaluate(ok_rds.rec, ok_rds.config) == []  # beta waives deletion protection
    lt = policy_core.example(f("aws:ec2/launchTemplate:LaunchTemplate", "lt", {
        "metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 1},
        "blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"encrypted": "true"}}]}))
    assert policy.evaluate(lt.rec, lt.config) == []
    secret_env = policy_core.example(f("aws:lambda/function:Function", "fn", {
        "reservedConcurrentExecutions": 2, "environment": {"variables": {"DATABASE_URL": "x", "LOG_LEVEL": "info"}}}),
        config=policy_core.example_config(functions={"reserve_concurrency": True}))
    secret_env.rec.resources[0].inputs["environment"]["variables"]["DATABASE_URL"] = \
        policy_core.fake("t", "n", {"v": "x"}, secret=("v",)).inputs["v"]
    assert policy.evaluate(secret_env.rec, secret_env.config) == []


def test_open_443_is_allowed_only_for_the_no_cdn_alb():
    f = policy_core.fake
    graph = [f("aws:ec2/securityGroup:SecurityGroup", "alb", {"tags": {"unamentis:role": "alb"}}, id="sg-alb"),
             f("aws:ec2/securityGroupRule:SecurityGroupRule", "alb-in", {
                 "type": "ingress", "securityGroupId": "sg-alb", "protocol": "tcp", "fromPort": 443,
                 "toPort": 443, "cidrBlocks": ["0.0.0.0/0"]})]
    no_cdn = policy_core.example_config(profile="customer", edge="none", ingress="alb",
                                   alb={"certificate_arn": "arn:aws:acm:us-east-1:1:certificate/x"})
    assert policy.evaluate(policy_core.example(*graph, config=no_cdn).rec, no_cdn) == []
    with_cdn = policy_core.example_config(ingress="alb")
    rules = {x.rule for x in policy.evaluate(policy_core.example(*graph).rec, with_cdn)}
    assert rules == {"sg.no-open-ingress", "sg.alb-cloudflare-only"}
