"""Recorded AWS inputs pass AWS's own validators (botocore's service models, parliament, the
EventBridge pattern language), and each check fires on a broken input."""
from __future__ import annotations

import json

import pytest

from components import aws_api_policy as A

pytest.importorskip("parliament")


def test_the_stacks_send_what_the_aws_apis_accept(any_stack):
    from components.policy_core import PolicyContext

    ctx = PolicyContext(rec=any_stack.recording, config=any_stack.config)
    checked = {t: len(ctx.of(t)) for t in A.SHAPES}
    assert checked["aws:ec2/launchTemplate:LaunchTemplate"] >= 1 and checked["aws:ecs/taskDefinition:TaskDefinition"] >= 2
    assert checked["aws:autoscaling/group:Group"] >= 1 and checked["aws:budgets/budget:Budget"] == 1
    assert checked["aws:cloudwatch/metricAlarm:MetricAlarm"] >= 1
    findings = [f for r in A.RULES for f in r.run(ctx)]
    assert findings == [], "\n".join(f"{f.rule} {f.resource}: {f.message}" for f in findings)


@pytest.mark.parametrize("service, operation, member, params, message", [
    ("ec2", "CreateLaunchTemplate", "LaunchTemplateData", {"metadataOptions": {"httpTokens": "mandatory"}},
     "'mandatory' is not one of"),
    ("ec2", "CreateLaunchTemplate", "LaunchTemplateData", {"instanceInitiatedShutdownBehaviour": "terminate"},
     "no such member"),
    ("ec2", "CreateLaunchTemplate", "LaunchTemplateData",
     {"blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"volumeSize": "100GB"}}]}, "Invalid type"),
    ("autoscaling", "CreateAutoScalingGroup", None,
     {"autoScalingGroupName": "g", "minSize": 0, "maxSize": 1,
      "mixedInstancesPolicy": {"instancesDistribution": {"onDemandPercentageAboveBaseCapacity": "none"}}}, "Invalid type"),
    ("ecs", "RegisterTaskDefinition", None,
     {"family": "f", "containerDefinitions": [{"name": "c", "stopTimeout": "120"}]}, "Invalid type"),
    ("ecs", "RegisterTaskDefinition", None, {"containerDefinitions": [{"name": "c"}]}, "Missing required parameter"),
    ("cloudwatch", "PutMetricAlarm", None,
     {"alarmName": "a", "namespace": "UnaMentis/GPU", "metricName": "GPUUtilization", "statistic": "Mean",
      "period": 300, "evaluationPeriods": 3, "threshold": 80, "comparisonOperator": "GreaterThanThreshold"},
     "'Mean' is not one of"),
    ("ec2", "AuthorizeSecurityGroupIngress", None,
     {"groupId": "sg-1", "ipPermissions": [{"ipProtocol": "tcp", "fromPort": 443, "toPort": 443,
                                            "ipRanges": [{"cidrIpv4": "0.0.0.0/0"}]}]}, "no such member"),
])
def test_each_shape_check_fires(service, operation, member, params, message):
    assert any(message in p for p in A.validate(service, operation, params, member)), A.validate(service, operation, params, member)


def test_parliament_rejects_an_unknown_action_and_a_mismatched_resource():
    doc = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["ssm:GetParameters", "secretsmanager:GetSecretValue"],
         "Resource": ["arn:aws:ssm:us-east-1:123456789012:parameter/x"]}]}
    assert any("RESOURCE_MISMATCH" in p for p in A.iam_problems(json.dumps(doc)))
    doc["Statement"][0]["Action"] = ["ssm:GetParameterz"]
    assert any("UNKNOWN_ACTION" in p for p in A.iam_problems(json.dumps(doc)))
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                    "Principal": {"Service": "ec2.amazonaws.com"}}]}
    assert A.iam_problems(json.dumps(trust), resource_policy=True) == []


def test_the_spot_pattern_matches_the_sample_events_and_a_wrong_source_does_not():
    pytest.importorskip("moto")
    good = json.dumps({"source": ["aws.ec2"], "detail-type": list(A.SPOT_EVENTS)})
    assert all(A.pattern_matches(good, e) for e in A.SPOT_EVENTS.values())
    assert not A.pattern_matches(json.dumps({"source": ["ec2"]}), A.SPOT_EVENTS["EC2 Spot Instance Interruption Warning"])
    typo = json.dumps({"source": ["aws.ec2"], "detail-type": ["EC2 Spot Interruption Warning"]})
    assert not A.pattern_matches(typo, A.SPOT_EVENTS["EC2 Spot Instance Interruption Warning"])
