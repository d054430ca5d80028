"""Tutoring sessions in PostgreSQL: ``tutoring_sessions`` (one row per session, owned by a tenant and
a caller), ``tutoring_turns`` (the conversation, in order) and ``tutoring_events`` (state changes,
signals, analyses). Row-level security isolates tenants; the SQL also filters by owner."""
from __future__ import annotations

from typing import Any

import asyncpg

# The timestamp a state change may set once (start sets started_at); fixed names, never input.
_STAMPS = {"started_at": ", started_at = coalesce(started_at, now())"}
# Session fields written as a whole JSON document.
_JSON_FIELDS = {"topic": "topic", "position": "position", "segment": "segment"}


async def load(conn: asyncpg.Connection, session_id: str, tenant_id: str, owner: str, *,
               for_update: bool = False) -> asyncpg.Record | None:
    """The session ``session_id`` if it is ``owner``'s in ``tenant_id`` (row-level security keeps other
    tenants' rows out anyway).

    Looked up by its id alone, the tenant and owner compared here: with them in the WHERE clause, a
    generic plan PostgreSQL made while the table was nearly empty could walk the owner's index, every
    session of the owner on every turn."""
    sql = "select * from tutoring_sessions where id = $1"
    row = await conn.fetchrow(sql + (" for update" if for_update else ""), session_id)
    if row is None or str(row["tenant_id"]) != str(tenant_id) or row["owner"] != owner:
        return None
    return row


async def add_event(conn: asyncpg.Connection, row: asyncpg.Record, event_type: str, data_json: str) -> None:
    await conn.execute(
        "insert into tutoring_events (session_id, tenant_id, type, data) values ($1, $2, $3, $4::jsonb)",
        row["id"], row["tenant_id"], event_type, data_json)


async def context_history(conn: asyncpg.Connection, session_id: Any, max_events: int) -> tuple[list, list]:
    """The turns (role, content) in order, and the newest context events (signals, barge-ins, topics)."""
    turns = await conn.fetch("select role, content from tutoring_turns where session_id = $1 order by seq", session_id)
    events = await conn.fetch(
        "select type, data from tutoring_events where session_id = $1 and type in ('signal', 'barge_in', 'topic_changed') "
        "order by id desc limit $2", session_id, max_events)
    return turns, events


async def create(conn: asyncpg.Connection, session_id: str, tenant_id: str, owner: str, curriculum_id: str | None,
                 model_name: str, window: int, system_prompt: str | None, auto_expand: bool) -> asyncpg.Record:
    return await conn.fetchrow(
        "insert into tutoring_sessions (id, tenant_id, owner, curriculum_id, model_name, model_context_window, "
        "system_prompt, auto_expand_context) values ($1, $2, $3, $4, $5, $6, $7, $8) returning *",
        session_id, tenant_id, owner, curriculum_id, model_name, window, system_prompt, auto_expand)


async def page(conn: asyncpg.Connection, tenant_id: str, owner: str, curriculum_id: str | None,
               states: list[str] | None, limit: int, offset: int) -> tuple[list[asyncpg.Record], int]:
    """The owner's sessions, newest first, and how many match."""
    where = ("tenant_id = $1 and owner = $2 and ($3::text is null or curriculum_id = $3) "
             "and ($4::text[] is null or state = any($4::text[]))")
    args = (tenant_id, owner, curriculum_id, states)
    total = await conn.fetchval(f"select count(*) from tutoring_sessions where {where}", *args)
    rows = await conn.fetch(f"select * from tutoring_sessions where {where} order by created_at desc, id "
                            "limit $5 offset $6", *args, limit, offset)
    return rows, total


async def set_state(conn: asyncpg.Connection, session_id: Any, state: str, stamp: str | None = None) -> asyncpg.Record:
    """Move to ``state``; ``stamp`` (``started_at``) is set the first time only."""
    return await conn.fetchrow(
        f"update tutoring_sessions set state = $2, updated_at = now(){_STAMPS[stamp] if stamp else ''} "
        "where id = $1 returning *", session_id, state)


async def end(conn: asyncpg.Connection, session_id: Any) -> asyncpg.Record:
    return await conn.fetchrow(
        "update tutoring_sessions set state = 'ended', ended_at = now(), updated_at = now() where id = $1 "
        "returning *", session_id)


async def delete(conn: asyncpg.Connection, session_id: Any) -> None:
    await conn.execute("delete from tutoring_sessions where id = $1", session_id)


async def set_document(conn: asyncpg.Connection, session_id: Any, field: str, value_json: str) -> None:
    """Replace the session's ``topic``, ``position`` or ``segment`` JSON."""
    column = _JSON_FIELDS[field]
    await conn.execute(f"update tutoring_sessions set {column} = $2::jsonb, updated_at = now() where id = $1",
                       session_id, value_json)


async def add_turn(conn: asyncpg.Connection, row: asyncpg.Record, seq: int, turn_id: str, role: str, content: str) -> Any:
    """Append a turn; returns its ``created_at``."""
    created = await conn.fetchval(
        "insert into tutoring_turns (session_id, tenant_id, seq, id, role, content) values ($1, $2, $3, $4, $5, $6) "
        "returning created_at", row["id"], row["tenant_id"], seq, turn_id, role, content)
    await conn.execute("update tutoring_sessions set turn_count = $2, updated_at = now() where id = $1", row["id"], seq)
    return created


async def barge_in(conn: asyncpg.Connection, session_id: Any) -> asyncpg.Record:
    """Count a barge-in; a live session goes to ``user_speaking``."""
    return await conn.fetchrow(
        "update tutoring_sessions set barge_in_count = barge_in_count + 1, "
        "state = case when state = 'ended' then state else 'user_speaking' end, updated_at = now() "
        "where id = $1 returning *", session_id)


async def recent_analyses(conn: asyncpg.Connection, session_id: Any, n: int = 3) -> list[Any]:
    """The data of the newest ``n`` analysis events, newest first."""
    rows = await conn.fetch(
        "select data from tutoring_events where session_id = $1 and type = 'analysis' order by id desc limit $2",
        session_id, n)
    return [r["data"] for r in rows]


async def expand_context(conn: asyncpg.Connection, session_id: Any) -> None:
    await conn.execute("update tutoring_sessions set expansion_count = expansion_count + 1, "
                       "updated_at = now() where id = $1", session_id)


async def events(conn: asyncpg.Connection, session_id: Any, event_type: str | None, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        "select id, type, data, created_at from tutoring_events where session_id = $1 "
        "and ($2::text is null or type = $2) order by id limit $3", session_id, event_type, limit)


async def debug_history(conn: asyncpg.Connection, session_id: Any) -> tuple[list, list]:
    """Every turn (with ids and times) and the newest 100 events."""
    turns = await conn.fetch("select id, role, content, created_at from tutoring_turns where session_id = $1 "
                             "order by seq", session_id)
    events = await conn.fetch("select type, data, created_at from tutoring_events where session_id = $1 "
                              "order by id desc limit 100", session_id)
    return turns, events


async def counts(conn: asyncpg.Connection, tenant_id: str, owner: str) -> dict:
    row = await conn.fetchrow(
        "select count(*) as total, count(*) filter (where state not in ('paused', 'ended', 'idle')) as active, "
        "count(*) filter (where state = 'paused') as paused from tutoring_sessions where tenant_id = $1 "
        "and owner = $2", tenant_id, owner)
    return dict(row)


async def history(conn: asyncpg.Connection, tenant_id: str, owner: str, limit: int, offset: int) -> list[asyncpg.Record]:
    """The owner's sessions that have started, newest first, with their curriculum's title (the
    tenant's own curriculum before a system one of the same id; null when it no longer exists)."""
    return await conn.fetch(
        "select s.*, c.title as curriculum_title from tutoring_sessions s "
        "left join lateral (select title from curricula where id = s.curriculum_id "
        "and (tenant_id = s.tenant_id or tenant_id is null) order by tenant_id nulls last limit 1) c on true "
        "where s.tenant_id = $1 and s.owner = $2 and s.started_at is not null "
        "order by s.started_at desc, s.id limit $3 offset $4", tenant_id, owner, limit, offset)
