"""PostgreSQL access for the runtime (asyncpg), always inside a transaction (``call`` sends one
self-contained statement, which PostgreSQL runs as a transaction of its own).

Two modes (``Settings.db_mode``):
- ``pool``: the container; an asyncpg pool created on first use.
- ``single``: a Lambda environment; ONE connection opened lazily and kept across invocations
  (an environment serves one request at a time; a lock keeps concurrent use in tests correct).
  A frozen environment's socket may be dead on thaw, so a failure while opening the transaction
  reconnects and retries once — before any caller statement ran, so the retry is always safe.

Tenancy: ``async with db.tenant(tenant_id, user_id) as conn`` opens a transaction and sets
``app.tenant_id`` / ``app.user_id`` with ``set_config(..., true)`` (transaction-local, so a reused
connection never carries a previous tenant). RLS policies read them; ``unscoped()`` sets nothing,
so tenant-owned tables return no rows there.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import uuid
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Collection, Mapping, Sequence

import asyncpg
from asyncpg.transaction import TransactionState

from runtime.settings import Settings

log = logging.getLogger("unamentis.db")

# Errors that mean "the socket is gone", worth one reconnect before the caller's work starts.
STALE_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CannotConnectNowError,
    ConnectionError,
    OSError,
)


class DatabaseUnavailable(Exception):
    """The database cannot be reached; the app answers 503."""


def _server_settings(settings: Settings) -> dict[str, str]:
    values = {
        "application_name": f"unamentis-{settings.environment}"[:63],
        # A request never holds a transaction open this long; orphans (frozen Lambdas) get cleaned up.
        "idle_in_transaction_session_timeout": "60000",
    }
    if settings.db_statement_timeout_ms:
        values["statement_timeout"] = str(settings.db_statement_timeout_ms)
    return values


def _uuid_text(value: str, what: str) -> str:
    # Fail closed: a malformed id must never reach set_config as some other tenant's value.
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise ValueError(f"{what} must be a UUID, got {value!r}") from None


class Database:
    """The runtime role's connections (``DATABASE_URL``)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pool: asyncpg.Pool | None = None
        self._pool_lock = asyncio.Lock()
        self._conn: asyncpg.Connection | None = None
        self._conn_lock = asyncio.Lock()
        self.reconnects = 0  # observable for tests and logs
        # How long a request waits for a free pooled connection before answering 503.
        self.acquire_timeout = settings.db_connect_timeout + 5
        # Pooled connections go to requests in the order they asked. asyncpg's pool gives a released
        # connection to whichever request asks next, and a request that was waiting goes back to the
        # end of the queue, so under load some requests are passed over again and again; a
        # semaphore as large as the pool (asyncio's is first come, first served) keeps the order.
        self._turns = asyncio.Semaphore(settings.db_pool_max)

    # --- connections ------------------------------------------------------------------------
    async def _connect(self) -> asyncpg.Connection:
        dsn = self.settings.require_database_url()
        try:
            return await asyncpg.connect(
                dsn,
                timeout=self.settings.db_connect_timeout,
                server_settings=_server_settings(self.settings),
            )
        except STALE_ERRORS + (asyncio.TimeoutError, asyncpg.PostgresError) as exc:
            raise DatabaseUnavailable(f"cannot connect to the database: {type(exc).__name__}: {exc}") from exc

    async def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._pool_lock:
                if self._pool is None:
                    dsn = self.settings.require_database_url()
                    try:
                        self._pool = await asyncpg.create_pool(
                            dsn,
                            min_size=self.settings.db_pool_min,
                            max_size=self.settings.db_pool_max,
                            timeout=self.settings.db_connect_timeout,
                            server_settings=_server_settings(self.settings),
                            # Recycle idle sockets so NAT/LB idle cuts don't hand us dead ones.
                            max_inactive_connection_lifetime=300.0,
                            reset=_release_without_round_trip,
                        )
                    except STALE_ERRORS + (asyncio.TimeoutError, asyncpg.PostgresError) as exc:
                        raise DatabaseUnavailable(
                            f"cannot connect to the database: {type(exc).__name__}: {exc}"
                        ) from exc
        return self._pool

    @asynccontextmanager
    async def _acquire(self) -> AsyncIterator[asyncpg.Connection]:
        if self.settings.db_mode == "single":
            async with self._conn_lock:
                if self._conn is not None and self._conn.is_closed():
                    self._conn = None
                    self.reconnects += 1
                if self._conn is None:
                    self._conn = await self._connect()
                yield self._conn
        else:
            pool = await self.pool()
            # The wait is bounded with asyncio.timeout, not acquire(timeout=...): the latter wraps every
            # acquire in a wait_for task (a tenth of a short request's CPU). Cancelling the wait is
            # safe: asyncpg puts the connection holder back.
            try:
                async with asyncio.timeout(self.acquire_timeout):
                    await self._turns.acquire()
                    try:
                        conn = await pool.acquire()
                    except BaseException:
                        self._turns.release()
                        raise
            except asyncio.TimeoutError as exc:
                raise DatabaseUnavailable("no database connection became free in time") from exc
            except STALE_ERRORS + (asyncpg.PostgresError,) as exc:
                # The pool opens a replacement connection inside acquire: the server may be gone.
                raise DatabaseUnavailable(f"cannot connect to the database: {type(exc).__name__}") from exc
            try:
                yield conn
            finally:
                try:
                    await pool.release(conn)
                finally:
                    self._turns.release()

    async def _reset_single(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.terminate()
        self.reconnects += 1

    @asynccontextmanager
    async def _transaction(self, prelude: str) -> AsyncIterator[asyncpg.Connection]:
        """A transaction whose first statement is ``prelude`` (constant SQL, no user input)."""
        for attempt in (1, 2):
            async with self._acquire() as conn:
                tx = conn.transaction()
                try:
                    await _start(conn, tx, prelude)
                except STALE_ERRORS as exc:
                    if attempt == 2:
                        raise DatabaseUnavailable(f"database connection lost: {type(exc).__name__}") from exc
                    await self._discard(conn, exc)
                    continue
                try:
                    yield conn
                except BaseException as exc:
                    if not conn.is_closed():
                        try:
                            await tx.rollback()
                        except STALE_ERRORS:
                            pass
                    if self.settings.db_mode == "single" and conn.is_closed():
                        self._conn = None
                    if isinstance(exc, STALE_ERRORS) and conn.is_closed():
                        # The server went away mid-request: an outage (503), not the caller's bug.
                        raise DatabaseUnavailable(f"database connection lost: {type(exc).__name__}") from exc
                    raise
                else:
                    try:
                        await tx.commit()
                    except STALE_ERRORS as exc:
                        if self.settings.db_mode == "single":
                            self._conn = None
                        raise DatabaseUnavailable(f"database connection lost at commit: {type(exc).__name__}") from exc
                return

    async def _discard(self, conn: asyncpg.Connection, exc: BaseException) -> None:
        """Drop a connection found dead, so the retry gets a new one."""
        log.warning("stale database connection; reconnecting once", extra={"error": type(exc).__name__})
        if self.settings.db_mode == "single":
            await self._reset_single()
        else:
            # The pool replaces a terminated connection on release; a proxy the pool has already
            # taken back (its socket died) refuses the call, which is just as good.
            with contextlib.suppress(asyncpg.exceptions.InterfaceError):
                conn.terminate()
            self.reconnects += 1

    async def call(self, query: str, *args: Any) -> asyncpg.Record | None:
        """The first row of ``query`` sent alone. PostgreSQL runs a lone statement as a transaction
        of its own, so this is one round trip where ``unscoped()`` takes three (begin, statement,
        commit). Only for one self-contained statement on data no tenant owns (the rate-limit
        buckets' functions): no tenant is set, nothing else shares its transaction. A connection
        found dead is replaced and the statement sent once more, so use it only where running a
        statement twice is harmless (a rate-limit hit counted twice is stricter, never looser)."""
        for attempt in (1, 2):
            async with self._acquire() as conn:
                try:
                    return await conn.fetchrow(query, *args)
                except STALE_ERRORS as exc:
                    if attempt == 2:
                        raise DatabaseUnavailable(f"database connection lost: {type(exc).__name__}") from exc
                    await self._discard(conn, exc)
        raise AssertionError("unreachable: the second attempt returns or raises")

    def tenant(self, tenant_id: str, user_id: str | None = None):
        """A transaction scoped to ``tenant_id`` (and ``user_id``) for RLS."""
        tenant = _uuid_text(tenant_id, "tenant_id")
        user = _uuid_text(user_id, "user_id") if user_id is not None else ""
        # Both values are canonical UUID text (hex and dashes only), so they can be literals here.
        return self._transaction(
            f"select set_config('app.tenant_id', '{tenant}', true), set_config('app.user_id', '{user}', true)"
        )

    def unscoped(self):
        """A transaction with no tenant set (tenant-owned tables show no rows). It clears the
        settings explicitly, so even a session-level value set by mistake cannot leak in."""
        return self._transaction("select set_config('app.tenant_id', '', true), set_config('app.user_id', '', true)")

    # --- checks -----------------------------------------------------------------------------
    async def ping(self) -> None:
        async with self.unscoped() as conn:
            await conn.fetchval("select 1")

    async def role_problems(self) -> list[str]:
        """Why the connected role could see across tenants (empty list = safe)."""
        async with self.unscoped() as conn:
            row = await conn.fetchrow(
                "select current_user as name, rolsuper, rolbypassrls from pg_roles where rolname = current_user"
            )
            owned = await conn.fetchval(
                "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                "where n.nspname = 'public' and c.relkind = 'r' and c.relrowsecurity "
                "and pg_get_userbyid(c.relowner) = current_user"
            )
        problems = []
        if row["rolsuper"]:
            problems.append(f"role {row['name']} is a superuser (bypasses row-level security)")
        if row["rolbypassrls"]:
            problems.append(f"role {row['name']} has BYPASSRLS")
        if owned:
            problems.append(f"role {row['name']} owns {owned} tenant table(s) (owners can disable RLS)")
        return problems

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            try:
                await asyncio.wait_for(pool.close(), timeout=10)
            except asyncio.TimeoutError:
                pool.terminate()
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                await asyncio.wait_for(conn.close(), timeout=5)
            except (asyncio.TimeoutError, *STALE_ERRORS):
                conn.terminate()


async def _start(conn: asyncpg.Connection, tx: Any, prelude: str) -> None:
    """Start ``tx`` and run ``prelude`` in ONE round trip (``BEGIN; <prelude>`` as a simple query).

    asyncpg's ``Transaction.start`` sends ``BEGIN`` alone; a request's tenant transaction would then
    cost an extra round trip. We send both, then mark ``tx`` started exactly as ``start()`` would,
    so ``commit``/``rollback`` and nested ``conn.transaction()`` blocks (savepoints) work unchanged.
    If asyncpg's internals ever differ, fall back to the two-step start."""
    real = getattr(tx, "_connection", None)
    if (
        real is None
        or not hasattr(real, "_top_xact")
        or getattr(tx, "_state", None) is not TransactionState.NEW
        or real._top_xact is not None
        or conn.is_in_transaction()
    ):
        await tx.start()
        await conn.execute(prelude)
        return
    try:
        await conn.execute(f"begin; {prelude}")
    except BaseException:
        if not conn.is_closed() and conn.is_in_transaction():
            await conn.execute("rollback")  # BEGIN ran, the prelude failed: leave no open transaction
        raise
    real._top_xact = tx
    tx._state = TransactionState.STARTED


async def _release_without_round_trip(conn: asyncpg.Connection) -> None:
    """Pool reset hook. asyncpg always rolls back an unfinished transaction first; its default reset
    then runs ``RESET ALL; UNLISTEN *; …`` — a round trip on every release. The runtime keeps no
    session state (tenant settings are transaction-local, and ``unscoped()`` clears them too), so
    that query is skipped. Code that needs session state (LISTEN, advisory locks) must use its own
    connection, not the pool."""


async def connect_admin(settings: Settings) -> asyncpg.Connection:
    """A connection as the owner (``UNAMENTIS_DATABASE_ADMIN_URL``), for migrate and the admin CLI."""
    return await asyncpg.connect(settings.require_admin_url(), timeout=settings.db_connect_timeout)


_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


def partial_update(
    table: str,
    changes: Mapping[str, Any],
    *,
    columns: Collection[str],
    where: str,
    where_args: Sequence[Any] = (),
    returning: str | None = None,
    casts: Mapping[str, str] | None = None,
    alias: str | None = None,
) -> tuple[str, list[Any]]:
    """The statement and arguments of a partial update: only the columns in ``changes`` are set.

    ``partial_update("kb_packs", {"name": "X"}, columns=PACK_EDITABLE, where="id = $1", where_args=[pack_id])``
    gives ``update "kb_packs" set "name" = $2, updated_at = now() where id = $1`` and ``[pack_id, "X"]``.

    Column names come from a request's keys, so each must be in ``columns`` (ValueError otherwise)
    and is quoted; every value is a parameter, numbered after ``where_args`` (which ``where`` refers
    to as $1, $2, …). ``casts`` adds a cast to a column's parameter (``{"settings": "jsonb"}``).
    ``where`` and ``returning`` are SQL written in the calling store, never input. The row's
    ``updated_at`` is always set to now()."""
    if not changes:
        raise ValueError("partial_update needs at least one change")
    for name in (table, alias or "x", *(casts or {}).values()):
        if not _IDENTIFIER.match(name):
            raise ValueError(f"not a plain SQL identifier: {name!r}")
    unknown = [name for name in changes if name not in columns or not _IDENTIFIER.match(name)]
    if unknown:
        raise ValueError(f"{table}: these columns cannot be updated: {', '.join(map(str, unknown))}")
    args = list(where_args)
    sets = []
    for name, value in changes.items():
        args.append(value)
        cast = (casts or {}).get(name)
        sets.append(f'"{name}" = ${len(args)}' + (f"::{cast}" if cast else ""))
    target = f'"{table}"' + (f" {alias}" if alias else "")
    sql = f"update {target} set {', '.join(sets)}, updated_at = now() where {where}"
    if returning:
        sql += f" returning {returning}"
    return sql, args
