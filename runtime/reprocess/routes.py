"""``/api/reprocess/*`` (the Operations Console's reprocess panel; core container, beside the job queue).

Analysis and preview read the tenant's visible curricula (its own and the shared ones) and change
nothing; a job (``curriculum_reprocess``) applies the fixes and stores the result as the tenant's own
curriculum. Reading is open to the tenant's users; jobs are for administrators.
"""
from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from runtime.auth.principal import Principal, admin_principal
from runtime.content.http import reply, tx
from runtime.context import ctx
from runtime.curricula import store
from runtime.errors import NotFound
from runtime.jobs.queue import list_kind
from runtime.reprocess import analysis
from runtime.reprocess.job import stages_view
from runtime.validation import field_bool, field_float, field_id, field_list, field_str, json_body, path_id, path_uuid

KIND = "curriculum_reprocess"


_ADMIN_ONLY = "Reprocessing jobs are for administrators."


async def _document(request: Request, curriculum_id: str) -> dict:
    async with tx(request) as conn:
        row = await store.get_visible(conn, curriculum_id)
    if row is None:
        raise NotFound(f"No curriculum {curriculum_id!r}.", error="curriculum_not_found")
    return store.document(row)


def _config(body: dict, curriculum_id: str | None = None) -> dict:
    config: dict[str, Any] = {"curriculumId": curriculum_id or field_id(body, "curriculumId", required=True)}
    for flag in analysis.CONFIG_FLAGS:
        config[flag] = bool(field_bool(body, flag, default=False))
    config["llmModel"] = field_str(body, "llmModel", max_len=100)
    config["llmTemperature"] = field_float(body, "llmTemperature", min=0, max=2)
    config["issueTypes"] = field_list(body, "issueTypes", item_type=str, max_items=20)
    config["nodeIds"] = field_list(body, "nodeIds", item_type=str, max_items=1000)
    return config


async def analyze(request: Request) -> Response:
    """The curriculum's issues (``CurriculumAnalysis``)."""
    curriculum_id = path_id(request, "curriculum_id")
    return reply({"success": True, "analysis": analysis.analyze(await _document(request, curriculum_id), curriculum_id)})


async def preview(request: Request) -> Response:
    """What a job with this config would fix, without saving anything."""
    curriculum_id = path_id(request, "curriculum_id")
    config = _config(await json_body(request, allow_empty=True), curriculum_id)
    doc = await _document(request, curriculum_id)
    fixed, fixes, done = analysis.apply(doc, config)
    before, after = analysis.analyze(doc, curriculum_id), analysis.analyze(fixed, curriculum_id)
    skipped = [analysis.NEEDS_LLM[s] for s in analysis.NEEDS_LLM if config.get(analysis.NEEDS_LLM[s])]
    return reply({"success": True, "preview": {
        "curriculumId": curriculum_id, "fixesApplied": fixes, "stages": done,
        "issuesBefore": before["stats"], "issuesAfter": after["stats"],
        "notDone": [f"{flag} needs a language model; this reprocessor does not do it" for flag in skipped]}})


def _progress(job: dict) -> dict:
    progress = job.get("progress") or {}
    result = job.get("result") or {}
    config = (job.get("payload") or {}).get("config") or {}
    status = {"succeeded": "complete", "dead": "failed"}.get(job["status"], job["status"])
    if status == "complete" and result.get("status") == "failed":
        status = "failed"
    if status == "running":
        status = progress.get("stage") or "loading"
    view = {"id": job["job_id"], "config": config, "status": status,
            "overallProgress": float(progress.get("percent_complete") or 0.0),
            "currentStage": progress.get("stage") or status, "currentActivity": progress.get("activity") or "",
            "stages": progress.get("stages") or stages_view({}, None),
            "fixesApplied": list(result.get("fixesApplied") or progress.get("fixes") or []),
            "startedAt": job["created_at"]}
    if result:
        view["result"] = result
    error = result.get("error") or job.get("error")
    if error:
        view["error"] = error
    return view


async def start_job(request: Request) -> Response:
    """Queue a reprocessing job for a ``ReprocessConfig``."""
    who = admin_principal(request, _ADMIN_ONLY)
    config = _config(await json_body(request))
    await _document(request, config["curriculumId"])  # 404 now rather than a failed job
    job_id = await ctx(request).jobs.enqueue(KIND, {"config": config}, who.tenant_id)
    return reply({"success": True, "jobId": job_id, "status": "queued"}, 202)


async def list_jobs(request: Request) -> Response:
    """The tenant's reprocessing jobs, newest first (``ReprocessJobSummary``)."""
    admin_principal(request, _ADMIN_ONLY)
    async with tx(request) as conn:
        jobs = await list_kind(conn, KIND, None)
    summaries = []
    for job in jobs:
        view = _progress(job)
        summaries.append({"id": view["id"], "curriculumId": str(view["config"].get("curriculumId") or ""),
                          "status": view["status"], "overallProgress": view["overallProgress"],
                          "currentStage": view["currentStage"], "startedAt": view["startedAt"],
                          "fixesApplied": len(view["fixesApplied"])})
    return reply({"success": True, "jobs": summaries})


async def _job(request: Request, who: Principal) -> dict:
    job = await ctx(request).jobs.status(path_uuid(request, "job_id"), who.tenant_id)
    if job is None or job["kind"] != KIND:
        raise NotFound("Reprocessing job not found.", error="job_not_found")
    return job


async def get_job(request: Request) -> Response:
    """One job's progress (``ReprocessProgress``)."""
    who = admin_principal(request, _ADMIN_ONLY)
    return reply({"success": True, "progress": _progress(await _job(request, who))})


async def cancel_job(request: Request) -> Response:
    """Cancel a queued or running job."""
    who = admin_principal(request, _ADMIN_ONLY)
    job = await _job(request, who)
    cancelled = await ctx(request).jobs.cancel(job["job_id"], who.tenant_id)
    return reply({"success": True, "cancelled": cancelled})


ROUTES = [
    Route("/api/reprocess/analyze/{curriculum_id}", analyze, methods=["POST"]),
    Route("/api/reprocess/analysis/{curriculum_id}", analyze, methods=["GET"]),
    Route("/api/reprocess/preview/{curriculum_id}", preview, methods=["POST"]),
    Route("/api/reprocess/jobs", start_job, methods=["POST"]),
    Route("/api/reprocess/jobs", list_jobs, methods=["GET"]),
    Route("/api/reprocess/jobs/{job_id}", get_job, methods=["GET"]),
    Route("/api/reprocess/jobs/{job_id}", cancel_job, methods=["DELETE"]),
]
