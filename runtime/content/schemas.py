"""JSON Schemas of the app-facing content answers, published in ``/api/openapi.json``.

Only the keys the shipping apps decode are required; answers may carry more (superset
rule). ``declare`` attaches an OpenAPI operation fragment to an endpoint, which the health service's
generator merges into the document; the content tests validate real answers against these schemas,
so the published contract cannot drift from what the server sends.
"""
from __future__ import annotations

from typing import Any, Callable

STR = {"type": "string"}
INT = {"type": "integer"}
NUM = {"type": "number"}
BOOL = {"type": "boolean"}
STR_OR_NULL = {"type": ["string", "null"]}


def obj(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": "object", "required": sorted(required), "properties": {**required, **(optional or {})}}


def array(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


_SUMMARY_FIELDS = {
    # the web CurriculumSummary (web-client/src/types/curriculum.ts)
    "language": STR, "created_at": STR, "updated_at": STR, "topics_count": INT,
    "status": {"enum": ["draft", "published", "archived"]},
}
CURRICULUM_ITEM = obj({
    "id": STR, "title": STR, "description": STR, "version": STR, "topic_count": INT, "total_duration": STR,
    "difficulty": STR, "age_range": STR, "keywords": array(STR), "visual_asset_count": INT,
    "has_visual_assets": BOOL, **_SUMMARY_FIELDS,
})
CURRICULA_LIST = obj({"curricula": array(CURRICULUM_ITEM), "total": INT})
TOPIC_SUMMARY = obj({
    "id": STR, "title": STR, "description": STR, "order_index": INT, "duration": STR, "has_transcript": BOOL,
    "segment_count": INT, "assessment_count": INT, "embedded_asset_count": INT, "reference_asset_count": INT,
})
_DETAIL_FIELDS = {
    "id": STR, "title": STR, "description": STR, "version": STR, "difficulty": STR, "age_range": STR,
    "duration": STR, "keywords": array(STR), "topics": array(TOPIC_SUMMARY), "glossary_terms": {"type": "array"},
    "learning_objectives": {"type": "array"},
}
# the web client's Curriculum: summary fields and topics as UMCF topic nodes (id {catalog, value}, type)
WEB_TOPIC = obj({"id": obj({"catalog": STR, "value": STR}), "title": STR, "type": {"const": "topic"}})
CURRICULUM_DETAIL = obj({**_DETAIL_FIELDS, **_SUMMARY_FIELDS, "topic_count": INT,
                         "curriculum": obj({**_DETAIL_FIELDS, **_SUMMARY_FIELDS, "topics": array(WEB_TOPIC)})})
TRANSCRIPT = obj({
    "topic_id": STR, "topic_title": STR,
    "segments": array(obj({"id": STR, "type": STR, "content": STR})),
    "transcript": obj({"segments": {"type": "array"}}),
    "misconceptions": {"type": "array"}, "examples": {"type": "array"}, "assessments": {"type": "array"},
    "media": obj({"embedded": {"type": "array"}, "reference": {"type": "array"}, "total_count": INT}),
})
MODULE_ITEM = obj({
    "id": STR, "name": STR, "description": STR, "icon_name": STR, "theme_color_hex": STR, "version": STR,
    "enabled": BOOL, "supports_team_mode": BOOL, "supports_speed_training": BOOL,
    "supports_competition_sim": BOOL, "download_size": INT,
})
MODULES_LIST = obj({"modules": array(MODULE_ITEM), "server_version": STR})
MODULE_QUESTION = obj({
    "id": STR, "domain_id": STR, "subcategory": STR, "question_text": STR, "answer_text": STR,
    "acceptable_answers": array(STR), "speed_target_seconds": NUM, "question_type": STR,
    "hints": array(STR), "explanation": STR,
    "text": STR, "answer": obj({"primary": STR, "acceptable": array(STR)}), "domain": STR,
    # 1-5, or the Android KBDifficulty name with X-Client-Platform: Android (runtime.client_shapes)
    "difficulty": {"type": ["integer", "string"]},
})
MODULE_DOWNLOAD = obj({
    "id": STR, "name": STR, "description": STR, "icon_name": STR, "theme_color_hex": STR, "version": STR,
    "enabled": BOOL, "supports_team_mode": BOOL, "supports_speed_training": BOOL, "supports_competition_sim": BOOL,
    "downloaded_at": INT, "total_questions": INT,
    "domains": array(obj({"id": STR, "name": STR, "icon_name": STR, "weight": NUM, "subcategories": array(STR),
                          "questions": array(MODULE_QUESTION)})),
    "study_modes": array(obj({"id": STR, "name": STR, "description": STR, "icon_name": STR, "question_count": INT,
                              "allow_hints": BOOL, "shuffle_questions": BOOL},
                             {"time_limit_seconds": {"type": ["integer", "null"]}})),
    "settings": obj({"default_time_per_question": NUM, "confer_time_seconds": NUM, "enable_spoken_questions": BOOL,
                     "enable_spoken_answers": BOOL, "minimum_mastery_for_completion": NUM}),
    "content": {"type": "object"},
})
PACK_STATS = obj({
    "question_count": INT, "domain_count": INT, "domain_distribution": {"type": "object", "additionalProperties": INT},
    "difficulty_distribution": {"type": "object", "additionalProperties": INT}, "audio_coverage_percent": NUM,
    "missing_audio_count": INT,
})
PACK = obj({
    "id": STR, "name": STR, "description": STR, "type": STR, "pack_type": STR, "status": STR,
    "question_ids": array(STR), "stats": PACK_STATS, "question_count": INT, "domain_count": INT,
    "audio_coverage_percent": NUM, "created_at": STR, "updated_at": STR,
}, {"difficulty_tier": STR_OR_NULL})
PACKS_LIST = obj({"success": BOOL, "packs": array(PACK), "total": INT, "limit": INT, "offset": INT})
PACK_DETAIL = {**PACK, "required": sorted(set(PACK["required"]) | {"success", "pack", "domain_groups"}),
               "properties": {**PACK["properties"], "success": BOOL, "pack": PACK, "domain_groups": {"type": "array"}}}
PACK_QUESTIONS = obj({
    "success": BOOL, "total": INT,
    "questions": array(obj({"id": STR, "question_text": STR, "answer_text": STR, "domain_id": STR,
                            "subcategory": STR, "difficulty": INT, "source": STR, "acceptable_answers": array(STR)})),
})
SESSION_CREATE_REQUEST = obj({"curriculum_id": STR}, {
    "model_name": STR, "model_context_window": INT, "system_prompt": STR, "auto_expand_context": BOOL})
SESSION_CREATED = obj({"id": STR, "session_id": STR, "curriculum_id": STR, "status": STR, "state": STR,
                       "created_at": STR})
SESSION_STATE = obj({
    "id": STR, "session_id": STR, "curriculum_id": STR, "status": STR, "state": STR, "turn_count": INT,
    "duration_seconds": INT, "total_turns": INT, "barge_in_count": INT,
    "expansion_count": INT, "created_at": STR, "context_state": {"type": "object"},
}, {"current_topic_id": STR_OR_NULL, "started_at": STR_OR_NULL, "ended_at": STR_OR_NULL,
    "duration_minutes": {"type": ["number", "null"]}})
TURN_REQUEST = obj({"role": {"type": "string", "enum": ["user", "assistant"]}, "content": STR})
TURN = obj({"turn_id": STR, "id": STR, "session_id": STR, "role": STR, "content": STR, "timestamp": STR})
METRICS_SNAPSHOT = {"type": "object", "description": "Session metrics as the apps send them (camelCase keys: "
                    "sessionDuration, turnsTotal, sttLatencyMedian, e2eLatencyMedian, totalCost, …)"}
STATUS_OK = obj({"status": {"const": "ok"}})


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def declare(endpoint: Callable, *, response: dict[str, Any] | None = None, request: dict[str, Any] | None = None,
            status: str = "200") -> Callable:
    """Attach the request/response schemas of ``endpoint`` for ``/api/openapi.json``."""
    fragment: dict[str, Any] = {}
    if request is not None:
        fragment["requestBody"] = {"required": True, **_json(request)}
    if response is not None:
        fragment["responses"] = {status: {"description": "OK", **_json(response)}}
    endpoint.openapi = fragment  # type: ignore[attr-defined]
    return endpoint


def declare_gone(endpoint: Callable, description: str) -> Callable:
    """``endpoint`` always answers 410 (a feature of the old API this one deliberately does not host)."""
    endpoint.openapi = {"responses": {"410": {  # type: ignore[attr-defined]
        "description": description, **_json({"$ref": "#/components/schemas/Error"})}}}
    return endpoint
