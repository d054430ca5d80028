"""Recorded AWS inputs checked by AWS's own validators, not only by mocks.

Where a recorded input maps onto one AWS API request, it is translated into that request's shape
and validated with botocore's service model (`botocore.validate.ParamValidator`, the check boto3
runs before sending): ECS container definitions (`RegisterTaskDefinition`), launch template data
(`CreateLaunchTemplate.LaunchTemplateData`), the ASG's mixed instances policy and lifecycle hooks
(`CreateAutoScalingGroup`), security group rules (`AuthorizeSecurityGroupIngress/Egress`),
budgets (`CreateBudget`) and CloudWatch alarms (`PutMetricAlarm`). IAM policy documents go through `parliament` (an IAM linter that knows
every action, resource and condition key); EventBridge patterns are matched against sample Spot
interruption and rebalance events with moto's implementation of the pattern language.

The translation is driven by the API shape itself: each Pulumi input name (camelCase) is matched
to the shape's member of the same name ignoring case, after the few renames the provider makes
(`securityGroups` -> `Groups` …); a Pulumi input with no such member, a wrong type, a value out of
range or a missing required member is a finding. Strings the provider uses for booleans
("true") and the mocks' floats become the shape's type first.

botocore, parliament and moto come with requirements.txt (what plan needs); in an environment
without one of them a finding says what was not checked, instead of passing silently.
"""
from __future__ import annotations

import json
from typing import Any, Iterable, Optional

from components.policy_core import Rule, example, fake, rule_finder

try:
    import botocore.session
    from botocore.validate import ParamValidator
except ImportError:  # pragma: no cover
    botocore = None  # type: ignore[assignment]

# Pulumi input name -> API member name, where they differ beyond case.
RENAMES: dict[str, str] = {
    "securityGroups": "Groups", "vpcSecurityGroupIds": "SecurityGroupIds",
    "vpcZoneIdentifiers": "VPCZoneIdentifier", "fromPort": "FromPort", "toPort": "ToPort",
}
_models: dict[str, Any] = {}


def _model(service: str):
    if service not in _models:
        _models[service] = botocore.session.get_session().get_service_model(service)
    return _models[service]


def to_api(value: Any, shape, path: str, problems: list[str]) -> Any:
    """`value` (Pulumi's names and types) in the API's shape; unknown members go to `problems`."""
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            problems.append(f"{path}: expected an object, got {type(value).__name__}")
            return value
        members = {m.lower(): m for m in shape.members}
        out = {}
        for key, v in value.items():
            if v is None:
                continue
            name = RENAMES.get(key, key)
            member = members.get(name.lower())
            if member is None:
                problems.append(f"{path}.{key}: the API has no such member (has {', '.join(sorted(shape.members))})")
                continue
            out[member] = to_api(v, shape.members[member], f"{path}.{member}", problems)
        return out
    if kind == "list":
        if isinstance(value, dict) and shape.member.type_name == "structure" and {"Key", "Value"} <= set(shape.member.members):
            return [{"Key": k, "Value": v} for k, v in value.items()]  # Pulumi's tag maps
        if kind == "list" and isinstance(value, str) and shape.member.type_name == "string":
            return [x for x in value.split(",") if x]
        if not isinstance(value, list):
            problems.append(f"{path}: expected a list")
            return value
        return [to_api(v, shape.member, f"{path}[{i}]", problems) for i, v in enumerate(value)]
    if kind == "string" and isinstance(value, str) and shape.enum and value not in shape.enum:
        # botocore's validator leaves enums to the service; the model lists them, so check here.
        problems.append(f"{path}: {value!r} is not one of {', '.join(shape.enum)}")
        return value
    if kind == "boolean" and isinstance(value, str) and value in ("true", "false"):
        return value == "true"
    if kind in ("integer", "long") and isinstance(value, float) and value.is_integer():
        return int(value)
    if kind == "string" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value


def validate(service: str, operation: str, params: dict, member: Optional[str] = None) -> list[str]:
    """botocore's verdict on `params` for `operation` (or for one member's shape of its input)."""
    if botocore is None:
        return ["not checked: botocore is not installed"]
    shape = _model(service).operation_model(operation).input_shape
    if member:
        shape = shape.members[member]
    problems: list[str] = []
    api = to_api(params, shape, member or operation, problems)
    report = ParamValidator().validate(api, shape)
    if report.has_errors():
        problems += [line.strip() for line in report.generate_report().splitlines() if line.strip()]
    return problems


# --------------------------------------------------------------------------- per resource type

LT_TOP_LEVEL = {"name", "namePrefix", "description", "updateDefaultVersion", "defaultVersion", "tags"}
ASG_CHECKED = ("mixedInstancesPolicy", "initialLifecycleHooks", "minSize", "maxSize", "desiredCapacity",
               "maxInstanceLifetime", "capacityRebalance", "healthCheckType", "healthCheckGracePeriod")


def _lt(r) -> list[str]:
    data = {k: v for k, v in r.inputs.items() if k not in LT_TOP_LEVEL}
    data = json.loads(json.dumps(data, default=str))
    return validate("ec2", "CreateLaunchTemplate", {k: r.get(k) for k in data}, "LaunchTemplateData")


def _asg(r) -> list[str]:
    params = {k: r.get(k) for k in ASG_CHECKED if r.get(k) is not None}
    params["autoScalingGroupName"] = r.get("name") or "group"
    hooks = params.pop("initialLifecycleHooks", None) or []
    out = validate("autoscaling", "CreateAutoScalingGroup", params)
    for i, hook in enumerate(hooks):
        out += [f"initialLifecycleHooks[{i}]: {p}" for p in validate(
            "autoscaling", "PutLifecycleHook",
            {**hook, "lifecycleHookName": hook.get("name"), "autoScalingGroupName": params["autoScalingGroupName"],
             "name": None})]
    return out


def _task_definition(r) -> list[str]:
    raw = r.get("containerDefinitions")
    if not isinstance(raw, str):
        return []
    return validate("ecs", "RegisterTaskDefinition", {
        "family": r.get("family") or "family", "containerDefinitions": json.loads(raw),
        "cpu": r.get("cpu"), "memory": r.get("memory"), "networkMode": r.get("networkMode"),
        "requiresCompatibilities": r.get("requiresCompatibilities")})


def _sg_rule(r, egress: bool) -> list[str]:
    perm = {"ipProtocol": r.get("ipProtocol"), "fromPort": r.get("fromPort"), "toPort": r.get("toPort")}
    if r.get("cidrIpv4"):
        perm["ipRanges"] = [{"cidrIp": r.get("cidrIpv4"), "description": r.get("description")}]
    if r.get("cidrIpv6"):
        perm["ipv6Ranges"] = [{"cidrIpv6": r.get("cidrIpv6"), "description": r.get("description")}]
    if r.get("referencedSecurityGroupId"):
        perm["userIdGroupPairs"] = [{"groupId": r.get("referencedSecurityGroupId"), "description": r.get("description")}]
    if r.get("prefixListId"):
        perm["prefixListIds"] = [{"prefixListId": r.get("prefixListId"), "description": r.get("description")}]
    op = "AuthorizeSecurityGroupEgress" if egress else "AuthorizeSecurityGroupIngress"
    return validate("ec2", op, {"groupId": r.get("securityGroupId") or "sg-1", "ipPermissions": [perm]})


def _budget(r) -> list[str]:
    budget = {"budgetName": r.get("name") or "budget", "budgetType": r.get("budgetType"),
              "budgetLimit": {"amount": r.get("limitAmount"), "unit": r.get("limitUnit")},
              "timeUnit": r.get("timeUnit")}
    out = validate("budgets", "CreateBudget", {"accountId": "123456789012", "budget": budget})
    for i, n in enumerate(r.get("notifications") or []):
        subscribers = ([{"subscriptionType": "SNS", "address": a} for a in n.get("subscriberSnsTopicArns") or []]
                       + [{"subscriptionType": "EMAIL", "address": a} for a in n.get("subscriberEmailAddresses") or []])
        out += [f"notifications[{i}]: {p}" for p in validate("budgets", "CreateNotification", {
            "accountId": "123456789012", "budgetName": budget["budgetName"],
            "notification": {k: n.get(k) for k in ("notificationType", "comparisonOperator", "threshold", "thresholdType")},
            "subscribers": subscribers})]
    return out


ALARM_CHECKED = ("namespace", "metricName", "statistic", "period", "evaluationPeriods", "threshold",
                 "comparisonOperator", "treatMissingData", "alarmDescription", "alarmActions", "okActions")


def _metric_alarm(r) -> list[str]:
    params = {k: r.get(k) for k in ALARM_CHECKED if r.get(k) is not None}
    params["alarmName"] = r.get("name") or "alarm"
    dims = r.get("dimensions") or {}
    if isinstance(dims, dict):  # Pulumi's map; the API's list of Name/Value pairs
        params["dimensions"] = [{"name": k, "value": v if isinstance(v, str) else "unknown"} for k, v in dims.items()]
    params["alarmActions"] = [a if isinstance(a, str) else "arn:aws:sns:us-east-1:123456789012:t"
                              for a in params.get("alarmActions") or []]
    params["okActions"] = [a if isinstance(a, str) else "arn:aws:sns:us-east-1:123456789012:t"
                           for a in params.get("okActions") or []]
    return validate("cloudwatch", "PutMetricAlarm", params)


SHAPES = {
    "aws:ec2/launchTemplate:LaunchTemplate": _lt,
    "aws:autoscaling/group:Group": _asg,
    "aws:ecs/taskDefinition:TaskDefinition": _task_definition,
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": lambda r: _sg_rule(r, False),
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": lambda r: _sg_rule(r, True),
    "aws:budgets/budget:Budget": _budget,
    "aws:cloudwatch/metricAlarm:MetricAlarm": _metric_alarm,
}


def _api_shapes(ctx) -> Iterable:
    rule = _rule("aws.api-shapes")
    for type_, check in SHAPES.items():
        for r in ctx.of(type_):
            for p in check(r):
                yield rule.finding(r, p, "warning" if p.startswith("not checked") else None)


# --------------------------------------------------------------------------- IAM (parliament)

POLICY_INPUTS = {
    "aws:iam/rolePolicy:RolePolicy": "policy", "aws:iam/policy:Policy": "policy",
    "aws:iam/role:Role": "assumeRolePolicy", "aws:s3/bucketPolicy:BucketPolicy": "policy",
    "aws:sns/topicPolicy:TopicPolicy": "policy",
}
# parliament findings that are advice, not a broken policy (resource-based policies have a
# Principal, which parliament's identity-policy view reports as unknown).
_PARLIAMENT_IGNORED = {"UNKNOWN_PRINCIPAL", "UNKNOWN_FEDERATION_SOURCE", "RESOURCE_POLICY_PRIVILEGE_ESCALATION"}


def iam_problems(document: str, resource_policy: bool = False) -> list[str]:
    try:
        import parliament
    except ImportError:
        return ["not checked: install parliament (pip install -r requirements.txt)"]
    try:
        doc = json.loads(document)
    except ValueError as e:
        return [f"not JSON: {e}"]
    if resource_policy:  # parliament reads identity policies: drop the principal; a trust policy
        # names no resource (the role is the resource), so give it the role's place-holder "*".
        doc = {**doc, "Statement": [{"Resource": "*", **{k: v for k, v in s.items() if k not in ("Principal", "NotPrincipal")}}
                                    if "NotResource" not in s else s for s in (doc.get("Statement") or [])]}
    policy = parliament.analyze_policy_string(json.dumps(doc), ignore_private_auditors=True,
                                              include_community_auditors=False)
    out = []
    for f in policy.findings:
        if f.issue in _PARLIAMENT_IGNORED:
            continue
        meta = parliament.config.get(f.issue) or {}
        if meta.get("group") == "INVALID" or meta.get("severity") in ("MEDIUM", "HIGH", "CRITICAL"):
            out.append(f"{f.issue}: {f.detail}"[:300])
    return out


def _iam(ctx) -> Iterable:
    rule = _rule("aws.iam-parliament")
    for type_, key in POLICY_INPUTS.items():
        for r in ctx.of(type_):
            doc = r.get(key)
            if not isinstance(doc, str):
                continue
            resource_policy = type_ in ("aws:s3/bucketPolicy:BucketPolicy", "aws:sns/topicPolicy:TopicPolicy") \
                or key == "assumeRolePolicy"
            for p in iam_problems(doc, resource_policy):
                yield rule.finding(r, f"{key}: {p}", "warning" if p.startswith("not checked") else None)


# --------------------------------------------------------------------------- EventBridge

# Sample events as EventBridge delivers them (EC2 user guide, "Spot Instance interruption notices"
# and "EC2 instance rebalance recommendations", read 2026-12).
SPOT_EVENTS = {
    "EC2 Spot Instance Interruption Warning": {
        "version": "0", "id": "12345678-1234-1234-1234-123456789012",
        "detail-type": "EC2 Spot Instance Interruption Warning", "source": "aws.ec2",
        "account": "123456789012", "time": "2026-12-03T12:00:00Z", "region": "us-east-1",
        "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-1234567890abcdef0"],
        "detail": {"instance-id": "i-1234567890abcdef0", "instance-action": "terminate"}},
    "EC2 Instance Rebalance Recommendation": {
        "version": "0", "id": "12345678-1234-1234-1234-123456789013",
        "detail-type": "EC2 Instance Rebalance Recommendation", "source": "aws.ec2",
        "account": "123456789012", "time": "2026-12-03T12:00:00Z", "region": "us-east-1",
        "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-1234567890abcdef0"],
        "detail": {"instance-id": "i-1234567890abcdef0"}},
}


def pattern_matches(pattern: str, event: dict) -> Optional[bool]:
    """EventBridge's verdict (moto's implementation); None when moto is not installed."""
    try:
        from moto.events.models import EventPattern
    except ImportError:
        return None
    return bool(EventPattern.load(pattern).matches_event(event))


def _spot_patterns(ctx) -> Iterable:
    rule = _rule("aws.spot-event-pattern")
    for r in ctx.of("aws:cloudwatch/eventRule:EventRule"):
        pattern = r.get("eventPattern")
        if not isinstance(pattern, str) or "Spot" not in pattern and "Rebalance" not in pattern:
            continue
        for name, event in SPOT_EVENTS.items():
            verdict = pattern_matches(pattern, event)
            if verdict is None:
                yield rule.finding(r, "not checked: install moto (pip install -r requirements.txt)", "warning")
                return
            if not verdict:
                yield rule.finding(r, f"the pattern does not match a sample '{name}' event")


# --------------------------------------------------------------------------- bad examples


def _bad_shapes():
    return example(
        fake("aws:ec2/launchTemplate:LaunchTemplate", "lt", {
            "metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 1.0},
            "instanceInitiatedShutdownBehaviour": "terminate",
            "networkInterfaces": [{"deviceIndex": 0.0, "associatePublicIpAddress": "yes"}]}),
        fake("aws:autoscaling/group:Group", "asg", {"name": "g", "minSize": 0.0, "maxSize": 2.0,
             "mixedInstancesPolicy": {"instancesDistribution": {"onDemandPercentageAboveBaseCapacity": 0.0,
                                                                "spotAllocationStrategy": "price-capacity-optimized"},
                                      "launchTemplate": {"launchTemplateSpecification": {"launchTemplateId": "lt-1"},
                                                         "overrides": [{"instanceType": "g4dn.xlarge", "weight": "1"}]}}}),
        fake("aws:ecs/taskDefinition:TaskDefinition", "td", {"family": "f", "containerDefinitions": json.dumps(
            [{"name": "core", "image": "x", "portMappings": [{"containerPort": "8080"}], "stopTimeout": 120}])}),
        fake("aws:budgets/budget:Budget", "b", {"name": "b", "budgetType": "COST", "limitAmount": "20",
             "limitUnit": "USD", "timeUnit": "MONTHLY", "notifications": [{"notificationType": "ACTUAL",
             "comparisonOperator": "MORE_THAN", "threshold": 80.0, "thresholdType": "PERCENTAGE",
             "subscriberSnsTopicArns": ["arn:aws:sns:us-east-1:1:t"]}]}))


def _bad_iam():
    return example(fake("aws:iam/rolePolicy:RolePolicy", "p", {"policy": json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:GetObjekt"],
                                               "Resource": "arn:aws:s3:::bucket/*"}]})}))


def _bad_pattern():
    return example(fake("aws:cloudwatch/eventRule:EventRule", "spot", {"eventPattern": json.dumps(
        {"source": ["ec2"], "detail-type": ["EC2 Spot Instance Interruption Warning",
                                             "EC2 Instance Rebalance Recommendation"]})}))


RULES: list[Rule] = [
    Rule("aws.api-shapes", "error",
         "launch template data, the ASG's mixed instances policy and hooks, ECS container definitions, "
         "security group rules and budgets pass botocore's validation of the AWS API request",
         (), _api_shapes, _bad_shapes),
    Rule("aws.iam-parliament", "error",
         "every IAM policy document passes parliament (known actions, resources and condition keys)",
         (), _iam, _bad_iam),
    Rule("aws.spot-event-pattern", "error",
         "the Spot interruption rule's pattern matches sample interruption and rebalance events",
         (), _spot_patterns, _bad_pattern),
]

_rule = rule_finder(lambda: RULES)
