"""``/api/tts/pregen/*``: TTS pre-generation batch jobs (the Operations Console's batch panel).

A job is a named list of texts — a curriculum's transcript segments, the Knowledge Bowl question bank
(questions, answers, hints, explanations; by domain and difficulty) or the caller's own items — that
the ``tts_pregen`` queue job speaks into the tenant's TTS cache (``runtime.tts.speech``), where the
apps' later ``/api/tts`` calls and sessions find the audio without synthesising it again. Start,
pause and resume move the job's row; the queue job follows the row between two items. Tenant-scoped
(RLS) and for administrators only: a job spends the tenant's TTS budget on many texts at once.
"""
from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from runtime.auth.principal import Principal, admin_principal
from runtime.content import schemas
from runtime.context import ctx
from runtime.errors import ApiError, InvalidField, MissingField, NotFound
from runtime.jobs.queue import principal_payload
from runtime.tts import pregen, profiles
from runtime.tts.common import TTS_PROVIDER_NAMES, VOICE_PATTERN
from runtime.validation import (field_bool, field_dict, field_enum, field_list, field_str, json_body, query_enum,
                                query_int)

# Where the audio goes: the tenant's TTS cache (keyed by text, voice, provider and speed), not files.
OUTPUT_DIR = "tts-cache"
OUTPUT_FORMATS = ("wav",)


_ADMIN_ONLY = "TTS pre-generation jobs are for administrators."


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _job_json(row, current_text: str | None = None) -> dict[str, Any]:
    """``TTSPregenJob`` (server/web/src/types/tts-pregen.ts); optional fields left out when unset."""
    config = json.loads(row["tts_config"]) if isinstance(row["tts_config"], str) else row["tts_config"]
    job = {
        "id": str(row["id"]), "name": row["name"], "job_type": row["job_type"], "status": row["status"],
        "source_type": row["source_type"], "source_id": row["source_id"],
        "profile_id": str(row["profile_id"]) if row["profile_id"] else None, "tts_config": config,
        "output_format": row["output_format"], "normalize_volume": row["normalize_volume"], "output_dir": OUTPUT_DIR,
        "total_items": row["total_items"], "completed_items": row["completed_items"],
        "failed_items": row["failed_items"], "current_item_index": row["current_item_index"],
        "current_item_text": current_text, "created_at": _iso(row["created_at"]), "updated_at": _iso(row["updated_at"]),
        "started_at": _iso(row["started_at"]), "paused_at": _iso(row["paused_at"]),
        "completed_at": _iso(row["completed_at"]), "last_error": row["last_error"],
        "consecutive_failures": row["consecutive_failures"],
    }
    return {k: v for k, v in job.items() if v is not None}


def _item_json(row) -> dict[str, Any]:
    item = {"id": str(row["id"]), "job_id": str(row["job_id"]), "item_index": row["item_index"],
            "text_content": row["text_content"], "text_hash": row["text_hash"], "source_ref": row["source_ref"],
            "status": row["status"], "attempt_count": row["attempt_count"], "output_file": row["output_file"],
            "duration_seconds": row["duration_seconds"], "file_size_bytes": row["file_size_bytes"],
            "sample_rate": row["sample_rate"], "last_error": row["last_error"],
            "processing_started_at": _iso(row["processing_started_at"]),
            "processing_completed_at": _iso(row["processing_completed_at"])}
    return {k: v for k, v in item.items() if v is not None}


def _not_found() -> ApiError:
    return NotFound("TTS pre-generation job not found.")


def _job_id(request: Request) -> uuid.UUID:
    try:
        return uuid.UUID(str(request.path_params["id"]))
    except ValueError:
        raise _not_found() from None


async def _load(conn, who: Principal, job_id: uuid.UUID, *, for_update: bool = False):
    row = await pregen.get(conn, who.tenant_id, job_id, for_update=for_update)
    if row is None:
        raise _not_found()
    return row


def _page(request: Request, max_limit: int) -> tuple[int, int]:
    """``?limit`` (default 50) and ``?offset`` (default 0), validated."""
    limit = query_int(request, "limit", 50, 1, max_limit)
    offset = query_int(request, "offset", 0, 0, 1_000_000)
    return (50 if limit is None else limit), (0 if offset is None else offset)


def _ok(body: dict[str, Any], status: int = 200) -> Response:
    return JSONResponse({"success": True, **body}, status_code=status)


# ------------------------------------------------------------------------------------- sources
def _source_options(body: dict[str, Any]) -> dict[str, Any]:
    """The console's extraction switches (ExtractRequest / CreateBatchJobData), validated."""
    options: dict[str, Any] = {}
    for name in ("include_questions", "include_answers", "include_hints", "include_explanations"):
        value = field_bool(body, name)
        if value is not None:
            options[name] = value
    options["domains"] = field_list(body, "domains", default=[], item_type=str, max_items=50)
    difficulties = field_list(body, "difficulties", default=[], item_type=int, max_items=5)
    if any(not 1 <= d <= 5 for d in difficulties or []):
        raise InvalidField("'difficulties' must be levels 1-5.", details={"field": "difficulties"})
    options["difficulties"] = sorted(set(difficulties or []))
    items = field_list(body, "items", default=[], max_items=pregen.MAX_ITEMS)
    for index, item in enumerate(items or []):
        if not isinstance(item, dict) or not isinstance(item.get("text"), str) or len(item["text"]) > pregen.MAX_TEXT \
                or not isinstance(item.get("source_ref", ""), (str, type(None))):
            raise InvalidField(f"'items[{index}]' must be {{text, source_ref?}} with at most {pregen.MAX_TEXT} characters.",
                               details={"field": "items", "index": index})
    options["items"] = items
    return options


async def _texts(conn, body: dict[str, Any]) -> tuple[str, str | None, list[dict[str, str]]]:
    source_type = field_enum(body, "source_type", pregen.SOURCE_TYPES, required=True) or "custom"
    source_id = field_str(body, "source_id", max_len=200)
    if source_type == "curriculum" and not source_id:
        raise MissingField("'source_id' (the curriculum id) is required for a curriculum.", details={"field": "source_id"})
    texts = await pregen.extract(conn, source_type, source_id, _source_options(body))
    if texts is None:
        raise NotFound("Curriculum not found.", details={"field": "source_id"})
    return source_type, source_id, texts


async def extract(request: Request) -> Response:
    """The texts a job of this source would speak: ``{success, items: [{text, source_ref}], total_count}``."""
    who = admin_principal(request, _ADMIN_ONLY)
    body = await json_body(request)
    async with ctx(request).db.tenant(who.tenant_id) as conn:
        _, _, texts = await _texts(conn, body)
    return _ok({"items": texts, "total_count": len(texts)})


# ------------------------------------------------------------------------------------------ jobs
async def _tts_config(conn, who: Principal, body: dict[str, Any]) -> tuple[uuid.UUID | None, dict[str, Any]]:
    """The voice to speak with: the profile's (copied when the job is made, so editing the profile
    later does not change a half-done job) or ``tts_config {provider, voice_id, speed}``."""
    raw_profile = field_str(body, "profile_id", max_len=100)
    config = dict(field_dict(body, "tts_config", default={}) or {})
    if raw_profile:
        try:
            profile_id = uuid.UUID(raw_profile)
        except ValueError:
            raise NotFound("TTS profile not found.", details={"field": "profile_id"}) from None
        prof = await profiles.get(conn, who.tenant_id, profile_id)
        if prof is None:
            raise NotFound("TTS profile not found.", details={"field": "profile_id"})
        settings = json.loads(prof["settings"]) if isinstance(prof["settings"], str) else prof["settings"]
        return profile_id, {"provider": prof["provider"], "voice_id": prof["voice_id"],
                            "speed": (settings or {}).get("speed") or 1.0, **config}
    field_enum(config, "provider", TTS_PROVIDER_NAMES)
    field_str(config, "voice_id", max_len=100, pattern=VOICE_PATTERN)
    speed = config.get("speed")
    if speed is not None and (isinstance(speed, bool) or not isinstance(speed, (int, float)) or not 0.25 <= speed <= 4):
        raise InvalidField("'tts_config.speed' must be between 0.25 and 4.", details={"field": "tts_config"})
    return None, config


async def list_jobs(request: Request) -> Response:
    """The tenant's jobs, newest first (``?status&source_type&job_type&limit&offset``)."""
    who = admin_principal(request, _ADMIN_ONLY)
    filters = {"status": query_enum(request, "status", pregen.JOB_STATUSES),
               "source_type": query_enum(request, "source_type", pregen.SOURCE_TYPES),
               "job_type": query_enum(request, "job_type", ("batch", "comparison"))}
    limit, offset = _page(request, 200)
    async with ctx(request).db.tenant(who.tenant_id) as conn:
        rows, total = await pregen.page(conn, who.tenant_id, limit=limit, offset=offset, **filters)
    return _ok({"jobs": [_job_json(r) for r in rows], "total": total, "limit": limit, "offset": offset})


async def create_job(request: Request) -> Response:
    """Make a job (``CreateBatchJobData``): its items are extracted now; it starts with ``/start``."""
    who = admin_principal(request, _ADMIN_ONLY)
    body = await json_body(request)
    name = field_str(body, "name", required=True, max_len=200)
    if not name:
        raise MissingField("'name' is required.", details={"field": "name"})
    fields: dict[str, Any] = {
        "name": name, "job_type": "batch",
        "output_format": field_enum(body, "output_format", OUTPUT_FORMATS, default="wav"),
        "normalize_volume": field_bool(body, "normalize_volume", default=False),
    }
    async with ctx(request).db.tenant(who.tenant_id) as conn:
        fields["source_type"], fields["source_id"], texts = await _texts(conn, body)
        if not texts:
            raise ApiError(422, "no_items", "The source has no text to speak.", details={"field": "source_type"})
        fields["profile_id"], fields["tts_config"] = await _tts_config(conn, who, body)
        row = await pregen.create(conn, who.tenant_id, fields, texts)
    return _ok({"job": _job_json(row)}, 201)


async def get_job(request: Request) -> Response:
    who = admin_principal(request, _ADMIN_ONLY)
    async with ctx(request).db.tenant(who.tenant_id) as conn:
        row = await _load(conn, who, _job_id(request))
        text = await pregen.current_text(conn, who.tenant_id, row["id"], row["current_item_index"])
    return _ok({"job": _job_json(row, text)})


async def delete_job(request: Request) -> Response:
    """Delete a job and its items (a running one stops before its next item)."""
    who = admin_principal(request, _ADMIN_ONLY)
    async with ctx(request).db.tenant(who.tenant_id) as conn:
        row = await _load(conn, who, _job_id(request), for_update=True)
        await pregen.delete(conn, who.tenant_id, row["id"])
    if row["run_job_id"] and row["status"] == "running":
        await ctx(request).jobs.cancel(str(row["run_job_id"]), who.tenant_id)
    return _ok({"deleted": True, "id": str(row["id"])})


async def _transition(request: Request, allowed: tuple[str, ...], target: str) -> Response:
    who = admin_principal(request, _ADMIN_ONLY)
    queue = ctx(request).jobs
    async with ctx(request).db.tenant(who.tenant_id) as conn:
        row = await _load(conn, who, _job_id(request), for_update=True)
        if row["status"] not in allowed:
            raise ApiError(409, "invalid_state", f"A {row['status']} job cannot be {'paused' if target == 'paused' else 'started'}.",
                           details={"status": row["status"], "allowed": list(allowed)})
        run_job_id = None
        if target == "running":
            run_job_id = uuid.UUID(await queue.enqueue(
                "tts_pregen", {"pregen_id": str(row["id"]), "_principal": principal_payload(who)}, who.tenant_id))
        row = await pregen.set_status(conn, who.tenant_id, row["id"], target, run_job_id=run_job_id)
    return _ok({"job": _job_json(row)})


async def start_job(request: Request) -> Response:
    """Start a pending job (or restart a failed one: the items not yet done are spoken)."""
    return await _transition(request, ("pending", "failed"), "running")


async def pause_job(request: Request) -> Response:
    """Pause: the running queue job stops after the item it is speaking."""
    return await _transition(request, ("pending", "running"), "paused")


async def resume_job(request: Request) -> Response:
    return await _transition(request, ("paused",), "running")


async def progress(request: Request) -> Response:
    """``JobProgress``: counts, percentage and the item being spoken."""
    who = admin_principal(request, _ADMIN_ONLY)
    async with ctx(request).db.tenant(who.tenant_id) as conn:
        row = await _load(conn, who, _job_id(request))
        counts = await pregen.counts(conn, who.tenant_id, row["id"])
        text = await pregen.current_text(conn, who.tenant_id, row["id"], row["current_item_index"])
    total = row["total_items"]
    done = counts["completed"] + counts["failed"] + counts["skipped"]
    answer = {"job_id": str(row["id"]), "status": row["status"],
              "percentage": round(100.0 * done / total, 1) if total else 100.0,
              "completed_items": counts["completed"], "failed_items": counts["failed"],
              "pending_items": counts["pending"] + counts["processing"], "total_items": total,
              "current_item_index": row["current_item_index"]}
    if text is not None and row["status"] == "running":
        answer["current_item_text"] = text
    return JSONResponse(answer)


async def items(request: Request) -> Response:
    """The job's items in order (``?status&limit&offset``)."""
    who = admin_principal(request, _ADMIN_ONLY)
    status = query_enum(request, "status", pregen.ITEM_STATUSES)
    limit, offset = _page(request, 500)
    async with ctx(request).db.tenant(who.tenant_id) as conn:
        row = await _load(conn, who, _job_id(request))
        rows, total = await pregen.items_page(conn, who.tenant_id, row["id"], status, limit, offset)
    return _ok({"items": [_item_json(r) for r in rows], "total": total, "limit": limit, "offset": offset})


async def retry_failed(request: Request) -> Response:
    """Failed items back to pending (start or resume the job to speak them)."""
    who = admin_principal(request, _ADMIN_ONLY)
    async with ctx(request).db.tenant(who.tenant_id) as conn:
        row = await _load(conn, who, _job_id(request), for_update=True)
        reset = await pregen.retry_failed(conn, who.tenant_id, row["id"])
    return _ok({"reset_count": reset})


_S, _I, _B, _N = schemas.STR, schemas.INT, schemas.BOOL, schemas.NUM
JOB = schemas.obj(
    {"id": _S, "name": _S, "job_type": {"enum": ["batch", "comparison"]}, "status": {"enum": list(pregen.JOB_STATUSES)},
     "source_type": _S, "output_format": _S, "normalize_volume": _B, "output_dir": _S, "total_items": _I,
     "completed_items": _I, "failed_items": _I, "current_item_index": _I, "consecutive_failures": _I,
     "created_at": _S, "updated_at": _S},
    {"source_id": _S, "profile_id": _S, "tts_config": {"type": "object"}, "current_item_text": _S, "started_at": _S,
     "paused_at": _S, "completed_at": _S, "last_error": _S})
JOB_ANSWER = schemas.obj({"success": _B, "job": JOB})
SOURCE = schemas.obj(
    {"source_type": {"enum": list(pregen.SOURCE_TYPES)}},
    {"source_id": _S, "include_questions": _B, "include_answers": _B, "include_hints": _B, "include_explanations": _B,
     "domains": {"type": "array", "items": _S}, "difficulties": {"type": "array", "items": _I},
     "items": {"type": "array", "items": schemas.obj({"text": _S}, {"source_ref": _S})}})
schemas.declare(list_jobs, response=schemas.obj({"success": _B, "jobs": {"type": "array", "items": JOB}, "total": _I,
                                                 "limit": _I, "offset": _I}))
schemas.declare(create_job, status="201", response=JOB_ANSWER, request={
    **SOURCE, "required": ["name", "source_type"],
    "properties": {**SOURCE["properties"], "name": _S, "profile_id": _S, "tts_config": {"type": "object"},
                   "output_format": {"enum": list(OUTPUT_FORMATS)}, "normalize_volume": _B}})
for _endpoint in (get_job, start_job, pause_job, resume_job):
    schemas.declare(_endpoint, response=JOB_ANSWER)
schemas.declare(delete_job, response=schemas.obj({"success": _B, "deleted": _B, "id": _S}))
schemas.declare(progress, response=schemas.obj(
    {"job_id": _S, "status": {"enum": list(pregen.JOB_STATUSES)}, "percentage": _N, "completed_items": _I,
     "failed_items": _I, "pending_items": _I, "total_items": _I, "current_item_index": _I}, {"current_item_text": _S}))
schemas.declare(items, response=schemas.obj({"success": _B, "items": {"type": "array", "items": schemas.obj(
    {"id": _S, "job_id": _S, "item_index": _I, "text_content": _S, "text_hash": _S,
     "status": {"enum": list(pregen.ITEM_STATUSES)}, "attempt_count": _I},
    {"source_ref": _S, "output_file": _S, "duration_seconds": _N, "file_size_bytes": _I, "sample_rate": _I,
     "last_error": _S})}, "total": _I, "limit": _I, "offset": _I}))
schemas.declare(retry_failed, response=schemas.obj({"success": _B, "reset_count": _I}))
schemas.declare(extract, request=SOURCE, response=schemas.obj(
    {"success": _B, "items": {"type": "array", "items": schemas.obj({"text": _S, "source_ref": _S})}, "total_count": _I}))


ROUTES = [
    Route("/api/tts/pregen/jobs", list_jobs, methods=["GET"]),
    Route("/api/tts/pregen/jobs", create_job, methods=["POST"]),
    Route("/api/tts/pregen/jobs/{id}", get_job, methods=["GET"]),
    Route("/api/tts/pregen/jobs/{id}", delete_job, methods=["DELETE"]),
    Route("/api/tts/pregen/jobs/{id}/start", start_job, methods=["POST"]),
    Route("/api/tts/pregen/jobs/{id}/pause", pause_job, methods=["POST"]),
    Route("/api/tts/pregen/jobs/{id}/resume", resume_job, methods=["POST"]),
    Route("/api/tts/pregen/jobs/{id}/progress", progress, methods=["GET"]),
    Route("/api/tts/pregen/jobs/{id}/items", items, methods=["GET"]),
    Route("/api/tts/pregen/jobs/{id}/retry-failed", retry_failed, methods=["POST"]),
    Route("/api/tts/pregen/extract", extract, methods=["POST"]),
]
