"""The ``curriculum_reprocess`` job: load the curriculum, apply the chosen fixes stage by stage, validate,
and store it as the tenant's own (unless ``dryRun``). Progress carries the console's stages."""
from __future__ import annotations

from runtime.curricula import store, umcf
from runtime.jobs.queue import Job
from runtime.reprocess import analysis


def stages_view(done: dict[str, str], current: str | None) -> list[dict]:
    """The console's ``ReprocessStage`` list: what each stage did, or that it waits."""
    out = []
    for stage_id, name in analysis.STAGES:
        status = done.get(stage_id) or ("in_progress" if stage_id == current else "pending")
        finished = status in ("complete", "skipped", "failed")
        out.append({"id": stage_id, "name": name, "status": status, "progress": 100.0 if finished else 0.0,
                    "itemsTotal": 1, "itemsProcessed": 1 if finished else 0})
    return out


async def curriculum_reprocess(job: Job) -> dict:
    config = job.payload.get("config") or {}
    curriculum_id = str(config.get("curriculumId"))
    done: dict[str, str] = {}

    async def stage(stage_id: str, percent: float, activity: str) -> None:
        await job.progress(stage=stage_id, percent_complete=percent, activity=activity, stages=stages_view(done, stage_id))

    await stage("loading", 5.0, f"Loading {curriculum_id}")
    async with job.ctx.db.tenant(job.tenant_id) as conn:
        row = await store.get_visible(conn, curriculum_id)
    if row is None:
        done["loading"] = "failed"
        await job.progress(stage="failed", error="The curriculum no longer exists.", stages=stages_view(done, None))
        return {"status": "failed", "error": "The curriculum no longer exists."}
    doc = store.document(row)
    done["loading"] = "complete"
    await stage("analyzing", 20.0, "Looking for issues")
    before = analysis.analyze(doc, curriculum_id)
    done["analyzing"] = "complete"
    await job.check_cancelled()
    fixed, fixes, applied = analysis.apply(doc, config)
    done.update(applied)
    await stage("validating", 80.0, "Validating the result")
    try:
        umcf.validate_document(fixed)
    except umcf.UMCFError as exc:
        done["validating"] = "failed"
        await job.progress(stage="failed", error=str(exc), stages=stages_view(done, None))
        return {"status": "failed", "error": f"The fixed document does not validate: {exc}"}
    done["validating"] = "complete"
    if config.get("dryRun"):
        done["storing"] = "skipped"
    else:
        await stage("storing", 90.0, "Saving the curriculum")
        async with job.ctx.db.tenant(job.tenant_id) as conn:
            await store.upsert(conn, job.tenant_id, fixed)
        done["storing"] = "complete"
    after = analysis.analyze(fixed, curriculum_id)
    await job.progress(stage="complete", percent_complete=100.0, activity="Done", fixes=fixes,
                       stages=stages_view(done, None))
    return {"status": "ok", "curriculumId": curriculum_id, "fixesApplied": fixes, "dryRun": bool(config.get("dryRun")),
            "issuesBefore": before["stats"]["totalIssues"], "issuesAfter": after["stats"]["totalIssues"]}
