"""The SQS jobs queue and its dead-letter queue.

Both use SQS-managed server-side encryption (free). A message received `max_receives`
times without being deleted moves to the DLQ, which keeps it 14 days for inspection.

Cost: $0.40 per million requests after the always-free 1 million per month; idle queues
cost nothing. Estimated from `usage.sqs_requests`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Mapping, Optional

import pulumi
import pulumi_aws as aws

from components.base import ArgsError, Component, Transforms

DLQ_RETENTION_S = 14 * 24 * 3600


@dataclass(frozen=True)
class QueuesArgs:
    """Arguments of `Queues`."""

    visibility_timeout: int = 300
    """Seconds a received job stays hidden from other workers (0–43200). Default: `300`."""
    max_receives: int = 5
    """Receives after which a job moves to the dead-letter queue (>= 1). Default: `5`."""
    retention_days: int = 4
    """Days the jobs queue keeps a message (1–14). Default: `4`."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags on both queues. Default: none."""
    transform: Transforms = field(default_factory=dict)
    """Per child kind (`Queues.CHILDREN`), a change to its arguments (`components.base`).
    Default: none."""

    def __post_init__(self) -> None:
        if not 0 <= self.visibility_timeout <= 43200:
            raise ArgsError("QueuesArgs", "visibility_timeout", f"{self.visibility_timeout}", "SQS allows 0–43200 s")
        if self.max_receives < 1:
            raise ArgsError("QueuesArgs", "max_receives", f"{self.max_receives}", "use at least 1")
        if not 1 <= self.retention_days <= 14:
            raise ArgsError("QueuesArgs", "retention_days", f"{self.retention_days}", "SQS keeps 1–14 days")


class Queues(Component):
    """`jobs` (with redrive to `dlq`) and `dlq`."""
    CHILDREN = ("queue",)

    def __init__(self, name: str, args: QueuesArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(name, args.transform, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.dlq = self.child("queue", aws.sqs.Queue, f"{name}-jobs-dlq", sqs_managed_sse_enabled=True,
                                 message_retention_seconds=DLQ_RETENTION_S, tags=dict(args.tags), opts=child)
        self.jobs = self.child("queue", aws.sqs.Queue,
            f"{name}-jobs", sqs_managed_sse_enabled=True,
            visibility_timeout_seconds=args.visibility_timeout,
            message_retention_seconds=args.retention_days * 24 * 3600,
            receive_wait_time_seconds=20,  # long polling: fewer (billed) empty receives
            redrive_policy=self.dlq.arn.apply(lambda arn: json.dumps(
                {"deadLetterTargetArn": arn, "maxReceiveCount": args.max_receives})),
            tags=dict(args.tags), opts=child)
        self.register_outputs({"jobs_url": self.jobs.url, "dlq_url": self.dlq.url})

    def access_policy_statements(self) -> pulumi.Output[list[dict]]:
        return pulumi.Output.all(self.jobs.arn, self.dlq.arn).apply(lambda arns: [{
            "Effect": "Allow",
            "Action": ["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage",
                       "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"],
            "Resource": list(arns)}])
