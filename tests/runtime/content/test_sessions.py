"""Tutoring sessions: the 21 routes persisted in PostgreSQL, state transitions, context tiers within
the budget, confidence analysis with context expansion, signals, events; owner scoping."""
from __future__ import annotations

import uuid

from tests.runtime.conftest import make_client, rows_read
from tests.runtime.content.conftest import bearer


async def test_session_lifecycle_and_context(content_app, tenant):
    _tid, token = await tenant()
    h = bearer(token)
    async with make_client(content_app(["sessions"])) as c:
        r = await c.post("/api/sessions", json={"curriculum_id": "solar-system-intro", "model_context_window": 32768,
                                                "system_prompt": "Be brief."}, headers=h)
        assert r.status_code == 201
        sid = r.json()["session_id"]
        uuid.UUID(sid)
        assert (await c.post(f"/api/sessions/{sid}/resume", headers=h)).status_code == 409
        # start/pause/resume answer the whole session (Android decodes ApiSession), with the new state
        started = (await c.post(f"/api/sessions/{sid}/start", headers=h)).json()
        assert started["state"] == "playing" and started["status"] == "active" and started["id"] == sid
        assert (await c.post(f"/api/sessions/{sid}/pause", headers=h)).json()["status"] == "paused"
        assert (await c.post(f"/api/sessions/{sid}/resume", headers=h)).json()["state"] == "playing"
        r = await c.put(f"/api/sessions/{sid}/topic", json={
            "topic_id": "topic-sun", "topic_title": "The Sun", "topic_content": "The Sun is a star.",
            "learning_objectives": ["Explain fusion"], "glossary_terms": [{"term": "fusion", "definition": "joining nuclei"}],
            "misconceptions": [{"trigger_phrase": "on fire", "misconception": "The Sun burns", "remediation": "Fusion"}]},
            headers=h)
        # the session (Android decodes ApiSession) with the topic set
        assert {"topic_id": "topic-sun", "topic_title": "The Sun"}.items() <= r.json().items() and r.json()["id"] == sid
        assert (await c.put(f"/api/sessions/{sid}/position", json={"curriculum_title": "Our Solar System",
                                                                  "current_topic_index": 0, "total_topics": 3,
                                                                  "curriculum_outline": ["Sun", "Rocky", "Giants"]},
                            headers=h)).json()["updated"] is True
        assert (await c.put(f"/api/sessions/{sid}/segment", json={"segment_id": "seg-sun-2", "text": "Hydrogen fuses.",
                                                                 "start_time": 1.5, "end_time": 4.0}, headers=h)).json() == {"updated": True}
        for i in range(12):
            role = "user" if i % 2 == 0 else "assistant"
            r = await c.post(f"/api/sessions/{sid}/turns", json={"role": role, "content": f"turn number {i}"}, headers=h)
            assert r.status_code == 200 and r.json()["role"] == role
        built = (await c.post(f"/api/sessions/{sid}/context/build", json={}, headers=h)).json()
        assert "Be brief." in built["system_message"] and "Misconception" in built["working"]
        assert "turn number 11" in built["immediate"] and "turn number 0" not in built["immediate"]
        assert "Earlier user: turn number 0" in built["episodic"] and "Outline: Rocky" in built["semantic"]
        assert built["total_tokens"] <= built["budget_tokens"] == 8000
        messages = (await c.get(f"/api/sessions/{sid}/messages", headers=h)).json()["messages"]
        assert messages[0]["role"] == "system" and messages[-1]["content"] == "turn number 11"
        barge = (await c.post(f"/api/sessions/{sid}/barge-in", json={"utterance": "Wait, is the Sun on fire?"},
                              headers=h)).json()
        assert barge["barge_in_count"] == 1 and barge["messages"][-1]["content"] == "Wait, is the Sun on fire?"
        assert set(barge["context"]) == {"system_prompt", "system_message", "immediate", "working", "episodic", "semantic", "total_tokens"}
        assert (await c.post(f"/api/sessions/{sid}/signals", json={"signal_type": "confusion", "content": "lost"},
                             headers=h)).json() == {"recorded": True}
        r = await c.post(f"/api/sessions/{sid}/signals", json={"signal_type": "boredom"}, headers=h)
        assert r.status_code == 422
        # a confident answer keeps the budget; a hedged one expands it once
        sure = (await c.post(f"/api/sessions/{sid}/analyze-response",
                             json={"response": "The Sun shines because of nuclear fusion in its core."}, headers=h)).json()
        assert sure["confidence_score"] == 1.0 and "expansion" not in sure
        unsure = (await c.post(f"/api/sessions/{sid}/analyze-response", json={
            "response": "I think it might be fusion, but I'm not sure. Maybe it is sort of like burning, I guess."},
            headers=h)).json()
        assert unsure["confidence_score"] < 0.5 and unsure["trend"] == "declining"
        assert unsure["expansion"]["budget_tokens"] > unsure["expansion"]["previous_budget_tokens"]
        assert {m["category"] for m in unsure["markers"]} >= {"hedging", "uncertainty", "vague_language"}
        state = (await c.get(f"/api/sessions/{sid}", headers=h)).json()
        assert state["expansion_count"] == 1 and state["total_turns"] == 12 and state["current_topic_id"] == "topic-sun"
        events = (await c.get(f"/api/sessions/{sid}/events", headers=h)).json()["events"]
        assert {"created", "state_changed", "topic_changed", "barge_in", "signal", "analysis"} <= {e["type"] for e in events}
        assert [e["type"] for e in (await c.get(f"/api/sessions/{sid}/events?type=signal", headers=h)).json()["events"]] == ["signal"]
        context = (await c.get(f"/api/sessions/{sid}/context", headers=h)).json()
        assert context["expansion_count"] == 1 and context["tiers"]["immediate"]["tokens"] > 0
        debug = (await c.get(f"/api/sessions/{sid}/debug", headers=h)).json()
        assert len(debug["turns"]) == 12 and debug["state"]["session_id"] == sid
        health = (await c.get("/api/fov/health", headers=h)).json()
        assert health["status"] == "healthy" and health["sessions"]["total"] == 1
        ended = (await c.post(f"/api/sessions/{sid}/end", headers=h)).json()
        assert ended["state"] == "user_speaking"
        assert (await c.post(f"/api/sessions/{sid}/turns", json={"role": "user", "content": "x"}, headers=h)).status_code == 409
        assert (await c.post(f"/api/sessions/{sid}/start", headers=h)).status_code == 409
        listed = (await c.get("/api/sessions?status=ended", headers=h)).json()
        assert listed["total"] == 1 and listed["sessions"][0]["ended_at"]
        # the web client's history (useSessionHistory): started sessions, camelCase entries
        entries = (await c.get("/api/sessions/history", headers=h)).json()["sessions"]
        assert [e["id"] for e in entries] == [sid] and entries[0]["turnCount"] == 12 and entries[0]["endedAt"]
        assert entries[0]["topicId"] == "topic-sun" and entries[0]["curriculumId"] == "solar-system-intro"
        assert (await c.delete(f"/api/sessions/{sid}", headers=h)).json() == {"deleted": True}
        assert (await c.get(f"/api/sessions/{sid}", headers=h)).status_code == 404
        assert (await c.get("/api/sessions/not-a-session", headers=h)).status_code == 404


async def test_session_input_errors_and_owner_scope(content_app, tenant, database):
    _tid, token = await tenant()
    h = bearer(token)
    async with make_client(content_app(["sessions"])) as c:
        assert (await c.post("/api/sessions", json={}, headers=h)).status_code == 400
        assert (await c.post("/api/sessions", json={"curriculum_id": 5}, headers=h)).status_code == 422
        assert (await c.post("/api/sessions", json={"curriculum_id": "x", "model_context_window": 10}, headers=h)).status_code == 422
        sid = (await c.post("/api/sessions", json={"curriculum_id": "x"}, headers=h)).json()["session_id"]
        assert (await c.post(f"/api/sessions/{sid}/turns", json={"role": "system", "content": "x"}, headers=h)).status_code == 422
        # {topic_id} alone is what Android sends (ApiClient.updateTopic): the id stands for the title
        assert (await c.put(f"/api/sessions/{sid}/topic", json={"topic_id": "t"}, headers=h)).json()["topic_title"] == "t"
        assert (await c.put(f"/api/sessions/{sid}/topic", json={"topic_title": "t"}, headers=h)).status_code == 400
        assert (await c.put(f"/api/sessions/{sid}/position", json={"curriculum_title": "c", "current_topic_index": -1,
                                                                  "total_topics": 1}, headers=h)).status_code == 422
        assert (await c.post(f"/api/sessions/{uuid.uuid4()}/start", headers=h)).status_code == 404
    # another tester of the same tenant does not see this tester's session
    from runtime.auth.store import issue_beta_token

    conn = await database.app()
    try:
        _id, other = await issue_beta_token(conn, _tid, "second tester")
    finally:
        await conn.close()
    async with make_client(content_app(["sessions"])) as c:
        assert (await c.get(f"/api/sessions/{sid}", headers=bearer(other))).status_code == 404
        assert (await c.get("/api/sessions", headers=bearer(other))).json()["total"] == 0
        assert (await c.get("/api/sessions/history", headers=bearer(other))).json()["sessions"] == []


async def test_android_session_shapes(content_app, tenant):
    """With X-Client-Platform: Android, lists are bare arrays, the status filter takes the app's
    vocabulary (created|active|paused|ended), event data are strings and the context position an Int."""
    _tid, token = await tenant()
    h = {**bearer(token), "X-Client-Platform": "Android"}
    async with make_client(content_app(["sessions"])) as c:
        sid = (await c.post("/api/sessions", json={"curriculum_id": "x"}, headers=h)).json()["id"]
        idle = (await c.post("/api/sessions", json={"curriculum_id": "x"}, headers=h)).json()["id"]
        assert (await c.post(f"/api/sessions/{sid}/start", headers=h)).json()["status"] == "active"
        assert [s["id"] for s in (await c.get("/api/sessions?status=active", headers=h)).json()] == [sid]
        assert [s["id"] for s in (await c.get("/api/sessions?status=created", headers=h)).json()] == [idle]
        assert (await c.get("/api/sessions?status=bogus", headers=h)).status_code == 400
        await c.post(f"/api/sessions/{sid}/barge-in", json={"ai_position_ms": 1200, "user_audio_url": None}, headers=h)
        events = (await c.get(f"/api/sessions/{sid}/events", headers=h)).json()
        barge = [e for e in events if e["type"] == "barge_in"][0]
        assert barge["id"] and barge["data"] == {"interrupted_position": "1.2"}
        assert (await c.put(f"/api/sessions/{sid}/position", json={"position": 2}, headers=h)).json()["id"] == sid
        context = (await c.get(f"/api/sessions/{sid}/context", headers=h)).json()
        assert context["position"] == 2 and context["topic"]["id"] == "" and context["recent_turns"] == []
        assert isinstance((await c.get(f"/api/sessions/{sid}/messages", headers=h)).json(), list)


async def test_loading_a_session_reads_one_row_under_a_generic_plan_made_on_an_empty_table(tenant, database):
    """Every turn loads its session by id on a statement PostgreSQL soon plans once per connection. A
    plan made while the table was empty must still find the session by its id once the owner has
    thousands of sessions, not walk the owner's index."""
    from runtime.sessions import store

    tid = (await tenant())[0]
    owner = "token:" + str(uuid.uuid4())
    conn = await database.app()
    try:
        await conn.execute("set plan_cache_mode = force_generic_plan")  # what a busy connection ends up with
        async with conn.transaction():
            await conn.execute("select set_config('app.tenant_id', $1, true)", tid)
            assert await store.load(conn, str(uuid.uuid4()), tid, owner, for_update=True) is None  # planned now
            await conn.execute(
                "insert into tutoring_sessions (id, tenant_id, owner, curriculum_id, model_name, model_context_window) "
                "select gen_random_uuid(), $1, $2, 'c', 'm', 8192 from generate_series(1, 5000)", uuid.UUID(tid), owner)
            wanted = await conn.fetchval("select id from tutoring_sessions order by created_at, id limit 1")

            before = await rows_read(conn, "tutoring_sessions")
            row = await store.load(conn, str(wanted), tid, owner, for_update=True)
            assert row is not None and row["id"] == wanted
            assert await store.load(conn, str(wanted), tid, "token:someone-else") is None  # another owner's
            assert await rows_read(conn, "tutoring_sessions") - before <= 4  # the one row (twice), not the owner's 5000
    finally:
        await conn.close()
