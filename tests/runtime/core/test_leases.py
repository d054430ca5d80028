"""Token leases never let instances together exceed the shared bucket."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from runtime.limits import Decision, RateLimit
from runtime.middleware.leases import LeasedLimiter, burst_lease_size, lease_size


@dataclass
class SharedBucket:
    """An exact in-memory shared bucket with a manual clock (stands in for PostgreSQL/Redis)."""

    now: float = 0.0
    hits: int = 0

    def __post_init__(self) -> None:
        self.tokens: dict[str, tuple[float, float]] = {}

    async def hit(self, key: str, limit: RateLimit, cost: float = 1.0) -> Decision:
        self.hits += 1
        tokens, at = self.tokens.get(key, (float(limit.capacity), self.now))
        tokens = min(limit.capacity, tokens + (self.now - at) * limit.rate)
        allowed = tokens >= cost
        if allowed:
            tokens -= cost
        self.tokens[key] = (tokens, self.now)
        return Decision.from_tokens(allowed, tokens, limit, cost)


def test_lease_sizes():
    assert lease_size(5) == 1 and lease_size(99) == 1
    assert lease_size(300) == 6 and lease_size(10**8) == 20


async def test_two_instances_never_exceed_the_shared_limit():
    shared = SharedBucket()
    a, b = LeasedLimiter(clock=lambda: shared.now), LeasedLimiter(clock=lambda: shared.now)
    limit = RateLimit(capacity=300, per_seconds=60)
    allowed = 0
    for i in range(300):
        decision = await (a if i % 3 else b).hit(shared, "tok:1", limit)
        allowed += decision.allowed
        assert decision.limit == 300
    assert shared.hits <= 300 // 6 + 4  # leases of 6: one shared round trip per ~6 requests
    for i in range(700):  # no time passes: nothing more may pass, on either instance
        allowed += (await (a if i % 3 else b).hit(shared, "tok:1", limit)).allowed
    assert allowed == 300
    refused = await a.hit(shared, "tok:1", limit)
    assert not refused.allowed and refused.retry_after >= 1


async def test_spending_a_held_token_says_what_a_hit_would_say():
    """``spend`` (the middleware's path while a lease is held) gives the headers of the decision
    ``hit`` gives for the same request, and None when no token is at hand."""
    limit = RateLimit(capacity=300, per_seconds=60)  # leases of 6
    by_hit, by_spend = SharedBucket(), SharedBucket()
    hitting, spending = LeasedLimiter(clock=lambda: by_hit.now), LeasedLimiter(clock=lambda: by_spend.now)
    assert spending.spend(by_spend, "tok:1", limit) is None and by_spend.hits == 0
    for _ in range(40):
        expected = (await hitting.hit(by_hit, "tok:1", limit)).response_headers()
        headers = spending.spend(by_spend, "tok:1", limit)
        if headers is None:
            headers = (await spending.hit(by_spend, "tok:1", limit)).response_headers()
        assert headers == expected
        await asyncio.sleep(0)  # let a background refill of either side finish
    assert by_spend.hits == by_hit.hits


async def test_remaining_never_says_more_than_the_limit():
    """A lease's tokens are deducted from the bucket, which then refills: its grant plus the tokens
    still held could add up to more than the limit; the headers say at most the limit."""
    shared = SharedBucket()
    leases = LeasedLimiter(clock=lambda: shared.now)
    limit = RateLimit(capacity=10**8, per_seconds=60)  # leases of 20
    seen = []
    for _ in range(60):
        seen.append(int(dict(leases.spend(shared, "tok:1", limit) or
                             (await leases.hit(shared, "tok:1", limit)).response_headers())[b"x-ratelimit-remaining"]))
        shared.now += 0.001  # the bucket refills between requests: 1 667 tokens a millisecond
        await asyncio.sleep(0)
    assert max(seen) == limit.capacity and min(seen) >= limit.capacity - 40


async def test_first_request_passes_and_small_limits_are_exact():
    shared = SharedBucket()
    leases = LeasedLimiter(clock=lambda: shared.now)
    limit = RateLimit(capacity=3, per_seconds=60)
    results = [(await leases.hit(shared, "ip:1", limit)).allowed for _ in range(4)]
    assert results == [True, True, True, False]
    assert shared.hits == 4


async def test_unused_lease_expires():
    shared = SharedBucket()
    leases = LeasedLimiter(clock=lambda: shared.now)
    limit = RateLimit(capacity=300, per_seconds=60)  # lease 6, valid one window (60 s)
    await leases.hit(shared, "k", limit)
    hits = shared.hits
    shared.now += 30.0
    await leases.hit(shared, "k", limit)
    assert shared.hits == hits  # a slow client still spends the tokens it already paid for
    shared.now += 31.0
    await leases.hit(shared, "k", limit)
    assert shared.hits == hits + 1  # the stale lease was not used


async def test_fast_limits_use_whole_leases():
    shared = SharedBucket()
    leases = LeasedLimiter(clock=lambda: shared.now)
    limit = RateLimit(capacity=10**8, per_seconds=60)
    for _ in range(200):
        assert (await leases.hit(shared, "k", limit)).allowed
    assert shared.hits <= 10  # leases of 20 (or more: this loop never lets a background fetch run)


class SlowBucket(SharedBucket):
    """The shared bucket a round trip away."""

    async def hit(self, key: str, limit: RateLimit, cost: float = 1.0) -> Decision:
        await asyncio.sleep(0.01)
        return await super().hit(key, limit, cost)


async def test_concurrent_requests_share_one_lease_fetch():
    shared = SlowBucket()
    leases = LeasedLimiter(clock=lambda: shared.now)
    limit = RateLimit(capacity=10**8, per_seconds=60)
    results = await asyncio.gather(*(leases.hit(shared, "k", limit) for _ in range(64)))
    assert all(r.allowed for r in results)
    assert shared.hits <= 5  # 64 requests, leases of 20: not one fetch per concurrent request


async def test_a_cancelled_waiter_leaves_the_fetch_and_the_other_waiters_alone():
    shared = SlowBucket()
    leases = LeasedLimiter(clock=lambda: shared.now)
    limit = RateLimit(capacity=10**8, per_seconds=60)
    fetching = asyncio.ensure_future(leases.hit(shared, "k", limit))
    await asyncio.sleep(0)
    waiters = [asyncio.ensure_future(leases.hit(shared, "k", limit)) for _ in range(3)]
    await asyncio.sleep(0.003)
    waiters[0].cancel()  # a client went away while its request waited for the lease
    assert (await fetching).allowed
    assert all(r.allowed for r in await asyncio.gather(*waiters[1:]))
    assert waiters[0].cancelled() and shared.hits == 1


class GatedBucket(SharedBucket):
    """The shared bucket whose answers wait until the test opens the gate."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail = False

    async def hit(self, key: str, limit: RateLimit, cost: float = 1.0) -> Decision:
        self.hits += 1
        await self.gate.wait()
        if self.fail:
            raise ConnectionError("the shared store went away")
        self.hits -= 1  # counted once, by the exact bucket
        return await super().hit(key, limit, cost)


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_the_next_lease_is_taken_before_the_tokens_run_out():
    shared = GatedBucket()
    leases = LeasedLimiter(clock=lambda: shared.now)
    limit = RateLimit(capacity=10**8, per_seconds=60)  # leases of 20
    assert (await leases.hit(shared, "k", limit)).allowed  # 19 left
    shared.gate.clear()  # from now on the shared store answers only when the test says so
    for _ in range(19):  # at 10 left the next lease is asked for; nobody waits for it
        decision = await asyncio.wait_for(leases.hit(shared, "k", limit), 1.0)
        assert decision.allowed
    assert shared.hits == 2
    waiting = asyncio.ensure_future(leases.hit(shared, "k", limit))
    await _settle()
    assert not waiting.done()  # the tokens held are spent: this one waits for the lease in flight
    shared.gate.set()
    assert (await waiting).allowed
    assert shared.hits == 2  # it shared the background fetch
    for _ in range(19):
        assert (await leases.hit(shared, "k", limit)).allowed
    await _settle()
    assert shared.hits == 3


async def test_a_failed_background_lease_leaves_the_error_to_a_request(caplog):
    shared = GatedBucket()
    leases = LeasedLimiter(clock=lambda: shared.now)
    limit = RateLimit(capacity=10**8, per_seconds=60)
    assert (await leases.hit(shared, "k", limit)).allowed
    shared.fail = True
    for _ in range(19):  # the tokens already paid for are spent; the refill fails meanwhile
        assert (await leases.hit(shared, "k", limit)).allowed
        await _settle()
    assert "in the background failed" in caplog.text
    try:
        await leases.hit(shared, "k", limit)
    except ConnectionError:
        pass
    else:
        raise AssertionError("a request must meet the store's failure once the tokens are used up")
    shared.fail = False
    assert (await leases.hit(shared, "k", limit)).allowed


@pytest.mark.parametrize("capacity", [300, 3000])  # leases of 6 (bursts too); of 20, bursts up to 60
async def test_background_and_burst_leases_never_let_instances_exceed_the_shared_limit(capacity):
    shared = SlowBucket()
    a, b = LeasedLimiter(clock=lambda: shared.now), LeasedLimiter(clock=lambda: shared.now)
    limit = RateLimit(capacity=capacity, per_seconds=60)
    clients, refused = 32, 20
    each = (capacity + refused) // clients + 1

    async def client(instance: LeasedLimiter) -> int:
        allowed = 0
        for _ in range(each):
            allowed += (await instance.hit(shared, "tok:1", limit)).allowed
            await asyncio.sleep(0.001)
        return allowed

    counts = await asyncio.gather(*(client(a if i % 2 else b) for i in range(clients)))
    await _settle()
    assert sum(counts) == capacity
    # refused requests hit the bucket each; allowed ones took leases
    assert shared.hits <= clients * each - capacity + capacity // lease_size(capacity) + 10


async def test_a_burst_larger_than_the_lease_asks_for_more_next_time_within_the_cap():
    shared = SlowBucket()
    leases = LeasedLimiter(clock=lambda: shared.now)
    limit = RateLimit(capacity=3000, per_seconds=60)  # leases of 20, bursts up to 60 (2 %)
    assert lease_size(3000) == 20 and burst_lease_size(3000) == 60 and burst_lease_size(10**8) == 100
    assert burst_lease_size(300) == lease_size(300) == 6  # small limits never take more than 2 %
    before = dict(shared.tokens)
    results = await asyncio.gather(*(leases.hit(shared, "k", limit) for _ in range(64)))
    assert all(r.allowed for r in results)
    await _settle()
    spent = limit.capacity - shared.tokens["k"][0]
    assert before == {} and 64 <= spent <= 64 + 60 + 30  # what was spent, plus at most B + B // 2 held
    assert shared.hits <= 3  # the queue behind the first lease made the next one large
    async def alone() -> None:  # one request at a time, each after any fetch in flight: nobody waits
        await leases.hit(shared, "k", limit)
        while leases._pending:
            await asyncio.sleep(0.001)

    for _ in range(400):  # leases shrink back to 20
        await alone()
    hits = shared.hits
    for _ in range(40):
        await alone()
    assert shared.hits - hits == 2


class LaggingBucket(SharedBucket):
    """The shared bucket behind a busy pool: a lease fetch is answered only after ``lag`` more
    requests have arrived (they got their connections first)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.arrived = 0
        self.lag = 15
        self.moved = asyncio.Condition()

    async def hit(self, key: str, limit: RateLimit, cost: float = 1.0) -> Decision:
        until = self.arrived + self.lag
        async with self.moved:
            await self.moved.wait_for(lambda: self.arrived >= until)
        return await super().hit(key, limit, cost)


async def test_leases_grow_until_requests_stop_waiting_for_a_slow_fetch():
    shared = LaggingBucket()
    waited: list[int] = []

    class Recording(LeasedLimiter):
        def _next_ask(self, key: str, limit: RateLimit, ask: int, spare: int = 0) -> int:
            waited.append(self._waiting.get(key, 0))
            return super()._next_ask(key, limit, ask, spare)

    leases = Recording(clock=lambda: shared.now)
    limit = RateLimit(capacity=10**8, per_seconds=60)  # leases of 20, at most 100
    requests = []
    for _ in range(1500):
        requests.append(asyncio.ensure_future(leases.hit(shared, "k", limit)))
        shared.arrived += 1
        async with shared.moved:
            shared.moved.notify_all()
        await _settle()
    shared.arrived += shared.lag  # a fetch still in flight lands
    async with shared.moved:
        shared.moved.notify_all()
    assert all(decision.allowed for decision in await asyncio.gather(*requests))
    assert waited[0] > 0  # leases of 20 run out before a fetch 15 requests long lands at 10 left
    assert waited[-5:] == [0] * 5  # grown leases: the fetch lands before the tokens run out
    assert len(waited) < 1500 // 20
