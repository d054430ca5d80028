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

from runtime.db import partial_update

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
    # every level 1-5 (kb_questions.difficulty's range), zero where the pack has none: the console's
    # QuestionPack.difficulty_distribution (src/types/question-packs.ts) is Record<1|2|3|4|5, number>
    counted = {str(k): v for k, v in _json(row["difficulty_distribution"]).items()}
    difficulty = {**{str(level): 0 for level in range(1, 6)}, **counted}
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


# Columns a tenant may change on its own packs and questions (partial updates name only these).
PACK_EDITABLE = ("name", "description", "difficulty_tier", "competition_year", "status")
QUESTION_EDITABLE = (
    "domain_id", "subcategory", "question_text", "answer_text", "acceptable_answers", "difficulty",
    "speed_target_seconds", "question_type", "hints", "explanation", "difficulty_tier", "competition_year",
    "question_source", "buzzable", "status",
)
BULK_EDITABLE = ("difficulty", "status", "question_type", "difficulty_tier", "question_source")


# --------------------------------------------------------------------------- domains and counts
async def domain_counts(conn: asyncpg.Connection) -> dict[str, int]:
    rows = await conn.fetch("select domain_id, count(*) as n from kb_questions group by domain_id order by domain_id")
    return {r["domain_id"]: r["n"] for r in rows}


async def system_question_count(conn: asyncpg.Connection) -> int:
    return await conn.fetchval("select count(*) from kb_questions where tenant_id is null")


async def domains(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(
        "select d.*, (select count(*) from kb_questions q where q.domain_id = d.id) as question_count "
        "from kb_domains d order by sort_order, id")


async def domain_exists(conn: asyncpg.Connection, domain_id: str) -> bool:
    return bool(await conn.fetchval("select 1 from kb_domains where id = $1", domain_id))


# -------------------------------------------------------------------------------------- packs
async def pack_owner(conn: asyncpg.Connection, pack_id: str) -> asyncpg.Record | None:
    """``(tenant_id)`` of a visible pack (NULL for system packs), or None."""
    return await conn.fetchrow("select tenant_id from kb_packs where id = $1", pack_id)


async def lock_pack(conn: asyncpg.Connection, pack_id: str) -> None:
    await conn.execute("select 1 from kb_packs where id = $1 for update", pack_id)


async def pack_exists(conn: asyncpg.Connection, pack_id: str) -> bool:
    return bool(await conn.fetchval("select 1 from kb_packs where id = $1", pack_id))


async def insert_pack(conn: asyncpg.Connection, pack_id: str, tenant_id: str, values: dict, *,
                      source_pack_ids: Sequence[str] | None = None, is_reference_bundle: bool = False) -> str | None:
    """Insert a pack under ``pack_id``; None when that id is taken (the caller draws another)."""
    return await conn.fetchval(
        "insert into kb_packs (id, tenant_id, name, description, type, difficulty_tier, competition_year, "
        "status, created_by, source_pack_ids, is_reference_bundle) "
        "values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) on conflict (id) do nothing returning id",
        pack_id, tenant_id, values["name"], values["description"], values["type"], values["difficulty_tier"],
        values["competition_year"], values["status"], values.get("created_by"), list(source_pack_ids or []),
        is_reference_bundle)


async def update_pack(conn: asyncpg.Connection, pack_id: str, changes: dict[str, Any]) -> None:
    sql, args = partial_update("kb_packs", changes, columns=PACK_EDITABLE, where="id = $1",
                               where_args=[pack_id])
    await conn.execute(sql, *args)


async def delete_pack(conn: asyncpg.Connection, pack_id: str) -> None:
    await conn.execute("delete from kb_packs where id = $1", pack_id)


async def remove_from_pack(conn: asyncpg.Connection, pack_id: str, question_id: str) -> bool:
    """Take one question out of a pack; False when it was not in it."""
    removed = await conn.fetchval(
        "delete from kb_pack_questions where pack_id = $1 and question_id = $2 returning question_id",
        pack_id, question_id)
    if removed is None:
        return False
    await conn.execute("update kb_packs set updated_at = now() where id = $1", pack_id)
    return True


async def pack_names(conn: asyncpg.Connection, pack_ids: Sequence[str]) -> dict[str, str]:
    rows = await conn.fetch("select id, name from kb_packs where id = any($1::text[])", list(pack_ids))
    return {r["id"]: r["name"] for r in rows}


async def questions_of_packs(conn: asyncpg.Connection, pack_ids: Sequence[str]) -> list[asyncpg.Record]:
    """``(pack_id, id, question_text)`` of every question of the packs, in the packs' order then pack order."""
    return await conn.fetch(
        "select pq.pack_id, q.id, q.question_text from unnest($1::text[]) with ordinality as s(pack_id, ord) "
        "join kb_pack_questions pq on pq.pack_id = s.pack_id join kb_questions q on q.id = pq.question_id "
        "order by s.ord, pq.position, q.id", list(pack_ids))


# ---------------------------------------------------------------------------------- questions
async def insert_question(conn: asyncpg.Connection, question_id: str, tenant_id: str, domain_id: str,
                          values: dict) -> str | None:
    """Insert a custom question under ``question_id``; None when that id is taken."""
    return await conn.fetchval(
        "insert into kb_questions (id, tenant_id, domain_id, subcategory, question_text, answer_text, "
        "acceptable_answers, difficulty, speed_target_seconds, question_type, hints, explanation, "
        "difficulty_tier, competition_year, question_source, buzzable, status) values "
        "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) "
        "on conflict (id) do nothing returning id",
        question_id, tenant_id, domain_id, values["subcategory"] or "", values["question_text"],
        values["answer_text"], values["acceptable_answers"] or [values["answer_text"]],
        values["difficulty"] or 2, values["speed_target_seconds"] or 5.0, values["question_type"] or "toss_up",
        values["hints"] or [], values["explanation"] or "", values["difficulty_tier"],
        values["competition_year"], values["question_source"] or "custom",
        True if values["buzzable"] is None else values["buzzable"], values["status"] or "active")


async def question_owner(conn: asyncpg.Connection, question_id: str) -> asyncpg.Record | None:
    """``(id, tenant_id)`` of a visible question (tenant NULL for system questions), or None."""
    return await conn.fetchrow("select id, tenant_id from kb_questions where id = $1", question_id)


async def question_owners(conn: asyncpg.Connection, ids: Sequence[str]) -> dict[str, Any]:
    """Visible question id → its tenant id (None for system questions)."""
    rows = await conn.fetch("select id, tenant_id from kb_questions where id = any($1::text[])", list(ids))
    return {r["id"]: r["tenant_id"] for r in rows}


async def lock_question(conn: asyncpg.Connection, question_id: str) -> None:
    await conn.execute("select 1 from kb_questions where id = $1 for update", question_id)


async def update_question(conn: asyncpg.Connection, question_id: str, changes: dict[str, Any]) -> None:
    sql, args = partial_update("kb_questions", changes, columns=QUESTION_EDITABLE, where="id = $1",
                               where_args=[question_id])
    await conn.execute(sql, *args)


async def update_questions(conn: asyncpg.Connection, question_ids: Sequence[str], changes: dict[str, Any]) -> int:
    """The same change on many questions; returns how many rows changed."""
    sql, args = partial_update("kb_questions", changes, columns=BULK_EDITABLE,
                               where="id = any($1::text[])", where_args=[list(question_ids)])
    result = await conn.execute(sql, *args)
    return int(result.split()[-1])


async def delete_question(conn: asyncpg.Connection, question_id: str) -> None:
    await conn.execute("delete from kb_questions where id = $1", question_id)


async def system_question_ids(conn: asyncpg.Connection, domains: Sequence[str], difficulties: Sequence[int]) -> list[str]:
    """Active system questions of these domains and difficulties (all when a list is empty)."""
    rows = await conn.fetch(
        "select id from kb_questions where tenant_id is null and status = 'active' "
        "and (cardinality($1::text[]) = 0 or domain_id = any($1)) "
        "and (cardinality($2::int[]) = 0 or difficulty = any($2)) order by domain_id, id",
        list(domains), list(difficulties))
    return [r["id"] for r in rows]
