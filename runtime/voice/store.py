"""Voice session state in PostgreSQL, so a reconnect to any task resumes the conversation.

State is one JSON document per (tenant, session id): config, voice, topic, the recent history the
LLM sees, and the curriculum playback position. It is saved after every turn and every state
change, and read once when a socket connects.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

MAX_HISTORY_MESSAGES = 20


@dataclass
class SessionState:
    session_id: str
    owner: str
    config: dict = field(default_factory=lambda: {"sample_rate": 16000, "channels": 1, "format": "pcm16",
                                                  "vad_enabled": True, "vad_threshold": 0.5})
    voice: dict = field(default_factory=dict)  # voice_id, tts_provider, speed, options
    topic: dict = field(default_factory=dict)  # curriculum_id, topic_id, title
    history: list = field(default_factory=list)  # [{role, content}]
    playback: dict = field(default_factory=dict)  # segment_index, offset_ms, is_playing
    turn_count: int = 0
    status: str = "active"
    resumed: bool = False

    def as_json(self) -> str:
        return json.dumps({"config": self.config, "voice": self.voice, "topic": self.topic,
                           "history": self.history[-MAX_HISTORY_MESSAGES:], "playback": self.playback})

    def add_exchange(self, user: str, assistant: str) -> None:
        self.history = (self.history + [{"role": "user", "content": user},
                                        {"role": "assistant", "content": assistant}])[-MAX_HISTORY_MESSAGES:]


class SessionNotFound(Exception):
    """The id names an ended session, or one that belongs to another caller."""


class SessionStore:
    def __init__(self, db, instance: str):
        self.db, self.instance = db, instance

    async def open(self, tenant_id: str, session_id: str, owner: str) -> SessionState:
        """Load the session (resume) or create it; claims it for this instance."""
        async with self.db.tenant(tenant_id) as conn:
            row = await conn.fetchrow(
                "select owner, state, turn_count, status from voice_sessions where tenant_id = $1 and id = $2 "
                "for update", tenant_id, session_id)
            if row is None:
                state = SessionState(session_id=session_id, owner=owner)
                await conn.execute(
                    "insert into voice_sessions (tenant_id, id, owner, state, instance) values ($1, $2, $3, $4::jsonb, $5)",
                    tenant_id, session_id, owner, state.as_json(), self.instance)
                return state
            if row["owner"] != owner or row["status"] != "active":
                raise SessionNotFound(session_id)
            doc = row["state"] if isinstance(row["state"], dict) else json.loads(row["state"])
            state = SessionState(session_id=session_id, owner=owner, turn_count=row["turn_count"], resumed=True)
            state.config.update(doc.get("config") or {})
            state.voice = doc.get("voice") or {}
            state.topic = doc.get("topic") or {}
            state.history = doc.get("history") or []
            state.playback = doc.get("playback") or {}
            await conn.execute("update voice_sessions set instance = $3, updated_at = now() "
                               "where tenant_id = $1 and id = $2", tenant_id, session_id, self.instance)
            return state

    async def save(self, tenant_id: str, state: SessionState, *, release: bool = False) -> None:
        async with self.db.tenant(tenant_id) as conn:
            await conn.execute(
                "update voice_sessions set state = $3::jsonb, turn_count = $4, status = $5, updated_at = now(), "
                "instance = case when $6 then null else instance end where tenant_id = $1 and id = $2",
                tenant_id, state.session_id, state.as_json(), state.turn_count, state.status, release)
