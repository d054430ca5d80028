"""Answers whose shape the shipped apps truly disagree on, chosen by ``X-Client-Platform``.

The rule: where the apps agree or read disjoint keys, the
runtime answers a **superset** in its routes and never comes here. Only where the same key must carry
incompatible types for two apps is the answer shaped by the ``X-Client-Platform`` header
(``runtime.context.client_info(conn)["platform"]``: "ios" | "android" | "web" | None), and only in
this module: one small function per conflicting field, each saying which app file each shape comes
from and what a caller **without the header** gets.

Who sends the header (this decides the defaults):

- iOS (sirfifer/unamentis, ``UnaMentis/``) sends no ``X-Client-Platform`` on any call.
- Android's ``ApiClient`` sends ``X-Client-Platform: Android``; its bare OkHttp services
  (``ModuleService``, ``KBQuestionService``, ``KBPackService``, ``KBAudioCache``,
  ``TranscriptStreamingService``) send no headers at all.

So for a conflicting field both headerless callers may hit the same route; the default then goes to
the app that can never identify itself (iOS) unless an answer exists that both headerless decoders
accept, and each function says which it chose and why.
"""
from __future__ import annotations

import json
from typing import Any

from starlette.requests import HTTPConnection

from runtime.context import client_info


def _platform(conn: HTTPConnection) -> str | None:
    return client_info(conn)["platform"]


def _bare_okhttp(conn: HTTPConnection) -> bool:
    """A call without ``X-Client-Platform`` from OkHttp, whose default ``User-Agent`` is ``okhttp/<version>``:
    one of Android's bare services (the app never sets another agent on them; iOS's URLSession sends
    ``<app>/<build> CFNetwork/… Darwin/…``). Used only where the header cannot tell the apps apart."""
    return _platform(conn) is None and conn.headers.get("user-agent", "").lower().startswith("okhttp/")


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
        # Device.name, Device.last_seen and UserSession.device_name are non-null Strings there
        return [{**item, **{name: item.get(name) or "" for name in _ANDROID_AUTH_ITEM_STRINGS[key]}} for item in items]
    return {key: items}


_ANDROID_AUTH_ITEM_STRINGS = {"devices": ("name", "last_seen", "created_at"), "sessions": ("device_name", "created_at")}


def auth_tokens_answer(conn: HTTPConnection, payload: dict[str, Any]) -> dict[str, Any]:
    """``POST /api/auth/register``, ``/login`` and ``/refresh`` (``payload`` is ``{user?, device?, tokens?}``).

    - Android: the tokens at the top level — ``ApiClient.register/login/refreshToken`` decode
      ``AuthTokens {access_token, refresh_token, expires_in, token_type}``
      (app/src/main/kotlin/com/unamentis/data/remote/ApiModels.kt); ``user`` and ``device`` stay beside them.
    - Everyone else, and the default when the header is absent: ``{user, device, tokens}`` — the web
      client's ``AuthResponse``/``RefreshResponse`` (server/web-client/src/types/auth.ts in the sirfifer mirror).
    """
    if _platform(conn) != "android" or "tokens" not in payload:
        return payload
    return {**{key: value for key, value in payload.items() if key != "tokens"}, **payload["tokens"]}


def auth_user_answer(conn: HTTPConnection, user: dict[str, Any]) -> dict[str, Any]:
    """``GET`` and ``PATCH /api/auth/me``.

    - Android: the user itself at the top level — ``User {id, email, name, created_at, updated_at}``, all
      non-null Strings (app/src/main/kotlin/com/unamentis/data/remote/ApiModels.kt); ``name`` is the
      display name ("" when unset).
    - Everyone else, and the default when the header is absent: ``{user: {...}}`` — the web client's
      ``getCurrentUser``/``updateProfile`` read ``response.user`` (server/web-client/src/lib/api/auth.ts).
    """
    if _platform(conn) != "android":
        return {"user": user}
    return {**user, "name": user.get("display_name") or "", "created_at": user.get("created_at") or "",
            "updated_at": user.get("updated_at") or user.get("created_at") or ""}

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


def topic_transcript_answer(conn: HTTPConnection, body: dict[str, Any]) -> Any:
    """``GET /api/curricula/{id}/topics/{topic}/transcript`` (``body`` is ``{topic_id, topic_title, segments,
    transcript: {segments}, …}``).

    - Android's ``ApiClient.getTopicTranscript`` (it sends ``X-Client-Platform: Android``): a JSON string,
      the transcript text — it decodes ``ApiResult<String>`` (app/src/main/kotlin/com/unamentis/data/remote/
      ApiClient.kt); the segments' content, one paragraph each.
    - Everyone else, and the default when the header is absent: the object — Android's own
      ``TranscriptStreamingService`` (bare OkHttp, no headers: ``TranscriptResponseDto``), iOS
      ``CurriculumService`` and the web client's ``useTopicTranscript`` (``transcript.segments``) decode it.
    """
    if _platform(conn) != "android":
        return body
    return "\n\n".join(str(s.get("content") or "") for s in body["segments"] if str(s.get("content") or "").strip())


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


# ---------------------------------------------------------------------------------- modules, Knowledge Bowl

def module_detail_study_modes(conn: HTTPConnection, modes: list[dict[str, Any]]) -> dict[str, Any]:
    """``study_modes`` of ``GET /api/modules/{id}``, as a dict to merge into the detail.

    - ios: the study mode ids, ``[String]?`` (``ModuleDetail.studyModes``,
      UnaMentis/Core/Modules/ModuleService.swift; an object there fails the whole detail).
    - android: the objects ``List<ModuleStudyMode>`` {id, name, …} (``ModuleDetail.studyModes``,
      app/src/main/kotlin/com/unamentis/core/module/ModuleModels.kt; a string there fails the detail).
    - no header (iOS ``ModuleService`` and Android's bare ``ModuleService`` both call without it):
      the key is left out. Both decoders accept its absence (iOS: an optional, nil; Android: the
      default ``emptyList()``) and neither app reads ``ModuleDetail.studyModes`` beyond decoding it
      (its only use in either tree is the declaration), while either shape would make the other
      app's whole detail fail. The study modes both apps use come with the download.
    """
    platform = _platform(conn)
    if platform == "ios":
        return {"study_modes": [m["id"] for m in modes if isinstance(m, dict) and "id" in m]}
    if platform == "android":
        return {"study_modes": modes}
    return {}


# Android KBDifficulty (app/src/main/kotlin/com/unamentis/modules/knowledgebowl/data/model/KBDifficulty.kt):
# the serial names by level; the runtime's difficulty is 1-5, level 6 ("research") is never stored.
_KB_DIFFICULTY = {1: "overview", 2: "foundational", 3: "intermediate", 4: "varsity", 5: "championship", 6: "research"}


def kb_question_difficulty(conn: HTTPConnection, level: int) -> int | str:
    """``difficulty`` of each question in ``POST /api/modules/{id}/download``.

    - android: the ``KBDifficulty`` enum's serial name (overview|foundational|intermediate|varsity|
      championship|research by level 1-6), which ``KBQuestion.difficulty`` decodes
      (app/src/main/kotlin/com/unamentis/modules/knowledgebowl/data/model/KBQuestion.kt; its
      ``Json {ignoreUnknownKeys; isLenient}`` cannot read a number as an enum).
    - everyone else, and no header: the integer level, which iOS ``KBQuestion.difficulty`` requires
      (non-optional Int; UnaMentis/Modules/KnowledgeBowl/Models/KBQuestion.swift, decoded by
      KBQuestionService.swift) and the runtime's own KB routes and the console use.

    Both callers are headerless — iOS ``KBQuestionService`` and Android ``KBQuestionService`` (which sends
    no headers at all) — so without the header the ``User-Agent`` decides: OkHttp's default
    ``okhttp/<version>`` is Android's service (``_bare_okhttp``); anything else gets iOS's integer.
    """
    if _platform(conn) == "android" or _bare_okhttp(conn):
        return _KB_DIFFICULTY.get(level, "varsity")
    return level


# ---------------------------------------------------------------------------------- TTS, models

def tts_audio_as_json(request: HTTPConnection) -> bool:
    """``POST /api/tts`` and ``/api/tts/profiles/{id}/preview``: the audio itself (``audio/wav``, the default,
    which iOS and the web play) or JSON ``TTSResponse {audio_url, duration_ms, cache_hit}`` (Android's
    ``ApiClient.generateTTS``/``previewTTSProfile`` decode JSON, ``data/remote/ApiModels.kt``). JSON when the
    caller is Android or asks for it with ``Accept: application/json`` (and not for audio)."""
    if _platform(request) == "android":
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "audio/" not in accept


def topic_audio_as_wav(request: HTTPConnection) -> bool:
    """``GET /api/curricula/{id}/topics/{topic}/stream-audio``: one ``audio/wav`` of the whole topic, or the
    old management server's segment framing (``SEG:``/``AUD:``/``ERR:``/``END``, ``application/octet-stream``,
    the default: the runtime's tests and API_REFERENCE readers parse it). The WAV for Android (its
    ``ApiClient.getTopicAudioStreamUrl`` hands the URL to an audio player) and for any caller that asks for
    audio (``Accept: audio/…``, what players send)."""
    if _platform(request) == "android":
        return True
    accept = request.headers.get("accept", "")
    return "audio/" in accept and "application/octet-stream" not in accept


def tts_profile_list(request: HTTPConnection, page: dict[str, Any]) -> Any:
    """``GET /api/tts/profiles``: Android decodes a bare JSON array of ``TTSProfile`` (``ApiClient.getTTSProfiles``,
    ``List<TTSProfile>``); the default (no header, iOS, web) is the paged envelope ``{success, profiles, total,
    limit, offset}``."""
    if _platform(request) == "android":
        return page["profiles"]
    return page


def prefetch_progress(request: HTTPConnection, progress: dict[str, Any]) -> Any:
    """``progress`` of ``GET /api/tts/prefetch/status/{id}``: Android's ``PrefetchJobStatus.progress`` is a
    number (a fraction 0..1, ``data/remote/ApiModels.kt``); the default is the job's progress object
    (``{total_segments, completed, cached, generated, failed, percent_complete, …}``)."""
    if _platform(request) == "android":
        return round(float(progress.get("percent_complete") or 0.0) / 100.0, 4)
    return progress


def model_list(request: HTTPConnection, answer: dict[str, Any]) -> Any:
    """``GET /api/models``: Android decodes a bare JSON array of ``ModelInfo`` (``ApiClient.getModels``,
    ``List<ModelInfo>``); the default (no header, iOS ``ServerConfigManager.discoverManagementModels``, web)
    is ``{models: [...], total, by_type, default_model, gpu}``."""
    if _platform(request) == "android":
        return answer["models"]
    return answer


def model_action(request: HTTPConnection, answer: dict[str, Any], model: dict[str, Any]) -> dict[str, Any]:
    """``POST /api/models/{id}/load`` and ``…/unload``: ``status`` means two different things.

    - Android (``X-Client-Platform: android``): the model itself — ``ApiClient.loadModel`` / ``unloadModel``
      decode ``ModelInfo {id, name, type, status}``, ``status`` being the model's (``loaded``, ``available``).
    - Everyone else, and the default: the Operations Console's ``ModelLoadResponse`` /
      ``ModelUnloadResponse`` ``{status: "ok", model, message, …}`` (server/web/src/types/index.ts), where
      ``status`` is the outcome of the call."""
    if _platform(request) == "android":
        return model
    return answer


def model_pull_streams(request: HTTPConnection) -> bool:
    """``POST /api/models/pull``: Android's ``ApiClient.pullModel`` decodes one ``ModelInfo`` when the pull
    is done; everyone else (the default) gets the progress as server-sent events ``data: {status, completed,
    total, digest?}`` — the console's ``pullModel()`` (server/web/src/lib/api-client.ts) reads only lines
    that start with ``data: ``."""
    return _platform(request) != "android"


def tts_cache_clear_confirmed(request: HTTPConnection, confirm: bool) -> bool:
    """``DELETE /api/tts/cache``: a caller without an app header must add ``?confirm=true`` (a guard against a
    stray script wiping the tenant's cache). The apps call it only from their explicit "clear cache" action
    and Android's ``ApiClient.clearTTSCache`` sends no query, so an identified app (any ``X-Client-Platform``)
    counts as confirmed. The cache only holds regenerable audio of the caller's own tenant."""
    return confirm or _platform(request) is not None


# ---------------------------------------------------------------------------------- the Operations Console

def is_console(conn: HTTPConnection) -> bool:
    """Whether the caller is the Operations Console (server/web/ of sirfifer/unamentis, a Next.js app).

    The console sends no ``X-Client-Platform``; what identifies it is its credential: its calls come
    through ``admin.<domain>`` with a Cloudflare Access JWT, which the auth middleware turns into a
    principal of kind ``admin`` (runtime/middleware/auth.py). On a Tier-1 route only an Access JWT
    yields that kind — an admin *user* signing in with a bearer JWT is kind ``user`` and gets the apps'
    shapes — so "kind admin and no app header" is the console and nothing else. The apps never hold
    an Access JWT. ``principal`` is read from the scope directly (this module is below auth)."""
    who = conn.scope.get("principal")
    return _platform(conn) is None and getattr(who, "kind", None) == "admin"


def _epoch(value: Any) -> float | None:
    import datetime as dt

    if isinstance(value, dt.datetime):
        return value.timestamp()
    if isinstance(value, str) and value:
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)).timestamp()
    return None


def _present(item: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in item.items() if value is not None}


def log_entries(conn: HTTPConnection, logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``logs`` of ``GET /api/logs``.

    - the console (``is_console``): ``LogEntry`` of server/web/src/types/index.ts — ``id`` a string,
      ``level`` upper case (DEBUG|INFO|WARNING|ERROR|CRITICAL; the runtime's ``notice`` shows as INFO),
      ``label``/``client_id``/``client_name`` strings ("" when unknown), ``received_at`` epoch seconds,
      and ``file``/``function``/``line`` only when set (logs-panel.tsx renders them when present).
    - everyone else: the stored entry, numeric ``id``, lower-case ``level``, ISO ``received_at``, nulls.
    """
    if not is_console(conn):
        return logs
    return [_present({
        **entry, "id": str(entry["id"]),
        "level": {"notice": "INFO"}.get(entry["level"], str(entry["level"]).upper()),
        "label": entry.get("label") or "", "client_id": entry.get("client_id") or "",
        "client_name": entry.get("client_name") or "", "received_at": _epoch(entry.get("received_at")) or 0.0,
    }) for entry in logs]


# MetricsSnapshot fields (server/web/src/types/index.ts) and the camelCase keys the apps post them as.
_SNAPSHOT_FIELDS = {
    "session_duration": "sessionDuration", "turns_total": "turnsTotal", "interruptions": "interruptions",
    "stt_latency_median": "sttLatencyMedian", "stt_latency_p99": "sttLatencyP99",
    "llm_ttft_median": "llmTTFTMedian", "llm_ttft_p99": "llmTTFTP99",
    "tts_ttfb_median": "ttsTTFBMedian", "tts_ttfb_p99": "ttsTTFBP99",
    "e2e_latency_median": "e2eLatencyMedian", "e2e_latency_p99": "e2eLatencyP99",
    "stt_cost": "sttCost", "tts_cost": "ttsCost", "llm_cost": "llmCost", "total_cost": "totalCost",
    "thermal_throttle_events": "thermalThrottleEvents", "network_degradations": "networkDegradations",
}


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def metrics_answer(conn: HTTPConnection, answer: dict[str, Any]) -> dict[str, Any]:
    """``GET /api/metrics`` (``{metrics, total, limit, offset}``; each item ``{id, kind, client_id, …,
    recorded_at, received_at, data}``).

    - the console (``is_console``): ``MetricsResponse`` of server/web/src/types/index.ts —
      each item also flat as ``MetricsSnapshot`` (every number from ``data``, camelCase or snake_case
      as the apps and the console post them, 0 when absent; ``id``/``client_id``/``client_name``
      strings, ``timestamp`` ISO, ``received_at`` epoch seconds), plus ``aggregates`` over the page
      (averages of the medians, total cost, distinct sessions, total turns — the old server's figures).
    - everyone else: the answer as it is.
    """
    if not is_console(conn):
        return answer
    items = []
    for item in answer["metrics"]:
        data = item.get("data") if isinstance(item.get("data"), dict) else {}
        flat = {field: _number(data.get(field, data.get(camel))) for field, camel in _SNAPSHOT_FIELDS.items()}
        items.append({**_present(item), **flat, "id": str(item["id"]), "client_id": item.get("client_id") or "",
                      "client_name": item.get("client_name") or "", "timestamp": item.get("recorded_at") or "",
                      "received_at": _epoch(item.get("received_at")) or 0.0})

    def average(field: str) -> float:
        return round(sum(i[field] for i in items) / len(items), 2) if items else 0.0

    aggregates = {
        "avg_e2e_latency": average("e2e_latency_median"), "avg_llm_ttft": average("llm_ttft_median"),
        "avg_stt_latency": average("stt_latency_median"), "avg_tts_ttfb": average("tts_ttfb_median"),
        "total_cost": round(sum(i["total_cost"] for i in items), 4),
        "total_sessions": len({i.get("session_id") or i["id"] for i in items}),
        "total_turns": int(sum(i["turns_total"] for i in items)),
    }
    return {**answer, "metrics": items, "aggregates": aggregates}


def clients_answer(conn: HTTPConnection, items: list[dict[str, Any]]) -> Any:
    """``GET /api/clients``.

    - the console (``is_console``): ``ClientsResponse`` of server/web/src/types/index.ts —
      ``{clients, total, online, idle, offline}``, each ``RemoteClient`` with ``first_seen``/``last_seen``
      in epoch seconds and ``name``/``device_model``/``os_version``/``app_version``/``ip_address``
      strings ("" when unknown), ``total_sessions`` and ``total_logs``.
    - everyone else: ``client_list`` above (Android's bare array, else ``{clients, total}``).
    """
    if not is_console(conn):
        return client_list(conn, items)
    clients = [_present({
        **item, **{key: item.get(key) or "" for key in ("name", "device_model", "os_version", "app_version", "ip_address")},
        "first_seen": _epoch(item.get("first_seen")) or 0.0, "last_seen": _epoch(item.get("last_seen")) or 0.0,
    }) for item in items]
    counts = {status: sum(1 for c in clients if c.get("status") == status) for status in ("online", "idle", "offline")}
    return {"clients": clients, "total": len(clients), **counts}


def asset_as_json(conn: HTTPConnection) -> bool:
    """``GET /api/curricula/{id}/topics/{topic}/assets/{asset}``: the image bytes (the default; iOS, Android
    and the web load them as images) or the asset's document entry as JSON ``{status, asset, url, …}``.

    JSON for the Operations Console (``is_console``), whose asset proxy parses the answer with
    ``response.json()`` (server/web/src/app/api/curricula/[curriculumId]/topics/[topicId]/assets/[assetId]/
    route.ts) — unless the request asks for an image (``Accept: image/…``, what a browser's ``<img>``
    sends), so the same URL still shows the picture in the console's pages; and for anyone asking for
    JSON only (``Accept: application/json`` without ``image/``)."""
    accept = conn.headers.get("accept", "")
    if "image/" in accept:
        return False
    return is_console(conn) or "application/json" in accept


def session_debug_state(conn: HTTPConnection, summary: dict[str, Any]) -> Any:
    """``state`` of ``GET /api/sessions/{id}/debug``.

    - the console (``is_console``): the session's status string created|active|paused|ended —
      ``FOVSessionDebug.state`` (server/web/src/types/index.ts, shown as a badge by fov-context-panel.tsx).
    - everyone else: the whole session state object (``GET /api/sessions/{id}``'s answer), as before;
      Android's ``SessionDebugInfo`` reads ``status`` next to it and not ``state``.
    """
    if is_console(conn):
        return summary["status"]
    return summary


def session_items_state(conn: HTTPConnection, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``state`` of each item of ``GET /api/sessions``.

    - the console (``is_console``): the status vocabulary created|active|paused|ended —
      ``FOVSessionSummary.state`` (server/web/src/types/index.ts), i.e. the item's ``status``.
    - everyone else: the runtime state (idle|playing|user_speaking|ai_thinking|ai_speaking|paused|ended)
      the old FOV server answered, with ``status`` next to it.
    """
    if not is_console(conn):
        return items
    return [{**item, "state": item["status"]} for item in items]


def tts_profile_item(conn: HTTPConnection, profile: dict[str, Any]) -> dict[str, Any]:
    """One TTS profile in the ``/api/tts/profiles*`` answers.

    - the console (``is_console``): ``TTSProfile`` of server/web/src/types/tts-pregen.ts, whose
      ``description`` and ``use_case`` are optional strings: left out when unset (null is neither).
    - everyone else: every field, unset ones as null (Android's ``TTSProfile.description: String?``).
    """
    if not is_console(conn):
        return profile
    return {key: value for key, value in profile.items() if value is not None or key not in ("description", "use_case")}


def curriculum_put_creates(conn: HTTPConnection) -> bool:
    """Whether ``PUT /api/curricula/{id}`` with a UMCF document creates the curriculum when the caller's
    tenant has none of that id.

    - the console (``is_console``): yes — its studio saves a new curriculum with ``PUT`` to an id it
      chose (server/web/src/components/dashboard/curricula-panel.tsx ``onSave``), and has no other way
      to create one from the editor.
    - everyone else: no, 404 — PUT replaces an existing curriculum (the apps create with ``POST
      /api/curricula`` or ``/import``), so a mistyped id is an error, not a new curriculum.
    """
    return is_console(conn)


def import_listing(conn: HTTPConnection, key: str, items: list[dict[str, Any]], extra: dict[str, Any]) -> Any:
    """``GET /api/import/sources`` (key ``sources``) and ``GET /api/import/sources/{id}/courses`` (``courses``).

    - Android (``X-Client-Platform: android``): a bare JSON array — ``ApiClient.getImportSources()`` and
      ``getSourceCourses()`` decode ``List<ImportSource>`` / ``List<ImportCourse>``
      (app/src/main/kotlin/com/unamentis/data/remote/ApiClient.kt, ApiModels.kt).
    - Everyone else, and the default when the header is absent: ``{success: true, key: [...], **extra}`` —
      the console's ``SourcesResponse`` / ``CourseCatalogResponse`` (server/web/src/types/index.ts) and the
      web client's ``useImportSources`` / ``useImportCourses`` (server/web-client/src/lib/api/hooks.ts).
    """
    if _platform(conn) == "android":
        return items
    return {"success": True, key: items, **extra}


def import_course_detail(conn: HTTPConnection, course: dict[str, Any], extra: dict[str, Any]) -> Any:
    """``GET /api/import/sources/{id}/courses/{course}``.

    - Android: the ``ImportCourse`` itself — ``ApiClient.getCourseDetails()`` decodes it at the top level.
    - Everyone else, and the default: ``{success, course, **extra}`` — the console's ``CourseDetailResponse``
      ``{success, course, canImport, licenseWarnings}`` (server/web/src/types/index.ts).
    """
    if _platform(conn) == "android":
        return course
    return {"success": True, "course": course, **extra}
