"""Rate limits: bucket arithmetic, PostgreSQL and Redis backends, and buckets shared by two app instances."""
from __future__ import annotations

import asyncio
import uuid

import pytest

from runtime.limits import Decision, PostgresLimiter, RateLimit, RedisLimiter
from tests.runtime.auth.conftest import bearer
from tests.runtime.conftest import make_client, need_server

REDIS_URL = "redis://127.0.0.1:6379/0"


def test_decision_arithmetic():
    limit = RateLimit(5, 60)
    allowed = Decision.from_tokens(True, 4.0, limit)
    assert (allowed.allowed, allowed.remaining, allowed.retry_after, allowed.reset_seconds) == (True, 4, 0, 12)
    refused = Decision.from_tokens(False, 0.25, limit)
    assert refused.retry_after == 9 and refused.remaining == 0  # (1 - 0.25) tokens at 5 per 60 s
    assert refused.headers()["Retry-After"] == "9" and "Retry-After" not in allowed.headers()
    for decision in (allowed, refused):  # the raw pairs a response carries say the same
        assert decision.response_headers() == [(k.lower().encode(), v.encode()) for k, v in decision.headers().items()]
    with pytest.raises(ValueError):
        RateLimit(0, 60)
    assert RateLimit.from_setting((0, 1.0)) is None


@pytest.fixture(params=["postgresql", "redis"])
def limiter_pair(request, database):
    """Limiters over one shared store, each with its own connections, as two Lambda environments have."""
    from runtime.db import Database

    if request.param == "redis":
        need_server(REDIS_URL, "Redis")
        return lambda: RedisLimiter(REDIS_URL)
    return lambda: PostgresLimiter(Database(database.settings()))


async def _close(*limiters):
    for limiter in limiters:
        await limiter.aclose()
        db = getattr(limiter, "_db", None)
        if db is not None:
            await db.close()


async def test_first_request_passes_then_bucket_empties(limiter_pair):
    one, two = limiter_pair(), limiter_pair()
    key = f"test:{uuid.uuid4()}"
    try:
        first = await one.hit(key, RateLimit(1, 60))
        assert first.allowed and first.remaining == 0
        second = await two.hit(key, RateLimit(1, 60))
        assert not second.allowed and 55 <= second.retry_after <= 60
    finally:
        await _close(one, two)


async def test_shared_between_instances(limiter_pair):
    one, two = limiter_pair(), limiter_pair()
    key = f"test:{uuid.uuid4()}"
    limit = RateLimit(4, 60)
    try:
        results = [await (one if i % 2 else two).hit(key, limit) for i in range(6)]
        assert [r.allowed for r in results] == [True, True, True, True, False, False]
        assert [r.remaining for r in results[:4]] == [3, 2, 1, 0]
    finally:
        await _close(one, two)


async def test_concurrent_hits_never_overspend(limiter_pair):
    one, two = limiter_pair(), limiter_pair()
    key = f"test:{uuid.uuid4()}"
    limit = RateLimit(10, 3600)
    try:
        results = await asyncio.gather(*((one, two)[i % 2].hit(key, limit) for i in range(40)))
        assert sum(r.allowed for r in results) == 10
    finally:
        await _close(one, two)


async def test_refill(limiter_pair):
    one = limiter_pair()
    key = f"test:{uuid.uuid4()}"
    limit = RateLimit(2, 4.0)  # a token every 2 s: the three quick hits stay well inside that even under load
    try:
        assert (await one.hit(key, limit)).allowed and (await one.hit(key, limit)).allowed
        assert not (await one.hit(key, limit)).allowed
        await asyncio.sleep(2.2)
        assert (await one.hit(key, limit)).allowed
    finally:
        await _close(one)


@pytest.mark.parametrize("backend", ["postgresql", "redis"])
async def test_per_token_limit_shared_by_two_apps(backend, auth_app, tenant):
    """Requests with one beta token alternate between two app instances; the bucket is one."""
    _tid, beta = await tenant()
    overrides = {"rate_limit_token": (3, 60.0)}
    if backend == "redis":
        overrides["redis_url"] = REDIS_URL
    async with make_client(auth_app(**overrides)) as a, make_client(auth_app(**overrides)) as b:
        responses = [await (a, b)[i % 2].get("/api/auth/me", headers=bearer(beta)) for i in range(4)]
    assert [r.status_code for r in responses] == [403, 403, 403, 429]  # 403: a beta token has no user profile
    refused = responses[-1]
    assert refused.json()["error"] == "rate_limited" and int(refused.headers["Retry-After"]) >= 1
    assert refused.headers["X-RateLimit-Limit"] == "3" and refused.headers["X-RateLimit-Remaining"] == "0"
    assert responses[0].headers["X-RateLimit-Remaining"] == "2"


async def test_beta_token_own_limit(auth_app, tenant, database):
    tid, _beta = await tenant()
    from runtime.auth.store import issue_beta_token

    conn = await database.app()
    try:
        _id, token = await issue_beta_token(conn, tid, "limited", rate=(2, 60.0))
    finally:
        await conn.close()
    async with make_client(auth_app()) as client:
        codes = [(await client.get("/api/auth/me", headers=bearer(token))).status_code for _ in range(3)]
    assert codes == [403, 403, 429]


async def test_unreachable_redis_is_a_503_not_a_crash():
    from runtime.errors import ApiError

    limiter = RedisLimiter("redis://127.0.0.1:1/0")
    try:
        with pytest.raises(ApiError) as info:
            await limiter.hit("k", RateLimit(1, 1))
    finally:
        await limiter.aclose()
    assert info.value.status == 503 and info.value.error == "rate_limiter_unavailable"
