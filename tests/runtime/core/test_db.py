"""runtime.db against the real PostgreSQL: tenant transactions, RLS, the Lambda connection."""
from __future__ import annotations

import asyncio
import threading
import time
import uuid

import asyncpg
import pytest

from runtime.db import Database, DatabaseUnavailable
from runtime.settings import Settings
from runtime.tenants import create_tenant


async def _two_tenants(database) -> tuple[str, str]:
    owner = await database.owner()
    try:
        a = await create_tenant(owner, f"a-{uuid.uuid4().hex[:8]}")
        b = await create_tenant(owner, f"b-{uuid.uuid4().hex[:8]}")
    finally:
        await owner.close()
    return str(a), str(b)


@pytest.mark.parametrize("mode", ["pool", "single"])
async def test_tenant_isolation_at_the_database_level(database, mode):
    a, b = await _two_tenants(database)
    db = Database(database.settings(db_mode=mode))
    try:
        async with db.tenant(a) as conn:
            await conn.execute("insert into audit_log (tenant_id, actor_kind, action) values ($1, 'system', 'a.only')", uuid.UUID(a))
        async with db.tenant(b) as conn:
            await conn.execute("insert into audit_log (tenant_id, actor_kind, action) values ($1, 'system', 'b.only')", uuid.UUID(b))
        # a query without any tenant filter still sees only its tenant
        async with db.tenant(a) as conn:
            rows = await conn.fetch("select tenant_id, action from audit_log")
            assert {str(r["tenant_id"]) for r in rows} == {a}
            assert "a.only" in {r["action"] for r in rows} and "b.only" not in {r["action"] for r in rows}
            assert [str(r["id"]) for r in await conn.fetch("select id from tenants")] == [a]
        # no tenant set: nothing
        async with db.unscoped() as conn:
            assert await conn.fetch("select * from audit_log") == []
            assert await conn.fetch("select * from tenants") == []
        # a write into another tenant fails
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with db.tenant(a) as conn:
                await conn.execute(
                    "insert into audit_log (tenant_id, actor_kind, action) values ($1, 'system', 'sneaky')", uuid.UUID(b)
                )
        # the audit log is append-only for the runtime role
        async with db.tenant(a) as conn:
            assert await conn.execute("update audit_log set action = 'rewritten'") == "UPDATE 0"
            assert await conn.execute("delete from audit_log") == "DELETE 0"
        # the tenant setting never outlives its transaction (one reused connection in single mode)
        async with db.unscoped() as conn:
            assert (await conn.fetchval("select current_setting('app.tenant_id', true)")) in (None, "")
    finally:
        await db.close()


async def test_errors_roll_back(database):
    a, _b = await _two_tenants(database)
    db = Database(database.settings())
    try:
        with pytest.raises(RuntimeError):
            async with db.tenant(a) as conn:
                await conn.execute("insert into audit_log (tenant_id, actor_kind, action) values ($1, 'system', 'lost')", uuid.UUID(a))
                raise RuntimeError("handler failed")
        async with db.tenant(a) as conn:
            assert await conn.fetchval("select count(*) from audit_log where action = 'lost'") == 0
    finally:
        await db.close()


async def test_bad_tenant_id_fails_closed(database):
    db = Database(database.settings())
    try:
        with pytest.raises(ValueError):
            async with db.tenant("'; drop table tenants; --"):
                pass
        with pytest.raises(ValueError):
            async with db.tenant(str(uuid.uuid4()), user_id="nope"):
                pass
    finally:
        await db.close()


async def test_runtime_role_cannot_bypass_rls(database):
    db = Database(database.settings())
    try:
        assert await db.role_problems() == []
    finally:
        await db.close()
    owner_db = Database(database.settings(database_url=database.owner_dsn))
    try:
        problems = await owner_db.role_problems()
        assert any("superuser" in p for p in problems)
    finally:
        await owner_db.close()


def _terminate_unnoticed(database, pid: int) -> None:
    """What a frozen Lambda finds on thaw: the server side of its socket is gone, and the client has
    not noticed (its loop does not run meanwhile: a blocking wait, not asyncio.sleep)."""
    async def kill() -> bool:
        owner = await database.owner()
        try:
            return await owner.fetchval("select pg_terminate_backend($1)", pid)
        finally:
            await owner.close()

    outcome: list[bool] = []
    killer = threading.Thread(target=lambda: outcome.append(asyncio.run(kill())))
    killer.start()
    killer.join()  # blocks this loop, like a frozen environment
    time.sleep(0.3)
    assert outcome == [True]


async def test_single_connection_reconnects_after_a_stale_socket(database):
    a, _b = await _two_tenants(database)
    db = Database(database.settings(db_mode="single"))
    try:
        async with db.tenant(a) as conn:
            pid = await conn.fetchval("select pg_backend_pid()")
        _terminate_unnoticed(database, pid)
        assert not db._conn.is_closed()
        async with db.tenant(a) as conn:
            assert await conn.fetchval("select pg_backend_pid()") != pid
            assert [str(r["id"]) for r in await conn.fetch("select id from tenants")] == [a]
        assert db.reconnects == 1
    finally:
        await db.close()


@pytest.mark.parametrize("mode", ["single", "pool"])
async def test_a_lone_statement_sees_no_tenant_and_survives_a_stale_socket(database, mode):
    a, _b = await _two_tenants(database)
    db = Database(database.settings(db_mode=mode, db_pool_min=1, db_pool_max=1))
    try:
        async with db.tenant(a) as conn:
            pid = await conn.fetchval("select pg_backend_pid()")
        row = await db.call("select pg_backend_pid() as pid, current_setting('app.tenant_id', true) as tenant, "
                            "(select count(*) from tenants) as tenants")
        assert row["pid"] == pid  # the same connection, after the tenant transaction ended
        assert row["tenant"] in (None, "") and row["tenants"] == 0  # no tenant set: RLS shows nothing
        _terminate_unnoticed(database, pid)
        row = await db.call("select pg_backend_pid() as pid")
        assert row["pid"] != pid and db.reconnects == 1
    finally:
        await db.close()


async def test_pool_recovers_after_backend_termination(database):
    a, _b = await _two_tenants(database)
    db = Database(database.settings(db_pool_min=1, db_pool_max=1))
    try:
        async with db.tenant(a) as conn:
            pid = await conn.fetchval("select pg_backend_pid()")
        owner = await database.owner()
        try:
            await owner.fetchval("select pg_terminate_backend($1)", pid)
            await asyncio.sleep(0.2)
        finally:
            await owner.close()
        async with db.tenant(a) as conn:
            assert await conn.fetchval("select 1") == 1
    finally:
        await db.close()


async def test_pooled_connections_go_to_requests_in_the_order_they_asked(database, monkeypatch):
    a, _b = await _two_tenants(database)
    db = Database(database.settings(db_pool_min=1, db_pool_max=1))
    order: list[str] = []
    tasks: list[asyncio.Task] = []
    holding = asyncio.Event()

    async def transaction(name: str) -> None:
        async with db.tenant(a):
            order.append(name)

    async def first() -> None:
        async with db.tenant(a) as conn:
            order.append("A")
            holding.set()
            await conn.fetchval("select pg_sleep(0.2)")

    release = asyncpg.pool.Pool.release

    async def release_as_c_arrives(pool, conn, **kwargs):
        # A request arriving just as A's connection goes back (on a busy server new requests start
        # in the same turn of the loop as a release): it must not take the connection B waited for.
        if not tasks:
            asyncio.get_running_loop().call_soon(lambda: tasks.append(asyncio.ensure_future(transaction("C"))))
        return await release(pool, conn, **kwargs)

    monkeypatch.setattr(asyncpg.pool.Pool, "release", release_as_c_arrives)

    async def waiting() -> None:
        await holding.wait()
        await transaction("B")

    try:
        await asyncio.gather(first(), waiting())
        await asyncio.gather(*tasks)
        assert order == ["A", "B", "C"]
    finally:
        await db.close()


async def test_exhausted_pool_wait_is_bounded_and_the_pool_survives(database):
    a, _b = await _two_tenants(database)
    db = Database(database.settings(db_pool_min=1, db_pool_max=1))
    db.acquire_timeout = 0.2
    try:
        async with db.tenant(a) as held:
            started = asyncio.get_running_loop().time()
            with pytest.raises(DatabaseUnavailable, match="no database connection became free"):
                async with db.tenant(a):
                    pass
            assert asyncio.get_running_loop().time() - started < 2
            assert await held.fetchval("select 1") == 1
        # the timed-out waiter gave nothing away: the one connection is usable again
        async with db.tenant(a) as conn:
            assert [str(r["id"]) for r in await conn.fetch("select id from tenants")] == [a]
    finally:
        await db.close()


async def test_unreachable_database_is_reported():
    db = Database(Settings(database_url="postgresql://nobody@127.0.0.1:1/none", db_connect_timeout=1, db_mode="single"))
    with pytest.raises(DatabaseUnavailable):
        async with db.unscoped():
            pass
    await db.close()


async def test_container_start_refuses_a_role_that_bypasses_rls(make_app, database, caplog):
    import logging

    from tests.runtime.conftest import make_client

    with pytest.raises(RuntimeError, match="TENANT ISOLATION IS NOT ENFORCED"):
        async with make_client(make_app([], database_url=database.owner_dsn)):
            pass
    for allowed in ({"environment": "dev"}, {"insecure_allow_rls_bypass": True}):
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="unamentis.app"):
            async with make_client(make_app([], database_url=database.owner_dsn, **allowed)):
                pass
        assert any("TENANT ISOLATION IS NOT ENFORCED" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="unamentis.app"):
        async with make_client(make_app([])):
            pass
    assert not any("TENANT ISOLATION" in r.getMessage() for r in caplog.records)
