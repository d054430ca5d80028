"""Knowledge Bowl (``/api/kb/*``): the ``kb`` Lambda service's routes.

The old server's routes with their ``success`` envelope (errors too: ``envelope_prefixes``), plus
``GET /api/kb/packs/{id}/questions`` which both apps call. Handlers validate input and call
``runtime.kb.store``; only the store touches the database. Audio, prefetch, manifest, coverage and
feedback are stateful and served by the core (route_table).
"""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from runtime.auth.principal import principal
from runtime.content.http import reply, tx
from runtime.errors import ApiError, ServiceUnavailable
from runtime.kb import dedup, store
from runtime.content import schemas
from runtime.service import Service
from runtime.validation import (
    field_bool,
    field_dict,
    field_enum,
    field_float,
    field_id,
    field_int,
    field_list,
    field_str,
    json_body,
    path_id,
    query_bool,
    query_enum,
    query_int,
    query_str,
)

MAX_IDS = 1000


def _err(status: int, error: str, message: str, **details) -> ApiError:
    return ApiError(status, error, message, details=details or None)


def _ok(data: dict, status: int = 200) -> Response:
    return reply({"success": True, **data}, status)


def _pack_not_found() -> ApiError:
    return _err(404, "not_found", "Pack not found.")


def _question_not_found() -> ApiError:
    return _err(404, "not_found", "Question not found.")


async def _own_pack(conn, tenant_id: str, pack_id: str) -> None:
    # Check before locking: FOR UPDATE only sees rows the UPDATE policy allows, which hides system
    # packs, and they must answer 403 (read-only), not 404.
    owner = await store.pack_owner(conn, pack_id)
    if owner is None:
        raise _pack_not_found()
    if owner["tenant_id"] is None or str(owner["tenant_id"]) != tenant_id:
        raise _err(403, "forbidden", "System packs are read-only.")
    await store.lock_pack(conn, pack_id)


def _id_list(body: dict, name: str, *, required: bool = True, min_items: int = 1) -> list[str]:
    values = field_list(body, name, required=required, default=[], item_type=str, min_items=min_items if required else 0,
                        max_items=MAX_IDS)
    for value in values:
        field_id({name: value}, name)
    return list(dict.fromkeys(values))  # de-duplicate, keep order


async def _domain(conn, raw: str | None, *, field: str = "domain_id") -> str | None:
    if raw is None:
        return None
    domain = store.canonical_domain(raw)
    if not await store.domain_exists(conn, domain):
        raise _err(422, "invalid_field", f"Unknown domain '{raw}'.", field=field)
    return domain


# --------------------------------------------------------------------------- status and domains
async def database_status(request: Request) -> Response:
    """Question counts per domain (the store is always the database)."""
    async with tx(request) as conn:
        counts = await store.domain_counts(conn)
    return _ok({"database_available": True, "total_questions": sum(counts.values()), "domain_counts": counts})


async def sync_to_database(request: Request) -> Response:
    """Kept for the console: questions already live in the database, so nothing is copied."""
    async with tx(request) as conn:
        counts = await store.domain_counts(conn)
        module_questions = await store.system_question_count(conn)
    return _ok({"imported_count": 0, "module_questions": module_questions, "importer_questions": 0,
                "total_questions": sum(counts.values()), "domain_counts": counts,
                "message": "Questions are stored in the database; nothing to sync."})


async def domains(request: Request) -> Response:
    """The Knowledge Bowl domains as seeded (``arts``, not ``fine_arts``)."""
    async with tx(request) as conn:
        rows = await store.domains(conn)
    items = [{"id": r["id"], "name": r["name"], "icon_name": r["icon_name"], "weight": r["weight"],
              "subcategories": list(r["subcategories"]), "question_count": r["question_count"]} for r in rows]
    return _ok({"domains": items, "source": "database"})


# -------------------------------------------------------------------------------------- packs
async def list_packs(request: Request) -> Response:
    """Packs visible to the caller (system and own), filterable by type, status and text."""
    pack_type = query_enum(request, "type", store.PACK_TYPES)
    status = query_enum(request, "status", store.STATUSES)
    search = query_str(request, "search", max_len=200)
    limit = query_int(request, "limit", 50, 1, 100)
    offset = query_int(request, "offset", 0, 0, 1_000_000)
    async with tx(request) as conn:
        rows, total = await store.list_packs(conn, pack_type=pack_type, status=status, search=search,
                                             limit=limit, offset=offset)
    return _ok({"packs": [store.pack_dict(r) for r in rows], "total": total, "limit": limit, "offset": offset})


def _pack_fields(body: dict, *, partial: bool) -> dict:
    values = {
        "name": field_str(body, "name", required=not partial, max_len=200),
        "description": field_str(body, "description", max_len=5000),
        "difficulty_tier": field_enum(body, "difficulty_tier", store.DIFFICULTY_TIERS),
        "competition_year": field_int(body, "competition_year", min=1900, max=2200),
        "status": field_enum(body, "status", store.STATUSES),
    }
    return {k: v for k, v in values.items() if v is not None or (partial and k in body)}


async def create_pack(request: Request) -> Response:
    """Create a custom pack."""
    who = principal(request)
    body = await json_body(request)
    fields = _pack_fields(body, partial=False)
    pack_type = field_enum(body, "type", store.PACK_TYPES, default="custom")
    if pack_type == "system":
        raise _err(403, "forbidden", "System packs are managed by administrators.", field="type")
    question_ids = _id_list(body, "question_ids", required=False)
    async with tx(request, who) as conn:
        pack_id = await _insert_pack(conn, who.tenant_id, {
            "name": fields["name"], "description": fields.get("description") or "", "type": pack_type,
            "difficulty_tier": fields.get("difficulty_tier") or "varsity",
            "competition_year": fields.get("competition_year"), "status": fields.get("status") or "draft",
            "created_by": who.user_id or who.token_id,
        })
        if question_ids:
            await _check_questions(conn, question_ids)
            await store.add_to_pack(conn, who.tenant_id, pack_id, question_ids)
        row = await store.get_pack(conn, pack_id)
    return _ok({"pack": store.pack_dict(row)})


async def _insert_pack(conn, tenant_id: str, values: dict, *, source_pack_ids: list[str] | None = None,
                       is_reference_bundle: bool = False) -> str:
    for _attempt in range(5):
        inserted = await store.insert_pack(conn, store.new_pack_id(), tenant_id, values,
                                           source_pack_ids=source_pack_ids, is_reference_bundle=is_reference_bundle)
        if inserted:
            return inserted
    raise ServiceUnavailable("Could not allocate a pack id; try again.")


async def _check_questions(conn, ids: list[str]) -> None:
    visible = await store.visible_question_ids(conn, ids)
    invalid = [q for q in ids if q not in visible]
    if invalid:
        raise _err(400, "invalid_question_ids", f"Invalid question IDs: {invalid[:5]}", question_ids=invalid[:5])


async def get_pack(request: Request) -> Response:
    """A pack: the apps' top-level shape and the console's ``pack`` + ``domain_groups``."""
    pack_id = path_id(request, "pack_id")
    async with tx(request) as conn:
        row = await store.get_pack(conn, pack_id)
        if row is None:
            raise _pack_not_found()
        groups = await store.domain_groups(conn, pack_id)
    pack = store.pack_dict(row)
    return _ok({**pack, "pack": pack, "domain_groups": groups})


async def update_pack(request: Request) -> Response:
    """Edit a custom pack's name, description, tier, year or status."""
    who = principal(request)
    pack_id = path_id(request, "pack_id")
    body = await json_body(request)
    fields = _pack_fields(body, partial=True)
    if fields.get("name") == "":
        raise _err(422, "invalid_field", "'name' cannot be empty.", field="name")
    async with tx(request, who) as conn:
        await _own_pack(conn, who.tenant_id, pack_id)
        if fields:
            await store.update_pack(conn, pack_id, fields)
        row = await store.get_pack(conn, pack_id)
    return _ok({"pack": store.pack_dict(row)})


async def delete_pack(request: Request) -> Response:
    """Delete a custom pack (its questions stay)."""
    who = principal(request)
    pack_id = path_id(request, "pack_id")
    async with tx(request, who) as conn:
        await _own_pack(conn, who.tenant_id, pack_id)
        await store.delete_pack(conn, pack_id)
    return _ok({"pack_id": pack_id})


async def get_pack_questions(request: Request) -> Response:
    """The questions of a pack, in pack order (what iOS and Android load)."""
    pack_id = path_id(request, "pack_id")
    async with tx(request) as conn:
        if not await store.pack_exists(conn, pack_id):
            raise _pack_not_found()
        rows = await store.pack_questions(conn, pack_id)
    questions = [store.question_dict(r, pack_ids=[pack_id]) for r in rows]
    return _ok({"pack_id": pack_id, "questions": questions, "total": len(questions)})


async def add_pack_questions(request: Request) -> Response:
    """Add questions to a custom pack."""
    who = principal(request)
    pack_id = path_id(request, "pack_id")
    body = await json_body(request)
    ids = _id_list(body, "question_ids")
    async with tx(request, who) as conn:
        await _own_pack(conn, who.tenant_id, pack_id)
        await _check_questions(conn, ids)
        added = await store.add_to_pack(conn, who.tenant_id, pack_id, ids)
    return _ok({"added_count": len(added), "added_ids": added})


async def remove_pack_question(request: Request) -> Response:
    """Remove one question from a custom pack."""
    who = principal(request)
    pack_id = path_id(request, "pack_id")
    question_id = path_id(request, "question_id")
    async with tx(request, who) as conn:
        await _own_pack(conn, who.tenant_id, pack_id)
        if not await store.remove_from_pack(conn, pack_id, question_id):
            raise _err(404, "not_found", "Question not in pack.")
    return _ok({})


async def _source_items(conn, source_ids: list[str]) -> tuple[list[dedup.Item], dict[str, str]]:
    names = await store.pack_names(conn, source_ids)
    missing = [p for p in source_ids if p not in names]
    if missing:
        raise _err(404, "not_found", f"Source packs not found: {missing[:5]}", pack_ids=missing[:5])
    rows = await store.questions_of_packs(conn, source_ids)
    return [dedup.Item(r["id"], r["pack_id"], r["question_text"]) for r in rows], names


async def create_bundle(request: Request) -> Response:
    """Bundle packs into one, skipping duplicate questions."""
    who = principal(request)
    body = await json_body(request)
    fields = _pack_fields(body, partial=False)
    source_ids = _id_list(body, "source_pack_ids")
    excluded = set(_id_list(body, "excluded_question_ids", required=False))
    strategy = field_enum(body, "deduplication_strategy", ("keep_first", "keep_all"), default="keep_first")
    reference = field_bool(body, "is_reference_bundle", default=False)
    async with tx(request, who) as conn:
        items, _names = await _source_items(conn, source_ids)
        kept, duplicates = dedup.dedupe(items, excluded=excluded, keep_all=strategy == "keep_all")
        pack_id = await _insert_pack(conn, who.tenant_id, {
            "name": fields["name"], "description": fields.get("description") or "", "type": "bundle",
            "difficulty_tier": fields.get("difficulty_tier") or "varsity",
            "competition_year": fields.get("competition_year"), "status": "active",
            "created_by": who.user_id or who.token_id,
        }, source_pack_ids=source_ids, is_reference_bundle=bool(reference))
        await store.add_to_pack(conn, who.tenant_id, pack_id, [i.question_id for i in kept])
        row = await store.get_pack(conn, pack_id)
    return _ok({"pack": store.pack_dict(row), "duplicates_skipped": len(duplicates), "duplicates": duplicates[:20]})


async def preview_dedup(request: Request) -> Response:
    """Which questions of the given packs are duplicates of each other."""
    body = await json_body(request)
    source_ids = _id_list(body, "source_pack_ids")
    async with tx(request) as conn:
        items, names = await _source_items(conn, source_ids)
    groups = dedup.duplicate_groups(items, names)
    kept, _dups = dedup.dedupe(items)
    return _ok({"duplicate_groups": groups[:50], "total_duplicates": sum(len(g["occurrences"]) - 1 for g in groups),
                "unique_questions_after_dedup": len(kept)})


# ---------------------------------------------------------------------------------- questions
async def list_questions(request: Request) -> Response:
    """Questions visible to the caller, with filters and full-text search."""
    pack_id = query_str(request, "pack_id", max_len=100)
    domain_id = query_str(request, "domain_id", max_len=100)
    difficulties = None
    raw = query_str(request, "difficulty", max_len=50)
    if raw:
        try:
            difficulties = sorted({int(x) for x in raw.split(",") if x.strip()})
        except ValueError:
            raise _err(400, "invalid_parameter", "'difficulty' must be a comma list of 1-5.", field="difficulty") from None
        if any(d < 1 or d > 5 for d in difficulties):
            raise _err(400, "invalid_parameter", "'difficulty' must be a comma list of 1-5.", field="difficulty")
    has_audio = query_bool(request, "has_audio", None) if request.query_params.get("has_audio") else None
    filters = dict(
        pack_id=pack_id, domain_id=store.canonical_domain(domain_id) if domain_id else None,
        subcategory=query_str(request, "subcategory", max_len=100), difficulties=difficulties,
        question_type=query_enum(request, "question_type", store.QUESTION_TYPES), has_audio=has_audio,
        status=query_enum(request, "status", store.STATUSES),
        search=(query_str(request, "search", max_len=200) or "").strip() or None,
        limit=query_int(request, "limit", 20, 1, 100), offset=query_int(request, "offset", 0, 0, 1_000_000),
    )
    async with tx(request) as conn:
        rows, total = await store.list_questions(conn, **filters)
    return _ok({"questions": [store.question_dict(r) for r in rows], "total": total,
                "limit": filters["limit"], "offset": filters["offset"], "source": "database"})


def _question_fields(body: dict, *, partial: bool) -> dict:
    values = {
        "subcategory": field_str(body, "subcategory", max_len=100),
        "question_text": field_str(body, "question_text", required=not partial, max_len=5000),
        "answer_text": field_str(body, "answer_text", required=not partial, max_len=1000),
        "acceptable_answers": field_list(body, "acceptable_answers", item_type=str, max_items=50),
        "difficulty": field_int(body, "difficulty", min=1, max=5),
        "speed_target_seconds": field_float(body, "speed_target_seconds", min=0.5, max=600),
        "question_type": field_enum(body, "question_type", store.QUESTION_TYPES),
        "hints": field_list(body, "hints", item_type=str, max_items=20),
        "explanation": field_str(body, "explanation", max_len=5000),
        "difficulty_tier": field_enum(body, "difficulty_tier", store.DIFFICULTY_TIERS),
        "competition_year": field_int(body, "competition_year", min=1900, max=2200),
        "question_source": field_enum(body, "question_source", store.QUESTION_SOURCES),
        "buzzable": field_bool(body, "buzzable"),
        "status": field_enum(body, "status", store.STATUSES),
    }
    if partial:
        return {k: v for k, v in values.items() if v is not None}
    for key in ("question_text", "answer_text"):
        if not values[key]:
            raise _err(400, "missing_field", f"'{key}' is required.", field=key)
    return values


def _normalise_question_type(body: dict) -> None:
    if isinstance(body.get("question_type"), str):
        body["question_type"] = body["question_type"].replace("-", "_")


async def create_question(request: Request) -> Response:
    """Create a custom question (optionally adding it to own packs)."""
    who = principal(request)
    body = await json_body(request)
    _normalise_question_type(body)
    raw_domain = field_str(body, "domain_id", required=True, max_len=100)
    values = _question_fields(body, partial=False)
    pack_ids = _id_list(body, "pack_ids", required=False)
    async with tx(request, who) as conn:
        domain = await _domain(conn, raw_domain)
        for pack_id in pack_ids:
            await _own_pack(conn, who.tenant_id, pack_id)
        question_id = None
        for _attempt in range(5):
            candidate = store.new_question_id(domain, values["subcategory"] or "")
            question_id = await store.insert_question(conn, candidate, who.tenant_id, domain, values)
            if question_id:
                break
        if not question_id:
            raise ServiceUnavailable("Could not allocate a question id; try again.")
        for pack_id in pack_ids:
            await store.add_to_pack(conn, who.tenant_id, pack_id, [question_id])
        row = await store.get_question(conn, question_id)
    return _ok({"question": store.question_dict(row)})


async def get_question(request: Request) -> Response:
    """One question."""
    question_id = path_id(request, "question_id")
    async with tx(request) as conn:
        row = await store.get_question(conn, question_id)
    if row is None:
        raise _question_not_found()
    return _ok({"question": store.question_dict(row)})


async def _own_question(conn, tenant_id: str, question_id: str):
    row = await store.question_owner(conn, question_id)
    if row is None:
        raise _question_not_found()
    if row["tenant_id"] is None or str(row["tenant_id"]) != tenant_id:
        raise _err(403, "forbidden", "System questions are read-only.")
    await store.lock_question(conn, question_id)
    return row


async def update_question(request: Request) -> Response:
    """Edit a custom question."""
    who = principal(request)
    question_id = path_id(request, "question_id")
    body = await json_body(request)
    _normalise_question_type(body)
    values = _question_fields(body, partial=True)
    for key in ("question_text", "answer_text"):
        if key in values and not values[key]:
            raise _err(422, "invalid_field", f"'{key}' cannot be empty.", field=key)
    async with tx(request, who) as conn:
        await _own_question(conn, who.tenant_id, question_id)
        if "domain_id" in body:
            values["domain_id"] = await _domain(conn, field_str(body, "domain_id", required=True, max_len=100))
        if values:
            await store.update_question(conn, question_id, values)
        row = await store.get_question(conn, question_id)
    return _ok({"question": store.question_dict(row)})


async def delete_question(request: Request) -> Response:
    """Delete a custom question (it leaves every pack)."""
    who = principal(request)
    question_id = path_id(request, "question_id")
    async with tx(request, who) as conn:
        await _own_question(conn, who.tenant_id, question_id)
        await store.delete_question(conn, question_id)
    return _ok({"question_id": question_id})


async def bulk_update(request: Request) -> Response:
    """Apply the same change to many custom questions."""
    who = principal(request)
    body = await json_body(request)
    ids = _id_list(body, "question_ids")
    updates = field_dict(body, "updates", required=True)
    _normalise_question_type(updates)
    unknown = set(updates) - set(store.BULK_EDITABLE)
    if unknown:
        raise _err(422, "invalid_field", f"Cannot bulk-update: {sorted(unknown)}", field="updates")
    values = {
        "difficulty": field_int(updates, "difficulty", min=1, max=5),
        "status": field_enum(updates, "status", store.STATUSES),
        "question_type": field_enum(updates, "question_type", store.QUESTION_TYPES),
        "difficulty_tier": field_enum(updates, "difficulty_tier", store.DIFFICULTY_TIERS),
        "question_source": field_enum(updates, "question_source", store.QUESTION_SOURCES),
    }
    values = {k: v for k, v in values.items() if v is not None}
    if not values:
        raise _err(400, "missing_field", "'updates' has nothing to change.", field="updates")
    async with tx(request, who) as conn:
        owners = await store.question_owners(conn, ids)
        errors = []
        targets = []
        for qid in ids:
            if qid not in owners:
                errors.append({"question_id": qid, "error": "Not found"})
            elif owners[qid] is None:
                errors.append({"question_id": qid, "error": "Read-only system question"})
            else:
                targets.append(qid)
        affected = await store.update_questions(conn, targets, values)
    return _ok({"affected_count": affected, "errors": errors or None})


async def import_from_module(request: Request) -> Response:
    """Add the Knowledge Bowl module's (system) questions to a custom pack, filtered by domain/difficulty."""
    who = principal(request)
    body = await json_body(request)
    pack_id = field_id(body, "pack_id", required=True)
    domains = [store.canonical_domain(d) for d in field_list(body, "domains", item_type=str, default=[], max_items=50)]
    difficulties = field_list(body, "difficulties", item_type=int, default=[], max_items=5)
    if any(d < 1 or d > 5 for d in difficulties):
        raise _err(422, "invalid_field", "'difficulties' must be between 1 and 5.", field="difficulties")
    async with tx(request, who) as conn:
        await _own_pack(conn, who.tenant_id, pack_id)
        ids = await store.system_question_ids(conn, domains, difficulties)
        added = await store.add_to_pack(conn, who.tenant_id, pack_id, ids) if ids else []
    return _ok({"imported_count": len(added), "skipped_count": len(ids) - len(added)})


schemas.declare(list_packs, response=schemas.PACKS_LIST)
schemas.declare(get_pack, response=schemas.PACK_DETAIL)
schemas.declare(get_pack_questions, response=schemas.PACK_QUESTIONS)


SERVICE = Service(
    name="kb",
    routes=[
        Route("/api/kb/database-status", database_status, methods=["GET"]),
        Route("/api/kb/sync-to-database", sync_to_database, methods=["POST"]),
        Route("/api/kb/domains", domains, methods=["GET"]),
        Route("/api/kb/packs", list_packs, methods=["GET"]),
        Route("/api/kb/packs", create_pack, methods=["POST"]),
        Route("/api/kb/packs/bundle", create_bundle, methods=["POST"]),
        Route("/api/kb/packs/preview-dedup", preview_dedup, methods=["POST"]),
        Route("/api/kb/packs/{pack_id}", get_pack, methods=["GET"]),
        Route("/api/kb/packs/{pack_id}", update_pack, methods=["PATCH", "PUT"]),
        Route("/api/kb/packs/{pack_id}", delete_pack, methods=["DELETE"]),
        Route("/api/kb/packs/{pack_id}/questions", get_pack_questions, methods=["GET"]),
        Route("/api/kb/packs/{pack_id}/questions", add_pack_questions, methods=["POST"]),
        Route("/api/kb/packs/{pack_id}/questions/{question_id}", remove_pack_question, methods=["DELETE"]),
        Route("/api/kb/questions", list_questions, methods=["GET"]),
        Route("/api/kb/questions", create_question, methods=["POST"]),
        Route("/api/kb/questions/bulk-update", bulk_update, methods=["POST"]),
        Route("/api/kb/questions/{question_id}", get_question, methods=["GET"]),
        Route("/api/kb/questions/{question_id}", update_question, methods=["PATCH", "PUT"]),
        Route("/api/kb/questions/{question_id}", delete_question, methods=["DELETE"]),
        Route("/api/kb/import-from-module", import_from_module, methods=["POST"]),
    ],
    envelope_prefixes=("/api/kb/",),
)
