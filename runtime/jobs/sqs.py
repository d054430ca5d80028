"""SQS transport of the job queue (aiobotocore): one message per job, visibility timeout = lease.

The message body is ``{job_id, tenant_id, kind}``; the ``jobs`` row holds everything else. A failed
attempt makes the message visible again after the backoff; the last one sends the body (plus the
error) to ``UNAMENTIS_SQS_DLQ_URL`` when set and deletes the original.
"""
from __future__ import annotations

import contextlib
import json

from .queue import Job, JobQueue


class SqsTransport:
    poll_seconds = 0.5  # receive already long-polls

    def __init__(self, vs):
        self.vs = vs
        self._stack = contextlib.AsyncExitStack()
        self._client = None

    async def client(self):
        if self._client is None:
            from aiobotocore.session import get_session  # heavy; only the SQS transport loads it, on first use

            self._client = await self._stack.enter_async_context(
                get_session().create_client("sqs", region_name=self.vs.aws_region, endpoint_url=self.vs.aws_endpoint_url))
        return self._client

    async def announce(self, q: JobQueue, job_id: str, tenant_id: str, kind: str) -> None:
        sqs = await self.client()
        await sqs.send_message(QueueUrl=self.vs.sqs_queue_url,
                               MessageBody=json.dumps({"job_id": job_id, "tenant_id": tenant_id, "kind": kind}))

    async def claim(self, q: JobQueue) -> list[tuple[Job, object]]:
        sqs = await self.client()
        resp = await sqs.receive_message(QueueUrl=self.vs.sqs_queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=2,
                                         VisibilityTimeout=self.vs.job_visibility_seconds,
                                         MessageSystemAttributeNames=["ApproximateReceiveCount"])
        out = []
        for m in resp.get("Messages", []):
            try:
                body = json.loads(m["Body"])
                job_id, tenant_id = body["job_id"], body["tenant_id"]
            except (ValueError, KeyError, TypeError):
                await sqs.delete_message(QueueUrl=self.vs.sqs_queue_url, ReceiptHandle=m["ReceiptHandle"])
                continue  # not ours: drop it rather than poison the queue
            status = await q.status(job_id, tenant_id)
            if status is None:
                await sqs.delete_message(QueueUrl=self.vs.sqs_queue_url, ReceiptHandle=m["ReceiptHandle"])
                continue
            out.append((Job(job_id, tenant_id, status["kind"], status["payload"] or {}, status["attempts"],
                            status["max_attempts"], q), m["ReceiptHandle"]))
        return out

    async def extend(self, q, job, receipt) -> None:
        sqs = await self.client()
        await sqs.change_message_visibility(QueueUrl=self.vs.sqs_queue_url, ReceiptHandle=receipt,
                                            VisibilityTimeout=self.vs.job_visibility_seconds)

    async def done(self, q, job, receipt) -> None:
        if receipt is not None:
            sqs = await self.client()
            await sqs.delete_message(QueueUrl=self.vs.sqs_queue_url, ReceiptHandle=receipt)

    async def retry_later(self, q, job, receipt, backoff: int) -> None:
        sqs = await self.client()
        await sqs.change_message_visibility(QueueUrl=self.vs.sqs_queue_url, ReceiptHandle=receipt,
                                            VisibilityTimeout=min(backoff, 43200))

    async def dead_letter(self, q, job, receipt, error: str) -> None:
        sqs = await self.client()
        if self.vs.sqs_dlq_url:
            await sqs.send_message(QueueUrl=self.vs.sqs_dlq_url, MessageBody=json.dumps(
                {"job_id": job.id, "tenant_id": job.tenant_id, "kind": job.kind, "error": error}))
        await sqs.delete_message(QueueUrl=self.vs.sqs_queue_url, ReceiptHandle=receipt)

    async def aclose(self) -> None:
        await self._stack.aclose()
        self._client = None
