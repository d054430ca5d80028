"""The job queue: enqueue, status, cancel, and the workers that run handlers.

Status, progress and results always live in the ``jobs`` table (tenant-scoped, RLS), whatever the
transport. The transport only decides who runs a job next:

- ``PostgresTransport`` (default): workers claim rows with ``FOR UPDATE SKIP LOCKED`` through
  ``jobs_claim``; a claim is a lease, extended while the handler runs (``jobs_extend``).
- ``SqsTransport`` (``UNAMENTIS_SQS_QUEUE_URL``): a message per job; the visibility timeout is the
  lease, extended with ``ChangeMessageVisibility``.

Delivery is at-least-once: a worker that dies loses its lease and the job runs again, so handlers
are idempotent (TTS prefetch skips cached audio). A failing job is retried with backoff up to
``max_attempts``, then dead-lettered (status ``dead``; on SQS also sent to the DLQ). Handlers report
progress with ``await job.progress(...)``, which is stored and published on the event bus.

The queue knows no job kinds: each service declares its handlers (``Service.jobs``) and the app
hands the queue the ones of the services it serves, with the job settings (``job_*`` and ``sqs_*``
of the voice settings).
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import uuid
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Mapping

import asyncpg

from runtime.auth.principal import Principal

log = logging.getLogger("unamentis.jobs")


Handler = Callable[["Job"], Awaitable[Any]]


class UnknownJobKind(ValueError):
    pass


class JobCancelled(Exception):
    """Raised inside a handler (by ``job.check_cancelled``) when someone cancelled the job."""


@dataclass
class Job:
    id: str
    tenant_id: str
    kind: str
    payload: dict
    attempt: int
    max_attempts: int
    queue: "JobQueue" = field(repr=False)

    @property
    def ctx(self):
        """The app context of the queue, for handlers that need more than the database."""
        return self.queue.ctx

    async def progress(self, **fields: Any) -> None:
        await self.queue._set_progress(self, fields)

    async def check_cancelled(self) -> None:
        async with self.ctx.db.tenant(self.tenant_id) as conn:
            status = await conn.fetchval("select status from jobs where id = $1", uuid.UUID(self.id))
        if status == "cancelled":
            raise JobCancelled(self.id)


def job_principal(job: Job) -> Principal:
    """Who pays for a job's paid calls: the caller that enqueued it (stored in the payload)."""
    who = job.payload.get("_principal") or {}
    return Principal(kind=who.get("kind", "open"), tenant_id=job.tenant_id, user_id=who.get("user_id"),
                     token_id=who.get("token_id"), role=who.get("role", "job"))


def principal_payload(p: Principal) -> dict:
    """The caller, as stored in a job's payload for :func:`job_principal`."""
    return {"kind": p.kind, "user_id": p.user_id, "token_id": p.token_id, "role": p.role}


def _json(value):
    return json.loads(value) if isinstance(value, str) else value


def job_json(row) -> dict:
    return {"job_id": str(row["id"]), "kind": row["kind"], "status": row["status"], "attempts": row["attempts"],
            "max_attempts": row["max_attempts"], "progress": _json(row["progress"]) or {},
            "result": _json(row["result"]), "error": row["error"], "payload": _json(row["payload"]),
            "created_at": row["created_at"].isoformat(), "updated_at": row["updated_at"].isoformat(),
            "finished_at": row["finished_at"].isoformat() if row["finished_at"] else None}


class JobQueue:
    """``ctx`` is the app context (handlers reach it as ``job.ctx``; the queue uses its ``db``,
    ``settings`` and ``events``); ``vs`` holds the job settings (``job_max_attempts``,
    ``job_visibility_seconds``, ``job_workers``)."""

    def __init__(self, ctx: Any, transport: Any, handlers: Mapping[str, Handler], vs: Any):
        self.ctx = ctx
        self.vs = vs
        self.transport = transport
        self.worker_id = f"{ctx.settings.server_name}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._workers: list[asyncio.Task] = []
        self._wake = asyncio.Event()
        self.handlers: dict[str, Handler] = dict(handlers)  # kind → handler (tests may replace it)

    # ---------------------------------------------------------------- API
    async def enqueue(self, kind: str, payload: dict, tenant_id: str, *, idempotency_key: str | None = None,
                      max_attempts: int | None = None) -> str:
        if kind not in self.handlers:
            raise UnknownJobKind(f"no handler for job kind {kind!r}")
        async with self.ctx.db.tenant(tenant_id) as conn:
            row = None
            if idempotency_key:
                row = await conn.fetchrow(
                    "select id from jobs where tenant_id = $1 and kind = $2 and idempotency_key = $3 "
                    "and status not in ('failed', 'cancelled', 'dead')", tenant_id, kind, idempotency_key)
            if row is not None:
                return str(row["id"])
            try:
                job_id = await conn.fetchval(
                    "insert into jobs (tenant_id, kind, payload, idempotency_key, max_attempts) "
                    "values ($1, $2, $3::jsonb, $4, $5) returning id",
                    tenant_id, kind, json.dumps(payload), idempotency_key, max_attempts or self.vs.job_max_attempts)
            except asyncpg.UniqueViolationError:  # a concurrent enqueue of the same key won
                return str(await conn.fetchval(
                    "select id from jobs where tenant_id = $1 and kind = $2 and idempotency_key = $3 "
                    "and status not in ('failed', 'cancelled', 'dead')", tenant_id, kind, idempotency_key))
        await self.transport.announce(self, str(job_id), tenant_id, kind)
        self._wake.set()
        return str(job_id)

    async def status(self, job_id: str, tenant_id: str) -> dict | None:
        try:
            jid = uuid.UUID(str(job_id))
        except ValueError:
            return None
        async with self.ctx.db.tenant(tenant_id) as conn:
            row = await conn.fetchrow("select * from jobs where id = $1", jid)
        return job_json(row) if row else None

    async def cancel(self, job_id: str, tenant_id: str) -> bool:
        try:
            jid = uuid.UUID(str(job_id))
        except ValueError:
            return False
        async with self.ctx.db.tenant(tenant_id) as conn:
            n = await conn.fetchval(
                "with u as (update jobs set status = 'cancelled', finished_at = now(), updated_at = now() "
                "where id = $1 and status in ('queued', 'running') returning 1) select count(*) from u", jid)
        return bool(n)

    # ---------------------------------------------------------------- workers
    def start_workers(self, n: int | None = None) -> None:
        n = self.vs.job_workers if n is None else n
        for _ in range(n - len(self._workers)):
            self._workers.append(asyncio.create_task(self._worker_loop()))

    async def _worker_loop(self) -> None:
        while True:
            try:
                claimed = await self.transport.claim(self)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("claiming jobs failed")
                claimed = []
            if not claimed:
                self._wake.clear()
                # asyncio.timeout, not wait_for: no inner task, so cancellation at shutdown is immediate.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.transport.poll_seconds):
                        await self._wake.wait()
                continue
            for job, receipt in claimed:
                await self.run(job, receipt)

    async def run(self, job: Job, receipt: Any = None) -> None:
        """Run one claimed job: lease extension while it runs, then success / retry / dead-letter."""
        async with self.ctx.db.tenant(job.tenant_id) as conn:
            status = await conn.fetchval("select status from jobs where id = $1", uuid.UUID(job.id))
        if status in ("succeeded", "cancelled", "dead", "failed", None):
            await self.transport.done(self, job, receipt)  # a duplicate delivery of a finished job
            return
        if status == "queued":  # SQS delivery: the row is not leased by a PostgreSQL claim
            async with self.ctx.db.tenant(job.tenant_id) as conn:
                job.attempt = await conn.fetchval(
                    "update jobs set status = 'running', attempts = attempts + 1, locked_by = $2, updated_at = now() "
                    "where id = $1 returning attempts", uuid.UUID(job.id), self.worker_id)
        handler = self.handlers.get(job.kind)
        heartbeat = asyncio.create_task(self._heartbeat(job, receipt))
        try:
            if handler is None:
                raise UnknownJobKind(f"no handler for job kind {job.kind!r}")
            result = await handler(job)
        except JobCancelled:
            await self.transport.done(self, job, receipt)
            return
        except Exception as exc:
            heartbeat.cancel()
            await self._failed(job, receipt, exc)
            return
        finally:
            heartbeat.cancel()
        async with self.ctx.db.tenant(job.tenant_id) as conn:
            await conn.execute(
                "update jobs set status = 'succeeded', result = $2::jsonb, error = null, finished_at = now(), "
                "updated_at = now(), locked_by = null, locked_until = null where id = $1 and status = 'running'",
                uuid.UUID(job.id), json.dumps(result if result is not None else {}))
        await self.transport.done(self, job, receipt)
        await self._publish(job, "succeeded", {})

    async def _failed(self, job: Job, receipt: Any, exc: Exception) -> None:
        error = f"{type(exc).__name__}: {exc}"[:1000]
        dead = job.attempt >= job.max_attempts or isinstance(exc, UnknownJobKind)
        backoff = min(300, 2 ** job.attempt)
        log.warning("job %s (%s) attempt %d failed: %s%s", job.id, job.kind, job.attempt, error,
                    " — dead-lettered" if dead else "")
        async with self.ctx.db.tenant(job.tenant_id) as conn:
            await conn.execute(
                "update jobs set status = $2, error = $3, updated_at = now(), locked_by = null, locked_until = null, "
                "run_after = now() + make_interval(secs => $4), finished_at = case when $2 = 'dead' then now() end "
                "where id = $1 and status = 'running'",
                uuid.UUID(job.id), "dead" if dead else "queued", error, backoff)
        if dead:
            await self.transport.dead_letter(self, job, receipt, error)
            await self._publish(job, "dead", {"error": error})
        else:
            await self.transport.retry_later(self, job, receipt, backoff)

    async def _heartbeat(self, job: Job, receipt: Any) -> None:
        interval = max(1.0, self.vs.job_visibility_seconds / 3)
        while True:
            await asyncio.sleep(interval)
            try:
                await self.transport.extend(self, job, receipt)
            except Exception:
                log.exception("extending the lease of job %s failed", job.id)

    async def _set_progress(self, job: Job, fields: dict) -> None:
        async with self.ctx.db.tenant(job.tenant_id) as conn:
            await conn.execute("update jobs set progress = progress || $2::jsonb, updated_at = now() where id = $1",
                               uuid.UUID(job.id), json.dumps(fields, default=str))
        await self._publish(job, "running", fields)

    async def _publish(self, job: Job, status: str, fields: dict) -> None:
        event = "import_progress" if job.kind == "curriculum_import" else "job_progress"
        try:
            await self.ctx.events.publish(event, {"job_id": job.id, "kind": job.kind, "tenant_id": job.tenant_id,
                                                  "status": status, **fields})
        except Exception:  # progress events are best effort; the row holds the truth
            log.debug("publishing job progress failed", exc_info=True)

    async def aclose(self) -> None:
        for t in self._workers:
            t.cancel()
        for t in self._workers:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._workers.clear()
        await self.transport.aclose()


class PostgresTransport:
    poll_seconds = 2.0

    async def announce(self, q: JobQueue, job_id: str, tenant_id: str, kind: str) -> None:
        return None  # the row is the message; local workers are woken directly

    async def claim(self, q: JobQueue) -> list[tuple[Job, Any]]:
        async with q.ctx.db.unscoped() as conn:
            rows = await conn.fetch("select * from jobs_claim($1, $2, $3)", q.worker_id, q.vs.job_visibility_seconds, 1)
        return [(Job(str(r["id"]), str(r["tenant_id"]), r["kind"], _json(r["payload"]), r["attempts"],
                     r["max_attempts"], q), None) for r in rows]

    async def extend(self, q: JobQueue, job: Job, receipt) -> None:
        async with q.ctx.db.unscoped() as conn:
            await conn.fetchval("select jobs_extend($1, $2, $3)", uuid.UUID(job.id), q.worker_id,
                                q.vs.job_visibility_seconds)

    async def done(self, q, job, receipt) -> None:
        return None

    async def retry_later(self, q, job, receipt, backoff: int) -> None:
        return None  # the row is queued again with run_after = now() + backoff

    async def dead_letter(self, q, job, receipt, error: str) -> None:
        return None  # status 'dead' is the dead-letter state; the row keeps payload and error

    async def aclose(self) -> None:
        return None


async def list_kind(conn: asyncpg.Connection, kind: str, status: str | None, limit: int = 100) -> list[dict]:
    """The newest jobs of one kind (of the transaction's tenant), optionally of one status."""
    rows = await conn.fetch(
        "select * from jobs where kind = $1 and ($2::text is null or status = $2) order by created_at desc limit $3",
        kind, status, limit)
    return [job_json(r) for r in rows]
