"""Apply ``runtime/migrations/NNNN_<name>.sql`` in lexical order, once each.

Runs as the owner (``UNAMENTIS_DATABASE_ADMIN_URL``) under a PostgreSQL advisory lock (advisory
locks are per database, so parallel migrations of one database wait for each other). Each file
runs in its own transaction together with its row in ``schema_migrations``; a failing file rolls
back alone and stops the run with its name in the error.

After the files, the runtime role (``UNAMENTIS_APP_ROLE``) is created if missing and granted DML on
every table, usage on every sequence and EXECUTE on every function of schema ``public`` — never
anything on ``schema_migrations`` — so migration files never GRANT to a role by name. The role is
forced to NOSUPERUSER NOBYPASSRLS: RLS must apply to it. With ``UNAMENTIS_APP_ROLE_PASSWORD`` set
the role gets LOGIN and that password; without it a new role is NOLOGIN (an operator manages the
login, e.g. RDS IAM) and an existing role's login is left alone.
"""
from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import asyncpg

from runtime.db import connect_admin
from runtime.settings import ConfigError, Settings

log = logging.getLogger("unamentis.migrate")

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
FILE_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
VERSION_TABLE = "schema_migrations"
# A fixed advisory-lock key: "unamentis.migrate" folded into a signed 64-bit integer.
LOCK_KEY = int.from_bytes(hashlib.sha256(b"unamentis.migrate").digest()[:8], "big", signed=True)


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migration files in order; a stray ``.sql`` name is an error (it would silently not run)."""
    found: list[Migration] = []
    versions: dict[str, str] = {}
    for path in sorted(directory.glob("*.sql")):
        match = FILE_RE.match(path.name)
        if not match:
            raise ConfigError(f"migration file {path.name!r} must be named NNNN_lower_snake.sql")
        version = match.group(1)
        if version in versions:
            raise ConfigError(f"migrations {versions[version]} and {path.name} share version {version}")
        versions[version] = path.name
        found.append(Migration(version, match.group(2), path))
    return found


async def migrate(
    settings: Settings,
    *,
    directory: Path = MIGRATIONS_DIR,
    echo: Callable[[str], None] | None = None,
) -> list[str]:
    """Apply pending migrations and grant the runtime role; returns the applied file names."""
    say = echo or (lambda message: log.info(message))
    migrations = discover(directory)
    conn = await connect_admin(settings)
    try:
        await conn.execute("select pg_advisory_lock($1)", LOCK_KEY)
        try:
            applied = await _apply(conn, migrations, say)
            await ensure_app_role(conn, settings, say)
            await grant_app_role(conn, settings.app_role)
        finally:
            await conn.execute("select pg_advisory_unlock($1)", LOCK_KEY)
    finally:
        await conn.close()
    return applied


async def _apply(conn: asyncpg.Connection, migrations: list[Migration], say: Callable[[str], None]) -> list[str]:
    await conn.execute(
        f"""create table if not exists {VERSION_TABLE} (
                version    text primary key,
                name       text not null,
                checksum   text not null,
                applied_at timestamptz not null default now()
            )"""
    )
    rows = await conn.fetch(f"select version, name, checksum from {VERSION_TABLE}")
    done = {row["version"]: row for row in rows}
    applied: list[str] = []
    for migration in migrations:
        previous = done.get(migration.version)
        if previous is not None:
            if previous["checksum"] != migration.checksum:
                # Editing an applied migration never re-runs it; say so instead of drifting silently.
                log.warning(
                    "applied migration changed on disk; it is not re-run (write a new migration instead)",
                    extra={"migration": migration.path.name},
                )
            continue
        try:
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    f"insert into {VERSION_TABLE} (version, name, checksum) values ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
        except asyncpg.PostgresError as exc:
            raise MigrationError(f"migration {migration.path.name} failed: {type(exc).__name__}: {exc}") from exc
        applied.append(migration.path.name)
        say(f"applied {migration.path.name}")
    return applied


class MigrationError(RuntimeError):
    """A migration file failed; nothing of that file was applied."""


async def ensure_app_role(conn: asyncpg.Connection, settings: Settings, say: Callable[[str], None]) -> None:
    role = settings.app_role
    exists = await conn.fetchval("select true from pg_roles where rolname = $1", role)
    if not exists:
        try:
            await conn.execute(f'create role "{role}" nologin nosuperuser nobypassrls nocreatedb nocreaterole')
            say(f"created role {role}")
        except (asyncpg.DuplicateObjectError, asyncpg.UniqueViolationError):
            pass  # created concurrently by another migrate on the same cluster
    current_user = await conn.fetchval("select current_user")
    if role == current_user:
        raise ConfigError(
            f"UNAMENTIS_APP_ROLE={role!r} is the migrating owner; the runtime role must be a different role "
            "(row-level security does not bind a table's owner)"
        )
    # RLS must bind the runtime role: never superuser, never BYPASSRLS. Only touch the attributes
    # when they are wrong: changing them at all needs a superuser, which a managed database's
    # owner (RDS master user) is not.
    attrs = await conn.fetchrow("select rolsuper, rolbypassrls from pg_roles where rolname = $1", role)
    if attrs is not None and (attrs["rolsuper"] or attrs["rolbypassrls"]):
        try:
            await conn.execute(f'alter role "{role}" nosuperuser nobypassrls')
        except asyncpg.InsufficientPrivilegeError:
            raise ConfigError(
                f"the runtime role {role!r} is SUPERUSER or BYPASSRLS and {current_user!r} cannot change that; "
                f"as a superuser run: ALTER ROLE {role} NOSUPERUSER NOBYPASSRLS (or choose another UNAMENTIS_APP_ROLE)"
            ) from None
    if settings.app_role_password:
        # ALTER ROLE takes no bind parameters: format() quotes the literal server-side.
        statement = await conn.fetchval(
            "select format('alter role %I login password %L', $1::text, $2::text)", role, settings.app_role_password
        )
        await conn.execute(statement)


async def grant_app_role(conn: asyncpg.Connection, role: str) -> None:
    statements = [
        f'grant usage on schema public to "{role}"',
        f'grant select, insert, update, delete on all tables in schema public to "{role}"',
        f'grant usage, select, update on all sequences in schema public to "{role}"',
        f'grant execute on all functions in schema public to "{role}"',
        f'revoke all on {VERSION_TABLE} from "{role}"',
    ]
    async with conn.transaction():
        for statement in statements:
            await conn.execute(statement)


async def pending(settings: Settings, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """File names not yet applied (for `migrate --check` and health)."""
    migrations = discover(directory)
    conn = await connect_admin(settings)
    try:
        exists = await conn.fetchval("select to_regclass($1) is not null", VERSION_TABLE)
        done = set()
        if exists:
            done = {row["version"] for row in await conn.fetch(f"select version from {VERSION_TABLE}")}
    finally:
        await conn.close()
    return [m.path.name for m in migrations if m.version not in done]
