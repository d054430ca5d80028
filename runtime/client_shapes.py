"""Answers shaped by the calling app, where the shipped apps truly conflict (the same key, or the
same body, with incompatible types). The one place that reads ``X-Client-Platform`` to shape an
answer: one small function per conflicting field, each naming the default when the header is
absent and the app file each shape comes from. Routes call these; they never branch on the
platform themselves.
"""
from __future__ import annotations

import json
from typing import Any

from starlette.requests import HTTPConnection

from runtime.context import client_info


def _platform(conn: HTTPConnection) -> str | None:
    return client_info(conn)["platform"]


def auth_list(conn: HTTPConnection, key: str, items: list[dict[str, Any]]) -> Any:
    """``GET /api/auth/devices`` and ``GET /api/auth/sessions``.

    - Android (``X-Client-Platform: android``): a bare JSON array — ``ApiClient.getDevices()`` /
      ``getSessions()`` decode ``List<Device>`` / ``List<UserSession>``
      (app/src/main/kotlin/com/unamentis/data/remote/ApiClient.kt, ApiModels.kt).
    - Everyone else, and the default when the header is absent: ``{key: [...]}`` — the web client's
      ``getDevices``/``getSessions`` read ``response.devices`` / ``response.sessions``
      (server/web-client/src/lib/api/auth.ts in the sirfifer mirror), as do the runtime's tests.
    """
    if _platform(conn) == "android":
        return items
    return {key: items}

def session_list(conn: HTTPConnection, key: str, items: list[dict[str, Any]], extra: dict[str, Any]) -> Any:
    """``GET /api/sessions`` (key ``sessions``), ``…/messages`` (``messages``), ``…/events`` (``events``).

    - Android (``X-Client-Platform: android``): a bare JSON array — ``ApiClient.listSessions()``,
      ``getMessages()`` and ``getEvents()`` decode ``List<ApiSession>`` / ``List<ConversationTurn>`` /
      ``List<TimelineEvent>`` (app/src/main/kotlin/com/unamentis/data/remote/ApiClient.kt, ApiModels.kt).
    - Everyone else, and the default when the header is absent: ``{key: [...], **extra}`` — the
      Operations Console reads ``{sessions: [...]}`` (server/web/src/app/api/sessions/route.ts in the
      sirfifer mirror), as do the runtime's tests.
    """
    if _platform(conn) == "android":
        return items
    return {key: items, **extra}


def session_context_position(conn: HTTPConnection, position: dict[str, Any] | None) -> Any:
    """``position`` of ``GET /api/sessions/{id}/context``.

    - Android: an Int, the current topic index — ``FOVContext.position: Int``
      (app/src/main/kotlin/com/unamentis/data/remote/ApiModels.kt); 0 when none was set.
    - Everyone else, and the default when the header is absent: the position document as set with
      ``PUT /position`` ({curriculum_title, current_topic_index, total_topics, …}) or null — the
      old FOV server's answer (server/management/fov_context_api.py) that the runtime's tests read.
    """
    if _platform(conn) == "android":
        return int((position or {}).get("current_topic_index") or 0)
    return position


def session_context_topic(conn: HTTPConnection, topic: dict[str, Any] | None) -> Any:
    """``topic`` of ``GET /api/sessions/{id}/context``.

    - Android: always an object ``TopicContext {id, title, learning_objectives, transcript?}``
      (app/src/main/kotlin/com/unamentis/data/remote/ApiModels.kt; non-null in ``FOVContext``), with
      empty strings and list when no topic was set; the stored topic's own keys are kept alongside.
    - Everyone else, and the default when the header is absent: the topic document as set with
      ``PUT /topic`` ({topic_id, topic_title, …}) plus ``id``/``title``, or null when none was set
      (the old FOV server's answer, server/management/fov_context_api.py).
    """
    if topic is None and _platform(conn) != "android":
        return None
    topic = topic or {}
    return {**topic, "id": topic.get("topic_id") or "", "title": topic.get("topic_title") or "",
            "learning_objectives": topic.get("learning_objectives") or [],
            "transcript": topic.get("topic_content")}


def session_event_data(conn: HTTPConnection, data: dict[str, Any] | None) -> Any:
    """``data`` of each item of ``GET /api/sessions/{id}/events``.

    - Android: ``TimelineEvent.data: Map<String, String>?``
      (app/src/main/kotlin/com/unamentis/data/remote/ApiModels.kt): every value as a string (numbers,
      booleans and nested values in JSON text), null values left out.
    - Everyone else, and the default when the header is absent: the recorded JSON as it is (numbers
      stay numbers), as the old FOV server answered (server/management/fov_context_api.py).
    """
    if _platform(conn) != "android" or data is None:
        return data
    return {key: value if isinstance(value, str) else _json_text(value)
            for key, value in data.items() if value is not None}


def _json_text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def client_list(conn: HTTPConnection, items: list[dict[str, Any]]) -> Any:
    """``GET /api/clients``.

    - Android: a bare JSON array of ``ConnectedClient {id, name, platform, version, status,
      connected_at, last_seen}``, every field a non-null string (null name/platform/version as "")
      — ``ApiClient.getClients()`` (app/src/main/kotlin/com/unamentis/data/remote/ApiClient.kt, ApiModels.kt).
    - Everyone else, and the default when the header is absent: ``{clients: [...], total}`` — the
      Operations Console reads ``clients`` (server/web/src/app/api/clients/route.ts in the sirfifer
      mirror), as do the runtime's tests.
    """
    if _platform(conn) == "android":
        return [{**item, **{key: item.get(key) or "" for key in ("name", "platform", "version")}} for item in items]
    return {"clients": items, "total": len(items)}


def reload_answer(request: HTTPConnection, items: list[dict]) -> Any:
    """``POST /api/curricula/reload``.

    - android: a JSON array of ``CurriculumSummary`` (ApiClient.reloadCurricula,
      app/src/main/kotlin/com/unamentis/data/remote/ApiClient.kt).
    - everyone else (ios, web, no header): an object — web ``{message, curricula_count}``
      (server/web-client/src/lib/api/hooks.ts useReloadCurricula), iOS and the old runtime ``{status, count}``.
    """
    if _platform(request) == "android":
        return items
    return {"status": "ok", "count": len(items), "message": f"Reloaded {len(items)} curricula.",
            "curricula_count": len(items)}


def archived_list_answer(request: HTTPConnection, items: list[dict]) -> Any:
    """``GET /api/curricula/archived``.

    - android: a JSON array of ``ArchivedCurriculum {file, title, archived_at (ISO 8601 string),
      original_id}`` (ApiClient.getArchivedCurricula, data/remote/ApiModels.kt).
    - everyone else (no header included): ``{archived: [...], total}`` with ``archived_at`` in epoch
      seconds, as the runtime answered before (the old server's shape).
    """
    if _platform(request) == "android":
        return [{**item, "archived_at": item["archived_at_iso"]} for item in items]
    return {"archived": [{k: v for k, v in item.items() if k != "archived_at_iso"} for item in items],
            "total": len(items)}


def delete_confirmed(request: HTTPConnection, confirm: bool) -> bool:
    """Whether ``DELETE /api/curricula/{id}`` (and ``…/archived/{file}``) deletes now.

    - android: always — ApiClient.deleteCurriculum / deleteArchivedCurriculum send one DELETE with no
      ``?confirm`` and treat the 2xx as done (ApiResult<Unit>, data/remote/ApiClient.kt); the app has
      no second step that could repeat the call, so asking it to confirm would leave the curriculum in
      place while the app shows it gone.
    - everyone else (no header included): only with ``?confirm=true``; without it the answer is
      ``{status: confirmation_required}`` (the old server's two-step flow).
    """
    return confirm or _platform(request) == "android"
