"""Routes of the queue-backed curriculum import (``/api/import/jobs*``, Tier 2, served by the core container).

An admin posts ``{url}`` (an https UMCF document, fetched SSRF-safely), ``{content}`` (the document
itself) or a catalog course (``runtime.importing.routes`` owns the ``POST`` and calls
:func:`document_payload` / :func:`enqueue_import`); the job queue (``ctx.jobs``: PostgreSQL ``SKIP LOCKED`` or SQS) runs
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
from runtime.errors import ApiError, MissingField, NotFound
from runtime.jobs.queue import list_kind
from runtime.validation import field_str, path_uuid, query_enum

# Filter values accepted on ?status= (the queue stores "succeeded"; the old API said "completed").
JOB_STATUSES = ("queued", "running", "completed", "succeeded", "failed", "cancelled", "dead")


# The console's ImportProgress stages (server/web/src/types/index.ts) for the importer's stages.
_CONSOLE_STAGES = {"fetching": "downloading", "validating": "validating", "storing": "storing"}


def _job_view(job: dict) -> dict:
    progress = job.get("progress") or {}
    result = job.get("result") or {}
    status = "completed" if job["status"] == "succeeded" else job["status"]
    if status == "completed" and result.get("status") == "failed":
        status = "failed"
    if status == "dead":
        status = "failed"
    stage = progress.get("stage")
    if status == "running":  # the console knows the stages, not "running"
        status = _CONSOLE_STAGES.get(stage or "", "validating")
    source = (job.get("payload") or {}).get("source") or {}
    percent = float(progress.get("percent_complete", 0.0) or 0.0)
    topics = int(result.get("topic_count") or 0)
    error = result.get("error") or job.get("error")
    return {
        "jobId": job["job_id"], "id": job["job_id"], "status": status, "kind": job["kind"],
        "progress": {**progress, "status": status, "percentComplete": percent, "stage": stage},
        "result": result or None, **({"error": error} if error else {}),
        "sourceId": source.get("sourceId") or ("url" if (job.get("payload") or {}).get("url") else "umcf"),
        "courseId": source.get("courseId") or result.get("id") or "",
        "courseName": source.get("courseName") or result.get("title") or "",
        "currentStage": stage or status, "stageProgress": 100.0 if status in ("completed", "failed") else percent,
        "overallProgress": 100.0 if status == "completed" else percent,
        "startedAt": job["created_at"], "warnings": list(progress.get("warnings") or []),
        "stats": {"filesDownloaded": 1 if result.get("source_url") else 0, "filesProcessed": 1 if result.get("id") else 0,
                  "topicsCreated": topics, "objectivesGenerated": 0, "assessmentsGenerated": 0},
        "createdAt": job["created_at"], "updatedAt": job["updated_at"], "finishedAt": job["finished_at"],
        **({"completedAt": job["finished_at"]} if job["finished_at"] else {}),
    }


def document_payload(body: dict) -> dict:
    """The job payload for ``{url}`` (https) or ``{content}`` (a UMCF document, checked now rather than in
    the queue); 4xx for anything else."""
    url = field_str(body, "url", max_len=2048)
    content = body.get("content")
    if (url is None) == (content is None):
        raise MissingField("Send exactly one of 'url' or 'content' (or a catalog's 'sourceId' and 'courseId').",
                           details={"field": "content"})
    if url is not None and not url.lower().startswith("https://"):
        raise ApiError(400, "invalid_url", "Only https URLs can be imported.", details={"field": "url"})
    if content is not None:
        try:
            umcf.validate_document(content)
        except umcf.UMCFError as exc:
            raise ApiError(422, "invalid_curriculum", str(exc), details={"field": exc.field}) from None
    return {"url": url} if url else {"content": content}


async def enqueue_import(request: Request, payload: dict) -> str:
    """Queue ``curriculum_import`` for the caller's tenant; the job id."""
    return await ctx(request).jobs.enqueue("curriculum_import", payload, principal(request).tenant_id)


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
    Route("/api/import/jobs", list_jobs, methods=["GET"]),
    Route("/api/import/jobs/{job_id}", get_job, methods=["GET"]),
    Route("/api/import/jobs/{job_id}", cancel_job, methods=["DELETE"]),
]
