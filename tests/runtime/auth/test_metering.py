"""Metering and budgets against the real PostgreSQL: reserve / settle / release, refusal under
concurrent reservations from two app instances, usage queries, price helpers."""
from __future__ import annotations

import asyncio
import uuid
from datetime import date, timedelta

import pytest

from runtime.auth.principal import Principal
from runtime.metering import BudgetExceeded, cost_usd, llm_estimate_usd


@pytest.fixture
async def contexts(make_app):
    apps = [make_app(["health"], budget_tenant_monthly_usd=1.0, budget_user_daily_usd=0.5) for _ in range(2)]
    yield [app.state.ctx for app in apps]
    for app in apps:
        await app.state.ctx.aclose()


def who(tenant_id: str, user: str | None = None, token: str | None = None) -> Principal:
    if user:
        return Principal(kind="user", tenant_id=tenant_id, user_id=user, token_id="jti", role="user")
    return Principal(kind="beta_token", tenant_id=tenant_id, user_id=None, token_id=token or str(uuid.uuid4()), role="tester")


async def test_reserve_settle_release(contexts, tenant):
    tid, _ = await tenant()
    m = contexts[0].metering
    user = str(uuid.uuid4())
    for bad in (float("nan"), float("inf"), -0.5):
        with pytest.raises(ValueError):
            await m.reserve(who(tid, user), "groq", "llm", bad)
    res = await m.reserve(who(tid, user), "groq", "llm", 0.2)
    status = await m.budget_status(tid, f"user:{user}")
    assert status["tenant_monthly"]["reserved_usd"] == pytest.approx(0.2)
    assert status["subject_daily"]["remaining_usd"] == pytest.approx(0.3)
    with pytest.raises(ValueError):
        await m.settle(res, -1, {})
    assert await m.settle(res, 0.05, {"input_tokens": 500, "output_tokens": 100})
    assert not await m.settle(res, 0.05, {})  # exactly once
    assert not await m.release(res)
    status = await m.budget_status(tid, f"user:{user}")
    assert status["tenant_monthly"]["spent_usd"] == pytest.approx(0.05) and status["tenant_monthly"]["reserved_usd"] == 0
    held = await m.reserve(who(tid, user), "deepgram", "tts", 0.1)
    assert await m.release(held)
    status = await m.budget_status(tid, f"user:{user}")
    assert status["subject_daily"]["spent_usd"] == pytest.approx(0.05) and status["subject_daily"]["reserved_usd"] == 0
    rows = await m.usage(tid, start=date.today() - timedelta(days=1), end=date.today() + timedelta(days=1), group_by=("provider", "subject"))
    assert rows == [{"provider": "groq", "subject": f"user:{user}", "events": 1, "cost_usd": pytest.approx(0.05)}]


async def test_concurrent_reservations_never_overrun_the_tenant_budget(contexts, tenant):
    """30 reservations of $0.10 race through two app instances against a $1.00 monthly budget
    (callers on separate daily budgets): exactly 10 pass."""
    tid, _ = await tenant()
    calls = [contexts[i % 2].metering.reserve(who(tid, token=str(uuid.uuid4())), "groq", "llm", 0.10) for i in range(30)]
    results = await asyncio.gather(*calls, return_exceptions=True)
    passed = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BudgetExceeded)]
    assert len(passed) == 10 and len(refused) == 20, [r for r in results if isinstance(r, BaseException) and not isinstance(r, BudgetExceeded)]
    assert all(r.status == 402 and r.error == "budget_exceeded" and r.scope == "tenant_monthly" for r in refused)
    status = await contexts[0].metering.budget_status(tid)
    assert status["tenant_monthly"]["reserved_usd"] == pytest.approx(1.0)
    # Releasing one makes room for exactly one more.
    await contexts[1].metering.release(passed[0])
    await contexts[0].metering.reserve(who(tid, token="t-new"), "groq", "llm", 0.10)
    with pytest.raises(BudgetExceeded):
        await contexts[0].metering.reserve(who(tid, token="t-newer"), "groq", "llm", 0.10)


async def test_user_daily_budget_and_override(contexts, tenant):
    tid, _ = await tenant()
    m = contexts[0].metering
    user = str(uuid.uuid4())
    for _ in range(5):
        await m.reserve(who(tid, user), "openai", "llm", 0.1)
    with pytest.raises(BudgetExceeded) as info:
        await m.reserve(who(tid, user), "openai", "llm", 0.1)
    assert info.value.scope == "user_daily" and info.value.details["limit_usd"] == pytest.approx(0.5)
    # The refused call left no hold on the tenant budget.
    assert (await m.budget_status(tid))["tenant_monthly"]["reserved_usd"] == pytest.approx(0.5)
    await m.set_subject_budget(tid, f"user:{user}", 0.7)
    await m.reserve(who(tid, user), "openai", "llm", 0.2)
    await m.set_budget(tid, monthly_limit_usd=0.0, user_daily_limit_usd=None)
    with pytest.raises(BudgetExceeded) as info:
        await m.reserve(who(tid, str(uuid.uuid4())), "openai", "llm", 0.01)
    assert info.value.scope == "tenant_monthly"
    body = info.value.body()
    assert body["error"] == "budget_exceeded" and body["code"] == "BUDGET_EXCEEDED"


async def test_budgets_are_per_tenant(contexts, tenant):
    (a, _), (b, _) = await tenant(), await tenant()
    m = contexts[0].metering
    await m.set_budget(a, monthly_limit_usd=0.1, user_daily_limit_usd=None)
    with pytest.raises(BudgetExceeded):
        await m.reserve(who(a, token="x"), "groq", "llm", 0.2)
    await m.reserve(who(b, token="x"), "groq", "llm", 0.2)  # b keeps the default $1.00


async def test_stale_reservations_are_released(contexts, tenant, database):
    tid, _ = await tenant()
    m = contexts[0].metering
    for _ in range(2):
        await m.reserve(who(tid, token=str(uuid.uuid4())), "groq", "llm", 0.5)
    with pytest.raises(BudgetExceeded):
        await m.reserve(who(tid, token="late"), "groq", "llm", 0.5)
    owner = await database.owner()
    try:
        await owner.execute("update budget_reservations set created_at = now() - interval '1 hour' where tenant_id = $1", uuid.UUID(tid))
    finally:
        await owner.close()
    await m.reserve(who(tid, token="late"), "groq", "llm", 0.5)  # the crashed holds were expired first


async def test_usage_queries(contexts, tenant):
    (a, _), (b, _) = await tenant(), await tenant()
    m = contexts[0].metering
    for tid, provider, cost in ((a, "groq", 0.01), (a, "groq", 0.02), (a, "deepgram", 0.03), (b, "openai", 0.5)):
        res = await m.reserve(who(tid, token="t1"), provider, "op", cost)
        await m.settle(res, cost, {"units": 1})
    today = date.today()
    by_provider = await m.usage(a, start=today - timedelta(days=1), end=today + timedelta(days=1), group_by=("provider",))
    assert by_provider == [{"provider": "deepgram", "events": 1, "cost_usd": pytest.approx(0.03)},
                           {"provider": "groq", "events": 2, "cost_usd": pytest.approx(0.03)}]
    total = await m.usage(a, start=today - timedelta(days=1), end=today + timedelta(days=1), group_by=())
    assert total == [{"events": 3, "cost_usd": pytest.approx(0.06)}]
    with pytest.raises(ValueError):
        await m.usage(a, start=today, end=today, group_by=("tenant_id; drop table users",))
    everyone = await m.usage_by_tenant(start=today - timedelta(days=1), end=today + timedelta(days=1))
    mine = {(r["tenant_id"], r["provider"]): r["cost_usd"] for r in everyone if r["tenant_id"] in (a, b)}
    assert mine == {(a, "deepgram"): pytest.approx(0.03), (a, "groq"): pytest.approx(0.03), (b, "openai"): pytest.approx(0.5)}


def test_price_helpers():
    assert cost_usd("openai_tts", "tts_characters", 1_000_000) == pytest.approx(15.0)
    assert cost_usd("openai", "llm_output_tokens", 1_000_000) == pytest.approx(0.60)
    assert cost_usd("groq", "stt_seconds", 3600) == pytest.approx(0.04)
    assert cost_usd("espeak", "tts_characters", 10_000) == 0.0
    assert llm_estimate_usd("openai", 1000, 500) == pytest.approx(0.00015 + 0.0003)
    with pytest.raises(ValueError, match="no price"):
        cost_usd("mystery", "stt_seconds", 1)
    with pytest.raises(ValueError, match="no price for 'stt_seconds'|has no price"):
        cost_usd("openai_tts", "stt_seconds", 1)
    with pytest.raises(ValueError):
        cost_usd("groq", "gpu_hours", 1)
