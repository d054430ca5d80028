"""Routes of the queue-backed curriculum import (``/api/import/jobs*``, Tier 2, served by the core container).

An admin posts ``{url}`` (an https UMCF document, fetched SSRF-safely) or ``{content}`` (the document
itself); the job queue (``ctx.jobs``: PostgreSQL ``SKIP LOCKED`` or SQS) runs
``runtime.curricula.importer.curriculum_import``, which reports progress (published on ``/ws`` as
``import_progress`` by the queue).

Shapes follow the old import API (camelCase with the ``success`` envelope): ``POST`` →
``{success, jobId, status: "queued"}``, ``GET /jobs`` → ``{success, jobs}``, ``GET /jobs/{id}`` →
``{success, progress, job}``, ``DELETE /jobs/{id}`` → ``{success, cancelled}``.

Wiring: the voice service mounts :data:`ROUTES` (route_table sends ``/api/import`` to the core) and
lists the job handler in its ``Service.jobs``.
"""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from runtime.auth.principal import principal
from runtime.content.http import reply, tx
from runtime.context import ctx
from runtime.curricula import umcf
from runtime.curricula.importer import MAX_DOCUMENT_BYTES
from runtime.errors import ApiError, MissingField, NotFound
from runtime.jobs.queue import list_kind
from runtime.validation import field_str, json_body, path_uuid, query_enum

# Filter values accepted on ?status= (the queue stores "succeeded"; the old API said "completed").
JOB_STATUSES = ("queued", "running", "completed", "succeeded", "failed", "cancelled", "dead")


def _job_view(job: dict) -> dict:
    progress = job.get("progress") or {}
    result = job.get("result") or {}
    status = "completed" if job["status"] == "succeeded" else job["status"]
    if status == "completed" and result.get("status") == "failed":
        status = "failed"
    return {
        "jobId": job["job_id"], "id": job["job_id"], "status": status, "kind": job["kind"],
        "progress": {**progress, "status": status, "percentComplete": progress.get("percent_complete", 0.0),
                     "stage": progress.get("stage")},
        "result": result or None, "error": result.get("error") or job.get("error"),
        "createdAt": job["created_at"], "updatedAt": job["updated_at"], "finishedAt": job["finished_at"],
    }


async def create_job(request: Request) -> Response:
    """Queue the import of a UMCF document from ``{url}`` or ``{content}``."""
    who = principal(request)
    body = await json_body(request, max_bytes=MAX_DOCUMENT_BYTES)
    source = field_str(body, "sourceId", max_len=50)
    if source not in (None, "url", "umcf"):
        raise ApiError(404, "source_not_found", f"Unknown import source {source!r}; use a url or the UMCF content.",
                       details={"field": "sourceId"})
    url = field_str(body, "url", max_len=2048)
    content = body.get("content")
    if (url is None) == (content is None):
        raise MissingField("Send exactly one of 'url' or 'content'.", details={"field": "content"})
    if url is not None and not url.lower().startswith("https://"):
        raise ApiError(400, "invalid_url", "Only https URLs can be imported.", details={"field": "url"})
    if content is not None:
        try:
            umcf.validate_document(content)  # refuse a bad document now rather than in the queue
        except umcf.UMCFError as exc:
            raise ApiError(422, "invalid_curriculum", str(exc), details={"field": exc.field}) from None
    payload = {"url": url} if url else {"content": content}
    job_id = await ctx(request).jobs.enqueue("curriculum_import", payload, who.tenant_id)
    return reply({"success": True, "jobId": job_id, "status": "queued"}, 202)


async def list_jobs(request: Request) -> Response:
    """The tenant's import jobs, newest first (``?status=``)."""
    status = query_enum(request, "status", JOB_STATUSES)
    status = "succeeded" if status == "completed" else status
    async with tx(request) as conn:
        jobs = await list_kind(conn, "curriculum_import", status)
    return reply({"success": True, "jobs": [_job_view(job) for job in jobs]})


async def get_job(request: Request) -> Response:
    """One import job with its progress."""
    who = principal(request)
    job = await ctx(request).jobs.status(path_uuid(request, "job_id"), who.tenant_id)
    if job is None or job["kind"] != "curriculum_import":
        raise NotFound("Import job not found.")
    view = _job_view(job)
    return reply({"success": True, "progress": view["progress"], "job": view})


async def cancel_job(request: Request) -> Response:
    """Cancel a queued or running import job."""
    who = principal(request)
    job_id = path_uuid(request, "job_id")
    job = await ctx(request).jobs.status(job_id, who.tenant_id)
    if job is None or job["kind"] != "curriculum_import":
        raise NotFound("Import job not found.")
    cancelled = await ctx(request).jobs.cancel(job_id, who.tenant_id)
    return reply({"success": True, "cancelled": cancelled})


ROUTES = [
    Route("/api/import/jobs", create_job, methods=["POST"]),
    Route("/api/import/jobs", list_jobs, methods=["GET"]),
    Route("/api/import/jobs/{job_id}", get_job, methods=["GET"]),
    Route("/api/import/jobs/{job_id}", cancel_job, methods=["DELETE"]),
]
