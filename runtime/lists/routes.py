"""``/api/lists*``: curriculum lists of the Operations Console (shapes of the old management server's
lists API: camelCase, the list itself as the answer). Every user of the tenant reads the tenant's lists;
creating, changing and deleting them is for administrators. Served by the curricula service."""
from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from runtime.auth.principal import Principal, admin_principal
from runtime.content.http import iso, reply, tx
from runtime.errors import BadRequest, NotFound
from runtime.lists import store
from runtime.validation import (field_bool, field_id, field_list, field_str, json_body, path_uuid, query_str)

MAX_ITEMS_PER_CALL = 200


_ADMIN_ONLY = "Changing curriculum lists is for administrators."


def _list_view(row: Any) -> dict:
    return {"id": str(row["id"]), "name": row["name"], "description": row["description"], "isShared": row["is_shared"],
            "itemCount": int(row["item_count"]), "createdAt": iso(row["created_at"]), "updatedAt": iso(row["updated_at"])}


def _item_view(row: Any) -> dict:
    return {"id": str(row["id"]), "sourceId": row["source_id"], "courseId": row["course_id"],
            "courseTitle": row["course_title"], "courseThumbnailUrl": row["thumbnail_url"], "notes": row["notes"],
            "orderIndex": row["order_index"], "addedAt": iso(row["added_at"])}


async def list_lists(request: Request) -> Response:
    """The tenant's lists, most recently changed first."""
    async with tx(request) as conn:
        rows = await store.all_lists(conn)
    return reply({"lists": [_list_view(r) for r in rows]})


async def create_list(request: Request) -> Response:
    """A new list ``{name, description?, isShared?}``."""
    who = admin_principal(request, _ADMIN_ONLY)
    body = await json_body(request)
    name = field_str(body, "name", required=True, min_len=1, max_len=200)
    description = field_str(body, "description", default="", max_len=2000) or ""
    shared = field_bool(body, "isShared", default=False)
    async with tx(request, who) as conn:
        row = await store.create(conn, who.tenant_id, name or "", description, bool(shared), _user(who))
    return reply(_list_view(row), 201)


def _user(who: Principal) -> str | None:
    return who.user_id if who.kind == "user" else None


async def get_list(request: Request) -> Response:
    """One list with its items."""
    list_id = path_uuid(request, "list_id")
    async with tx(request) as conn:
        row = await store.one_list(conn, list_id)
        if row is None:
            raise NotFound("No such list.", error="list_not_found")
        rows = await store.items(conn, list_id)
    return reply({**_list_view(row), "items": [_item_view(r) for r in rows]})


async def update_list(request: Request) -> Response:
    """Rename, describe or share a list."""
    who = admin_principal(request, _ADMIN_ONLY)
    list_id = path_uuid(request, "list_id")
    body = await json_body(request)
    changes = {"name": field_str(body, "name", min_len=1, max_len=200),
               "description": field_str(body, "description", max_len=2000),
               "is_shared": field_bool(body, "isShared")}
    if all(value is None for value in changes.values()):
        raise BadRequest("Send at least one of 'name', 'description', 'isShared'.", error="no_updates")
    async with tx(request, who) as conn:
        row = await store.update(conn, list_id, changes)
    if row is None:
        raise NotFound("No such list.", error="list_not_found")
    return reply(_list_view(row))


async def delete_list(request: Request) -> Response:
    """Delete a list and its items."""
    who = admin_principal(request, _ADMIN_ONLY)
    list_id = path_uuid(request, "list_id")
    async with tx(request, who) as conn:
        if not await store.delete(conn, list_id):
            raise NotFound("No such list.", error="list_not_found")
    return reply({"success": True, "deleted": list_id})


def _entries(body: dict) -> list[dict]:
    raw = body.get("items")
    if raw is None:  # one course posted on its own
        raw = [body]
    items = field_list({"items": raw}, "items", required=True, item_type=dict, min_items=1, max_items=MAX_ITEMS_PER_CALL)
    entries = []
    for index, item in enumerate(items or []):
        where = {"field": f"items[{index}]"}
        source = field_id(item, "sourceId") or field_id(item, "source_id")
        course = field_id(item, "courseId") or field_id(item, "course_id")
        if source is None or course is None:
            raise BadRequest(f"items[{index}] needs 'sourceId' and 'courseId'.", error="missing_field", details=where)
        entries.append({"source_id": source, "course_id": course,
                        "course_title": field_str(item, "courseTitle", max_len=500) or "",
                        "thumbnail_url": field_str(item, "courseThumbnailUrl", max_len=2048),
                        "notes": field_str(item, "notes", max_len=2000)})
    return entries


async def add_items(request: Request) -> Response:
    """Add courses ``{items: [{sourceId, courseId, courseTitle?}]}``; a course already on the list is skipped."""
    who = admin_principal(request, _ADMIN_ONLY)
    list_id = path_uuid(request, "list_id")
    entries = _entries(await json_body(request))
    async with tx(request, who) as conn:
        if await store.one_list(conn, list_id) is None:
            raise NotFound("No such list.", error="list_not_found")
        added = await store.add_items(conn, who.tenant_id, list_id, entries)
    return reply({"success": True, "addedCount": added, "skippedCount": len(entries) - added}, 201 if added else 200)


async def remove_item(request: Request) -> Response:
    """Take one item off a list."""
    who = admin_principal(request, _ADMIN_ONLY)
    list_id, item_id = path_uuid(request, "list_id"), path_uuid(request, "item_id")
    async with tx(request, who) as conn:
        if not await store.remove_item(conn, list_id, item_id):
            raise NotFound("No such item on that list.", error="item_not_found")
    return reply({"success": True})


async def list_memberships(request: Request) -> Response:
    """Which lists hold each of ``?courseIds=a,b`` (``{memberships: {courseId: [{listId, listName}]}}``)."""
    raw = query_str(request, "courseIds", max_len=5000) or query_str(request, "course_ids", max_len=5000) or ""
    ids = [part.strip() for part in raw.split(",") if part.strip()][:200]
    async with tx(request) as conn:
        rows = await store.memberships(conn, ids) if ids else []
    found: dict[str, list[dict]] = {course: [] for course in ids}
    for row in rows:
        found.setdefault(row["course_id"], []).append({"listId": str(row["list_id"]), "listName": row["name"]})
    return reply({"memberships": found})


ROUTES = [
    Route("/api/lists", list_lists, methods=["GET"]),
    Route("/api/lists", create_list, methods=["POST"]),
    Route("/api/lists/memberships", list_memberships, methods=["GET"]),
    Route("/api/lists/{list_id}", get_list, methods=["GET"]),
    Route("/api/lists/{list_id}", update_list, methods=["PUT", "PATCH"]),
    Route("/api/lists/{list_id}", delete_list, methods=["DELETE"]),
    Route("/api/lists/{list_id}/items", add_items, methods=["POST"]),
    Route("/api/lists/{list_id}/items/{item_id}", remove_item, methods=["DELETE"]),
]
