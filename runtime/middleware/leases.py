"""Token leases: the default rate limits without a shared-store round trip on every request.

The shared bucket (``runtime.limits``: PostgreSQL or Redis) stays the single source of truth. For a
generous limit (capacity ≥ 100), an instance takes a small *lease* of tokens in one hit
(``cost=L``, L = capacity // 50, at most 20) and spends them locally. When half a lease is left
the next one is taken in the background, so requests do not queue behind the shared round trip
when the lease runs out; a shared hit in the request's path comes only when the tokens are used
up anyway or after one window (``per_seconds``). Tokens are deducted from the shared bucket BEFORE
they are spent, so all instances together never spend more than the bucket granted; the only slack
is that tokens taken just before a pause may be spent just after the bucket refilled — at most
L + L // 2 ≤ 3 % of the capacity per instance. Tokens left unused for a whole window expire
(those few tokens are lost: stricter, never looser). Leases suit the
container (few long-lived processes, many concurrent requests); Lambda environments are many and
short-lived, so there ``UNAMENTIS_RATE_LIMIT_LEASES`` is off and every request is one shared hit. Small limits
(login, tests, per-token overrides below 100) use L = 1: every request is one exact shared hit.
A refused lease falls back to a single-token hit, so the tail of a bucket is exact, and a new
client's first request always passes (its bucket starts full).
"""
from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import replace
from typing import Any

MAX_LEASE = 20
MIN_CAPACITY_FOR_LEASES = 100
MAX_KEYS = 20_000

log = logging.getLogger("unamentis.limits")


def lease_size(capacity: int) -> int:
    if capacity < MIN_CAPACITY_FOR_LEASES:
        return 1
    return max(1, min(MAX_LEASE, capacity // 50))


class LeasedLimiter:
    """Wraps ``ctx.limiter``; one per app (state is per process, never shared by two apps)."""

    def __init__(self, clock=time.monotonic) -> None:
        self._clock = clock
        # key -> (tokens left, expires at, the shared decision that granted the lease)
        self._leases: dict[str, tuple[int, float, Any]] = {}
        self._pending: dict[str, asyncio.Event] = {}  # key -> set when a lease fetch in flight ends
        self._refills: set[asyncio.Task] = set()  # background fetches, held so none is collected early

    async def hit(self, limiter: Any, key: str, limit: Any) -> Any:
        size = lease_size(limit.capacity)
        if size == 1:
            return await limiter.hit(key, limit)
        while True:
            held = self._leases.get(key)
            if held is not None:
                left, expires, granted = held
                if left > 0 and self._clock() < expires:
                    left -= 1
                    self._leases[key] = (left, expires, granted)
                    if left == size // 2 and key not in self._pending:
                        self._refill(limiter, key, limit, size)
                    return granted.with_remaining(max(0, int(granted.remaining) + left))
                del self._leases[key]
            pending = self._pending.get(key)
            if pending is None:
                break
            # Another request of this instance is fetching a lease for this key: share it. An Event,
            # not the fetch itself: a waiter cancelled here must not cancel the fetch, and shielding
            # a future per waiter cost more than the rest of the lease's bookkeeping together.
            await pending.wait()
        fetched = self._pending[key] = asyncio.Event()
        try:
            decision = await limiter.hit(key, limit, cost=float(size))
            if decision.allowed:
                now = self._clock()
                self._store(key, size - 1, now + limit.per_seconds, decision)
                return decision.with_remaining(max(0, int(decision.remaining) + size - 1))
            if decision.remaining < 1:
                # Not even one token left: refuse without a second hit; one token refills in 1/rate s.
                return replace(decision, retry_after=max(1, math.ceil(1 / limit.rate)))
            return await limiter.hit(key, limit)
        finally:
            del self._pending[key]
            fetched.set()

    def _refill(self, limiter: Any, key: str, limit: Any, size: int) -> None:
        """Take the next lease for ``key`` in a task of its own; requests that find the tokens used
        up before it answers wait for it as for any fetch in flight."""
        fetched = self._pending[key] = asyncio.Event()
        task = asyncio.get_running_loop().create_task(self._fetch_more(limiter, key, limit, size, fetched))
        self._refills.add(task)
        task.add_done_callback(self._refills.discard)

    async def _fetch_more(self, limiter: Any, key: str, limit: Any, size: int, fetched: asyncio.Event) -> None:
        try:
            try:
                decision = await limiter.hit(key, limit, cost=float(size))
            except Exception as exc:
                # Nothing is lost: the request that finds the tokens used up fetches in its own path
                # and answers the store's failure (a 503) itself.
                log.warning("taking a rate-limit lease in the background failed: %s", type(exc).__name__)
                return
            if decision.allowed:
                now = self._clock()
                held = self._leases.get(key)
                left = held[0] if held is not None and now < held[1] else 0
                self._store(key, left + size, now + limit.per_seconds, decision)
            # Refused: the tokens held are spent, then a request fetches and meets the refusal.
        finally:
            del self._pending[key]
            fetched.set()

    def _store(self, key: str, left: int, expires: float, decision: Any) -> None:
        if len(self._leases) >= MAX_KEYS:
            now = self._clock()
            for stale in [k for k, (n, exp, _d) in self._leases.items() if n <= 0 or exp <= now]:
                del self._leases[stale]
            if len(self._leases) >= MAX_KEYS:
                self._leases.clear()  # pathological key churn: dropping leases only makes us stricter
        self._leases[key] = (left, expires, decision)
