"""Row-level security of the content tables, checked in SQL as the runtime role (no handler
involved): a forgotten WHERE still sees only the tenant's rows plus shared system rows, and system
rows cannot be written by any tenant."""
from __future__ import annotations

import uuid

import asyncpg
import pytest

TENANT_TABLES = ("curriculum_assets", "tutoring_sessions", "tutoring_turns", "tutoring_events", "telemetry_metrics",
                 "telemetry_clients", "telemetry_logs", "model_configs", "model_parameters")
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


async def test_seeds_and_system_writes_work_for_a_non_superuser_owner():
    """Production owners (e.g. the RDS master user) are not superusers, so FORCE RLS binds them:
    the seeds and the system-content functions must pass through the owner's own policies."""
    import glob
    import os

    from tests.runtime.conftest import SERVER_DSN, _dsn_for

    suffix = uuid.uuid4().hex[:10]
    owner, name = f"uma_own_{suffix}", f"uma_ns_{suffix}"
    server = await asyncpg.connect(SERVER_DSN)
    try:
        await server.execute(f"create role {owner} login password 'owner-pw' nosuperuser")
        await server.execute(f'create database "{name}" owner {owner}')
    finally:
        await server.close()
    try:
        conn = await asyncpg.connect(_dsn_for(name, owner, "owner-pw"))
        try:
            await conn.execute("alter schema public owner to current_user")
            migrations = os.path.join(os.path.dirname(__file__), "..", "..", "..", "runtime", "migrations")
            for path in sorted(glob.glob(os.path.join(migrations, "0[01]*.sql"))):  # ours and what they build on
                async with conn.transaction():
                    await conn.execute(open(path).read())
            assert not await conn.fetchval("select rolsuper or rolbypassrls from pg_roles where rolname = current_user")
            assert await conn.fetchval("select count(*) from kb_questions where tenant_id is null") == 24
            assert await conn.fetchval("select count(*) from curricula where tenant_id is null") == 1
            tenant_id = await conn.fetchval("insert into tenants (slug, name) values ('t', 't') returning id")
            async with conn.transaction():
                await conn.execute("select set_config('app.tenant_id', $1, true)", str(tenant_id))
                await conn.execute("insert into kb_packs (id, tenant_id, name) values ('pack-own', $1, 'p')", tenant_id)
                await conn.execute("insert into kb_pack_questions (tenant_id, pack_id, question_id, position) "
                                   "values ($1, 'pack-own', 'sys-hist-001', 0)", tenant_id)
                published = await conn.fetchval("select content_system_kb_publish('pack-own', 'Official')")
            assert await conn.fetchval("select tenant_id is null and type = 'system' from kb_packs where id = $1", published)
            await conn.execute("select content_system_curriculum_upsert('c2', 't', 'd', '1', null, null, null, '{}', "
                               "0, 0, '{}'::jsonb)")
            assert await conn.fetchval("select count(*) from curricula where tenant_id is null") == 2
            # the owner's policy admits only NULL-tenant rows: it cannot write a tenant's rows unscoped
            with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError):
                await conn.execute("insert into curricula (tenant_id, id, title, document) values ($1, 'x', 't', '{}')",
                                   tenant_id)
        finally:
            await conn.close()
    finally:
        server = await asyncpg.connect(SERVER_DSN)
        try:
            await server.execute(f'drop database if exists "{name}" with (force)')
            await server.execute(f"drop role if exists {owner}")
        finally:
            await server.close()
