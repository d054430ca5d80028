"""Jobs: PostgreSQL (FOR UPDATE SKIP LOCKED leases) and SQS (loopback moto server) transports,
at-least-once delivery, retries, dead-lettering, idempotency keys, cancellation, progress events."""
from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from runtime.voice.config import VoiceSettings
from tests.runtime.conftest import lifespan


async def _wait_status(q, job_id, tenant_id, want, timeout=20.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        st = await q.status(job_id, tenant_id)
        if st and st["status"] in want:
            return st
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"job {job_id} stuck at {st and st['status']}")
        await asyncio.sleep(0.05)


def _handlers(calls):
    async def ok(job):
        calls.append(("ok", job.id, job.attempt))
        await job.progress(step=1, of=2)
        await job.progress(step=2)
        return {"echo": job.payload["x"]}

    async def flaky(job):
        calls.append(("flaky", job.id, job.attempt))
        if job.attempt < 2:
            raise RuntimeError("transient")
        return {"attempt": job.attempt}

    async def broken(job):
        calls.append(("broken", job.id, job.attempt))
        raise ValueError("always fails")

    async def slow(job):
        calls.append(("slow", job.id, job.attempt))
        await asyncio.sleep(3.5)  # outlives the 1 s ghost lease; within a 5 s lease that is extended
        return {"done": True}
    return {"ok": ok, "flaky": flaky, "broken": broken, "slow": slow}


@pytest.fixture
def fast_backoff(monkeypatch):
    # Retries wait 2**attempt seconds in production; the tests check the path, not the wait.
    import runtime.jobs.queue as qmod
    orig = qmod.JobQueue._failed

    async def _failed(self, job, receipt, exc):
        await orig(self, job, receipt, exc)
        async with self.ctx.db.tenant(job.tenant_id) as conn:
            await conn.execute("update jobs set run_after = now() where id = $1 and status = 'queued'", uuid.UUID(job.id))
        if receipt is not None:
            await self.transport.retry_later(self, job, receipt, 0)
        self._wake.set()
    monkeypatch.setattr(qmod.JobQueue, "_failed", _failed)


async def _exercise(app, tenant_id, calls):
    ctx = app.state.ctx
    q = ctx.jobs
    q.handlers = _handlers(calls)
    async with ctx.events.subscribe() as events:
        q.start_workers(2)
        ok = await q.enqueue("ok", {"x": 42}, tenant_id)
        st = await _wait_status(q, ok, tenant_id, {"succeeded"})
        assert st["result"] == {"echo": 42} and st["progress"] == {"step": 2, "of": 2} and st["attempts"] == 1
        seen = []
        while not any(e["data"].get("job_id") == ok and e["data"]["status"] == "succeeded" for e in seen):
            seen.append(await asyncio.wait_for(events.get(), 10))  # published right after the row is final
        assert any(e["type"] == "job_progress" and e["data"].get("step") == 1 for e in seen)

        flaky = await q.enqueue("flaky", {}, tenant_id)
        st = await _wait_status(q, flaky, tenant_id, {"succeeded"})
        assert st["attempts"] == 2 and st["result"] == {"attempt": 2}

        dead = await q.enqueue("broken", {}, tenant_id, max_attempts=3)
        st = await _wait_status(q, dead, tenant_id, {"dead"})
        assert st["attempts"] == 3 and "always fails" in st["error"]
        assert [c for c in calls if c[0] == "broken"] == [("broken", dead, 1), ("broken", dead, 2), ("broken", dead, 3)]

        a = await q.enqueue("ok", {"x": 1}, tenant_id, idempotency_key="same")
        b = await q.enqueue("ok", {"x": 1}, tenant_id, idempotency_key="same")
        assert a == b
        with pytest.raises(ValueError, match="no handler"):
            await q.enqueue("nope", {}, tenant_id)
        assert await q.status(str(uuid.uuid4()), tenant_id) is None
        assert await q.status("not-a-uuid", tenant_id) is None
    return q


async def test_postgres_queue(database, make_app, tenant, fast_backoff):
    tenant_id, _ = await tenant()
    app = make_app(["voice"], voice=VoiceSettings(job_workers=0))
    calls: list = []
    async with lifespan(app):
        await _exercise(app, tenant_id, calls)


async def test_postgres_lease_expiry_redelivers_and_extension_keeps_it(database, make_app, tenant):
    """A worker that dies mid-job loses its lease: another worker runs the job again (at-least-once).
    A live worker extends its lease, so a long job is not run twice."""
    tenant_id, _ = await tenant()
    vs = VoiceSettings(job_workers=0, job_visibility_seconds=5)
    app = make_app(["voice"], voice=vs)
    calls: list = []
    async with lifespan(app):
        q = app.state.ctx.jobs
        q.handlers = _handlers(calls)
        job_id = await q.enqueue("slow", {}, tenant_id)
        # A "dead" worker claims it with a 1 s lease and never finishes.
        async with app.state.ctx.db.unscoped() as conn:
            rows = await conn.fetch("select * from jobs_claim('ghost', 1, 1)")
        assert [str(r["id"]) for r in rows] == [job_id]
        async with app.state.ctx.db.unscoped() as conn:
            assert await conn.fetch("select * from jobs_claim('other', 5, 1)") == []  # leased: SKIP/not due
        await asyncio.sleep(1.2)
        q.start_workers(2)
        st = await _wait_status(q, job_id, tenant_id, {"succeeded"})
        assert st["attempts"] == 2 and [c[0] for c in calls] == ["slow"]
        # Only one live run although the job took 3.5 s and the lease is 5 s with 2 workers polling.
        long_id = await q.enqueue("slow", {}, tenant_id)
        await _wait_status(q, long_id, tenant_id, {"succeeded"})
        assert [c for c in calls if c[1] == long_id] == [("slow", long_id, 1)]


async def test_cancel(database, make_app, tenant):
    tenant_id, _ = await tenant()
    app = make_app(["voice"], voice=VoiceSettings(job_workers=0))
    async with lifespan(app):
        q = app.state.ctx.jobs
        q.handlers = _handlers([])
        job_id = await q.enqueue("ok", {"x": 1}, tenant_id)
        assert await q.cancel(job_id, tenant_id) is True
        assert (await q.status(job_id, tenant_id))["status"] == "cancelled"
        assert await q.cancel(job_id, tenant_id) is False
        other, _ = await tenant()
        assert await q.status(job_id, other) is None  # RLS: another tenant cannot see it


async def test_sqs_queue_with_dead_letter_queue(database, make_app, tenant, moto_endpoint, monkeypatch, fast_backoff):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    from aiobotocore.session import get_session

    async with get_session().create_client("sqs", region_name="us-east-1", endpoint_url=moto_endpoint) as sqs:
        name = f"jobs-{uuid.uuid4().hex[:8]}"
        queue_url = (await sqs.create_queue(QueueName=name))["QueueUrl"]
        dlq_url = (await sqs.create_queue(QueueName=name + "-dlq"))["QueueUrl"]
        tenant_id, _ = await tenant()
        vs = VoiceSettings(job_workers=0, sqs_queue_url=queue_url, sqs_dlq_url=dlq_url, aws_endpoint_url=moto_endpoint,
                           job_visibility_seconds=5)
        app = make_app(["voice"], voice=vs)
        calls: list = []
        async with lifespan(app):
            from runtime.jobs.sqs import SqsTransport
            assert isinstance(app.state.ctx.jobs.transport, SqsTransport)
            await _exercise(app, tenant_id, calls)
        dead = await sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        bodies = [json.loads(m["Body"]) for m in dead.get("Messages", [])]
        assert len(bodies) == 1 and bodies[0]["kind"] == "broken" and "always fails" in bodies[0]["error"]
        left = await sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages",
                                                                                  "ApproximateNumberOfMessagesNotVisible"])
        # Everything else was deleted after success: only the never-run idempotent duplicate's message
        # (enqueued once) may remain for a worker that stopped.
        assert int(left["Attributes"]["ApproximateNumberOfMessages"]) + int(left["Attributes"]["ApproximateNumberOfMessagesNotVisible"]) <= 1
