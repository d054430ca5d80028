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
    module = await conn.fetchrow("select * from content_modules where id = $1 and enabled", module_id)
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


async def list_modules(conn: asyncpg.Connection) -> list[dict]:
    items = []
    for module in await conn.fetch("select * from content_modules order by sort_order, id"):
        full = await download(conn, module["id"]) if module["enabled"] else None
        items.append({**{k: module[k] for k in _LIST_KEYS},
                      "download_size": len(dumps(full).encode()) if full else 0})
    return items


async def module_detail(conn: asyncpg.Connection, module_id: str) -> dict | None:
    module = await conn.fetchrow("select * from content_modules where id = $1", module_id)
    if module is None:
        return None
    counts = {r["domain_id"]: r["n"] for r in await conn.fetch(
        "select domain_id, count(*) as n from kb_questions where status = 'active' group by domain_id")}
    domains = await conn.fetch("select * from kb_domains order by sort_order, id")
    full = await download(conn, module_id) if module["enabled"] else None
    return {
        **{k: module[k] for k in _LIST_KEYS},
        "long_description": module["long_description"],
        "base_supports_team_mode": module["supports_team_mode"],
        "base_supports_speed_training": module["supports_speed_training"],
        "base_supports_competition_sim": module["supports_competition_sim"],
        "feature_overrides": {},
        "domains": [{"id": d["id"], "name": d["name"], "weight": d["weight"], "icon_name": d["icon_name"],
                     "question_count": counts.get(d["id"], 0)} for d in domains],
        "total_questions": sum(counts.values()),
        "study_modes": _json(module["study_modes"]),
        "settings": _json(module["settings"]),
        "download_size": len(dumps(full).encode()) if full else 0,
    }
