"""Rate limits: token buckets shared by every Lambda environment and container task.

``decision = await ctx.limiter.hit(key, RateLimit(capacity, per_seconds))``: a bucket holds up to
``capacity`` tokens and refills at ``capacity / per_seconds`` tokens per second; each hit takes one.
A new key starts FULL, so a new client's first request always passes (the old limiter started
empty and refused it). ``RateLimit(5, 60)`` lets 5 rapid requests through and refuses the 6th.

Backends (``create_limiter(settings, db)``):
- PostgreSQL (default): one atomic ``INSERT … ON CONFLICT DO UPDATE`` inside
  ``rate_limit_hit()`` (migration 0011), on an UNLOGGED table only that function can touch.
- Redis when ``REDIS_URL`` is set: the same bucket arithmetic in one Lua script, timed by the
  Redis server's clock so every instance agrees.
Both keep all state in the shared store, so two instances see one bucket.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from runtime.db import Database
from runtime.errors import ApiError, RateLimited
from runtime.settings import Settings


@dataclass(frozen=True)
class RateLimit:
    capacity: int
    per_seconds: float

    def __post_init__(self) -> None:
        if self.capacity < 1 or self.per_seconds <= 0:
            raise ValueError(f"RateLimit needs capacity >= 1 and per_seconds > 0, got {self.capacity}/{self.per_seconds}")

    @property
    def rate(self) -> float:
        return self.capacity / self.per_seconds

    @classmethod
    def from_setting(cls, value: tuple[int, float]) -> "RateLimit | None":
        """A ``Settings`` rate tuple; capacity 0 means the limit is off (None). Cached: the default
        limits are looked up on every request and there are only a few distinct settings."""
        return _limit_from_setting(cls, tuple(value))


@functools.lru_cache(maxsize=256)
def _limit_from_setting(cls: type, value: tuple) -> "RateLimit | None":
    capacity, per = value
    return cls(int(capacity), float(per)) if capacity > 0 else None


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int  # until the bucket is full again
    retry_after: int  # seconds until a refused request would pass (0 when allowed)

    @classmethod
    def from_tokens(cls, allowed: bool, tokens: float, limit: RateLimit, cost: float = 1.0) -> "Decision":
        tokens = max(0.0, float(tokens))
        retry = 0 if allowed else max(1, math.ceil((cost - tokens) / limit.rate))
        return cls(
            allowed=bool(allowed),
            limit=limit.capacity,
            remaining=int(math.floor(tokens + 1e-9)),
            reset_seconds=max(0, math.ceil((limit.capacity - tokens) / limit.rate - 1e-9)),
            retry_after=retry,
        )

    def with_remaining(self, remaining: int) -> "Decision":
        """This decision with another ``remaining`` (a local lease spends from a shared grant), never
        above the limit: a bucket refilled since the grant plus the lease's own tokens may add up to
        more. Built directly: ``dataclasses.replace`` costs several times more on every request."""
        return Decision(self.allowed, self.limit, min(remaining, self.limit), self.reset_seconds, self.retry_after)

    def headers(self) -> dict[str, str]:
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_seconds),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after)
        return headers

    def response_headers(self, remaining: int | None = None) -> list[tuple[bytes, bytes]]:
        """``headers()`` as the raw pairs of an ASGI response, built directly: every limited
        request carries them. ``remaining``: those of ``with_remaining(remaining)``."""
        limit_pair, reset_pair = self._fixed_pairs
        remaining = self.remaining if remaining is None else min(remaining, self.limit)
        pairs = [limit_pair, (b"x-ratelimit-remaining", b"%d" % remaining), reset_pair]
        if not self.allowed:
            pairs.append((b"retry-after", b"%d" % self.retry_after))
        return pairs

    @functools.cached_property
    def _fixed_pairs(self) -> tuple[tuple[bytes, bytes], tuple[bytes, bytes]]:
        # The limit and reset headers, made once per decision: the requests that spend one lease
        # share its decision, and only their remaining count differs.
        return (b"x-ratelimit-limit", b"%d" % self.limit), (b"x-ratelimit-reset", b"%d" % self.reset_seconds)


def rate_limited(decision: Decision) -> ApiError:
    """The 429 for a refused decision, with Retry-After and X-RateLimit-* headers."""
    return RateLimited(
        f"Too many requests; retry in {decision.retry_after} s.",
        details={"retry_after": decision.retry_after, "limit": decision.limit},
        headers=decision.headers(),
    )


async def enforce(limiter: "Limiter", key: str, limit: RateLimit | None) -> Decision | None:
    """Hit ``key`` and raise the 429 when refused; None when the limit is off."""
    if limit is None:
        return None
    decision = await limiter.hit(key, limit)
    if not decision.allowed:
        raise rate_limited(decision)
    return decision


class Limiter:
    backend = "abstract"

    async def hit(self, key: str, limit: RateLimit, cost: float = 1.0) -> Decision:
        raise NotImplementedError

    async def aclose(self) -> None:
        return None


class PostgresLimiter(Limiter):
    backend = "postgresql"
    SWEEP_EVERY = 10_000  # hits per instance between sweeps of idle buckets

    def __init__(self, db: Database):
        self._db = db
        self._hits = 0

    async def hit(self, key: str, limit: RateLimit, cost: float = 1.0) -> Decision:
        self._hits += 1
        # One statement, one round trip: the function is atomic on its own and reads no tenant data.
        row = await self._db.call(
            "select allowed, tokens from rate_limit_hit($1, $2, $3, $4)",
            key[:512], limit.capacity, float(limit.per_seconds), float(cost),
        )
        if self._hits % self.SWEEP_EVERY == 0:
            await self._db.call("select rate_limit_sweep()")
        return Decision.from_tokens(row["allowed"], row["tokens"], limit, cost)


# KEYS[1] bucket; ARGV capacity, per_seconds, cost. Returns {allowed (0|1), tokens as a string}.
_LUA = """
local capacity = tonumber(ARGV[1])
local per = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate = capacity / per
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens
local allowed = 1
if not state[1] then
  tokens = math.max(capacity - cost, 0)
else
  local elapsed = math.max(0, now - tonumber(state[2]))
  local avail = math.min(capacity, tonumber(state[1]) + elapsed * rate)
  if avail >= cost then tokens = avail - cost else tokens = avail; allowed = 0 end
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(per * 1000) + 1000)
return {allowed, tostring(tokens)}
"""


class RedisLimiter(Limiter):
    backend = "redis"
    PREFIX = "uma:rl:"

    def __init__(self, url: str):
        # Imported here: redis is optional and only deployments with REDIS_URL load it.
        import redis.asyncio as aioredis

        self._redis = aioredis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self._script = self._redis.register_script(_LUA)

    async def hit(self, key: str, limit: RateLimit, cost: float = 1.0) -> Decision:
        from redis.exceptions import RedisError  # loaded with redis.asyncio above, so free here

        try:
            allowed, tokens = await self._script(
                keys=[self.PREFIX + key[:512]], args=[limit.capacity, float(limit.per_seconds), float(cost)]
            )
        except (RedisError, OSError) as exc:
            # Limits guard logins and spend: without the shared store, refuse clearly (503), never 500.
            raise ApiError(503, "rate_limiter_unavailable", "The rate-limit store (Redis) is unreachable; retry shortly.",
                           headers={"Retry-After": "5"}) from exc
        return Decision.from_tokens(bool(int(allowed)), float(tokens), limit, cost)

    async def aclose(self) -> None:
        await self._redis.aclose()


def create_limiter(settings: Settings, db: Database) -> Limiter:
    """Redis when REDIS_URL is set, else PostgreSQL through ``db``."""
    if settings.redis_url:
        return RedisLimiter(settings.redis_url)
    return PostgresLimiter(db)
