"""``python -m runtime …``: serve, migrate, admin, dev.

  serve [--host 0.0.0.0] [--port 8766] [--services a,b]   every service (or those listed) under uvicorn
                                           (+ the console listener when UNAMENTIS_CONSOLE_PORT is set)
  secrets init <env file>                  a self-hosting env file with fresh random secrets (mode 0600)
  migrate [--check]                        apply pending SQL migrations as the owner
  admin tenant create <slug> [--name N]    create a tenant (owner connection)
  admin tenant list
  admin token issue|revoke, admin user promote   (runtime/auth/cli.py)
  dev [--host 127.0.0.1] [--port 8766]     local everything: a database (DATABASE_URL or a throwaway
                                           cluster), migrations, a `dev` tenant, a beta token, serve

Errors a user can fix (missing settings, a taken slug, an unreachable database) print one line on
stderr and exit with status 2; no traceback.
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import secrets
import signal
import socket
import sys
from typing import Any, Awaitable, Callable, Sequence

import asyncpg
import uvicorn

from runtime import selfhost_secrets
from runtime.app import ServiceApp, create_app
from runtime.auth import cli as auth_cli
from runtime.auth.store import issue_beta_token
from runtime.console import serve as console_serve
from runtime.db import Database, DatabaseUnavailable, connect_admin
from runtime.errors import CliError
from runtime.http_server import uvicorn_options
from runtime.isolation import enforce_isolation
from runtime.localpg import LocalPostgres, LocalPostgresError
from runtime.logging import configure_logging
from runtime.migrate import MigrationError, migrate, pending
from runtime.settings import ConfigError, Settings
from runtime.tenants import TenantError, create_tenant

DEFAULT_PORT = 8766
OPEN_TENANT_DEFAULT = Settings.open_tenant  # the declared default of UNAMENTIS_OPEN_TENANT

Command = Callable[[argparse.Namespace, Settings], Awaitable[int]]


def _out(message: str) -> None:
    print(message, flush=True)


# --------------------------------------------------------------------------------------- serve
def tune_gc() -> None:
    """For a long-running server: everything loaded so far lives as long as the process, so move
    it out of the cyclic GC's generations (collections then walk only request garbage), and collect
    the youngest generation less often (requests make few reference cycles). Halves the p99."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


def serve_app(app: ServiceApp, host: str, port: int, settings: Settings) -> None:
    configure_logging(settings.log_level, buffered=True)
    tune_gc()
    config = uvicorn.Config(
        app.served(),  # the plain ASGI 3 entry: one coroutine fewer per request
        interface="asgi3",
        host=host,
        port=port,
        log_config=None,  # our JSON logging; uvicorn's access log is replaced by ours (no query strings)
        access_log=False,
        proxy_headers=False,  # the client IP comes from CF-Connecting-IP after the origin check
        server_header=False,
        ws_per_message_deflate=False,  # binary PCM does not compress; deflate only costs CPU
        ws_ping_interval=20.0,
        timeout_graceful_shutdown=90,  # within Fargate Spot's two-minute notice
        **uvicorn_options(settings),
    )
    if settings.console_port is not None and settings.console_port == port:
        raise ConfigError(f"UNAMENTIS_CONSOLE_PORT={port} must differ from the serving port")
    console_serve.run(config, settings.console_port, settings.console_host)


async def _preflight(settings: Settings) -> None:
    """Before serving: the database answers and its role keeps tenants apart (else exit 2)."""
    db = Database(settings.with_overrides(db_mode="single"))
    try:
        await db.ping()
        await enforce_isolation(db, settings)
    finally:
        await db.close()


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    settings.require_database_url()
    asyncio.run(_preflight(settings))
    services = ([name.strip() for name in args.services.split(",") if name.strip()] if args.services is not None
                else list(settings.services)) or None
    host = args.host if args.host is not None else settings.host
    port = args.port if args.port is not None else settings.port
    serve_app(create_app(services, settings), host, port, settings)
    return 0


def cmd_secrets_init(args: argparse.Namespace, settings: Settings) -> int:
    _out(f"wrote {selfhost_secrets.init(args.path)} (mode 0600)")
    return 0


# ------------------------------------------------------------------------------------- migrate
async def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    if args.check:
        waiting = await pending(settings)
        for name in waiting:
            _out(f"pending {name}")
        _out("up to date" if not waiting else f"{len(waiting)} pending")
        return 1 if waiting else 0
    applied = await migrate(settings, echo=_out)
    _out(f"{len(applied)} migration(s) applied; role {settings.app_role} granted")
    return 0


# --------------------------------------------------------------------------------------- admin
async def cmd_tenant_create(args: argparse.Namespace, settings: Settings) -> int:
    conn = await connect_admin(settings)
    try:
        tenant_id = await create_tenant(conn, args.slug, args.name)
    finally:
        await conn.close()
    _out(f"tenant {args.slug} created")
    _out(str(tenant_id))
    return 0


async def cmd_tenant_list(args: argparse.Namespace, settings: Settings) -> int:
    conn = await connect_admin(settings)
    try:
        rows = await conn.fetch("select id, slug, name, status, created_at from tenants order by created_at, slug")
    finally:
        await conn.close()
    for row in rows:
        _out(f"{row['id']}  {row['slug']:<24} {row['status']:<9} {row['name']}")
    return 0


# ----------------------------------------------------------------------------------------- dev
def dev_settings(settings: Settings, tenant_slug: str) -> Settings:
    """``dev``'s settings: with ``UNAMENTIS_CLIENT_AUTH=open`` and ``UNAMENTIS_OPEN_TENANT`` left at its
    default, the open tenant is the tenant ``dev`` creates, so a LAN app without a token just works."""
    if settings.client_auth == "open" and settings.open_tenant == OPEN_TENANT_DEFAULT:
        return settings.with_overrides(open_tenant=tenant_slug)
    return settings


async def _dev_prepare(settings: Settings, tenant_slug: str) -> tuple[Settings, str]:
    """Migrate, ensure the tenant, issue a beta token; returns (settings, token)."""
    await migrate(settings, echo=lambda message: _out(f"  {message}"))
    conn = await connect_admin(settings)
    try:
        tenant_id = await create_tenant(conn, tenant_slug, "Development", exist_ok=True)
        _token_id, token = await issue_beta_token(conn, tenant_id, "dev", created_by="dev")
    finally:
        await conn.close()
    return settings, token


async def _create_database(admin_dsn: str, name: str) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'create database "{name}"')
    finally:
        await conn.close()


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def require_free_port(host: str, port: int) -> None:
    """CliError when ``host:port`` cannot be bound, before anything is printed or started."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no conflict
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise CliError(f"cannot listen on {host}:{port} ({exc.strerror}); is another server running there? "
                           f"Choose another port with --port, e.g. --port {port + 1}") from None


def cmd_dev(args: argparse.Namespace, settings: Settings) -> int:
    require_free_port(args.host, args.port)
    # uvicorn re-raises SIGTERM after its graceful shutdown; as SystemExit it still runs the
    # `finally` below, so the throwaway cluster is stopped and deleted.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    cluster = None
    try:
        if settings.database_url:
            _out("using DATABASE_URL")
        else:
            _out("no DATABASE_URL: starting a throwaway PostgreSQL cluster …")
            cluster = LocalPostgres.start()
            asyncio.run(_create_database(cluster.dsn(), "unamentis"))
            password = secrets.token_urlsafe(18)
            settings = settings.with_overrides(
                database_admin_url=cluster.dsn("unamentis"),
                database_url=cluster.dsn("unamentis", settings.app_role, password),
                app_role_password=password,
            )
            _out(f"  PostgreSQL {cluster.bindir.parent.name} on 127.0.0.1:{cluster.port}, data in {cluster.root} (deleted on exit)")
        settings = dev_settings(settings, args.tenant)
        settings, token = asyncio.run(_dev_prepare(settings, args.tenant))
        url = f"http://{'127.0.0.1' if args.host in ('0.0.0.0', '::') else args.host}:{args.port}"
        _out("")
        _out(f"UnaMentis runtime (dev): {url}")
        _out(f"  health:  curl {url}/health")
        _out(f"  api:     curl -H 'Authorization: Bearer <token>' {url}/api/curricula")
        _out(f"  admin:   UNAMENTIS_DATABASE_ADMIN_URL='{settings.require_admin_url()}' python -m runtime admin tenant list")
        if settings.client_auth == "open":
            _out(f"  client auth is OPEN: requests without a token act as tenant '{settings.open_tenant}' (LAN only)")
        _out(f"beta token for tenant '{args.tenant}' (shown once):")
        _out(token)
        serve_app(create_app(None, settings), args.host, args.port, settings)
    finally:
        if cluster is not None:
            cluster.stop()
    return 0


# ------------------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m runtime", description="UnaMentis runtime")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve every route with uvicorn")
    serve.add_argument("--host", default=None, help="address to bind (default: UNAMENTIS_HOST, else 0.0.0.0)")
    serve.add_argument("--port", type=int, default=None, help=f"port (default: PORT, else {DEFAULT_PORT})")
    serve.add_argument("--services", default=None,
                       help="comma-separated services to serve (default: all; env UNAMENTIS_SERVICES)")
    serve.set_defaults(func=cmd_serve)

    sec = sub.add_parser("secrets", help="self-hosting secrets")
    sec_init = sec.add_subparsers(dest="secrets_command", required=True).add_parser(
        "init", help="write an env file with fresh random secrets (never overwrites)")
    sec_init.add_argument("path", help="e.g. deploy/compose/.env")
    sec_init.set_defaults(func=cmd_secrets_init)

    mig = sub.add_parser("migrate", help="apply pending SQL migrations (as the owner)")
    mig.add_argument("--check", action="store_true", help="only list pending migrations (exit 1 if any)")
    mig.set_defaults(func=cmd_migrate)

    admin = sub.add_parser("admin", help="administration")
    admin_sub = admin.add_subparsers(dest="admin_command", required=True)
    tenant = admin_sub.add_parser("tenant", help="tenants")
    tenant_sub = tenant.add_subparsers(dest="tenant_command", required=True)
    create = tenant_sub.add_parser("create", help="create a tenant")
    create.add_argument("slug")
    create.add_argument("--name", default=None, help="display name (default: the slug)")
    create.set_defaults(func=cmd_tenant_create)
    tenant_sub.add_parser("list", help="list tenants").set_defaults(func=cmd_tenant_list)
    add_auth_commands(admin_sub)

    dev = sub.add_parser("dev", help="run everything locally for development")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=DEFAULT_PORT)
    dev.add_argument("--tenant", default="dev", help="tenant slug to create (default: dev)")
    dev.set_defaults(func=cmd_dev)
    return parser


def add_auth_commands(admin_sub: Any) -> None:
    """`admin token issue|revoke`, `admin user promote` live in runtime/auth/cli.py."""
    auth_cli.add_commands(admin_sub)


def _user_errors() -> tuple[type[BaseException], ...]:
    return (
        CliError,
        ConfigError,
        TenantError,
        MigrationError,
        DatabaseUnavailable,
        LocalPostgresError,
        asyncpg.PostgresError,
        OSError,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        result = args.func(args, settings)
        if asyncio.iscoroutine(result):
            result = asyncio.run(result)
        return int(result or 0)
    except KeyboardInterrupt:
        return 130
    except _user_errors() as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
