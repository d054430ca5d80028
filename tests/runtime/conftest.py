"""Shared fixtures of the runtime tests (real PostgreSQL on 127.0.0.1:5432, superuser, trust auth).

Fixtures (exact names):
  ``database``         a fresh database ``uma_test_<hex>``, migrated, with its own runtime role
                       ``uma_app_<hex>`` (LOGIN, not owner, no BYPASSRLS); dropped afterwards.
                       A ``TestDatabase``: ``.name``, ``.owner_dsn`` (superuser), ``.app_dsn``
                       (the runtime role), ``.app_role``; ``await .owner()`` / ``await .app()``
                       open asyncpg connections (the caller closes them).
  ``shared_database``  the same, created once per test module (tests must use their own tenants).
  ``settings``         ``Settings`` for ``database`` (override with ``settings.with_overrides(...)``).
  ``make_app``         ``make_app(services=None, database=None, **overrides) -> Starlette``.
  ``client``           an ``httpx.AsyncClient`` over ``ASGITransport`` for ``make_app()`` with its
                       lifespan run; ``make_client(app)`` is the async context manager behind it.
  ``tenant``           ``await tenant(slug=None, name="tester", database=None) -> (tenant_id, beta_token)``:
                       a new tenant plus a beta token issued by ``runtime.auth.store.issue_beta_token``.
  ``live_server``      ``live_server(app) -> LiveServer`` (uvicorn on a free loopback port in a
                       thread; ``.url``, ``.ws_url``; stopped at teardown).
  ``moto_endpoint``    the URL of a loopback S3/SQS/Auto Scaling/EC2-compatible server (moto), one per
                       test module.
Helpers for tests: import them as ``from tests.runtime.conftest import make_client, free_port,
APP_PASSWORD`` (several directories have a conftest.py, so a bare ``import conftest`` is ambiguous).
Environment: ``UNAMENTIS_TEST_PG`` overrides the server DSN (default postgresql://postgres@127.0.0.1:5432/postgres).
"""
from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import os
import random
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
import uvicorn

from runtime.app import create_app
from runtime.migrate import migrate
from runtime.settings import Settings

SERVER_DSN = os.environ.get("UNAMENTIS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
APP_PASSWORD = "uma-test-password"


def _dsn_for(database: str, user: str | None = None, password: str | None = None) -> str:
    parts = urlsplit(SERVER_DSN)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or 5432
    user = user or parts.username or "postgres"
    auth = f"{user}:{password}@" if password else f"{user}@"
    return urlunsplit((parts.scheme, f"{auth}{host}:{port}", f"/{database}", "", ""))


@dataclass
class TestDatabase:
    __test__ = False  # not a test class

    name: str
    owner_dsn: str
    app_dsn: str
    app_role: str

    def settings(self, **overrides: Any) -> Settings:
        base = Settings(
            database_url=self.app_dsn,
            database_admin_url=self.owner_dsn,
            app_role=self.app_role,
            app_role_password=APP_PASSWORD,
            db_pool_min=0,
            db_pool_max=5,
            environment="test",
            server_name="test",
        )
        return base.with_overrides(**overrides) if overrides else base

    async def owner(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.owner_dsn)

    async def app(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.app_dsn)


def need_server(url: str, what: str, default_port: int = 5432) -> None:
    """Fail the test with one line when the server behind ``url`` does not accept connections,
    instead of a connection error deep inside a fixture."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or default_port
    try:
        socket.create_connection((host, port), timeout=3).close()
    except OSError as exc:
        pytest.fail(f"{what} is not reachable at {host}:{port} ({exc.strerror or exc}); this test needs it running "
                    "(README \"Tests\")", pytrace=False)


async def _create_database() -> TestDatabase:
    need_server(SERVER_DSN, "PostgreSQL (UNAMENTIS_TEST_PG)")
    suffix = uuid.uuid4().hex[:12]
    name, role = f"uma_test_{suffix}", f"uma_app_{suffix}"
    server = await asyncpg.connect(SERVER_DSN)
    try:
        await server.execute(f'create database "{name}"')
    finally:
        await server.close()
    db = TestDatabase(
        name=name,
        owner_dsn=_dsn_for(name),
        app_dsn=_dsn_for(name, role, APP_PASSWORD),
        app_role=role,
    )
    try:
        await migrate(db.settings(), echo=lambda _message: None)
    except BaseException:
        await _drop_database(db)
        raise
    return db


async def _drop_database(db: TestDatabase) -> None:
    server = await asyncpg.connect(SERVER_DSN)
    try:
        await server.execute(f'drop database if exists "{db.name}" with (force)')
        await server.execute(f'drop role if exists "{db.app_role}"')
    finally:
        await server.close()


def _run(coro: Any) -> Any:
    """Run a coroutine to completion from sync code, even when a loop is already running
    (fixtures resolved lazily from inside an async test): then on a helper thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(coro)
        except BaseException as exc:  # re-raised in the caller's thread
            result["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


@contextlib.contextmanager
def _database_scope():
    # Sync fixtures: usable from sync and async tests of any scope.
    db = _run(_create_database())
    try:
        yield db
    finally:
        _run(_drop_database(db))


@pytest.fixture
def database():
    with _database_scope() as db:
        yield db


@pytest.fixture(scope="module")
def shared_database():
    with _database_scope() as db:
        yield db


@pytest.fixture(scope="module")
def moto_endpoint():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def settings(database: TestDatabase) -> Settings:
    return database.settings()


@pytest.fixture
def make_app(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """``make_app(services=None, database=None, **overrides)``; uses ``database`` unless given one."""

    def factory(services=None, database: TestDatabase | None = None, **overrides: Any):
        db = database or request.getfixturevalue("database")
        return create_app(services, db.settings(**overrides))

    return factory


@contextlib.asynccontextmanager
async def make_client(app: Any, *, base_url: str = "http://testserver", **kwargs: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An AsyncClient over ASGITransport with the app's lifespan run around it."""
    async with lifespan(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url=base_url, **kwargs) as client:
            yield client


async def rows_read(conn: Any, table: str) -> int:
    """Rows ``table`` has handed out in this connection's open transaction so far (scanned or
    fetched through an index): how a test sees whether a statement read a range or the table."""
    return await conn.fetchval("select coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) "
                               "from pg_stat_xact_user_tables where relname = $1", table)


@contextlib.asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    """Drive an ASGI app's lifespan protocol (ASGITransport does not)."""
    to_app: asyncio.Queue = asyncio.Queue()
    from_app: asyncio.Queue = asyncio.Queue()
    task = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, to_app.get, from_app.put))
    await to_app.put({"type": "lifespan.startup"})
    message = await from_app.get()
    if message["type"] != "lifespan.startup.complete":
        task.cancel()
        raise RuntimeError(f"lifespan startup failed: {message.get('message')}")
    try:
        yield
    finally:
        await to_app.put({"type": "lifespan.shutdown"})
        message = await from_app.get()
        await task
        if message["type"] != "lifespan.shutdown.complete":
            raise RuntimeError(f"lifespan shutdown failed: {message.get('message')}")


@pytest.fixture
async def client(make_app) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(make_app()) as c:
        yield c


@pytest.fixture
def tenant(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """``await tenant(slug=None, name="tester", database=None) -> (tenant_id, beta_token)``."""

    async def factory(slug: str | None = None, name: str = "tester", database: TestDatabase | None = None):
        from runtime.auth.store import issue_beta_token
        from runtime.tenants import create_tenant

        db = database or request.getfixturevalue("database")
        owner = await db.owner()
        try:
            tenant_id = await create_tenant(owner, slug or f"t-{uuid.uuid4().hex[:10]}")
        finally:
            await owner.close()
        conn = await db.app()
        try:
            _token_id, token = await issue_beta_token(conn, tenant_id, name)
        finally:
            await conn.close()
        return str(tenant_id), token

    return factory


_PORTS_PER_PROCESS = 1000
_port_offsets = itertools.count(random.randrange(_PORTS_PER_PROCESS))


def _ephemeral_low() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as ports:
            return int(ports.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default; macOS (49152) is above it


@functools.cache  # the worker and the kernel's range are fixed for the process
def _port_pool() -> range | None:
    """This process's own block of ports, just below the kernel's ephemeral range: the kernel never
    hands those out (bind to port 0, outgoing connections), and each pytest-xdist worker has its own
    block. None where the ephemeral range starts too low to leave room."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    top = _ephemeral_low() - index * _PORTS_PER_PROCESS
    if top - _PORTS_PER_PROCESS < 10000:
        return None
    return range(top - _PORTS_PER_PROCESS, top)


def free_port() -> int:
    """A loopback TCP port nothing listens on, for a server a test starts (or a URL nobody answers).

    The port is closed again when it is returned, so it must stay free until the server binds it: it
    comes from this process's own block (``_port_pool``), not from the kernel (port 0), which would
    hand the same port to another worker's socket or outgoing connection in the meantime. Successive
    calls in a process return different ports."""
    pool = _port_pool()
    for _ in range(len(pool) if pool else 0):
        port = pool[next(_port_offsets) % len(pool)]
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue  # taken by something else on this machine
            return port
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """uvicorn serving ``app`` on 127.0.0.1 in a background thread (its own event loop)."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        self.port = port or free_port()
        self.config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on", ws_ping_interval=None
        )
        self.server = uvicorn.Server(self.config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self) -> "LiveServer":
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("live server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


@pytest.fixture
def live_server():
    servers: list[LiveServer] = []

    def factory(app: Any, port: int | None = None) -> LiveServer:
        server = LiveServer(app, port).start()
        servers.append(server)
        return server

    yield factory
    for server in servers:
        server.stop()
