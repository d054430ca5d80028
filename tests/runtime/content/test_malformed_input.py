"""Malformed input at every content route: never a 500, never another tenant's data.

Two tenants share one live server (real HTTP, uvicorn). Tenant A owns custom content whose text
carries a marker; tenant B (a beta-token tester and an admin of B) throws input at every route of
the curricula, modules, KB, sessions, telemetry, models and admin families:

1. a deterministic sweep — for every route and method: no body, invalid JSON, a JSON array, a
   scalar, every known field set to each hostile value (wrong types, NUL characters, huge and
   non-finite numbers, long strings, nested junk), with path parameters drawn from A's ids, system
   ids, B's own ids and junk;
2. a hypothesis search over the same routes with generated paths, queries and bodies.

Every answer must be < 500, JSON error bodies must carry ``error``/``code``/``message``, and no answer
to B may contain A's marker. Afterwards A's content is checked unchanged. The run is bounded
(``max_examples``) to keep it well under two minutes.
"""
from __future__ import annotations

import asyncio
import json
import re
import uuid
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import Route

from tests.runtime.content.conftest import bearer, sign_in_admin

MARKER = "ZEBRAQUARTZ"
FAMILIES = ("/api/curricula", "/api/modules", "/api/kb", "/api/sessions", "/api/fov", "/api/metrics",
            "/api/clients", "/api/logs", "/api/models", "/api/admin")
SERVICES = ["health", "auth", "curricula", "kb", "sessions", "telemetry", "models", "admin"]
FIELDS = (
    "curriculum_id", "content", "name", "description", "type", "status", "question_ids", "source_pack_ids",
    "excluded_question_ids", "domain_id", "subcategory", "question_text", "answer_text", "acceptable_answers",
    "difficulty", "hints", "question_type", "difficulty_tier", "competition_year", "updates", "pack_id", "pack_ids",
    "domains", "difficulties", "role", "signal_type", "utterance", "response", "topic_id", "topic_title",
    "glossary_terms", "misconceptions", "learning_objectives", "curriculum_title", "current_topic_index",
    "total_topics", "curriculum_outline", "segment_id", "text", "start_time", "end_time", "model_context_window",
    "auto_expand_context", "system_prompt", "barge_in_utterance", "metrics", "clientId", "sessionId", "timestamp",
    "client_id", "config", "level", "message", "metadata", "temperature", "max_tokens", "default_model",
    "keep_alive", "tenant", "slug", "email", "password", "display_name", "expires_in_days", "rate_capacity",
    "rate_per_seconds", "monthly_limit_usd", "user_daily_limit_usd", "subject", "daily_limit_usd", "is_active",
    "deduplication_strategy", "is_reference_bundle", "alt", "title", "formatIdentifier", "umcf", "id",
)
HOSTILE = (
    None, True, 0, -1, 10**30, -(10**30), 3.5, 1e308, "", " ", "\x00", "a\x00b", "x" * 20_000, "🦓" * 50,
    "'; drop table curricula; --", "../../etc/passwd", "%s%s%n", [], [None], ["\x00"], [1, "a", {}], {},
    {"a": {"b": {"c": [1, 2, {"d": None}]}}}, {"value": "\x00"}, "fine_arts", "toss-up", "NaN",
)
RAW_BODIES = (b"", b"{", b"[1,2", b"null", b"[]", b"42", b'"str"', b"\xff\xfe\x00", b'{"a": NaN}',
              b'{"a": Infinity}', b'{"content": 1e999}', b'{"a":' * 200 + b"1" + b"}" * 200)
SAFE_URL_VALUES = ("http://example.com/x.umcf", "https://127.0.0.1/x", "https://[::1]/x", "https://169.254.169.254/",
                   "https://10.0.0.1:443/x", "ftp://x", "https://user:pw@8.8.8.8/x", "not a url")


def _routes(app) -> list[tuple[str, str]]:
    found = []
    for route in app.routes:
        if isinstance(route, Route) and route.path.startswith(FAMILIES):
            for method in sorted(route.methods - {"HEAD"}):
                found.append((method, route.path))
    return found


class World:
    """The two tenants and the ids the fuzzer draws path parameters from."""

    def __init__(self, base_url: str, tokens: dict[str, str], ids: list[str], a_checks: list[tuple[str, str]]):
        self.base_url, self.tokens, self.ids, self.a_checks = base_url, tokens, ids, a_checks


async def _setup(content_app, tenant, live_server, database) -> World:
    _tid_a, token_a = await tenant()
    tid_b, token_b = await tenant()
    app = content_app(SERVICES)
    server = live_server(app)
    A = bearer(token_a)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
        doc = {"formatIdentifier": "umcf", "id": {"value": "zebra-course"}, "title": f"{MARKER} course",
               "content": [{"id": {"value": "zt"}, "title": f"{MARKER} topic", "type": "topic",
                            "content": {"text": f"{MARKER} secret text."}}]}
        assert (await c.post("/api/curricula/import", json={"content": doc}, headers=A)).status_code == 200
        q = (await c.post("/api/kb/questions", json={"domain_id": "arts", "question_text": f"{MARKER} question?",
                                                     "answer_text": MARKER}, headers=A)).json()["question"]["id"]
        pack = (await c.post("/api/kb/packs", json={"name": f"{MARKER} pack", "question_ids": [q]},
                             headers=A)).json()["pack"]["id"]
        sid = (await c.post("/api/sessions", json={"curriculum_id": "zebra-course"}, headers=A)).json()["session_id"]
        await c.post(f"/api/sessions/{sid}/turns", json={"role": "user", "content": MARKER}, headers=A)
        await c.post("/api/metrics", json={"note": MARKER}, headers={**A, "X-Client-ID": "zebra-client"})
        await c.post("/api/logs", json={"message": MARKER}, headers={**A, "X-Client-ID": "zebra-client"})
        await c.post("/api/clients/heartbeat", json={"client_id": "zebra-client", "name": MARKER}, headers=A)
        # B has content of its own too, so its ids are in the pool
        b_pack = (await c.post("/api/kb/packs", json={"name": "b pack"}, headers=bearer(token_b))).json()["pack"]["id"]
        b_sid = (await c.post("/api/sessions", json={"curriculum_id": "x"}, headers=bearer(token_b))).json()["session_id"]
        admin_b = await sign_in_admin(c, database, tid_b, token_b)
    a_checks = [("/api/curricula/zebra-course", MARKER), (f"/api/kb/questions/{q}", MARKER),
                (f"/api/kb/packs/{pack}/questions", q), (f"/api/sessions/{sid}/messages", MARKER),
                ("/api/logs", MARKER), ("/api/metrics", MARKER)]
    ids = ["zebra-course", "zt", q, pack, sid, "zebra-client", b_pack, b_sid, "solar-system-intro", "topic-sun",
           "pack-starter", "sys-scie-001", "knowledge-bowl", "llama3.2", str(uuid.uuid4()), tid_b, _tid_a]
    return World(server.url, {"beta": token_b, "admin": admin_b, "token_a": token_a}, ids, a_checks)


@pytest.fixture
def world(content_app, tenant, live_server, database):
    return asyncio.run(_setup(content_app, tenant, live_server, database))


def _check(response: httpx.Response, method: str, path: str) -> None:
    assert response.status_code < 500, f"{method} {path} -> {response.status_code}: {response.text[:300]}"
    assert MARKER not in response.text, f"{method} {path} leaked tenant A's data: {response.text[:300]}"
    if response.status_code >= 400 and response.headers.get("content-type", "").startswith("application/json"):
        body = response.json()
        assert {"error", "code", "message"} <= set(body), f"{method} {path}: error shape {body}"


def _fill(path: str, values: list[str]) -> str:
    it = iter(values)
    return re.sub(r"\{[^}]+\}", lambda _m: quote(next(it), safe=""), path)


def _hostile_bodies() -> list[bytes]:
    bodies = list(RAW_BODIES)
    for value in HOSTILE:
        obj = {field: value for field in FIELDS if field != "url"}
        bodies.append(json.dumps(obj).encode())
    for url in SAFE_URL_VALUES:
        bodies.append(json.dumps({"url": url}).encode())
    return bodies


def test_deterministic_sweep_of_every_route(world, content_app):
    routes = _routes(content_app(SERVICES))
    assert len(routes) >= 70, routes  # every family is mounted
    bodies = _hostile_bodies()
    sent: list[int] = []
    params_pool = [world.ids[0], world.ids[2], world.ids[4], "../x", "a" * 101, "%00", "🦓"]
    with httpx.Client(base_url=world.base_url, timeout=30) as c:
        for method, template in routes:
            n = template.count("{")
            auth = bearer(world.tokens["admin" if template.startswith("/api/admin") else "beta"])
            paths = {_fill(template, [v] * n) for v in params_pool} if n else {template}
            # bodies go to a path naming A's objects and one naming B's own (the rest only get queries)
            body_paths = {_fill(template, [world.ids[2]] * n), _fill(template, [world.ids[7]] * n)}
            for path in sorted(paths):
                for query in ("", "?limit=-5&offset=x&confirm=maybe&difficulty=9,a&search=%00&tenant=../&since=zz"
                                  "&level=loud&type=x&status=x&hours=0&from=2026-99-01&group_by=x&all=true"):
                    response = c.request(method, path + query, headers=auth)
                    sent.append(response.status_code)
                    _check(response, method, path + query)
                if method in ("POST", "PUT", "PATCH", "DELETE") and (n == 0 or path in body_paths):
                    for body in bodies:
                        response = c.request(method, path, content=body,
                                             headers={**auth, "Content-Type": "application/json"})
                        sent.append(response.status_code)
                        _check(response, method, path)
                    # multipart junk (asset uploads parse forms)
                    response = c.request(method, path, headers=auth,
                                         files={"file": ("x.png", b"not a png", "image/png")},
                                         data={"metadata": "{not json"})
                    _check(response, method, path)
        # the sweep really exercised the routes: thousands of calls, and valid ids got through
        assert len(sent) > 2000 and sent.count(200) > 50 and 429 not in sent
        # tenant A's content is untouched and still its own
        for path, expected in world.a_checks:
            r = c.get(path, headers=bearer(world.tokens["token_a"]))
            assert r.status_code == 200 and expected in r.text, (path, r.status_code, r.text[:200])


json_leaf = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(10**20), max_value=10**20),
                      st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=40))
json_value = st.recursive(json_leaf, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                             st.dictionaries(st.text(max_size=10), inner, max_size=4)),
                          max_leaves=12)
body_strategy = st.one_of(
    st.dictionaries(st.sampled_from([f for f in FIELDS if f != "url"]), json_value, max_size=8).map(
        lambda d: json.dumps(d).encode()),
    json_value.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
)
segment = st.one_of(st.sampled_from(["zebra-course", "pack-starter", "sys-scie-001", "topic-sun", "x"]),
                    st.text(min_size=1, max_size=30), st.uuids().map(str))
query_strategy = st.dictionaries(
    st.sampled_from(["search", "difficulty", "limit", "offset", "type", "status", "confirm", "tenant", "level",
                     "since", "hours", "group_by", "from", "to", "all", "kind", "client_id", "session_id",
                     "pack_id", "domain_id", "has_audio", "question_type", "include_revoked", "subject", "label"]),
    st.text(max_size=20), max_size=4)


def test_generated_malformed_input(world, content_app):
    routes = _routes(content_app(SERVICES))
    client = httpx.Client(base_url=world.base_url, timeout=30)

    @settings(max_examples=400, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(route=st.sampled_from(routes), segments=st.lists(segment, min_size=4, max_size=4), query=query_strategy,
           body=body_strategy, as_admin=st.booleans())
    def run(route, segments, query, body, as_admin):
        method, template = route
        path = _fill(template, segments)
        auth = bearer(world.tokens["admin" if as_admin else "beta"])
        response = client.request(method, path, params=query, content=body if method != "GET" else None,
                                  headers={**auth, "Content-Type": "application/json"})
        _check(response, method, path)

    try:
        run()
    finally:
        client.close()
