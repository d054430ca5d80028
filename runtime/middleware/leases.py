"""Token leases: the default rate limits without a shared-store round trip on every request.

The shared bucket (``runtime.limits``: PostgreSQL or Redis) stays the single source of truth. For a
generous limit (capacity ≥ 100), an instance takes a small *lease* of tokens in one hit
(``cost=L``, L = capacity // 50, at most 20) and spends them locally. When half a lease is left
the next one is taken in the background, so requests do not queue behind the shared round trip
when the lease runs out; a shared hit in the request's path comes only when the tokens are used
up anyway or after one window (``per_seconds``). When requests of one key did queue for a fetch (a
burst larger than the lease, or a busy pool that delayed the background fetch), the next lease is
larger by their number, up to B = capacity // 50 (at most 100); when a lease lands with more than
a quarter of one to spare, the next is an eighth smaller (not below L). Tokens are deducted from
the shared bucket BEFORE they are spent, so all instances together never spend more than the bucket
granted; the only slack is that tokens taken just before a pause may be spent just after the bucket
refilled — at most B + B // 2 ≤ 3 % of the capacity per instance. Tokens left unused for a whole
window expire (those few tokens are lost: stricter, never looser). Leases suit the container (few
long-lived processes, many concurrent requests); Lambda environments are many and short-lived, so
there ``UNAMENTIS_RATE_LIMIT_LEASES`` is off and every request is one shared hit. Small limits
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
MAX_BURST_LEASE = 100
MIN_CAPACITY_FOR_LEASES = 100
MAX_KEYS = 20_000

log = logging.getLogger("unamentis.limits")


def lease_size(capacity: int) -> int:
    if capacity < MIN_CAPACITY_FOR_LEASES:
        return 1
    return max(1, min(MAX_LEASE, capacity // 50))


def burst_lease_size(capacity: int) -> int:
    """The largest lease a burst of waiting requests may ask for (still ≤ 2 % of the capacity)."""
    return max(lease_size(capacity), min(MAX_BURST_LEASE, capacity // 50))


class LeasedLimiter:
    """Wraps ``ctx.limiter``; one per app (state is per process, never shared by two apps)."""

    def __init__(self, clock=time.monotonic) -> None:
        self._clock = clock
        # key -> (tokens left, expires at, the shared decision that granted them, tokens to ask next,
        #         tokens left when the next lease is to be asked for)
        self._leases: dict[str, tuple[int, float, Any, int, int]] = {}
        self._pending: dict[str, asyncio.Event] = {}  # key -> set when a lease fetch in flight ends
        self._waiting: dict[str, int] = {}  # key -> requests that waited for the fetch in flight
        self._refills: set[asyncio.Task] = set()  # background fetches, held so none is collected early

    def spend(self, limiter: Any, key: str, limit: Any) -> list[tuple[bytes, bytes]] | None:
        """The rate-limit headers of a request that spends a token of a lease this instance holds
        for ``key``; None when it holds no token for it (then ``await hit(...)``). Most requests of
        a busy key end here, without a coroutine or a new decision."""
        taken = self._take(limiter, key, limit)
        if taken is None:
            return None
        left, granted = taken
        return granted.response_headers(granted.remaining + left)

    async def hit(self, limiter: Any, key: str, limit: Any) -> Any:
        size = lease_size(limit.capacity)
        while True:
            taken = self._take(limiter, key, limit)
            if taken is not None:
                left, granted = taken
                return granted.with_remaining(granted.remaining + left)
            if size == 1:
                return await limiter.hit(key, limit)
            held = self._leases.get(key)
            ask = held[3] if held is not None else size  # a lease used up: as large as the last one asked
            pending = self._pending.get(key)
            if pending is None:
                break
            # Another request of this instance is fetching a lease for this key: share it. An Event,
            # not the fetch itself: a waiter cancelled here must not cancel the fetch, and shielding
            # a future per waiter cost more than the rest of the lease's bookkeeping together.
            self._waiting[key] = self._waiting.get(key, 0) + 1
            await pending.wait()
        fetched = self._pending[key] = asyncio.Event()
        try:
            decision = await limiter.hit(key, limit, cost=float(ask))
            if decision.allowed:
                self._store(key, ask - 1, self._clock() + limit.per_seconds, decision, self._next_ask(key, limit, ask))
                return decision.with_remaining(max(0, int(decision.remaining) + ask - 1))
            if decision.remaining < 1:
                # Not even one token left: refuse without a second hit; one token refills in 1/rate s.
                return replace(decision, retry_after=max(1, math.ceil(1 / limit.rate)))
            return await limiter.hit(key, limit)
        finally:
            self._done(key, fetched)

    def _take(self, limiter: Any, key: str, limit: Any) -> tuple[int, Any] | None:
        """One token of the lease held for ``key``: (tokens left after it, the decision that granted
        the lease), or None when none is at hand. The next lease is asked for at its refill point."""
        held = self._leases.get(key)
        if held is None:
            return None
        left, expires, granted, ask, refill_at = held
        if self._clock() >= expires:  # a whole window unused: its tokens are lost; the next lease is plain
            del self._leases[key]
            return None
        if left <= 0:
            return None
        left -= 1
        self._leases[key] = (left, expires, granted, ask, refill_at)
        if left == refill_at and key not in self._pending:
            self._refill(limiter, key, limit, ask)
        return left, granted

    def _next_ask(self, key: str, limit: Any, ask: int, spare: int = 0) -> int:
        """The size of the lease after one of ``ask`` tokens that landed with ``spare`` tokens still
        held: larger by one token for each request that had to wait for it (so a steady load stops
        waiting after a few leases); an eighth smaller (never below the plain size) when it landed
        with over a quarter of a lease to spare; else the same."""
        waited = self._waiting.get(key, 0)
        if waited:
            return min(burst_lease_size(limit.capacity), ask + waited)
        if spare > ask // 4:
            return max(lease_size(limit.capacity), ask - ask // 8)
        return ask

    def _done(self, key: str, fetched: asyncio.Event) -> None:
        self._waiting.pop(key, None)
        del self._pending[key]
        fetched.set()

    def _refill(self, limiter: Any, key: str, limit: Any, ask: int) -> None:
        """Take the next lease for ``key`` in a task of its own; requests that find the tokens used
        up before it answers wait for it as for any fetch in flight."""
        fetched = self._pending[key] = asyncio.Event()
        task = asyncio.get_running_loop().create_task(self._fetch_more(limiter, key, limit, ask, fetched))
        self._refills.add(task)
        task.add_done_callback(self._refills.discard)

    async def _fetch_more(self, limiter: Any, key: str, limit: Any, ask: int, fetched: asyncio.Event) -> None:
        try:
            try:
                decision = await limiter.hit(key, limit, cost=float(ask))
            except Exception as exc:
                # Nothing is lost: the request that finds the tokens used up fetches in its own path
                # and answers the store's failure (a 503) itself.
                log.warning("taking a rate-limit lease in the background failed: %s", type(exc).__name__)
                return
            if decision.allowed:
                now = self._clock()
                held = self._leases.get(key)
                left = held[0] if held is not None and now < held[1] else 0
                self._store(key, left + ask, now + limit.per_seconds, decision, self._next_ask(key, limit, ask, left))
            # Refused: the tokens held are spent, then a request fetches and meets the refusal.
        finally:
            self._done(key, fetched)

    def _store(self, key: str, left: int, expires: float, decision: Any, ask: int) -> None:
        if len(self._leases) >= MAX_KEYS:
            now = self._clock()
            for stale in [k for k, (n, exp, *_rest) in self._leases.items() if n <= 0 or exp <= now]:
                del self._leases[stale]
            if len(self._leases) >= MAX_KEYS:
                self._leases.clear()  # pathological key churn: dropping leases only makes us stricter
        # The next lease is asked for when half of it is left, or at once when fewer are held.
        self._leases[key] = (left, expires, decision, ask, min(ask // 2, left - 1))
