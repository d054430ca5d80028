"""Server-driven modules (``/api/modules*``), assembled from the database on every call.

The Knowledge Bowl module's download is the KB domains with every active question the tenant can
see (system questions plus its own), a superset of what the apps decode:

- iOS ``ModuleService`` ``DownloadedModule`` and ``KBQuestionService`` ``KBQuestion``: domains and
  study modes at the top level, questions with ``question_text``, ``answer_text``, ``domain_id``,
  ``question_type`` hyphenated (``toss-up``); ``downloaded_at`` a ``Date`` under JSONDecoder's default
  strategy, i.e. seconds since 2001-01-01 (whole seconds: Android decodes a Long; it overwrites the
  value with its own clock, ModuleService.kt, so it only has to decode).
- Android ``ModuleService`` ``DownloadedModule``: the same domains, study modes and question count
  again in a nested ``content`` (domains there without their questions, with ``question_count``).
- Android ``KBQuestionService`` ``KBQuestion``: ``text``, ``answer {primary, acceptable}`` and
  ``domain`` (the ``KBDomain`` enum's camelCase serial name) beside the iOS keys.

``difficulty`` is the integer level here; the route shapes it per platform (``runtime.client_shapes``).
"""
from __future__ import annotations

import json
import time
from typing import Any

import asyncpg

from runtime.content.http import dumps

_LIST_KEYS = ("id", "name", "description", "icon_name", "theme_color_hex", "version", "enabled",
              "supports_team_mode", "supports_speed_training", "supports_competition_sim")


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


async def _questions(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(
        "select id, domain_id, subcategory, question_text, answer_text, acceptable_answers, difficulty, "
        "speed_target_seconds, question_type, hints, explanation from kb_questions "
        "where status = 'active' order by domain_id, difficulty, id"
    )


# JSONDecoder's default dateDecodingStrategy (.deferredToDate) counts seconds from 2001-01-01T00:00:00Z
APPLE_EPOCH = 978_307_200


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part.capitalize() for part in rest)


# Android KBDomain (app/src/main/kotlin/com/unamentis/modules/knowledgebowl/data/model/KBDomain.kt) serial names
_ANDROID_DOMAINS = frozenset({"science", "mathematics", "literature", "history", "socialStudies", "arts",
                              "currentEvents", "language", "technology", "popCulture", "religionPhilosophy",
                              "miscellaneous"})


def _domain(domain_id: str) -> str:
    camel = _camel(domain_id)
    return camel if camel in _ANDROID_DOMAINS else "miscellaneous"


def _question(row: asyncpg.Record) -> dict:
    acceptable = list(row["acceptable_answers"] or []) or [row["answer_text"]]
    return {
        # Android KBQuestion (KBQuestion.kt, KBAnswer.kt)
        "text": row["question_text"], "answer": {"primary": row["answer_text"], "acceptable": acceptable},
        "domain": _domain(row["domain_id"]),
        # iOS KBQuestion (KBQuestion.swift)
        "id": row["id"], "domain_id": row["domain_id"], "subcategory": row["subcategory"],
        "question_text": row["question_text"], "answer_text": row["answer_text"],
        "acceptable_answers": acceptable,
        "difficulty": row["difficulty"], "speed_target_seconds": row["speed_target_seconds"],
        "question_type": row["question_type"].replace("_", "-"), "hints": list(row["hints"] or []),
        "explanation": row["explanation"],
    }


async def download(conn: asyncpg.Connection, module_id: str) -> dict | None:
    # a module the catalogue or the tenant switched off has no download
    module = await conn.fetchrow(
        "select m.* from content_modules m where m.id = $1 and m.enabled and not exists (select 1 from "
        "tenant_module_settings s where s.module_id = m.id and s.enabled = false)", module_id)
    if module is None:
        return None
    domains = await conn.fetch("select * from kb_domains order by sort_order, id")
    by_domain: dict[str, list[dict]] = {d["id"]: [] for d in domains}
    for row in await _questions(conn):
        by_domain.setdefault(row["domain_id"], []).append(_question(row))
    total = sum(len(q) for q in by_domain.values())
    summaries = [{
        "id": d["id"], "name": d["name"], "icon_name": d["icon_name"], "weight": d["weight"],
        "subcategories": list(d["subcategories"] or []), "question_count": len(by_domain.get(d["id"], [])),
    } for d in domains]
    study_modes = _json(module["study_modes"])
    return {
        **{k: module[k] for k in _LIST_KEYS},
        "long_description": module["long_description"],
        # whole seconds since 2001-01-01 (iOS Date, default strategy); Android decodes a Long
        "downloaded_at": int(time.time()) - APPLE_EPOCH,
        "domains": [{**s, "questions": by_domain.get(s["id"], [])} for s in summaries],
        "total_questions": total,
        "study_modes": study_modes,
        "settings": _json(module["settings"]),
        # Android DownloadedModule.content (ModuleModels.kt ModuleContent)
        "content": {"domains": summaries, "study_modes": study_modes, "total_questions": total},
    }


# The features a tenant can switch off per module (the console's ``feature_overrides`` keys).
FEATURES = ("team_mode", "speed_training", "competition_sim")


async def _tenant_settings(conn: asyncpg.Connection) -> dict[str, asyncpg.Record]:
    """The caller's tenant's module settings by module id (RLS scopes the rows to the transaction's tenant)."""
    return {r["module_id"]: r for r in await conn.fetch("select * from tenant_module_settings")}


def _with_settings(module: asyncpg.Record, own: asyncpg.Record | None) -> dict:
    """The list keys with the tenant's settings applied: ``enabled`` and each ``supports_*`` as the tenant
    sees them (a feature is on when the module supports it and the tenant has not switched it off, the
    old server's rule), plus ``base_supports_*`` and ``feature_overrides`` (the console's Module)."""
    overrides = _json(own["feature_overrides"]) if own is not None else {}
    body = {k: module[k] for k in _LIST_KEYS}
    if own is not None and own["enabled"] is not None:
        body["enabled"] = module["enabled"] and own["enabled"]
    for feature in FEATURES:
        base = module[f"supports_{feature}"]
        body[f"base_supports_{feature}"] = base
        body[f"supports_{feature}"] = bool(base and overrides.get(feature, True))
    body["feature_overrides"] = overrides
    return body


def effective_features(body: dict) -> dict:
    return {f"supports_{feature}": body[f"supports_{feature}"] for feature in FEATURES}


async def list_modules(conn: asyncpg.Connection) -> list[dict]:
    items = []
    settings = await _tenant_settings(conn)
    for module in await conn.fetch("select * from content_modules order by sort_order, id"):
        body = _with_settings(module, settings.get(module["id"]))
        full = await download(conn, module["id"]) if body["enabled"] else None
        items.append({**body, "download_size": len(dumps(full).encode()) if full else 0})
    return items


async def save_settings(conn: asyncpg.Connection, tenant_id: str, module_id: str, enabled: bool | None,
                        overrides: dict[str, bool] | None) -> dict | None:
    """Store the tenant's settings of a module (overrides merge into the stored ones); the module as the
    tenant now sees it, or None when there is no such module."""
    module = await conn.fetchrow("select * from content_modules where id = $1", module_id)
    if module is None:
        return None
    await conn.execute(
        "insert into tenant_module_settings (tenant_id, module_id, enabled, feature_overrides) "
        "values ($1, $2, $3, coalesce($4::jsonb, '{}'::jsonb)) on conflict (tenant_id, module_id) do update set "
        "enabled = coalesce(excluded.enabled, tenant_module_settings.enabled), "
        "feature_overrides = tenant_module_settings.feature_overrides || coalesce($4::jsonb, '{}'::jsonb), "
        "updated_at = now()",
        tenant_id, module_id, enabled, json.dumps(overrides) if overrides is not None else None)
    own = await conn.fetchrow("select * from tenant_module_settings where module_id = $1", module_id)
    return _with_settings(module, own)


async def module_detail(conn: asyncpg.Connection, module_id: str) -> dict | None:
    module = await conn.fetchrow("select * from content_modules where id = $1", module_id)
    if module is None:
        return None
    counts = {r["domain_id"]: r["n"] for r in await conn.fetch(
        "select domain_id, count(*) as n from kb_questions where status = 'active' group by domain_id")}
    domains = await conn.fetch("select * from kb_domains order by sort_order, id")
    body = _with_settings(module, (await _tenant_settings(conn)).get(module_id))
    full = await download(conn, module_id) if body["enabled"] else None
    return {
        **body,
        "long_description": module["long_description"],
        "domains": [{"id": d["id"], "name": d["name"], "weight": d["weight"], "icon_name": d["icon_name"],
                     "question_count": counts.get(d["id"], 0)} for d in domains],
        "total_questions": sum(counts.values()),
        "study_modes": _json(module["study_modes"]),
        "settings": _json(module["settings"]),
        "download_size": len(dumps(full).encode()) if full else 0,
    }
