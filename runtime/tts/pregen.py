"""TTS pre-generation batch jobs in PostgreSQL (``tts_pregen_jobs``, ``tts_pregen_items``; one tenant's
rows under RLS): a named list of texts that the ``tts_pregen`` queue job speaks into the tenant's TTS
cache one item at a time. Only this module touches the tables; it also extracts the texts of a source
(a curriculum's transcript segments, the Knowledge Bowl question bank, or the caller's own items).
"""
from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any, Sequence

import asyncpg

from runtime.curricula import store as curricula_store
from runtime.curricula import umcf
from runtime.kb import store as kb_store

JOB_COLUMNS = (
    "id, name, job_type, status, source_type, source_id, profile_id, tts_config, output_format, normalize_volume, "
    "total_items, completed_items, failed_items, current_item_index, consecutive_failures, last_error, run_job_id, "
    "created_at, updated_at, started_at, paused_at, completed_at")
ITEM_COLUMNS = (
    "id, job_id, item_index, text_content, text_hash, source_ref, status, attempt_count, output_file, "
    "duration_seconds, file_size_bytes, sample_rate, last_error, processing_started_at, processing_completed_at")
SOURCE_TYPES = ("knowledge-bowl", "curriculum", "custom")
JOB_STATUSES = ("pending", "running", "paused", "completed", "failed", "cancelled")
ITEM_STATUSES = ("pending", "processing", "completed", "failed", "skipped")
MAX_ITEMS = 5000
MAX_TEXT = 5000


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


# ------------------------------------------------------------------------------------- extraction
async def extract(conn: asyncpg.Connection, source_type: str, source_id: str | None, options: dict[str, Any]
                  ) -> list[dict[str, str]] | None:
    """The texts of a source as ``[{text, source_ref}]`` (at most ``MAX_ITEMS``, blanks and repeats left
    out); None when the curriculum does not exist. ``options``: the console's KB switches
    (``include_questions`` / ``include_answers`` / ``include_hints`` / ``include_explanations``,
    ``domains``, ``difficulties``) or ``items`` for ``custom``."""
    if source_type == "curriculum":
        items = await _curriculum_texts(conn, source_id or "")
    elif source_type == "knowledge-bowl":
        items = await _kb_texts(conn, options)
    else:
        items = [{"text": str(i.get("text") or ""), "source_ref": str(i.get("source_ref") or f"custom:{n}")}
                 for n, i in enumerate(options.get("items") or [])]
    if items is None:
        return None
    seen: set[str] = set()
    out = []
    for item in items:
        text = " ".join(item["text"].split())[:MAX_TEXT]
        if text and text not in seen:
            seen.add(text)
            out.append({"text": text, "source_ref": item["source_ref"]})
        if len(out) >= MAX_ITEMS:
            break
    return out


async def _curriculum_texts(conn: asyncpg.Connection, curriculum_id: str) -> list[dict[str, str]] | None:
    row = await curricula_store.get_visible(conn, curriculum_id)
    if row is None:
        return None
    doc = curricula_store.document(row)
    items = []
    for topic in umcf.list_topics(doc):
        topic_id = umcf.node_id(topic) or ""
        transcript = umcf.transcript(doc, topic_id) or {}
        for index, segment in enumerate(transcript.get("segments") or []):
            if isinstance(segment, dict):
                items.append({"text": str(segment.get("content") or ""),
                              "source_ref": f"{curriculum_id}/{topic_id}/{segment.get('id') or index}"})
    return items


async def _kb_texts(conn: asyncpg.Connection, options: dict[str, Any]) -> list[dict[str, str]]:
    wanted = {"question": options.get("include_questions", True), "answer": options.get("include_answers", True),
              "hint": options.get("include_hints", False), "explanation": options.get("include_explanations", False)}
    domains: list[str | None] = [kb_store.canonical_domain(d) for d in options.get("domains") or []] or [None]
    items: list[dict[str, str]] = []
    for domain in domains:
        offset = 0
        while len(items) < MAX_ITEMS * 2:
            rows, total = await kb_store.list_questions(
                conn, pack_id=None, domain_id=domain, subcategory=None, difficulties=options.get("difficulties") or None,
                question_type=None, has_audio=None, status=None, search=None, limit=500, offset=offset)
            for q in rows:
                parts = [("question", q["question_text"]), ("answer", q["answer_text"]),
                         ("explanation", q["explanation"])]
                parts += [(f"hint_{i}", h) for i, h in enumerate(q["hints"] or [])]
                for part, text in parts:
                    if text and wanted[part.split("_")[0]]:
                        items.append({"text": str(text), "source_ref": f"kb:{q['id']}:{part}"})
            offset += len(rows)
            if not rows or offset >= total:
                break
    return items


# ------------------------------------------------------------------------------------------ jobs
async def create(conn: asyncpg.Connection, tenant_id: str, fields: dict[str, Any],
                 texts: Sequence[dict[str, str]]) -> asyncpg.Record:
    row = await conn.fetchrow(
        f"insert into tts_pregen_jobs (tenant_id, name, job_type, source_type, source_id, profile_id, tts_config, "
        f"output_format, normalize_volume, total_items) values ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10) "
        f"returning {JOB_COLUMNS}",
        tenant_id, fields["name"], fields["job_type"], fields["source_type"], fields["source_id"], fields["profile_id"],
        json.dumps(fields["tts_config"]), fields["output_format"], fields["normalize_volume"], len(texts))
    await conn.executemany(
        "insert into tts_pregen_items (tenant_id, job_id, item_index, text_content, text_hash, source_ref) "
        "values ($1, $2, $3, $4, $5, $6)",
        [(tenant_id, row["id"], i, t["text"], text_hash(t["text"]), t["source_ref"]) for i, t in enumerate(texts)])
    return row


async def get(conn: asyncpg.Connection, tenant_id: str, job_id: uuid.UUID, *, for_update: bool = False
              ) -> asyncpg.Record | None:
    return await conn.fetchrow(f"select {JOB_COLUMNS} from tts_pregen_jobs where tenant_id = $1 and id = $2"
                               + (" for update" if for_update else ""), tenant_id, job_id)


async def page(conn: asyncpg.Connection, tenant_id: str, *, status: str | None, source_type: str | None,
               job_type: str | None, limit: int, offset: int) -> tuple[list[asyncpg.Record], int]:
    where = ("tenant_id = $1 and ($2::text is null or status = $2) and ($3::text is null or source_type = $3) "
             "and ($4::text is null or job_type = $4)")
    args = (tenant_id, status, source_type, job_type)
    rows = await conn.fetch(f"select {JOB_COLUMNS} from tts_pregen_jobs where {where} "
                            "order by created_at desc, id limit $5 offset $6", *args, limit, offset)
    total = await conn.fetchval(f"select count(*) from tts_pregen_jobs where {where}", *args)
    return rows, total


async def delete(conn: asyncpg.Connection, tenant_id: str, job_id: uuid.UUID) -> None:
    await conn.execute("delete from tts_pregen_jobs where tenant_id = $1 and id = $2", tenant_id, job_id)


async def set_status(conn: asyncpg.Connection, tenant_id: str, job_id: uuid.UUID, status: str, *,
                     run_job_id: uuid.UUID | None = None, last_error: str | None = None) -> asyncpg.Record:
    """Move a job to ``status``, stamping started/paused/completed times (and the queue job running it)."""
    return await conn.fetchrow(
        "update tts_pregen_jobs set status = $3, updated_at = now(), "
        "run_job_id = coalesce($4, run_job_id), last_error = coalesce($5, last_error), "
        "started_at = case when $3 = 'running' then coalesce(started_at, now()) else started_at end, "
        "paused_at = case when $3 = 'paused' then now() else paused_at end, "
        "completed_at = case when $3 in ('completed', 'failed', 'cancelled') then now() else completed_at end "
        f"where tenant_id = $1 and id = $2 returning {JOB_COLUMNS}",
        tenant_id, job_id, status, run_job_id, last_error)


async def current_text(conn: asyncpg.Connection, tenant_id: str, job_id: uuid.UUID, index: int) -> str | None:
    return await conn.fetchval("select text_content from tts_pregen_items where tenant_id = $1 and job_id = $2 "
                               "and item_index = $3", tenant_id, job_id, index)


async def counts(conn: asyncpg.Connection, tenant_id: str, job_id: uuid.UUID) -> dict[str, int]:
    rows = await conn.fetch("select status, count(*) as n from tts_pregen_items where tenant_id = $1 and job_id = $2 "
                            "group by status", tenant_id, job_id)
    found = {r["status"]: r["n"] for r in rows}
    return {status: int(found.get(status, 0)) for status in ITEM_STATUSES}


# ----------------------------------------------------------------------------------------- items
async def items_page(conn: asyncpg.Connection, tenant_id: str, job_id: uuid.UUID, status: str | None, limit: int,
                     offset: int) -> tuple[list[asyncpg.Record], int]:
    where = "tenant_id = $1 and job_id = $2 and ($3::text is null or status = $3)"
    rows = await conn.fetch(f"select {ITEM_COLUMNS} from tts_pregen_items where {where} order by item_index "
                            "limit $4 offset $5", tenant_id, job_id, status, limit, offset)
    total = await conn.fetchval(f"select count(*) from tts_pregen_items where {where}", tenant_id, job_id, status)
    return rows, total


async def retry_failed(conn: asyncpg.Connection, tenant_id: str, job_id: uuid.UUID) -> int:
    """Failed items back to pending; the job's failure counters follow. Returns how many were reset."""
    n = await conn.fetchval(
        "with u as (update tts_pregen_items set status = 'pending', last_error = null where tenant_id = $1 "
        "and job_id = $2 and status = 'failed' returning item_index) select count(*) from u", tenant_id, job_id)
    await conn.execute(
        "update tts_pregen_jobs set failed_items = greatest(0, failed_items - $3), consecutive_failures = 0, "
        "updated_at = now() where tenant_id = $1 and id = $2", tenant_id, job_id, n)
    return int(n)


async def next_pending(conn: asyncpg.Connection, tenant_id: str, job_id: uuid.UUID) -> asyncpg.Record | None:
    """The first item still to do, marked processing (an item left processing by a worker that died is
    taken again: delivery is at least once and speaking through the cache is idempotent)."""
    return await conn.fetchrow(
        "update tts_pregen_items set status = 'processing', attempt_count = attempt_count + 1, "
        "processing_started_at = now() where (tenant_id, job_id, item_index) = (select tenant_id, job_id, item_index "
        "from tts_pregen_items where tenant_id = $1 and job_id = $2 and status in ('pending', 'processing') "
        f"order by item_index limit 1 for update) returning {ITEM_COLUMNS}", tenant_id, job_id)


async def finish_item(conn: asyncpg.Connection, tenant_id: str, job_id: uuid.UUID, index: int, *, ok: bool,
                      output_file: str | None = None, duration: float | None = None, size: int | None = None,
                      sample_rate: int | None = None, error: str | None = None) -> asyncpg.Record:
    """Record one item's outcome and advance the job's counters; returns the job row."""
    await conn.execute(
        "update tts_pregen_items set status = $4, output_file = $5, duration_seconds = $6, file_size_bytes = $7, "
        "sample_rate = $8, last_error = $9, processing_completed_at = now() "
        "where tenant_id = $1 and job_id = $2 and item_index = $3",
        tenant_id, job_id, index, "completed" if ok else "failed", output_file, duration, size, sample_rate, error)
    return await conn.fetchrow(
        "update tts_pregen_jobs set completed_items = completed_items + $3, failed_items = failed_items + $4, "
        "consecutive_failures = case when $3 = 1 then 0 else consecutive_failures + 1 end, "
        "current_item_index = $5, last_error = coalesce($6, last_error), updated_at = now() "
        f"where tenant_id = $1 and id = $2 returning {JOB_COLUMNS}",
        tenant_id, job_id, 1 if ok else 0, 0 if ok else 1, index + 1, error)
