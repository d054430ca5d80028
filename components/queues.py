"""The SQS jobs queue and its dead-letter queue.

Both use SQS-managed server-side encryption (free). A message received `max_receives`
times without being deleted moves to the DLQ, which keeps it 14 days for inspection.

Cost: $0.40 per million requests after the always-free 1 million per month; idle queues
cost nothing. Estimated from `usage.sqs_requests`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_aws as aws

from components.config import StackConfig

DLQ_RETENTION_S = 14 * 24 * 3600


@dataclass(frozen=True)
class QueuesArgs:
    visibility_timeout: int
    max_receives: int
    retention_days: int
    tags: dict[str, str]

    @classmethod
    def from_config(cls, c: StackConfig) -> "QueuesArgs":
        q = c.queues
        return cls(visibility_timeout=q.visibility_timeout, max_receives=q.max_receives,
                   retention_days=q.retention_days, tags=c.tags)


class Queues(pulumi.ComponentResource):
    """`jobs` (with redrive to `dlq`) and `dlq`."""

    def __init__(self, name: str, args: QueuesArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("unamentis:aws:Queues", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.dlq = aws.sqs.Queue(f"{name}-jobs-dlq", sqs_managed_sse_enabled=True,
                                 message_retention_seconds=DLQ_RETENTION_S, tags=args.tags, opts=child)
        self.jobs = aws.sqs.Queue(
            f"{name}-jobs", sqs_managed_sse_enabled=True,
            visibility_timeout_seconds=args.visibility_timeout,
            message_retention_seconds=args.retention_days * 24 * 3600,
            receive_wait_time_seconds=20,  # long polling: fewer (billed) empty receives
            redrive_policy=self.dlq.arn.apply(lambda arn: json.dumps(
                {"deadLetterTargetArn": arn, "maxReceiveCount": args.max_receives})),
            tags=args.tags, opts=child)
        self.register_outputs({"jobs_url": self.jobs.url, "dlq_url": self.dlq.url})

    def access_policy_statements(self) -> pulumi.Output[list[dict]]:
        return pulumi.Output.all(self.jobs.arn, self.dlq.arn).apply(lambda arns: [{
            "Effect": "Allow",
            "Action": ["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage",
                       "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"],
            "Resource": list(arns)}])
