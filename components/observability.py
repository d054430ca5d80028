"""Alerts and money: an SNS topic with e-mail subscriptions, CloudWatch alarms, the budget.

Alarms, each created only when its target exists (`AlarmTargets`,
filled by the compute section):
- Lambda errors and duration: per function in prod/customer; in beta one alarm per metric
  over all functions (Lambda's dimension-less aggregate) to stay inside the free 10 alarms.
- ECS core service CPU and memory utilisation.
- RDS connections (80 % of `db_max_connections`) and free storage (< 2 GiB).
- 5xx: ALB (ELB and target 5xx) in ALB mode, HTTP API 5xx in tunnel mode.
- GPU utilisation (the core's `UnaMentis/GPU` metric) above 80 % for 15 minutes, with a GPU fleet.
All notify the topic, as do the budget's ACTUAL (80 %, 100 %) and FORECASTED (100 %) alerts.

The budget (`aws.budgets.Budget`, COST, MONTHLY) covers the whole AWS account: run each stack
in its own account (AWS Organizations) for per-stack budgets. Budgets alert; they do not stop
spending (AWS has no hard cap).

Cost: SNS e-mail is free up to 1,000 notifications; budgets without actions are free;
standard-resolution alarms $0.10/alarm-month after the account's 10 free alarms.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Mapping, Optional

import pulumi
import pulumi_aws as aws

from components.base import ArgsError, Component, Transforms
from runtime.voice.gpu_usage import METRIC_DIMENSION as GPU_METRIC_DIMENSION
from runtime.voice.gpu_usage import METRIC_NAMESPACE as GPU_METRIC_NAMESPACE
from runtime.voice.gpu_usage import UTILIZATION_METRIC as GPU_UTILIZATION_METRIC


@dataclass
class AlarmTargets:
    """What compute created that deserves an alarm (`Compute.alarm_targets()`); each alarm only when its target is set."""

    lambda_function_names: list[pulumi.Input[str]] = field(default_factory=list)
    """The functions (errors and duration). Default: none."""
    lambda_timeout_s: int = 15
    """Their timeout: the duration alarm fires at 80 % of it. Default: `15`."""
    ecs_cluster_name: Optional[pulumi.Input[str]] = None
    """The core's cluster (CPU and memory). Default: none."""
    ecs_service_name: Optional[pulumi.Input[str]] = None
    """The core's service. Default: none."""
    alb_arn_suffix: Optional[pulumi.Input[str]] = None
    """The ALB (ELB and target 5xx). Default: none."""
    http_api_id: Optional[pulumi.Input[str]] = None
    """The HTTP API (5xx). Default: none."""
    http_api_stage: str = "$default"
    """Its stage. Default: `"$default"`."""
    gpu_asg_name: Optional[pulumi.Input[str]] = None
    """The GPU fleet's Auto Scaling group (utilisation sustained above 80 %). Default: none."""


@dataclass(frozen=True)
class ObservabilityArgs:
    """Arguments of `Observability`."""

    alert_emails: tuple[str, ...]
    """Who receives alarms and budget alerts (each confirms an SNS subscription). Required."""
    budget_usd: float
    """The account's monthly AWS budget in USD. Required."""
    budget_name: str
    """The budget's name (unique in the account), e.g. `unamentis-beta-monthly`. Required."""
    targets: AlarmTargets = field(default_factory=AlarmTargets)
    """What compute created that deserves an alarm (each alarm only when its target exists).
    Default: nothing (no compute alarms)."""
    db_instance_identifier: Optional[pulumi.Input[str]] = None
    """The RDS instance to alarm on (connections, free storage). Default: none (no database alarms)."""
    db_max_connections: int = 80
    """The connection alarm fires at 80 % of this. Default: `80`."""
    per_function_alarms: bool = True
    """One error and one duration alarm per Lambda; `False` alarms on Lambda's aggregate metrics
    instead (two alarms, inside the account's 10 free ones). Default: `True`."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags on every taggable child. Default: none."""
    transform: Transforms = field(default_factory=dict)
    """Per child kind (`Observability.CHILDREN`), a change to its arguments (`components.base`).
    Default: none."""

    def __post_init__(self) -> None:
        if not self.alert_emails:
            raise ArgsError("ObservabilityArgs", "alert_emails", "no one would hear about overspend",
                            "list at least one e-mail address")
        if self.budget_usd <= 0:
            raise ArgsError("ObservabilityArgs", "budget_usd", f"{self.budget_usd}", "set a positive USD amount")


class Observability(Component):
    """`topic` (alerts), `alarms` (list), `budget`."""
    CHILDREN = ("topic", "topicPolicy", "topicSubscription", "budget", "metricAlarm")

    def __init__(self, name: str, args: ObservabilityArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(name, args.transform, opts)
        child = pulumi.ResourceOptions(parent=self)
        self._name = name
        self._child = child
        self._tags = args.tags
        # Not KMS-encrypted on purpose: CloudWatch alarms cannot publish to a topic encrypted
        # with the AWS-managed aws/sns key.
        self.topic = self.child("topic", aws.sns.Topic, f"{name}-alerts", tags=args.tags, opts=child)
        account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id
        self.topic_policy = self.child("topicPolicy", aws.sns.TopicPolicy, f"{name}-alerts-policy", arn=self.topic.arn,
                            policy=pulumi.Output.all(self.topic.arn, account).apply(
                                lambda a: _topic_policy(a[0], a[1])), opts=child)
        for i, email in enumerate(args.alert_emails):
            self.child("topicSubscription", aws.sns.TopicSubscription, f"{name}-alerts-email-{i}", topic=self.topic.arn,
                                      protocol="email", endpoint=email, opts=child)

        self.alarms: list[aws.cloudwatch.MetricAlarm] = []
        t = args.targets
        if t.lambda_function_names:
            timeout_ms = t.lambda_timeout_s * 1000
            if args.per_function_alarms:
                for i, fn in enumerate(t.lambda_function_names):
                    dims = {"FunctionName": fn}
                    self._alarm(f"lambda-{i}-errors", "AWS/Lambda", "Errors", "Sum", 5, dims,
                                "Lambda function errors (5 in 5 min)")
                    self._alarm(f"lambda-{i}-duration", "AWS/Lambda", "Duration", "Average",
                                0.8 * timeout_ms, dims, "Lambda duration above 80 % of its timeout")
            else:
                self._alarm("lambda-errors", "AWS/Lambda", "Errors", "Sum", 5, None,
                            "Lambda errors across all functions (5 in 5 min)")
                self._alarm("lambda-duration", "AWS/Lambda", "Duration", "Average",
                            0.8 * timeout_ms, None, "Lambda duration above 80 % of the timeout")
        if t.ecs_cluster_name is not None and t.ecs_service_name is not None:
            dims = {"ClusterName": t.ecs_cluster_name, "ServiceName": t.ecs_service_name}
            self._alarm("core-cpu", "AWS/ECS", "CPUUtilization", "Average", 80, dims,
                        "core service CPU above 80 %", periods=3)
            self._alarm("core-memory", "AWS/ECS", "MemoryUtilization", "Average", 80, dims,
                        "core service memory above 80 %", periods=3)
        if args.db_instance_identifier is not None:
            dims = {"DBInstanceIdentifier": args.db_instance_identifier}
            self._alarm("db-connections", "AWS/RDS", "DatabaseConnections", "Maximum",
                        int(args.db_max_connections * 0.8), dims,
                        "database connections above 80 % of max_connections")
            self._alarm("db-free-storage", "AWS/RDS", "FreeStorageSpace", "Minimum",
                        2 * 1024 ** 3, dims, "database free storage below 2 GiB",
                        comparison="LessThanThreshold")
        if t.alb_arn_suffix is not None:
            dims = {"LoadBalancer": t.alb_arn_suffix}
            self._alarm("alb-5xx", "AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", "Sum", 10, dims,
                        "load balancer 5xx (10 in 5 min)")
            self._alarm("alb-target-5xx", "AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", "Sum", 10,
                        dims, "origin 5xx behind the load balancer (10 in 5 min)")
        if t.gpu_asg_name is not None:
            # The core publishes the nodes' utilisation (runtime.voice.gpu_usage); 15 minutes above
            # 80 % is the signal to move to the next scaling phase. No data (fleet at zero) is fine.
            self._alarm("gpu-utilization", GPU_METRIC_NAMESPACE, GPU_UTILIZATION_METRIC, "Average", 80,
                        {GPU_METRIC_DIMENSION: t.gpu_asg_name}, "GPU utilisation above 80 % for 15 minutes",
                        periods=3, comparison="GreaterThanThreshold")
        if t.http_api_id is not None:
            self._alarm("api-5xx", "AWS/ApiGateway", "5xx", "Sum", 10,
                        {"ApiId": t.http_api_id, "Stage": t.http_api_stage},
                        "HTTP API 5xx (10 in 5 min)")

        # One alert path: the budget publishes to the topic, whose e-mail subscriptions deliver it
        # (naming the addresses here too would e-mail every alert twice).
        subscribers = {"subscriber_sns_topic_arns": [self.topic.arn]}
        self.budget = self.child("budget", aws.budgets.Budget,
            f"{name}-budget", name=args.budget_name, budget_type="COST", time_unit="MONTHLY",
            limit_amount=f"{args.budget_usd:.2f}", limit_unit="USD",
            notifications=[
                aws.budgets.BudgetNotificationArgs(comparison_operator="GREATER_THAN", threshold=80,
                                                   threshold_type="PERCENTAGE", notification_type="ACTUAL",
                                                   **subscribers),
                aws.budgets.BudgetNotificationArgs(comparison_operator="GREATER_THAN", threshold=100,
                                                   threshold_type="PERCENTAGE", notification_type="ACTUAL",
                                                   **subscribers),
                aws.budgets.BudgetNotificationArgs(comparison_operator="GREATER_THAN", threshold=100,
                                                   threshold_type="PERCENTAGE",
                                                   notification_type="FORECASTED", **subscribers),
            ], tags=args.tags,
            # Budgets checks at creation that it may publish to the topic: the policy comes first.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.topic_policy]))
        self.register_outputs({"alerts_topic_arn": self.topic.arn, "budget": args.budget_name,
                               "alarm_count": len(self.alarms)})

    def _alarm(self, key: str, namespace: str, metric: str, statistic: str, threshold: float,
               dimensions: Optional[dict], description: str, periods: int = 1,
               comparison: str = "GreaterThanOrEqualToThreshold") -> None:
        self.alarms.append(self.child("metricAlarm", aws.cloudwatch.MetricAlarm,
            f"{self._name}-{key}", namespace=namespace, metric_name=metric, statistic=statistic,
            period=300, evaluation_periods=periods, threshold=threshold,
            comparison_operator=comparison, dimensions=dimensions,
            treat_missing_data="notBreaching", alarm_description=description,
            alarm_actions=[self.topic.arn], ok_actions=[self.topic.arn],
            tags=self._tags, opts=self._child))


def _topic_policy(topic_arn: str, account_id: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "BudgetsPublish", "Effect": "Allow",
         "Principal": {"Service": "budgets.amazonaws.com"}, "Action": "SNS:Publish",
         "Resource": topic_arn, "Condition": {"StringEquals": {"aws:SourceAccount": account_id}}},
        {"Sid": "AlarmsPublish", "Effect": "Allow",
         "Principal": {"Service": "cloudwatch.amazonaws.com"}, "Action": "SNS:Publish",
         "Resource": topic_arn, "Condition": {"StringEquals": {"aws:SourceAccount": account_id}}},
    ]})

