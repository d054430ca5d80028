"""Tenant isolation of the auth and metering tables, proven at the database level as the runtime role."""
from __future__ import annotations

import uuid

import asyncpg
import pytest

from tests.runtime.auth.conftest import signup
from tests.runtime.conftest import make_client

TABLES = ("users", "devices", "login_sessions", "refresh_tokens", "beta_tokens",
          "budgets", "subject_budgets", "budget_counters", "budget_reservations", "usage_events")


@pytest.fixture
async def two_tenants(auth_app, tenant, database):
    (a, beta_a), (b, beta_b) = await tenant(), await tenant()
    async with make_client(auth_app()) as client:
        user_a = await signup(client, beta_a)
        user_b = await signup(client, beta_b)
    owner = await database.owner()
    try:
        for tid in (a, b):  # one row in every metering table too
            await owner.execute("insert into budgets (tenant_id, monthly_limit_usd) values ($1, 5)", uuid.UUID(tid))
            await owner.execute("insert into subject_budgets (tenant_id, subject, daily_limit_usd) values ($1, 'user:x', 1)", uuid.UUID(tid))
            await owner.execute("insert into budget_counters (tenant_id, subject, period_start) values ($1, 'tenant', current_date)", uuid.UUID(tid))
            await owner.execute("insert into budget_reservations (tenant_id, subject, provider, operation, estimate_usd, tenant_period, subject_period) "
                                "values ($1, 'user:x', 'groq', 'llm', 0.1, current_date, current_date)", uuid.UUID(tid))
            await owner.execute("insert into usage_events (tenant_id, subject, provider, operation, cost_usd) values ($1, 'user:x', 'groq', 'llm', 0.1)", uuid.UUID(tid))
    finally:
        await owner.close()
    return (a, user_a), (b, user_b)


async def test_runtime_role_is_subject_to_rls(database):
    conn = await database.app()
    try:
        role = await conn.fetchrow("select rolsuper, rolbypassrls from pg_roles where rolname = current_user")
        assert not role["rolsuper"] and not role["rolbypassrls"]
        rows = await conn.fetch(
            "select c.relname, c.relrowsecurity, c.relforcerowsecurity, pg_get_userbyid(c.relowner) as owner "
            "from pg_class c where c.relname = any($1::text[]) and c.relkind = 'r'", list(TABLES))
    finally:
        await conn.close()
    assert {r["relname"] for r in rows} == set(TABLES)
    for row in rows:
        assert row["relrowsecurity"] and row["relforcerowsecurity"], row["relname"]
        assert row["owner"] != database.app_role


async def test_no_tenant_set_sees_nothing(two_tenants, database):
    conn = await database.app()
    try:
        for table in TABLES:
            assert await conn.fetchval(f"select count(*) from {table}") == 0, table
    finally:
        await conn.close()


async def test_query_without_tenant_filter_sees_only_its_tenant(two_tenants, database):
    (a, user_a), (b, _user_b) = two_tenants
    conn = await database.app()
    try:
        async with conn.transaction():
            await conn.execute("select set_config('app.tenant_id', $1, true)", a)
            for table in TABLES:
                tenants = {r["tenant_id"] for r in await conn.fetch(f"select tenant_id from {table}")}
                assert tenants == {uuid.UUID(a)}, table
            emails = [r["email"] for r in await conn.fetch("select email from users")]
            assert emails == [user_a["email"]]
    finally:
        await conn.close()


async def test_writes_into_another_tenant_fail(two_tenants, database):
    (a, _user_a), (b, user_b) = two_tenants
    conn = await database.app()
    try:
        async with conn.transaction():
            await conn.execute("select set_config('app.tenant_id', $1, true)", a)
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                async with conn.transaction():
                    await conn.execute("insert into users (tenant_id, email) values ($1, 'intruder@example.com')", uuid.UUID(b))
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                async with conn.transaction():
                    await conn.execute("insert into beta_tokens (tenant_id, name, token_hash, token_prefix) values ($1, 'x', 'h', 'p')", uuid.UUID(b))
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                async with conn.transaction():
                    await conn.execute("insert into usage_events (tenant_id, subject, provider, operation, cost_usd) values ($1, 's', 'p', 'o', 1)", uuid.UUID(b))
            # Moving an own row into the other tenant fails the WITH CHECK too.
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                async with conn.transaction():
                    await conn.execute("update users set tenant_id = $1", uuid.UUID(b))
            # Updates and deletes aimed at the other tenant's rows touch nothing.
            assert await conn.execute("update users set role = 'super_admin' where email = $1", user_b["email"]) == "UPDATE 0"
            assert await conn.execute("delete from refresh_tokens where tenant_id = $1", uuid.UUID(b)) == "DELETE 0"
    finally:
        await conn.close()
    owner = await database.owner()
    try:
        assert await owner.fetchval("select role from users where email = $1", user_b["email"]) == "user"
        assert await owner.fetchval("select count(*) from refresh_tokens where tenant_id = $1", uuid.UUID(b)) == 1
    finally:
        await owner.close()


async def test_private_schema_is_closed_and_lookup_reveals_only_the_tenant(two_tenants, database):
    (a, user_a), _ = two_tenants
    conn = await database.app()
    try:
        for table in ("unamentis_private.credential_keys", "unamentis_private.rate_limit_buckets", "unamentis_private.usage_daily"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.fetch(f"select * from {table}")
        assert str(await conn.fetchval("select auth_tenant_for('email', $1)", user_a["email"])) == a
        assert await conn.fetchval("select auth_tenant_for('email', 'nobody@example.com')") is None
    finally:
        await conn.close()


async def test_definer_functions_are_for_the_runtime_role_only(database):
    probe = f"uma_probe_{uuid.uuid4().hex[:10]}"
    owner = await database.owner()
    try:
        await owner.execute(f'create role "{probe}" nologin')
        for call in ("select auth_tenant_for('email', 'x@example.com')", "select * from rate_limit_hit('k', 1, 1)",
                     "select * from usage_by_tenant(current_date, current_date)"):
            async with owner.transaction():
                await owner.execute(f'set local role "{probe}"')
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    async with owner.transaction():
                        await owner.fetch(call)
    finally:
        await owner.execute(f'drop role if exists "{probe}"')
        await owner.close()
    app = await database.app()
    try:
        assert (await app.fetchrow("select * from rate_limit_hit('probe-key', 1, 1)"))["allowed"]
    finally:
        await app.close()
