"""The voice core's background jobs: TTS prefetch of curriculum topics, Knowledge Bowl audio, and the
console's TTS pre-generation batch jobs.

Every handler is idempotent (the queue delivers at least once: cached audio is skipped). A handler
takes a ``runtime.jobs.queue.Job`` and returns a JSON-able result; it reports progress with
``await job.progress(...)`` and stops early when cancelled. The voice service lists them in
``Service.jobs``.
"""
from __future__ import annotations

import json
import time
import uuid

from runtime.errors import ApiError
from runtime.jobs.queue import Job, job_principal
from runtime.providers.base import ProviderError
from runtime.tts import kb_audio, pregen

from .core import voice_core


async def tts_prefetch(job: Job) -> dict:
    """Synthesise every segment of curriculum topics into the TTS cache."""
    core = voice_core(job.ctx)
    p = job.payload
    principal = job_principal(job)
    topics = p.get("topic_ids") or [p["topic_id"]]
    texts: list[tuple[str, bool]] = []
    for tid in topics:
        info = await core.topic_info(job.tenant_id, p["curriculum_id"], tid)
        if info:
            texts += [(str(s.get("content") or "").strip(), info["system"]) for s in info["segments"]
                      if str(s.get("content") or "").strip()]
    counts = {"total_segments": len(texts), "completed": 0, "cached": 0, "generated": 0, "failed": 0}
    started = time.time()
    await job.progress(**counts, status="in_progress", percent_complete=0.0, started_at=started,
                       curriculum_id=p["curriculum_id"], topic_id=topics[0] if len(topics) == 1 else None)
    for i, (text, system) in enumerate(texts):
        if i % 5 == 0:
            await job.check_cancelled()
        try:
            res = await core.speech.speak(principal, job.tenant_id, text, voice=p.get("voice_id"),
                                          provider_name=p.get("tts_provider"), speed=float(p.get("speed") or 1.0),
                                          system=system)
            counts["cached" if res.status == "hit" else "generated"] += 1
        except ProviderError:
            counts["failed"] += 1
        counts["completed"] += 1
        if counts["completed"] % 5 == 0 or counts["completed"] == len(texts):
            await job.progress(**counts, percent_complete=round(100.0 * counts["completed"] / max(1, len(texts)), 1))
    await core.speech.drain()
    status = "completed_with_errors" if counts["failed"] else "completed"
    await job.progress(status=status, completed_at=time.time())
    return {**counts, "status": status}


async def kb_audio_prefetch(job: Job) -> dict:
    """Generate every Knowledge Bowl audio segment of a module."""
    core = voice_core(job.ctx)
    p = job.payload
    principal = job_principal(job)
    questions = await kb_audio.module_questions(job.ctx, job.tenant_id, p["module_id"]) or []
    work = [(q["id"], seg, text) for q in questions for seg, text in kb_audio.question_segments(q).items()]
    counts = {"module_id": p["module_id"], "total_segments": len(work), "completed": 0, "cached": 0,
              "generated": 0, "failed": 0}
    await job.progress(**counts, status="in_progress", percent_complete=0.0, started_at=time.time())
    for i, (qid, seg, text) in enumerate(work):
        if i % 10 == 0:
            await job.check_cancelled()
        try:
            how = await kb_audio.generate_segment(core, principal, job.tenant_id, p["module_id"], qid, seg, text,
                                                  voice=p.get("voice_id"), provider=p.get("provider"),
                                                  force=bool(p.get("force_regenerate")))
            counts["cached" if how == "cached" else "generated"] += 1
        except ProviderError:
            counts["failed"] += 1
        counts["completed"] += 1
        if counts["completed"] % 10 == 0 or counts["completed"] == len(work):
            await job.progress(**counts, percent_complete=round(100.0 * counts["completed"] / max(1, len(work)), 1))
    status = "completed_with_errors" if counts["failed"] else "completed"
    await job.progress(status=status, completed_at=time.time())
    return {**counts, "status": status}



# A pre-generation job stops (status failed) after this many items in a row failed: the provider is
# down or the voice is wrong, and speaking the rest would only fail too (retry-failed and start resume).
PREGEN_MAX_CONSECUTIVE_FAILURES = 5


async def tts_pregen(job: Job) -> dict:
    """Speak a pre-generation job's pending items into the tenant's TTS cache, one at a time.

    The ``tts_pregen_jobs`` row decides: the handler goes on only while the row is ``running`` and names
    this queue job (a pause, a delete or a newer start stops it between two items). Each item is taken
    and finished in its own transaction, so a worker that dies loses at most the item it was speaking,
    which the next delivery speaks again (through the cache: no second synthesis)."""
    core = voice_core(job.ctx)
    principal = job_principal(job)
    tenant = job.tenant_id
    pid = uuid.UUID(job.payload["pregen_id"])
    me = uuid.UUID(job.id)
    done = 0
    while True:
        await job.check_cancelled()
        async with job.ctx.db.tenant(tenant) as conn:
            row = await pregen.get(conn, tenant, pid, for_update=True)
            if row is None or row["status"] != "running" or row["run_job_id"] != me:
                return {"pregen_id": str(pid), "status": row["status"] if row else "deleted", "spoken": done}
            item = await pregen.next_pending(conn, tenant, pid)
        if item is None:
            break
        cfg = json.loads(row["tts_config"]) if isinstance(row["tts_config"], str) else row["tts_config"]
        outcome: dict = {}
        try:
            res = await core.speech.speak(principal, tenant, item["text_content"], voice=cfg.get("voice_id"),
                                          provider_name=cfg.get("provider"), speed=float(cfg.get("speed") or 1.0),
                                          options=cfg.get("options") or None)
            outcome = {"ok": True, "output_file": res.key.object_key, "duration": res.duration_seconds,
                       "size": len(res.wav), "sample_rate": res.sample_rate}
        except (ProviderError, ApiError) as exc:
            outcome = {"ok": False, "error": str(exc)[:1000]}
        async with job.ctx.db.tenant(tenant) as conn:
            row = await pregen.finish_item(conn, tenant, pid, item["item_index"], **outcome)
            if row is not None and row["consecutive_failures"] >= PREGEN_MAX_CONSECUTIVE_FAILURES:
                await pregen.set_status(conn, tenant, pid, "failed", last_error=outcome.get("error"))
        done += 1
        if row is None:
            return {"pregen_id": str(pid), "status": "deleted", "spoken": done}
        await job.progress(pregen_id=str(pid), completed_items=row["completed_items"], failed_items=row["failed_items"],
                           total_items=row["total_items"], current_item_index=row["current_item_index"])
        if row["consecutive_failures"] >= PREGEN_MAX_CONSECUTIVE_FAILURES:
            return {"pregen_id": str(pid), "status": "failed", "spoken": done}
    await core.speech.drain()
    async with job.ctx.db.tenant(tenant) as conn:
        row = await pregen.get(conn, tenant, pid, for_update=True)
        if row is not None and row["status"] == "running" and row["run_job_id"] == me:
            await pregen.set_status(conn, tenant, pid, "completed")
    return {"pregen_id": str(pid), "status": "completed", "spoken": done}
