"""Knowledge Bowl questions and packs in PostgreSQL (the old JSON files are gone: one store).

System questions/packs (``tenant_id NULL``) are visible to every tenant and read-only to them; a
tenant's custom questions and packs are visible to it alone (RLS). Shapes are the superset the apps
(``pack_type``, ``question_ids``, ``stats``) and the ops console (``type``, flattened stats,
``domain_groups``) decode.
"""
from __future__ import annotations

import json
import re
import secrets
from typing import Any, Sequence

import asyncpg

DIFFICULTY_TIERS = ("elementary", "middle_school", "jv", "varsity", "championship", "college")
QUESTION_TYPES = ("toss_up", "bonus", "pyramid", "lightning")
QUESTION_SOURCES = ("naqt", "nsb", "qb_packets", "custom", "ai_generated")
STATUSES = ("active", "draft", "archived")
PACK_TYPES = ("system", "custom", "bundle")
# Domain ids accepted on input that the old docs used; stored as the database's ids.
DOMAIN_ALIASES = {"fine_arts": "arts", "fineArts": "arts", "socialStudies": "social_studies",
                  "currentEvents": "current_events", "popCulture": "pop_culture",
                  "religionPhilosophy": "religion_philosophy"}

QUESTION_COLUMNS = (
    "q.id, q.tenant_id, q.domain_id, q.subcategory, q.question_text, q.answer_text, q.acceptable_answers, "
    "q.difficulty, q.speed_target_seconds, q.question_type, q.hints, q.explanation, q.difficulty_tier, "
    "q.competition_year, q.question_source, q.buzzable, q.status, q.has_audio, q.created_at, q.updated_at"
)


def canonical_domain(domain_id: str) -> str:
    return DOMAIN_ALIASES.get(domain_id, domain_id)


def new_pack_id() -> str:
    return f"pack-{secrets.token_hex(4)}"


def new_question_id(domain_id: str, subcategory: str) -> str:
    sub = re.sub(r"[^A-Za-z0-9]", "", subcategory or "")[:4] or "gen"
    return f"{domain_id[:3]}-{sub}-{secrets.token_hex(3)}"


# ----------------------------------------------------------------------------------- questions
def question_dict(row: asyncpg.Record, pack_ids: Sequence[str] | None = None) -> dict[str, Any]:
    body = {k: row[k] for k in (
        "id", "domain_id", "subcategory", "question_text", "answer_text", "difficulty", "speed_target_seconds",
        "question_type", "explanation", "difficulty_tier", "competition_year", "question_source", "buzzable",
        "status", "has_audio", "created_at", "updated_at")}
    body["acceptable_answers"] = list(row["acceptable_answers"] or [])
    body["hints"] = list(row["hints"] or [])
    body["source"] = row["question_source"]
    body["is_system"] = row["tenant_id"] is None
    if "domain_name" in row.keys():
        body["domain_name"] = row["domain_name"]
        body["domain_icon"] = row["domain_icon"]
    body["pack_ids"] = list(pack_ids if pack_ids is not None else (row["pack_ids"] if "pack_ids" in row.keys() else []) or [])
    return body


async def get_question(conn: asyncpg.Connection, question_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"select {QUESTION_COLUMNS}, d.name as domain_name, d.icon_name as domain_icon, "
        "array(select pack_id from kb_pack_questions where question_id = q.id order by pack_id) as pack_ids "
        "from kb_questions q join kb_domains d on d.id = q.domain_id where q.id = $1", question_id)


async def list_questions(conn: asyncpg.Connection, *, pack_id: str | None, domain_id: str | None,
                         subcategory: str | None, difficulties: list[int] | None, question_type: str | None,
                         has_audio: bool | None, status: str | None, search: str | None,
                         limit: int, offset: int) -> tuple[list[asyncpg.Record], int]:
    where = """
        ($1::text is null or exists (select 1 from kb_pack_questions pq where pq.pack_id = $1 and pq.question_id = q.id))
        and ($2::text is null or q.domain_id = $2)
        and ($3::text is null or q.subcategory = $3)
        and ($4::int[] is null or q.difficulty = any($4))
        and ($5::text is null or q.question_type = $5)
        and ($6::boolean is null or q.has_audio = $6)
        and ($7::text is null or q.status = $7)
        and ($8::text is null or q.search @@ websearch_to_tsquery('english', $8)
             or strpos(lower(q.answer_text), lower($8)) > 0)
    """
    args = (pack_id, domain_id, subcategory, difficulties, question_type, has_audio, status, search)
    total = await conn.fetchval(f"select count(*) from kb_questions q where {where}", *args)
    rows = await conn.fetch(
        f"select {QUESTION_COLUMNS}, d.name as domain_name, d.icon_name as domain_icon, "
        "array(select pack_id from kb_pack_questions where question_id = q.id order by pack_id) as pack_ids "
        f"from kb_questions q join kb_domains d on d.id = q.domain_id where {where} "
        "order by q.domain_id, q.created_at, q.id limit $9 offset $10", *args, limit, offset)
    return rows, total


# --------------------------------------------------------------------------------------- packs
_PACK_STATS = """
    coalesce((select array_agg(pq.question_id order by pq.position, pq.question_id)
              from kb_pack_questions pq where pq.pack_id = p.id), '{}') as question_ids,
    (select count(*) from kb_pack_questions pq where pq.pack_id = p.id) as question_count,
    (select count(distinct q.domain_id) from kb_pack_questions pq join kb_questions q on q.id = pq.question_id
      where pq.pack_id = p.id) as domain_count,
    (select count(*) from kb_pack_questions pq join kb_questions q on q.id = pq.question_id
      where pq.pack_id = p.id and q.has_audio) as audio_count,
    (select coalesce(jsonb_object_agg(domain_id, n), '{}') from (
        select q.domain_id, count(*) as n from kb_pack_questions pq join kb_questions q on q.id = pq.question_id
        where pq.pack_id = p.id group by q.domain_id) d) as domain_distribution,
    (select coalesce(jsonb_object_agg(difficulty::text, n), '{}') from (
        select q.difficulty, count(*) as n from kb_pack_questions pq join kb_questions q on q.id = pq.question_id
        where pq.pack_id = p.id group by q.difficulty) d) as difficulty_distribution,
    (select coalesce(array_agg(distinct q.question_type), '{}') from kb_pack_questions pq
      join kb_questions q on q.id = pq.question_id where pq.pack_id = p.id) as question_types
"""
PACK_COLUMNS = ("p.id, p.tenant_id, p.name, p.description, p.type, p.difficulty_tier, p.competition_year, "
                "p.source_pack_ids, p.is_reference_bundle, p.status, p.created_at, p.updated_at")


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else (value or {})


def pack_dict(row: asyncpg.Record) -> dict[str, Any]:
    """The superset pack object: console keys (``type``, flattened stats) and app keys
    (``pack_type``, ``question_ids``, ``stats``)."""
    count = row["question_count"]
    audio = row["audio_count"]
    difficulty = {str(k): v for k, v in _json(row["difficulty_distribution"]).items()}
    stats = {
        "question_count": count,
        "domain_count": row["domain_count"],
        "domain_distribution": _json(row["domain_distribution"]),
        "difficulty_distribution": difficulty,
        "audio_coverage_percent": round(100.0 * audio / count, 1) if count else 0.0,
        "missing_audio_count": count - audio,
    }
    return {
        "id": row["id"], "name": row["name"], "description": row["description"],
        "type": row["type"], "pack_type": row["type"], "difficulty_tier": row["difficulty_tier"],
        "competition_year": row["competition_year"], "status": row["status"],
        "source_pack_ids": list(row["source_pack_ids"] or []), "is_reference_bundle": row["is_reference_bundle"],
        "is_system": row["tenant_id"] is None,
        "question_ids": list(row["question_ids"] or []),
        "question_types": sorted(row["question_types"] or []),
        **stats,
        "stats": stats,
        "created_at": row["created_at"], "updated_at": row["updated_at"],
    }


async def get_pack(conn: asyncpg.Connection, pack_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(f"select {PACK_COLUMNS}, {_PACK_STATS} from kb_packs p where p.id = $1", pack_id)


async def list_packs(conn: asyncpg.Connection, *, pack_type: str | None, status: str | None, search: str | None,
                     limit: int, offset: int) -> tuple[list[asyncpg.Record], int]:
    where = ("($1::text is null or p.type = $1) and ($2::text is null or p.status = $2) and "
             "($3::text is null or strpos(lower(p.name || ' ' || p.description), lower($3)) > 0)")
    total = await conn.fetchval(f"select count(*) from kb_packs p where {where}", pack_type, status, search)
    rows = await conn.fetch(
        f"select {PACK_COLUMNS}, {_PACK_STATS} from kb_packs p where {where} "
        "order by (p.tenant_id is null), p.updated_at desc, p.id limit $4 offset $5",
        pack_type, status, search, limit, offset)
    return rows, total


async def domain_groups(conn: asyncpg.Connection, pack_id: str) -> list[dict]:
    rows = await conn.fetch(
        "select q.domain_id, d.name as domain_name, q.subcategory, count(*) as n "
        "from kb_pack_questions pq join kb_questions q on q.id = pq.question_id join kb_domains d on d.id = q.domain_id "
        "where pq.pack_id = $1 group by q.domain_id, d.name, q.subcategory order by q.domain_id, q.subcategory",
        pack_id)
    groups: dict[str, dict] = {}
    for r in rows:
        g = groups.setdefault(r["domain_id"], {"domain_id": r["domain_id"], "domain_name": r["domain_name"],
                                                "question_count": 0, "subcategories": []})
        g["question_count"] += r["n"]
        g["subcategories"].append({"subcategory": r["subcategory"], "question_count": r["n"]})
    return list(groups.values())


async def pack_questions(conn: asyncpg.Connection, pack_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"select {QUESTION_COLUMNS} from kb_pack_questions pq join kb_questions q on q.id = pq.question_id "
        "where pq.pack_id = $1 order by pq.position, q.id", pack_id)


async def add_to_pack(conn: asyncpg.Connection, tenant_id: str, pack_id: str, question_ids: Sequence[str]) -> list[str]:
    """Append ``question_ids`` (in order, skipping ones already there); returns the ids added."""
    start = await conn.fetchval(
        "select coalesce(max(position) + 1, 0) from kb_pack_questions where pack_id = $1", pack_id)
    added = await conn.fetch(
        "insert into kb_pack_questions (tenant_id, pack_id, question_id, position) "
        "select $1, $2, qid, $3 + ord - 1 from unnest($4::text[]) with ordinality as t(qid, ord) "
        "on conflict (pack_id, question_id) do nothing returning question_id",
        tenant_id, pack_id, start, list(question_ids))
    await conn.execute("update kb_packs set updated_at = now() where id = $1", pack_id)
    return [r["question_id"] for r in added]


async def visible_question_ids(conn: asyncpg.Connection, ids: Sequence[str]) -> set[str]:
    rows = await conn.fetch("select id from kb_questions where id = any($1::text[])", list(ids))
    return {r["id"] for r in rows}
