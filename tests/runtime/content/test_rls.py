"""Row-level security of the content tables, checked in SQL as the runtime role (no handler
involved): a forgotten WHERE still sees only the tenant's rows plus shared system rows, and system
rows cannot be written by any tenant."""
from __future__ import annotations

import uuid

import asyncpg
import pytest

TENANT_TABLES = ("curriculum_assets", "tutoring_sessions", "tutoring_turns", "tutoring_events", "telemetry_metrics",
                 "telemetry_clients", "telemetry_logs", "model_configs")
SHARED_TABLES = ("curricula", "kb_questions", "kb_packs", "kb_pack_questions")


async def test_rls_enabled_and_forced_on_every_content_table(database):
    owner = await database.owner()
    try:
        rows = await owner.fetch("select relname, relrowsecurity, relforcerowsecurity from pg_class "
                                 "where relname = any($1::text[])", list(TENANT_TABLES + SHARED_TABLES))
    finally:
        await owner.close()
    assert {r["relname"] for r in rows} == set(TENANT_TABLES + SHARED_TABLES)
    assert all(r["relrowsecurity"] and r["relforcerowsecurity"] for r in rows)


async def test_runtime_role_sees_own_and_system_rows_only(database, tenant):
    tid_a, _ = await tenant()
    tid_b, _ = await tenant()
    app = await database.app()
    try:
        async def scoped(tid):
            tr = app.transaction()
            await tr.start()
            await app.execute("select set_config('app.tenant_id', $1, true)", tid)
            return tr

        tr = await scoped(tid_a)
        await app.execute("insert into curricula (tenant_id, id, title, document) values ($1, 'mine', 'A only', '{}')",
                          uuid.UUID(tid_a))
        await app.execute("insert into telemetry_logs (tenant_id, level, message) values ($1, 'info', 'A log')",
                          uuid.UUID(tid_a))
        await tr.commit()

        tr = await scoped(tid_b)
        # no WHERE at all: B sees the system curriculum, never A's
        assert {r["id"] for r in await app.fetch("select id from curricula")} == {"solar-system-intro"}
        assert await app.fetchval("select count(*) from telemetry_logs") == 0
        assert await app.fetchval("select count(*) from kb_questions") == 24
        # B cannot write A's rows or system rows, nor insert rows for A or for "system"
        assert await app.execute("update curricula set title = 'x'") == "UPDATE 0"
        assert await app.execute("delete from kb_questions") == "DELETE 0"
        for sql, args in (("insert into curricula (tenant_id, id, title, document) values (null, 'sys2', 't', '{}')", ()),
                          ("insert into curricula (tenant_id, id, title, document) values ($1, 'x', 't', '{}')",
                           (uuid.UUID(tid_a),)),
                          ("insert into telemetry_logs (tenant_id, level, message) values ($1, 'info', 'x')",
                           (uuid.UUID(tid_a),))):
            with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError):
                async with app.transaction():  # a savepoint, rolled back by the error
                    await app.execute(sql, *args)
        await tr.rollback()

        # no tenant set: only system rows, no tenant rows
        async with app.transaction():
            assert {r["id"] for r in await app.fetch("select id from curricula")} == {"solar-system-intro"}
            assert await app.fetchval("select count(*) from telemetry_logs") == 0
    finally:
        await app.close()
