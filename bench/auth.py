"""Benchmark of auth, limits and metering on this machine; prints its figures.

    python bench/auth.py [--iterations 2000]

Figures (each against a baseline measured in the same run):
  1. argon2id hash / verify time, against a 100 ms ceiling (a login or registration must not wait
     noticeably on the password hash, nor let a burst of logins pin the CPU);
  2. Tier-1 check of a beta token: uncached (database) and cached, against a bare ``select 1``
     transaction on the same connection pool;
  3. rate-limiter hits per second: PostgreSQL (one upsert) and Redis (one Lua script), against
     the same bare transaction;
  4. a reserve + settle pair of metering, against the same bare transaction.
Needs PostgreSQL (``UNAMENTIS_BENCH_PG``, default postgresql://postgres@127.0.0.1:5432/postgres;
a throwaway database is created and dropped) and, for the Redis figure, Redis on 127.0.0.1:6379.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg  # noqa: E402

from runtime.auth import passwords  # noqa: E402
from runtime.auth.principal import Principal  # noqa: E402
from runtime.auth.store import issue_beta_token  # noqa: E402
from runtime.context import AppContext  # noqa: E402
from runtime.limits import PostgresLimiter, RateLimit, RedisLimiter  # noqa: E402
from runtime.migrate import migrate  # noqa: E402
from runtime.settings import Settings  # noqa: E402
from runtime.tenants import create_tenant  # noqa: E402

SERVER = os.environ.get("UNAMENTIS_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def dsn(database: str, user: str | None = None, password: str | None = None) -> str:
    parts = urlsplit(SERVER)
    auth = f"{user or parts.username or 'postgres'}{':' + password if password else ''}@"
    return urlunsplit((parts.scheme, f"{auth}{parts.hostname or '127.0.0.1'}:{parts.port or 5432}", f"/{database}", "", ""))


async def timed(n: int, fn) -> float:
    """Run ``fn`` n times; return operations per second."""
    start = time.perf_counter()
    for _ in range(n):
        await fn()
    elapsed = time.perf_counter() - start
    return n / elapsed


def row(label: str, ops: float, baseline: float) -> None:
    print(f"  {label:<44} {ops:>9.0f} ops/s  {1e6 / ops:>8.1f} µs/op  {ops / baseline:>6.2f}× baseline")


async def main(iterations: int) -> None:
    print("1. passwords (argon2id, 19 MiB, 2 passes)")
    stored = passwords.hash_password("Correct-Horse-42")
    hash_ms, verify_ms = [], []
    for _ in range(10):
        t = time.perf_counter()
        passwords.hash_password("Correct-Horse-42")
        hash_ms.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        passwords.verify_password(stored, "Correct-Horse-42")
        verify_ms.append((time.perf_counter() - t) * 1000)
    for label, values in (("hash", hash_ms), ("verify", verify_ms)):
        median = statistics.median(values)
        print(f"  {label:<8} median {median:6.1f} ms  max {max(values):6.1f} ms  = {median / 100:.2f} of the 100 ms ceiling")

    name, role, password = f"uma_bench_{uuid.uuid4().hex[:10]}", f"uma_bench_app_{uuid.uuid4().hex[:6]}", "bench-password"
    server = await asyncpg.connect(SERVER)
    await server.execute(f'create database "{name}"')
    await server.close()
    settings = Settings(database_url=dsn(name, role, password), database_admin_url=dsn(name), app_role=role,
                        app_role_password=password, db_pool_min=1, db_pool_max=4, environment="bench",
                        jwt_secret="bench-" + "k" * 40, redis_url=None)
    ctx = AppContext(settings)
    try:
        await migrate(settings, echo=lambda _m: None)
        owner = await asyncpg.connect(settings.database_admin_url)
        tenant_id = str(await create_tenant(owner, f"bench-{uuid.uuid4().hex[:6]}"))
        _token_id, token = await issue_beta_token(owner, tenant_id, "bench")
        await owner.close()

        async def bare():
            async with ctx.db.unscoped() as conn:
                await conn.fetchval("select 1")

        await bare()
        baseline = await timed(iterations, bare)
        print(f"2. Tier-1 beta-token check (baseline: a bare `select 1` transaction, {baseline:.0f} ops/s)")
        auth = ctx.auth

        async def uncached():
            auth.forget_beta_token(token)
            await auth.client(token)

        async def cached():
            await auth.client(token)

        row("uncached (4 statements, 1 transaction)", await timed(iterations, uncached), baseline)
        row("cached", await timed(iterations * 10, cached), baseline)

        print("3. rate limiter, one bucket per key")
        limit = RateLimit(10**9, 1.0)
        pg = PostgresLimiter(ctx.db)
        row("PostgreSQL upsert", await timed(iterations, lambda: pg.hit(f"bench:{uuid.uuid4().hex[:4]}", limit)), baseline)
        try:
            rl = RedisLimiter("redis://127.0.0.1:6379/0")
            await rl.hit("bench:warm", limit)
            row("Redis Lua script", await timed(iterations, lambda: rl.hit(f"bench:{uuid.uuid4().hex[:4]}", limit)), baseline)
            await rl.aclose()
        except OSError as exc:
            print(f"  Redis: skipped ({exc})")

        print("4. metering: reserve + settle")
        who = Principal(kind="beta_token", tenant_id=tenant_id, user_id=None, token_id=str(uuid.uuid4()), role="tester")
        await ctx.metering.set_budget(tenant_id, monthly_limit_usd=10**6, user_daily_limit_usd=10**6)

        async def pair():
            res = await ctx.metering.reserve(who, "groq", "llm", 0.001)
            await ctx.metering.settle(res, 0.0005, {"input_tokens": 100})

        row("reserve + settle (2 transactions)", await timed(iterations // 4, pair), baseline)
    finally:
        await ctx.aclose()
        server = await asyncpg.connect(SERVER)
        await server.execute(f'drop database if exists "{name}" with (force)')
        await server.execute(f'drop role if exists "{role}"')
        await server.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=2000)
    asyncio.run(main(parser.parse_args().iterations))
