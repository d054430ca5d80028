"""Tutoring sessions (``/api/sessions*``, ``/api/fov/health``): the ``sessions`` Lambda service.

The 21 old FOV-context routes with their shapes, but persisted in PostgreSQL (the old server held
them in one process's memory): any Lambda or core task serves any call and a reconnect resumes.
A session belongs to its tenant and to its creator (the user, or the beta token for token callers);
nobody else sees it. Context building and confidence analysis live in ``runtime.tutoring``.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from runtime import client_shapes
from runtime.auth.principal import Principal, principal
from runtime.content.http import dumps, iso, reply, tx
from runtime.errors import ApiError, InvalidField, MissingField, NotFound
from runtime.content import schemas
from runtime.context import ctx
from runtime.service import Service
from runtime.sessions import store
from runtime.tutoring import confidence
from runtime.tutoring.context import SessionView, budget_for, build_context, estimate_tokens, tier_report
from runtime.validation import (
    field_bool,
    field_enum,
    field_float,
    field_int,
    field_list,
    field_str,
    json_body,
    path_uuid,
    query_enum,
    query_int,
    query_str,
)

log = logging.getLogger("unamentis.sessions")

STATES = ("idle", "playing", "user_speaking", "ai_thinking", "ai_speaking", "paused", "ended")
SIGNAL_TYPES = ("clarification", "repetition", "confusion", "question")
# The apps' session status vocabulary (Android ``SessionStatus`` created|active|paused|ended, in
# app/src/main/kotlin/com/unamentis/data/remote/ApiModels.kt) over the runtime's states.
STATUS_STATES = {
    "created": ("idle",),
    "active": ("playing", "user_speaking", "ai_thinking", "ai_speaking"),
    "paused": ("paused",),
    "ended": ("ended",),
}
STATE_STATUS = {state: status for status, states in STATUS_STATES.items() for state in states}
DEFAULT_MODEL = "claude-3-5-sonnet-20241022"
MAX_TEXT = 20_000
MAX_EVENTS = 500
HISTORY_WINDOW = 10  # turns in a context's recent_turns unless the caller asks for another window


def owner_key(who: Principal) -> str:
    """Whose session: the user, else the beta token (tester), else the open-mode caller."""
    if who.user_id:
        return f"user:{who.user_id}"
    if who.token_id:
        return f"token:{who.token_id}"
    return "open"


def _not_found() -> ApiError:
    return NotFound("Session not found.")


def _sid(request: Request) -> str:
    """Session ids are UUIDs; anything else cannot name a session (404)."""
    try:
        return path_uuid(request, "id")
    except ApiError:
        raise _not_found() from None


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


async def _load(conn, who: Principal, session_id: str, *, for_update: bool = False):
    row = await store.load(conn, session_id, who.tenant_id, owner_key(who), for_update=for_update)
    if row is None:
        raise _not_found()
    return row


async def _event(conn, row, event_type: str, data: dict | None = None) -> None:
    await store.add_event(conn, row, event_type, dumps(data or {}))


def state_dict(row) -> dict:
    topic = _json(row["topic"]) or {}
    end = row["ended_at"]
    duration = None
    seconds = 0
    if row["started_at"] is not None:
        until = end or dt.datetime.now(dt.timezone.utc)
        seconds = max(0, int((until - row["started_at"]).total_seconds()))
        duration = round((until - row["started_at"]).total_seconds() / 60.0, 2)
    return {
        # Android's ApiSession {id, curriculum_id, topic_id, status, turn_count, duration_seconds, …}
        "id": str(row["id"]),
        "status": STATE_STATUS.get(row["state"], row["state"]),
        "topic_id": topic.get("topic_id"),
        "turn_count": row["turn_count"],
        "duration_seconds": seconds,
        "session_id": str(row["id"]),
        "curriculum_id": row["curriculum_id"] or "",
        "state": row["state"],
        "current_topic_id": topic.get("topic_id"),
        "created_at": iso(row["created_at"]),
        "started_at": iso(row["started_at"]),
        "ended_at": iso(row["ended_at"]),
        "duration_minutes": duration,
        "total_turns": row["turn_count"],
        "barge_in_count": row["barge_in_count"],
        "expansion_count": row["expansion_count"],
        "context_state": {
            "model_name": row["model_name"],
            "model_context_window": row["model_context_window"],
            "auto_expand_context": row["auto_expand_context"],
            "budget_tokens": budget_for(row["model_context_window"], row["expansion_count"]),
        },
    }


async def _view(conn, row) -> SessionView:
    turns, events = await store.context_history(conn, row["id"], MAX_EVENTS)
    return SessionView(
        system_prompt=row["system_prompt"], context_window=row["model_context_window"],
        expansion_count=row["expansion_count"], topic=_json(row["topic"]), position=_json(row["position"]),
        segment=_json(row["segment"]), turns=[dict(t) for t in turns],
        events=[{"type": e["type"], "data": _json(e["data"])} for e in reversed(events)],
    )


def _recent_turns(view: SessionView, row, window: int) -> list[dict]:
    """The newest ``window`` turns as ConversationTurn objects (role, content)."""
    turns = view.turns[-window:] if window else []
    return [{"session_id": str(row["id"]), "role": t["role"], "content": t["content"]} for t in turns]


# ------------------------------------------------------------------------------------ lifecycle
async def create_session(request: Request) -> Response:
    """Create a tutoring session for a curriculum."""
    who = principal(request)
    body = await json_body(request)
    curriculum_id = field_str(body, "curriculum_id", required=True, max_len=100)
    model_name = field_str(body, "model_name", default=DEFAULT_MODEL, max_len=200)
    window = field_int(body, "model_context_window", default=200_000, min=1024, max=10_000_000)
    system_prompt = field_str(body, "system_prompt", max_len=MAX_TEXT)
    auto_expand = field_bool(body, "auto_expand_context", default=True)
    session_id = str(uuid.uuid4())
    async with tx(request, who) as conn:
        row = await store.create(conn, session_id, who.tenant_id, owner_key(who), curriculum_id, model_name, window,
                                 system_prompt, auto_expand)
        await _event(conn, row, "created", {"curriculum_id": curriculum_id})
    return reply(state_dict(row), 201)


async def list_sessions(request: Request) -> Response:
    """The caller's sessions, newest first."""
    who = principal(request)
    curriculum_id = query_str(request, "curriculum_id", max_len=100)
    status = query_enum(request, "status", STATES + tuple(s for s in STATUS_STATES if s not in STATES))
    state = query_enum(request, "state", STATES)
    states: list[str] | None = None
    if status is not None:
        states = list(STATUS_STATES.get(status, (status,)))
    elif state is not None:
        states = [state]
    limit = query_int(request, "limit", 50, 1, 200)
    offset = query_int(request, "offset", 0, 0, 1_000_000)
    async with tx(request, who) as conn:
        rows, total = await store.page(conn, who.tenant_id, owner_key(who), curriculum_id, states, limit, offset)
    items = client_shapes.session_items_state(request, [state_dict(r) for r in rows])
    return reply(client_shapes.session_list(request, "sessions", items,
                                            {"total": total, "limit": limit, "offset": offset}))


def history_entry(row) -> dict:
    """One ``SessionHistoryEntry`` of the web client (server/web-client/src/types/session.ts)."""
    topic = _json(row["topic"]) or {}
    position = _json(row["position"]) or {}
    last = row["ended_at"] or row["updated_at"]
    total = position.get("total_topics") or 0
    if row["state"] == "ended" and total and position.get("current_topic_index", 0) + 1 >= total:
        completion = 100.0
    else:
        completion = round(100.0 * min(position.get("current_topic_index") or 0, total) / total, 1) if total else 0.0
    return {
        "id": str(row["id"]),
        "topicId": topic.get("topic_id") or "",
        "topicTitle": topic.get("topic_title") or "",
        "curriculumId": row["curriculum_id"],
        "curriculumTitle": row["curriculum_title"] or position.get("curriculum_title") or row["curriculum_id"],
        "startedAt": iso(row["started_at"]),
        "endedAt": iso(last),
        "duration": max(0.0, round((last - row["started_at"]).total_seconds(), 1)),
        "turnCount": row["turn_count"],
        "completionPercentage": completion,
    }


async def session_history(request: Request) -> Response:
    """The web client's history page: the caller's started sessions, newest first. A session not yet
    ended has its last activity as ``endedAt``."""
    who = principal(request)
    limit = query_int(request, "limit", 50, 1, 200)
    offset = query_int(request, "offset", 0, 0, 1_000_000)
    async with tx(request, who) as conn:
        rows = await store.history(conn, who.tenant_id, owner_key(who), limit, offset)
    return reply({"sessions": [history_entry(r) for r in rows], "limit": limit, "offset": offset})


async def get_session(request: Request) -> Response:
    """One session's state."""
    who = principal(request)
    async with tx(request, who) as conn:
        row = await _load(conn, who, _sid(request))
    return reply(state_dict(row))


_TRANSITIONS = {
    "start": ({"idle", "paused"}, "playing", "started_at"),
    "pause": ({"playing", "user_speaking", "ai_thinking", "ai_speaking"}, "paused", None),
    "resume": ({"paused"}, "playing", None),
}


async def _transition(request: Request, action: str) -> Response:
    who = principal(request)
    allowed, target, stamp = _TRANSITIONS[action]
    async with tx(request, who) as conn:
        row = await _load(conn, who, _sid(request), for_update=True)
        if row["state"] not in allowed:
            raise ApiError(409, "invalid_state", f"Cannot {action} a session that is {row['state']}.",
                           details={"state": row["state"]})
        row = await store.set_state(conn, row["id"], target, stamp)
        await _event(conn, row, "state_changed", {"action": action, "state": target})
    answer = state_dict(row)
    await _announce(request, who, answer, action)
    return reply(answer)


async def _announce(request: Request, who: Principal, session: dict, action: str) -> None:
    """Tell the tenant's app event streams (``/ws?token=``) that a session changed state. Best effort: the
    row holds the truth, and a failed announcement must not fail the change."""
    try:
        await ctx(request).events.publish("session_update", {
            "tenant_id": who.tenant_id, "session_id": session["id"], "status": session["status"], "event": action})
    except Exception:
        log.debug("announcing a session change failed", exc_info=True)


async def start_session(request: Request) -> Response:
    """Start (or restart from pause) a session."""
    return await _transition(request, "start")


async def pause_session(request: Request) -> Response:
    """Pause a running session."""
    return await _transition(request, "pause")


async def resume_session(request: Request) -> Response:
    """Resume a paused session."""
    return await _transition(request, "resume")


async def end_session(request: Request) -> Response:
    """End a session; answers its state as it was before ending."""
    who = principal(request)
    async with tx(request, who) as conn:
        row = await _load(conn, who, _sid(request), for_update=True)
        before = state_dict(row)
        ended = None
        if row["state"] != "ended":
            ended = await store.end(conn, row["id"])
            await _event(conn, ended, "state_changed", {"action": "end", "state": "ended"})
    if ended is not None:
        await _announce(request, who, state_dict(ended), "end")
    return reply(before)


async def delete_session(request: Request) -> Response:
    """Delete a session and everything recorded in it."""
    who = principal(request)
    async with tx(request, who) as conn:
        row = await _load(conn, who, _sid(request), for_update=True)
        await store.delete(conn, row["id"])
    return reply({"deleted": True})


# -------------------------------------------------------------------------- topic and position
def _dict_list(body: dict, name: str, keys: tuple[str, ...], required_keys: tuple[str, ...]) -> list[dict]:
    items = field_list(body, name, default=[], item_type=dict, max_items=200)
    cleaned = []
    for index, item in enumerate(items):
        entry = {}
        for key in keys:
            value = item.get(key)
            if value is None:
                if key in required_keys:
                    raise InvalidField(f"'{name}[{index}].{key}' is required.",
                                   details={"field": name, "index": index})
                continue
            if not isinstance(value, str) or len(value) > MAX_TEXT:
                raise InvalidField(f"'{name}[{index}].{key}' must be a string.",
                               details={"field": name, "index": index})
            entry[key] = value
        cleaned.append(entry)
    return cleaned


async def set_topic(request: Request) -> Response:
    """Set the session's current topic (content, objectives, glossary, misconceptions)."""
    who = principal(request)
    body = await json_body(request)
    topic: dict[str, Any] = {
        "topic_id": field_str(body, "topic_id", required=True, max_len=100),
        "topic_title": field_str(body, "topic_title", max_len=500),
        "topic_content": field_str(body, "topic_content", max_len=200_000),
        "learning_objectives": field_list(body, "learning_objectives", default=[], item_type=str, max_items=100),
        "glossary_terms": _dict_list(body, "glossary_terms", ("term", "definition"), ("term",)),
        "misconceptions": _dict_list(body, "misconceptions", ("trigger_phrase", "misconception", "remediation"),
                                     ("misconception",)),
    }
    # Android sends only {topic_id} (ApiClient.updateTopic); the id then stands for the title.
    topic["topic_title"] = topic["topic_title"] or topic["topic_id"]
    async with tx(request, who) as conn:
        row = await _load(conn, who, _sid(request), for_update=True)
        await store.set_document(conn, row["id"], "topic", dumps(topic))
        await _event(conn, row, "topic_changed", {"topic_id": topic["topic_id"], "topic_title": topic["topic_title"]})
        row = await _load(conn, who, str(row["id"]))
    return reply({**state_dict(row), "topic_id": topic["topic_id"], "topic_title": topic["topic_title"]})


async def set_position(request: Request) -> Response:
    """Set where the learner is in the curriculum."""
    who = principal(request)
    body = await json_body(request)
    outline = body.get("curriculum_outline")
    if outline is not None and not isinstance(outline, (str, list)):
        raise InvalidField("'curriculum_outline' must be a string or a list.",
                       details={"field": "curriculum_outline"})
    if isinstance(outline, list) and (len(outline) > 500 or not all(isinstance(x, str) for x in outline)):
        raise InvalidField("'curriculum_outline' must be a list of at most 500 strings.",
                       details={"field": "curriculum_outline"})
    index = field_int(body, "position", min=0, max=100_000)
    if index is not None and "current_topic_index" not in body:
        # Android's ApiClient.updatePosition sends {position: Int}: the topic index alone; the rest of the
        # stored position (title, totals) is kept.
        async with tx(request, who) as conn:
            row = await _load(conn, who, _sid(request), for_update=True)
            position = {**(_json(row["position"]) or {}), "current_topic_index": index}
            await store.set_document(conn, row["id"], "position", dumps(position))
            row = await _load(conn, who, str(row["id"]))
        return reply({**state_dict(row), "updated": True})
    position = {
        "curriculum_title": field_str(body, "curriculum_title", required=True, max_len=500),
        "current_topic_index": field_int(body, "current_topic_index", required=True, min=0, max=100_000),
        "total_topics": field_int(body, "total_topics", required=True, min=0, max=100_000),
        "unit_title": field_str(body, "unit_title", max_len=500),
        "curriculum_outline": outline,
    }
    async with tx(request, who) as conn:
        row = await _load(conn, who, _sid(request), for_update=True)
        await store.set_document(conn, row["id"], "position", dumps(position))
        row = await _load(conn, who, str(row["id"]))
    return reply({**state_dict(row), "updated": True})


async def set_segment(request: Request) -> Response:
    """Set the transcript segment being read aloud."""
    who = principal(request)
    body = await json_body(request)
    segment = {
        "segment_id": field_str(body, "segment_id", required=True, max_len=200),
        "text": field_str(body, "text", required=True, max_len=MAX_TEXT),
        "start_time": field_float(body, "start_time", default=0.0, min=0),
        "end_time": field_float(body, "end_time", default=0.0, min=0),
        "topic_id": field_str(body, "topic_id", max_len=100),
    }
    async with tx(request, who) as conn:
        row = await _load(conn, who, _sid(request), for_update=True)
        await store.set_document(conn, row["id"], "segment", dumps(segment))
    return reply({"updated": True})


# ------------------------------------------------------------------------------- conversation
async def add_turn(request: Request) -> Response:
    """Record a conversation turn (user or assistant)."""
    who = principal(request)
    body = await json_body(request)
    role = field_enum(body, "role", ("user", "assistant"), required=True)
    content = field_str(body, "content", required=True, max_len=MAX_TEXT, strip=False)
    async with tx(request, who) as conn:
        row = await _load(conn, who, _sid(request), for_update=True)
        if row["state"] == "ended":
            raise ApiError(409, "invalid_state", "The session has ended.", details={"state": "ended"})
        seq = row["turn_count"] + 1
        turn_id = f"turn-{uuid.uuid4().hex[:12]}"
        created = await store.add_turn(conn, row, seq, turn_id, role, content)
    # Android's ConversationTurn {id, session_id, role, content, timestamp}; turn_id for the others.
    return reply({"turn_id": turn_id, "id": turn_id, "session_id": str(row["id"]), "role": role, "content": content,
                  "timestamp": iso(created)})


def _context_payload(built: dict) -> dict:
    # system_message: the Operations Console's name (FOVContextBuildResponse); system_prompt: the old one
    return {"system_prompt": built["system_message"], "system_message": built["system_message"],
            "immediate": built["immediate"], "working": built["working"],
            "episodic": built["episodic"], "semantic": built["semantic"], "total_tokens": built["total_tokens"]}


async def barge_in(request: Request) -> Response:
    """The learner interrupted: record it and rebuild the context around the utterance."""
    who = principal(request)
    body = await json_body(request)
    # Android's BargeInRequest {timestamp, ai_position_ms, user_audio_url} carries no transcript: the
    # barge-in is still counted and recorded, and the context is rebuilt without an utterance.
    utterance = field_str(body, "utterance", max_len=MAX_TEXT)
    interrupted = field_float(body, "interrupted_position", min=0)
    if interrupted is None:
        position_ms = field_float(body, "ai_position_ms", min=0)
        interrupted = position_ms / 1000.0 if position_ms is not None else None
    user_audio_url = field_str(body, "user_audio_url", max_len=2000)
    async with tx(request, who) as conn:
        row = await _load(conn, who, _sid(request), for_update=True)
        row = await store.barge_in(conn, row["id"])
        await _event(conn, row, "barge_in", {"utterance": utterance, "interrupted_position": interrupted,
                                             **({"user_audio_url": user_audio_url} if user_audio_url else {})})
        built = build_context(await _view(conn, row), barge_in_utterance=utterance)
    return reply({"session_id": str(row["id"]), "barge_in_count": row["barge_in_count"],
                  "context": _context_payload(built), "messages": built["messages"]})


async def get_context(request: Request) -> Response:
    """A snapshot of the session's context state (budget and tier sizes)."""
    who = principal(request)
    async with tx(request, who) as conn:
        row = await _load(conn, who, _sid(request))
        view = await _view(conn, row)
        built = build_context(view)
    return reply({
        "session_id": str(row["id"]),
        "model_name": row["model_name"],
        "model_context_window": row["model_context_window"],
        "budget_tokens": built["budget_tokens"],
        "expansion_count": row["expansion_count"],
        "total_turns": row["turn_count"],
        "topic": client_shapes.session_context_topic(request, _json(row["topic"])),
        "position": client_shapes.session_context_position(request, _json(row["position"])),
        "history_window": HISTORY_WINDOW,
        "recent_turns": _recent_turns(view, row, HISTORY_WINDOW),
        "current_segment": _json(row["segment"]),
        "tiers": {name: {"tokens": estimate_tokens(built[name]), "text": built[name]}
                  for name in ("immediate", "working", "episodic", "semantic")},
        "total_tokens": built["total_tokens"],
    })


async def build_context_route(request: Request) -> Response:
    """Assemble the four context tiers within the model's token budget."""
    who = principal(request)
    body = await json_body(request, allow_empty=True)
    utterance = field_str(body, "barge_in_utterance", max_len=MAX_TEXT)
    asked = field_int(body, "history_window", min=0, max=MAX_EVENTS)
    window = HISTORY_WINDOW if asked is None else asked
    include_transcript = field_bool(body, "include_transcript", default=True)
    async with tx(request, who) as conn:
        row = await _load(conn, who, _sid(request))
        view = await _view(conn, row)
        built = build_context(view, barge_in_utterance=utterance)
    topic = _json(row["topic"]) or {}
    # Android decodes FOVContext {topic: TopicContext, position: Int, history_window, recent_turns}
    # (app/src/main/kotlin/com/unamentis/data/remote/ApiModels.kt) next to the built tiers.
    return reply({
        **{k: built[k] for k in ("system_message", "immediate", "working", "episodic", "semantic",
                                 "total_tokens", "budget_tokens")},
        "topic": {"id": topic.get("topic_id") or "", "title": topic.get("topic_title") or "",
                  "learning_objectives": topic.get("learning_objectives") or [],
                  "transcript": topic.get("topic_content") if include_transcript else None},
        "position": int((_json(row["position"]) or {}).get("current_topic_index") or 0),
        "history_window": window,
        "recent_turns": _recent_turns(view, row, window),
    })


async def get_messages(request: Request) -> Response:
    """The LLM messages (system + recent turns) the context yields now."""
    who = principal(request)
    async with tx(request, who) as conn:
        row = await _load(conn, who, _sid(request))
        built = build_context(await _view(conn, row))
    return reply(client_shapes.session_list(request, "messages", built["messages"], {}))


async def analyze_response(request: Request) -> Response:
    """Score a tutor response's confidence; low confidence expands the context when allowed."""
    who = principal(request)
    body = await json_body(request)
    text = field_str(body, "response", required=True, max_len=MAX_TEXT)
    analysis = confidence.analyze(text)
    async with tx(request, who) as conn:
        row = await _load(conn, who, _sid(request), for_update=True)
        previous = [(_json(data) or {}).get("confidence_score", 0.0) for data in await store.recent_analyses(conn, row["id"])]
        result = {**analysis.as_dict(), "trend": confidence.trend(list(reversed(previous)), analysis.confidence_score)}
        if analysis.confidence_score < confidence.LOW_CONFIDENCE and row["auto_expand_context"]:
            old_budget = budget_for(row["model_context_window"], row["expansion_count"])
            new_budget = budget_for(row["model_context_window"], row["expansion_count"] + 1)
            if new_budget > old_budget:
                await store.expand_context(conn, row["id"])
                result["expansion"] = {"expanded": True, "reason": "low_confidence",
                                       "previous_budget_tokens": old_budget, "budget_tokens": new_budget}
        await _event(conn, row, "analysis", {"confidence_score": analysis.confidence_score,
                                             "uncertainty_score": analysis.scores["uncertainty"],
                                             "expanded": "expansion" in result})
    return reply(result)


async def add_signal(request: Request) -> Response:
    """Record a learner signal (clarification, repetition, confusion, question)."""
    who = principal(request)
    body = await json_body(request)
    if "signal_type" not in body and isinstance(body.get("type"), str):
        body["signal_type"] = body["type"]  # the markdown spec's field name
    signal_type = field_enum(body, "signal_type", SIGNAL_TYPES, required=True)
    if signal_type is None:
        raise MissingField("'signal_type' is required.", details={"field": "signal_type"})
    content = field_str(body, "content", max_len=MAX_TEXT)
    async with tx(request, who) as conn:
        row = await _load(conn, who, _sid(request))
        await _event(conn, row, "signal", {"signal_type": signal_type, "content": content})
    return reply({"recorded": True})


async def list_events(request: Request) -> Response:
    """The session's event log (``?type=`` filters)."""
    who = principal(request)
    event_type = query_str(request, "type", max_len=50)
    limit = query_int(request, "limit", MAX_EVENTS, 1, MAX_EVENTS)
    async with tx(request, who) as conn:
        row = await _load(conn, who, _sid(request))
        rows = await store.events(conn, row["id"], event_type, limit)
    items = [{"id": str(r["id"]), "type": r["type"], "timestamp": iso(r["created_at"]),
              "data": client_shapes.session_event_data(request, _json(r["data"]))} for r in rows]
    return reply(client_shapes.session_list(request, "events", items, {}))


async def debug(request: Request) -> Response:
    """Everything about a session: state, context tiers, turns and recent events."""
    who = principal(request)
    async with tx(request, who) as conn:
        row = await _load(conn, who, _sid(request))
        view = await _view(conn, row)
        built = build_context(view)
        turns, events = await store.debug_history(conn, row["id"])
    summary = state_dict(row)
    report = tier_report(view, built)
    report["buffers"]["semantic"]["curriculum_id"] = row["curriculum_id"]
    return reply({
        # Android's SessionDebugInfo {session_id, status, turn_count, duration_seconds, metrics}; the
        # runtime records no per-session latencies, so the medians are null.
        "session_id": summary["id"], "status": summary["status"], "turn_count": summary["turn_count"],
        "duration_seconds": summary["duration_seconds"],
        "metrics": {"stt_latency_median": None, "llm_latency_median": None, "tts_latency_median": None,
                    "e2e_latency_median": None},
        # the Operations Console's FOVSessionDebug (fov-context-panel.tsx): tiers, budgets, histories
        "curriculum_id": summary["curriculum_id"], "barge_in_count": summary["barge_in_count"], **report,
        "confidence_history": [
            {"timestamp": iso(e["created_at"]), "score": float((_json(e["data"]) or {}).get("confidence_score") or 0.0),
             "uncertainty": float((_json(e["data"]) or {}).get("uncertainty_score") or 0.0)}
            for e in reversed(events) if e["type"] == "analysis"],
        "barge_in_history": [{"timestamp": iso(e["created_at"]), "utterance": (_json(e["data"]) or {}).get("utterance") or ""}
                             for e in reversed(events) if e["type"] == "barge_in"],
        "state": client_shapes.session_debug_state(request, summary),
        "system_prompt": row["system_prompt"],
        "topic": _json(row["topic"]), "position": _json(row["position"]), "segment": _json(row["segment"]),
        "context": _context_payload(built), "budget_tokens": built["budget_tokens"],
        "turns": [{"turn_id": t["id"], "role": t["role"], "content": t["content"], "timestamp": iso(t["created_at"])}
                  for t in turns],
        "recent_events": [{"type": e["type"], "timestamp": iso(e["created_at"]), "data": _json(e["data"])}
                          for e in events],
    })


async def fov_health(request: Request) -> Response:
    """Health of the session service with the caller's session counts."""
    who = principal(request)
    async with tx(request, who) as conn:
        counts = await store.counts(conn, who.tenant_id, owner_key(who))
    return reply({"status": "healthy", "sessions": counts, "active_sessions": counts["active"], "version": "1.0.0",
                  "features": {"persistent_sessions": True, "context_tiers": ["immediate", "working", "episodic",
                                                                               "semantic"],
                               "confidence_analysis": True, "auto_expand_context": True}})


schemas.declare(create_session, request=schemas.SESSION_CREATE_REQUEST, response=schemas.SESSION_CREATED,
                status="201")
schemas.declare(get_session, response=schemas.SESSION_STATE)
schemas.declare(add_turn, request=schemas.TURN_REQUEST, response=schemas.TURN)


SERVICE = Service(
    name="sessions",
    routes=[
        Route("/api/fov/health", fov_health, methods=["GET"]),
        Route("/api/sessions", create_session, methods=["POST"]),
        Route("/api/sessions", list_sessions, methods=["GET"]),
        Route("/api/sessions/history", session_history, methods=["GET"]),  # before /{id}
        Route("/api/sessions/{id}", get_session, methods=["GET"]),
        Route("/api/sessions/{id}", delete_session, methods=["DELETE"]),
        Route("/api/sessions/{id}/start", start_session, methods=["POST"]),
        Route("/api/sessions/{id}/pause", pause_session, methods=["POST"]),
        Route("/api/sessions/{id}/resume", resume_session, methods=["POST"]),
        Route("/api/sessions/{id}/end", end_session, methods=["POST"]),
        Route("/api/sessions/{id}/topic", set_topic, methods=["PUT"]),
        Route("/api/sessions/{id}/position", set_position, methods=["PUT"]),
        Route("/api/sessions/{id}/segment", set_segment, methods=["PUT"]),
        Route("/api/sessions/{id}/turns", add_turn, methods=["POST"]),
        Route("/api/sessions/{id}/barge-in", barge_in, methods=["POST"]),
        Route("/api/sessions/{id}/context", get_context, methods=["GET"]),
        Route("/api/sessions/{id}/context/build", build_context_route, methods=["POST"]),
        Route("/api/sessions/{id}/messages", get_messages, methods=["GET"]),
        Route("/api/sessions/{id}/analyze-response", analyze_response, methods=["POST"]),
        Route("/api/sessions/{id}/signals", add_signal, methods=["POST"]),
        Route("/api/sessions/{id}/events", list_events, methods=["GET"]),
        Route("/api/sessions/{id}/debug", debug, methods=["GET"]),
    ],
)
