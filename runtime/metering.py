"""Metering and budgets for paid AI calls: reserve before, settle after.

    res = await ctx.metering.reserve(principal, "groq", "llm", estimate_usd)   # 402 budget_exceeded
    ... call the provider ...
    await ctx.metering.settle(res, actual_usd, {"input_tokens": 812, "output_tokens": 95})
    # or, when the call did not happen:
    await ctx.metering.release(res)

A reservation counts against the tenant's monthly budget and the caller's daily budget (the user,
or for a beta-token caller the tester's token) at once. ``reserve`` moves the estimate into
"reserved" with a conditional UPDATE (``spent + reserved + estimate <= limit``) on the counter row;
the row lock makes concurrent reservations queue, so together they can never pass the limit.
Settle/release close a reservation exactly once (repeats are no-ops). Reservations left open for
``STALE_MINUTES`` (a crashed task) are released by the tenant's next ``reserve``.

Limits: per tenant in ``budgets`` (NULL → ``UNAMENTIS_BUDGET_TENANT_MONTHLY_USD`` /
``UNAMENTIS_BUDGET_USER_DAILY_USD``), per user/token overrides in ``subject_budgets``. Periods are
UTC calendar months and days.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Iterable, Mapping

from runtime.auth.principal import Principal
from runtime.db import Database
from runtime.errors import ApiError
from runtime.settings import Settings

STALE_MINUTES = 15
_CENT = Decimal("0.000001")

# --------------------------------------------------------------------------- prices
# USD per unit, list prices as published by each provider (checked 2026-11; update with the
# provider's pricing page). Units: stt_seconds (audio seconds), llm_input_tokens,
# llm_output_tokens, tts_characters. Self-hosted providers (our GPU fleet, local engines) cost 0
# per call: their cost is the fleet's hourly price, accounted for by the infrastructure budget.
PRICES: dict[str, dict[str, Decimal]] = {
    "groq": {
        "stt_seconds": Decimal("0.04") / 3600,  # whisper-large-v3-turbo, $0.04 per audio hour
        "llm_input_tokens": Decimal("0.05") / 1_000_000,  # llama-3.1-8b-instant
        "llm_output_tokens": Decimal("0.08") / 1_000_000,
    },
    "openai": {
        "llm_input_tokens": Decimal("0.15") / 1_000_000,  # gpt-4o-mini
        "llm_output_tokens": Decimal("0.60") / 1_000_000,
    },
    "openai_stt": {"stt_seconds": Decimal("0.006") / 60},  # whisper-1, $0.006 per minute
    "openai_tts": {"tts_characters": Decimal("15") / 1_000_000},  # tts-1, $15 per 1M characters
    "deepgram": {
        "stt_seconds": Decimal("0.0077") / 60,  # nova-3 streaming, $0.0077 per minute
        "tts_characters": Decimal("0.030") / 1000,  # aura, $0.030 per 1k characters
    },
}
FREE_PROVIDERS = frozenset(
    {"whisper", "whisper_cpp", "pocketsphinx", "ollama", "openai_compatible", "openai_compatible_tts", "espeak", "gpu", "local"}
)
KINDS = ("stt_seconds", "llm_input_tokens", "llm_output_tokens", "tts_characters")


def cost_usd(provider: str, kind: str, quantity: float) -> float:
    """The list price of ``quantity`` units of ``kind`` at ``provider`` (0 for self-hosted ones).

    Raises ValueError for an unknown provider or a kind that provider does not bill, so a new
    provider cannot silently be metered at $0.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown usage kind {kind!r}; one of {', '.join(KINDS)}")
    if quantity < 0:
        raise ValueError("quantity must not be negative")
    if provider in FREE_PROVIDERS:
        return 0.0
    table = PRICES.get(provider)
    if table is None:
        raise ValueError(f"no price for provider {provider!r}; add it to runtime.metering.PRICES or FREE_PROVIDERS")
    if kind not in table:
        raise ValueError(f"provider {provider!r} has no price for {kind!r}")
    return float((table[kind] * Decimal(str(quantity))).quantize(_CENT))


def llm_estimate_usd(provider: str, input_tokens: int, max_output_tokens: int) -> float:
    """The most an LLM call can cost: every input token plus ``max_tokens`` of output."""
    return cost_usd(provider, "llm_input_tokens", input_tokens) + cost_usd(provider, "llm_output_tokens", max_output_tokens)


# --------------------------------------------------------------------------- API
class BudgetExceeded(ApiError):
    """402 ``budget_exceeded``: the call would overrun the tenant's monthly or the caller's daily budget."""

    def __init__(self, scope: str, limit_usd: Decimal, used_usd: Decimal):
        what = "this organisation's monthly AI budget" if scope == "tenant_monthly" else "your daily AI budget"
        super().__init__(
            402, "budget_exceeded", f"This request would exceed {what}; try again later or ask an admin to raise it.",
            details={"scope": scope, "limit_usd": float(limit_usd), "used_usd": float(used_usd)},
        )
        self.scope = scope


@dataclass(frozen=True)
class Reservation:
    id: str
    tenant_id: str
    subject: str
    user_id: str | None
    provider: str
    operation: str
    estimate_usd: float
    tenant_period: date
    subject_period: date


def _usd(value: float | Decimal | int) -> Decimal:
    try:
        amount = Decimal(str(value))
    except ArithmeticError:
        amount = Decimal("NaN")
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"amount must be a finite, non-negative number of dollars, got {value!r}")
    return amount.quantize(_CENT)


def _periods(now: datetime) -> tuple[date, date]:
    day = now.astimezone(timezone.utc).date()
    return day.replace(day=1), day


class Metering:
    def __init__(self, settings: Settings, db: Database):
        self.settings = settings
        self.db = db

    cost_usd = staticmethod(cost_usd)

    async def _limits(self, conn, subject: str) -> tuple[Decimal, Decimal]:
        row = await conn.fetchrow("select monthly_limit_usd, user_daily_limit_usd from budgets")
        monthly = row["monthly_limit_usd"] if row and row["monthly_limit_usd"] is not None else _usd(self.settings.budget_tenant_monthly_usd)
        daily = row["user_daily_limit_usd"] if row and row["user_daily_limit_usd"] is not None else _usd(self.settings.budget_user_daily_usd)
        override = await conn.fetchval("select daily_limit_usd from subject_budgets where subject = $1", subject)
        return monthly, override if override is not None else daily

    async def reserve(self, principal: "Principal", provider: str, operation: str, estimate_usd: float) -> Reservation:
        """Hold ``estimate_usd`` against both budgets, or raise BudgetExceeded (402)."""
        estimate = _usd(estimate_usd)
        subject = principal.budget_subject
        month, day = _periods(datetime.now(timezone.utc))
        async with self.db.tenant(principal.tenant_id) as conn:
            await self._expire_stale(conn)
            monthly, daily = await self._limits(conn, subject)
            # Counter rows first (tenant before subject: one lock order for every caller, no deadlock).
            await conn.execute(
                "insert into budget_counters (tenant_id, subject, period_start) values ($1, 'tenant', $2), ($1, $3, $4) "
                "on conflict do nothing",
                principal.tenant_id, month, subject, day,
            )
            for scope, key, period, limit in (("tenant_monthly", "tenant", month, monthly), ("user_daily", subject, day, daily)):
                ok = await conn.fetchval(
                    "update budget_counters set reserved_usd = reserved_usd + $4 "
                    "where tenant_id = $1 and subject = $2 and period_start = $3 and spent_usd + reserved_usd + $4 <= $5 "
                    "returning true",
                    principal.tenant_id, key, period, estimate, limit,
                )
                if not ok:
                    used = await conn.fetchval(
                        "select spent_usd + reserved_usd from budget_counters where tenant_id = $1 and subject = $2 and period_start = $3",
                        principal.tenant_id, key, period,
                    )
                    # Raising rolls back the transaction, so a tenant hold taken above is undone too.
                    raise BudgetExceeded(scope, limit, used or Decimal(0))
            reservation_id = await conn.fetchval(
                "insert into budget_reservations (tenant_id, subject, user_id, provider, operation, estimate_usd, "
                "tenant_period, subject_period) values ($1, $2, $3, $4, $5, $6, $7, $8) returning id",
                principal.tenant_id, subject, principal.user_id, provider[:100], operation[:100], estimate, month, day,
            )
        return Reservation(
            id=str(reservation_id), tenant_id=principal.tenant_id, subject=subject, user_id=principal.user_id,
            provider=provider, operation=operation, estimate_usd=float(estimate), tenant_period=month, subject_period=day,
        )

    async def settle(self, res: Reservation, actual_usd: float, units: Mapping[str, float] | None = None) -> bool:
        """Turn the hold into spend of ``actual_usd`` and record a usage event. False if already closed."""
        actual = _usd(actual_usd)
        clean_units = {str(k)[:50]: float(v) for k, v in (units or {}).items()}
        async with self.db.tenant(res.tenant_id) as conn:
            if not await self._close(conn, res.id, "settled", actual):
                return False
            await conn.execute(
                "insert into usage_events (tenant_id, subject, user_id, provider, operation, units, cost_usd, reservation_id) "
                "values ($1, $2, $3, $4, $5, $6::jsonb, $7, $8)",
                res.tenant_id, res.subject, res.user_id, res.provider[:100], res.operation[:100],
                json.dumps(clean_units), actual, res.id,
            )
        return True

    async def release(self, res: Reservation) -> bool:
        """Give the hold back (the call did not happen). False if already closed."""
        async with self.db.tenant(res.tenant_id) as conn:
            return await self._close(conn, res.id, "released", Decimal(0))

    async def _close(self, conn, reservation_id: str, state: str, spent: Decimal) -> bool:
        row = await conn.fetchrow(
            "update budget_reservations set state = $2, finished_at = now() where id = $1 and state = 'reserved' "
            "returning tenant_id, subject, estimate_usd, tenant_period, subject_period",
            uuid.UUID(reservation_id), state,
        )
        if row is None:
            return False
        await conn.execute(
            "update budget_counters set reserved_usd = greatest(reserved_usd - $4, 0), spent_usd = spent_usd + $5 "
            "where tenant_id = $1 and ((subject = 'tenant' and period_start = $2) or (subject = $3 and period_start = $6))",
            row["tenant_id"], row["tenant_period"], row["subject"], row["estimate_usd"], spent, row["subject_period"],
        )
        return True

    async def _expire_stale(self, conn) -> None:
        stale = await conn.fetch(
            "select id from budget_reservations where state = 'reserved' "
            "and created_at < now() - make_interval(mins => $1) order by created_at limit 100",
            STALE_MINUTES,
        )
        for row in stale:
            await self._close(conn, str(row["id"]), "expired", Decimal(0))

    # ----------------------------------------------------------------------- budgets
    async def set_budget(self, tenant_id: str, *, monthly_limit_usd: float | None, user_daily_limit_usd: float | None) -> None:
        """The tenant's limits (None = the configured default)."""
        async with self.db.tenant(tenant_id) as conn:
            await conn.execute(
                "insert into budgets (tenant_id, monthly_limit_usd, user_daily_limit_usd) values ($1, $2, $3) "
                "on conflict (tenant_id) do update set monthly_limit_usd = excluded.monthly_limit_usd, "
                "user_daily_limit_usd = excluded.user_daily_limit_usd, updated_at = now()",
                tenant_id,
                None if monthly_limit_usd is None else _usd(monthly_limit_usd),
                None if user_daily_limit_usd is None else _usd(user_daily_limit_usd),
            )

    async def set_subject_budget(self, tenant_id: str, subject: str, daily_limit_usd: float | None) -> None:
        """A user's (``user:<id>``) or tester's (``token:<id>``) daily limit; None removes the override."""
        if not (subject.startswith("user:") or subject.startswith("token:")):
            raise ValueError("subject must be 'user:<id>' or 'token:<id>'")
        async with self.db.tenant(tenant_id) as conn:
            if daily_limit_usd is None:
                await conn.execute("delete from subject_budgets where subject = $1", subject)
            else:
                await conn.execute(
                    "insert into subject_budgets (tenant_id, subject, daily_limit_usd) values ($1, $2, $3) "
                    "on conflict (tenant_id, subject) do update set daily_limit_usd = excluded.daily_limit_usd, updated_at = now()",
                    tenant_id, subject, _usd(daily_limit_usd),
                )

    async def budget_status(self, tenant_id: str, subject: str | None = None) -> dict[str, Any]:
        """Limits, spend and holds of the current month (and ``subject``'s current day)."""
        month, day = _periods(datetime.now(timezone.utc))
        async with self.db.tenant(tenant_id) as conn:
            monthly, daily = await self._limits(conn, subject or "user:-")
            rows = await conn.fetch(
                "select subject, spent_usd, reserved_usd from budget_counters "
                "where (subject = 'tenant' and period_start = $1) or (subject = $2 and period_start = $3)",
                month, subject or "", day,
            )
        found = {r["subject"]: r for r in rows}

        def part(key: str, limit: Decimal, period: date) -> dict[str, Any]:
            row = found.get(key)
            spent = row["spent_usd"] if row else Decimal(0)
            held = row["reserved_usd"] if row else Decimal(0)
            return {"period_start": period.isoformat(), "limit_usd": float(limit), "spent_usd": float(spent),
                    "reserved_usd": float(held), "remaining_usd": float(max(limit - spent - held, Decimal(0)))}

        status = {"tenant_monthly": part("tenant", monthly, month)}
        if subject:
            status["subject_daily"] = {"subject": subject, **part(subject, daily, day)}
        return status

    # ----------------------------------------------------------------------- usage queries
    async def usage(self, tenant_id: str, *, start: date, end: date,
                    group_by: Iterable[str] = ("day", "provider")) -> list[dict[str, Any]]:
        """Spend of one tenant between ``start`` and ``end`` (inclusive, UTC days), grouped by any of
        ``day``, ``provider``, ``subject``, ``operation``."""
        columns = {"day": "(created_at at time zone 'UTC')::date", "provider": "provider",
                   "subject": "subject", "operation": "operation"}
        groups = list(dict.fromkeys(group_by))
        unknown = [g for g in groups if g not in columns]
        if unknown:
            raise ValueError(f"cannot group usage by {unknown}; use {', '.join(columns)}")
        select = [f"{columns[g]} as {g}" for g in groups]
        sql = (
            f"select {', '.join(select + ['count(*) as events', 'sum(cost_usd) as cost_usd'])} from usage_events "
            "where created_at >= $1::date::timestamp at time zone 'UTC' and created_at < ($2::date + 1)::timestamp at time zone 'UTC'"
        )
        if groups:
            positions = ", ".join(str(i + 1) for i in range(len(groups)))
            sql += f" group by {positions} order by {positions}"
        async with self.db.tenant(tenant_id) as conn:
            rows = await conn.fetch(sql, start, end)
        return [
            {**{g: (r[g].isoformat() if g == "day" else r[g]) for g in groups},
             "events": r["events"], "cost_usd": float(r["cost_usd"] or 0)}
            for r in rows
        ]

    async def usage_by_tenant(self, *, start: date, end: date) -> list[dict[str, Any]]:
        """Every tenant's spend per day and provider (for super admins; aggregates only)."""
        async with self.db.unscoped() as conn:
            rows = await conn.fetch("select * from usage_by_tenant($1, $2)", start, end)
        return [
            {"tenant_id": str(r["tenant_id"]), "day": r["day"].isoformat(), "provider": r["provider"],
             "events": r["events"], "cost_usd": float(r["cost_usd"])}
            for r in rows
        ]

    async def aclose(self) -> None:
        return None
