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
from typing import Any, AsyncIterator, Awaitable, Sequence

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from runtime.context import AppContext
from runtime.db import DatabaseUnavailable
from runtime.errors import ApiError
from runtime.isolation import IsolationError, enforce_isolation
from runtime.memory import trim_every
from runtime.middleware.auth import AuthMiddleware
from runtime.middleware.errors import error_response
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


def _websocket_error_handler(envelope_prefixes: tuple[str, ...]):
    """A WebSocket handshake's ApiError, HTTPException or database outage, answered as an HTTP
    request's would be (``runtime.middleware.errors.error_response``). HTTP requests never reach these handlers:
    the request layer answers their exceptions."""

    async def _websocket_error(conn: HTTPConnection, exc: Exception) -> Response:
        return error_response(exc, conn.scope, envelope_prefixes)

    return _websocket_error


class ServiceApp(Starlette):
    """Starlette, with the request layer as the one exception layer of an HTTP request.

    Starlette puts three around each request: ``ServerErrorMiddleware`` outside the app's
    middleware, ``ExceptionMiddleware`` inside it, and the same again around each function route.
    Each keeps a coroutine in the chain that every resumption of the request walks through and
    wraps ``send`` in one more coroutine per response message; and each only repeats what the
    request layer does outside them all (``runtime.middleware.request``, step 4): an exception
    from anything below it is answered in the error format, or the connection is dropped once the
    response has started. So an HTTP request goes from the app's middleware to the router, and a
    function route's endpoint runs directly (``runtime.routing.endpoint_app``): measured on the
    curricula list under load, about 20 µs less server CPU per request (README "Runtime:
    benchmarks"). WebSocket handshakes keep Starlette's ``ExceptionMiddleware`` and handlers.

    The app's middleware must begin with ``RequestMiddleware`` (``build_middleware``), which the
    constructor checks: without it nothing would answer an HTTP request's exception."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.user_middleware or self.user_middleware[0].cls is not RequestMiddleware:
            raise TypeError("ServiceApp's middleware must begin with RequestMiddleware (runtime.app.build_middleware)")

    def served(self) -> ASGIApp:
        """This app as the server should call it: a plain ASGI 3 callable that sets ``scope["app"]``
        and returns the middleware's coroutine, where Starlette's ``__call__`` is a coroutine of its
        own that does the same and awaits it (one more in the chain every resumption of a request
        walks through). The middleware is built now, so none can be added after. A server that
        tells ASGI 3 apps by ``async def`` must be told (uvicorn: ``interface="asgi3"``)."""
        if self.middleware_stack is None:
            self.middleware_stack = self.build_middleware_stack()
        stack = self.middleware_stack

        def app(scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
            scope["app"] = self
            return stack(scope, receive, send)

        return app

    def build_middleware_stack(self) -> ASGIApp:
        handlers = {key: value for key, value in self.exception_handlers.items() if key not in (500, Exception)}
        app: ASGIApp = _ByScopeType(http=self.router, other=ExceptionMiddleware(self.router, handlers=handlers))
        for cls, args, kwargs in reversed(self.user_middleware):
            app = cls(app, *args, **kwargs)
        return app


class _ByScopeType:
    """HTTP to one app, WebSocket and lifespan to another; returns the app's coroutine unawaited,
    so it adds none of its own to a request's chain."""

    def __init__(self, *, http: ASGIApp, other: ASGIApp) -> None:
        self.http = http
        self.other = other

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        return (self.http if scope["type"] == "http" else self.other)(scope, receive, send)


def create_app(services: Sequence[str | Service] | None = None, settings: Settings | None = None) -> ServiceApp:
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

    websocket_error = _websocket_error_handler(envelope_prefixes)
    app = ServiceApp(
        routes=routes,
        middleware=build_middleware(settings, public_paths, public_prefixes, envelope_prefixes),
        exception_handlers={ApiError: websocket_error, HTTPException: websocket_error, DatabaseUnavailable: websocket_error},
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
    settings: Settings, public_paths: Sequence[str] = (), public_prefixes: Sequence[str] = (),
    envelope_prefixes: Sequence[str] = (),
) -> list[Middleware]:
    """The pure-ASGI stack, outermost first (see ``runtime.middleware``)."""
    return [
        Middleware(RequestMiddleware, access_log=settings.access_log, origin_secret=settings.origin_secret,
                   cors_origins=settings.cors_origins, min_client_versions=settings.min_client_versions,
                   max_body_bytes=settings.max_body_bytes, envelope_prefixes=tuple(envelope_prefixes)),
        Middleware(AuthMiddleware, public_paths=tuple(public_paths), public_prefixes=tuple(public_prefixes)),
    ]
