"""``create_app``: the one factory for the container (all services) and each Lambda (one service).

Service modules are mapped explicitly below and imported only when asked for, so a Lambda imports
only its own service. The health service (``/health``, ``/api/health``, ``/api/openapi.json``) is
always mounted.
"""
from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from typing import AsyncIterator, Sequence

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from runtime.context import AppContext
from runtime.db import DatabaseUnavailable
from runtime.errors import ApiError, internal_error, standard_error
from runtime.isolation import IsolationError, enforce_isolation
from runtime.memory import trim_every
from runtime.middleware.auth import AuthMiddleware
from runtime.middleware.errors import database_unavailable
from runtime.middleware.request import RequestMiddleware
from runtime.route_table import ALL_SERVICES
from runtime.routing import IndexedRouter
from runtime.service import Service
from runtime.settings import ConfigError, Settings, voice_settings

log = logging.getLogger("unamentis.app")

# Service name → module exporting SERVICE. Explicit so a typo fails loudly and Lambdas import little.
SERVICE_MODULES: dict[str, str] = {
    "health": "runtime.health",
    "auth": "runtime.accounts.routes",
    "curricula": "runtime.curricula.routes",
    "kb": "runtime.kb.routes",
    "sessions": "runtime.sessions.routes",
    "telemetry": "runtime.telemetry.routes",
    "models": "runtime.models.routes",
    "admin": "runtime.admin.routes",
    "voice": "runtime.voice.service",
    "ops": "runtime.ops.routes",
    "media": "runtime.media.service",
}


def load_service(name: str) -> Service:
    module_path = SERVICE_MODULES.get(name)
    if module_path is None:
        raise ConfigError(f"unknown service {name!r}; known: {', '.join(SERVICE_MODULES)}")
    service = importlib.import_module(module_path).SERVICE
    if not isinstance(service, Service) or service.name != name:
        raise ConfigError(f"{module_path}.SERVICE must be Service(name={name!r}, ...)")
    return service


def _api_error_handler(envelope_prefixes: tuple[str, ...]):
    """Render ApiErrors; under the mounted services' ``envelope_prefixes`` (Knowledge Bowl, import
    jobs, TTS profiles: clients of the old API) the answer also carries ``"success": false``."""

    async def _api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return exc.to_response(envelope=request.scope["path"].startswith(envelope_prefixes))

    return _api_error


async def _http_error(request: Request, exc: Exception) -> Response:
    # The router's 404/405 and any HTTPException a route raises, in the error format.
    assert isinstance(exc, HTTPException)
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail not in ("Not Found", "Method Not Allowed") else None
    return standard_error(exc.status_code, detail, headers=exc.headers).to_response()


async def _db_error(request: Request, exc: Exception) -> Response:
    log.error("database unavailable: %s", exc)
    return database_unavailable().to_response()


async def _server_error(request: Request, exc: Exception) -> Response:
    # Reached only if the outermost middleware itself failed; RequestMiddleware logs otherwise.
    return internal_error().to_response()


def create_app(services: Sequence[str | Service] | None = None, settings: Settings | None = None) -> Starlette:
    """A Starlette app serving ``services`` (``None``: every service, i.e. the container).

    Items are service names (``SERVICE_MODULES``) or, for tests and embedding, ``Service`` objects."""
    settings = settings or Settings.from_env()
    wanted = list(ALL_SERVICES if services is None else services)
    if not any((item if isinstance(item, str) else item.name) == "health" for item in wanted):
        wanted.insert(0, "health")
    loaded: list[Service] = []
    for item in wanted:
        service = load_service(item) if isinstance(item, str) else item
        if all(service.name != other.name for other in loaded):
            loaded.append(service)
    ctx = AppContext(
        settings,
        tuple(s.name for s in loaded),
        job_handlers={kind: handler for service in loaded for kind, handler in service.jobs.items()},
        job_settings=voice_settings(settings),
        deep_checks={s.name: s.deep_check for s in loaded if s.deep_check is not None},
        drain_probes=[s.draining for s in loaded if s.draining is not None],
    )
    routes = [route for service in loaded for route in service.routes]
    public_paths = [path for service in loaded for path in service.public_paths]
    public_prefixes = [prefix for service in loaded for prefix in service.public_prefixes]
    envelope_prefixes = tuple(prefix for service in loaded for prefix in service.envelope_prefixes)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if settings.client_auth == "open":
            log.warning(
                "CLIENT AUTH IS OPEN: requests without a token act as tenant %r. Never use this on the internet.",
                settings.open_tenant,
            )
        await _check_runtime_role(ctx)
        started: list[Service] = []
        trimmer = asyncio.create_task(trim_every(settings.malloc_trim_seconds)) if settings.malloc_trim_seconds else None
        try:
            for service in loaded:
                if service.startup is not None:
                    await service.startup(ctx)
                started.append(service)
            yield
        finally:
            if trimmer is not None:
                trimmer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await trimmer
            for service in reversed(started):
                if service.shutdown is not None:
                    try:
                        await service.shutdown(ctx)
                    except Exception:
                        log.exception("shutdown of service %s failed", service.name)
            await ctx.aclose()

    app = Starlette(
        routes=routes,
        middleware=build_middleware(settings, public_paths, public_prefixes),
        exception_handlers={
            ApiError: _api_error_handler(envelope_prefixes),
            HTTPException: _http_error,
            DatabaseUnavailable: _db_error,
            Exception: _server_error,
        },
        lifespan=lifespan,
    )
    # Same routes and lifespan, matched through an index: Starlette's linear scan of the container's
    # ~150 routes measured ~30 % more server CPU per request (figures in runtime/routing.py).
    # Starlette takes no router class, so the router is replaced before the app serves anything.
    app.router = IndexedRouter(routes=routes, lifespan=lifespan)
    app.state.ctx = ctx
    return app


async def _check_runtime_role(ctx: AppContext) -> None:
    """At container start: refuse a DATABASE_URL role that could read across tenants (outside dev;
    runtime.isolation). An unreachable database does not stop the start: requests then answer 503
    until it is back (``serve`` itself checks the database before it starts the app)."""
    if not ctx.settings.database_url:
        return
    try:
        await enforce_isolation(ctx.db, ctx.settings)
    except IsolationError:
        raise
    except Exception as exc:  # an outage must not keep the service from starting
        log.warning("could not check the runtime database role at start: %s", type(exc).__name__)


def build_middleware(
    settings: Settings, public_paths: Sequence[str] = (), public_prefixes: Sequence[str] = ()
) -> list[Middleware]:
    """The pure-ASGI stack, outermost first (see ``runtime.middleware``)."""
    return [
        Middleware(RequestMiddleware, access_log=settings.access_log, origin_secret=settings.origin_secret,
                   cors_origins=settings.cors_origins, min_client_versions=settings.min_client_versions,
                   max_body_bytes=settings.max_body_bytes),
        Middleware(AuthMiddleware, public_paths=tuple(public_paths), public_prefixes=tuple(public_prefixes)),
    ]
