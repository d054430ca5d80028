"""The migration runner: order, idempotence, the advisory lock, failures, role grants."""
from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import asyncpg
import pytest

from tests.runtime.conftest import SERVER_DSN, _dsn_for
from runtime.migrate import MigrationError, discover, migrate
from runtime.settings import ConfigError, Settings


@pytest.fixture
async def empty_db():
    suffix = uuid.uuid4().hex[:10]
    name, role = f"uma_test_mig_{suffix}", f"uma_app_mig_{suffix}"
    server = await asyncpg.connect(SERVER_DSN)
    await server.execute(f'create database "{name}"')
    await server.close()
    settings = Settings(
        database_url=_dsn_for(name, role, "pw"), database_admin_url=_dsn_for(name), app_role=role, app_role_password="pw"
    )
    yield settings
    server = await asyncpg.connect(SERVER_DSN)
    await server.execute(f'drop database if exists "{name}" with (force)')
    await server.execute(f'drop role if exists "{role}"')
    await server.close()


def _write(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, sql in files.items():
        (directory / name).write_text(sql)
    return directory


async def test_applies_in_order_once_and_concurrently_safe(empty_db, tmp_path):
    folder = _write(
        tmp_path / "m",
        {
            "0002_second.sql": "insert into t (v) values ('second');",
            "0001_first.sql": "create table t (n serial primary key, v text); insert into t (v) values ('first');",
            "0010_third.sql": "insert into t (v) values ('third');",
        },
    )
    results = await asyncio.gather(*(migrate(empty_db, directory=folder) for _ in range(3)))
    assert sorted(len(r) for r in results) == [0, 0, 3]  # the lock serialised them; one did the work
    assert [r for r in results if r][0] == ["0001_first.sql", "0002_second.sql", "0010_third.sql"]
    assert await migrate(empty_db, directory=folder) == []
    conn = await asyncpg.connect(empty_db.database_admin_url)
    try:
        assert [r["v"] for r in await conn.fetch("select v from t order by n")] == ["first", "second", "third"]
        versions = [r["version"] for r in await conn.fetch("select version from schema_migrations order by version")]
        assert versions == ["0001", "0002", "0010"]
    finally:
        await conn.close()


async def test_a_failing_file_rolls_back_alone(empty_db, tmp_path):
    folder = _write(
        tmp_path / "m",
        {"0001_ok.sql": "create table ok (n int);", "0002_bad.sql": "create table half (n int); select 1/0;"},
    )
    with pytest.raises(MigrationError, match="0002_bad.sql"):
        await migrate(empty_db, directory=folder)
    conn = await asyncpg.connect(empty_db.database_admin_url)
    try:
        assert await conn.fetchval("select to_regclass('ok') is not null")
        assert not await conn.fetchval("select to_regclass('half') is not null")
        assert [r["version"] for r in await conn.fetch("select version from schema_migrations")] == ["0001"]
    finally:
        await conn.close()


def test_bad_file_names_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="NNNN_lower_snake"):
        discover(_write(tmp_path / "a", {"1_x.sql": ""}))
    with pytest.raises(ConfigError, match="share version"):
        discover(_write(tmp_path / "b", {"0001_a.sql": "", "0001_b.sql": ""}))


async def test_runtime_role_is_granted_dml_but_not_the_version_table(database):
    conn = await database.app()
    try:
        role = await conn.fetchrow("select rolsuper, rolbypassrls, rolcanlogin from pg_roles where rolname = current_user")
        assert (role["rolsuper"], role["rolbypassrls"], role["rolcanlogin"]) == (False, False, True)
        assert await conn.fetchval("select has_table_privilege('tenants', 'select')")
        assert not await conn.fetchval("select has_table_privilege('schema_migrations', 'select')")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetch("select * from schema_migrations")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("alter table tenants no force row level security")
    finally:
        await conn.close()


async def test_the_owner_role_is_refused_as_runtime_role(empty_db, tmp_path):
    folder = _write(tmp_path / "m", {"0001_x.sql": "select 1;"})
    with pytest.raises(ConfigError, match="UNAMENTIS_APP_ROLE"):
        await migrate(empty_db.with_overrides(app_role="postgres"), directory=folder)


async def test_every_tenant_table_has_forced_rls(database):
    """The design rule over ALL migrations: a table with tenant_id has RLS enabled AND forced."""
    conn = await database.owner()
    try:
        rows = await conn.fetch(
            """select c.relname, c.relrowsecurity, c.relforcerowsecurity
                 from pg_class c join pg_namespace n on n.oid = c.relnamespace
                where n.nspname = 'public' and c.relkind in ('r', 'p')
                  and exists (select 1 from pg_attribute a where a.attrelid = c.oid
                              and a.attname = 'tenant_id' and not a.attisdropped)"""
        )
    finally:
        await conn.close()
    assert rows, "no tenant tables found"
    offenders = [r["relname"] for r in rows if not (r["relrowsecurity"] and r["relforcerowsecurity"])]
    assert offenders == []


async def test_an_existing_bypassrls_role_is_fixed(empty_db, tmp_path):
    folder = _write(tmp_path / "m", {"0001_x.sql": "create table x (n int);"})
    server = await asyncpg.connect(SERVER_DSN)
    try:
        await server.execute(f'create role "{empty_db.app_role}" login bypassrls')
    finally:
        await server.close()
    await migrate(empty_db, directory=folder)
    conn = await asyncpg.connect(empty_db.database_admin_url)
    try:
        row = await conn.fetchrow("select rolsuper, rolbypassrls from pg_roles where rolname = $1", empty_db.app_role)
        assert (row["rolsuper"], row["rolbypassrls"]) == (False, False)
    finally:
        await conn.close()
