"""The SQL of curriculum lists. Every statement runs in the caller's tenant transaction (RLS)."""
from __future__ import annotations

from typing import Any

import asyncpg

_LIST_COLUMNS = """l.id, l.name, l.description, l.is_shared, l.created_at, l.updated_at,
       (select count(*) from curriculum_list_items i where i.list_id = l.id) as item_count"""


async def all_lists(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(f"select {_LIST_COLUMNS} from curriculum_lists l order by l.updated_at desc, l.name")


async def one_list(conn: asyncpg.Connection, list_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(f"select {_LIST_COLUMNS} from curriculum_lists l where l.id = $1", list_id)


async def create(conn: asyncpg.Connection, tenant_id: str, name: str, description: str, shared: bool,
                 user_id: str | None) -> asyncpg.Record:
    row = await conn.fetchrow(
        """
        insert into curriculum_lists (tenant_id, name, description, is_shared, created_by)
        values ($1, $2, $3, $4, $5)
        returning id
        """, tenant_id, name, description, shared, user_id)
    return await one_list(conn, row["id"])


async def update(conn: asyncpg.Connection, list_id: str, changes: dict[str, Any]) -> asyncpg.Record | None:
    row = await conn.fetchrow(
        """
        update curriculum_lists
           set name = coalesce($2, name),
               description = coalesce($3, description),
               is_shared = coalesce($4, is_shared),
               updated_at = now()
         where id = $1
        returning id
        """, list_id, changes.get("name"), changes.get("description"), changes.get("is_shared"))
    return await one_list(conn, row["id"]) if row else None


async def delete(conn: asyncpg.Connection, list_id: str) -> bool:
    return await conn.fetchval("delete from curriculum_lists where id = $1 returning true", list_id) is not None


async def items(conn: asyncpg.Connection, list_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        """
        select id, source_id, course_id, course_title, thumbnail_url, notes, order_index, added_at
          from curriculum_list_items
         where list_id = $1
         order by order_index, added_at
        """, list_id)


async def add_items(conn: asyncpg.Connection, tenant_id: str, list_id: str, entries: list[dict[str, Any]]) -> int:
    """Adds the courses not yet on the list; the number added."""
    start = await conn.fetchval(
        "select coalesce(max(order_index) + 1, 0) from curriculum_list_items where list_id = $1", list_id)
    added = 0
    for offset, entry in enumerate(entries):
        done = await conn.fetchval(
            """
            insert into curriculum_list_items
                   (tenant_id, list_id, source_id, course_id, course_title, thumbnail_url, notes, order_index)
            values ($1, $2, $3, $4, $5, $6, $7, $8)
            on conflict (list_id, source_id, course_id) do nothing
            returning true
            """, tenant_id, list_id, entry["source_id"], entry["course_id"], entry["course_title"],
            entry.get("thumbnail_url"), entry.get("notes"), start + offset)
        added += 1 if done else 0
    if added:
        await conn.execute("update curriculum_lists set updated_at = now() where id = $1", list_id)
    return added


async def remove_item(conn: asyncpg.Connection, list_id: str, item_id: str) -> bool:
    return await conn.fetchval(
        "delete from curriculum_list_items where list_id = $1 and id = $2 returning true", list_id, item_id) is not None


async def memberships(conn: asyncpg.Connection, course_ids: list[str]) -> list[asyncpg.Record]:
    return await conn.fetch(
        """
        select i.course_id, l.id as list_id, l.name
          from curriculum_list_items i join curriculum_lists l on l.id = i.list_id
         where i.course_id = any($1::text[])
         order by l.name
        """, course_ids)
