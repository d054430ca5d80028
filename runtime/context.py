"""The application context: everything a request may need, hung off ``app.state.ctx``.

No module-level globals hold connections or clients: two apps in one process (tests, benchmarks)
stay independent. Collaborators are created on first use so a Lambda that never touches object
storage never opens it, and a health check never opens a database connection.

This module sits above the collaborators it builds (database, auth, limits, metering, storage,
jobs, events) and hands each only what it needs; none of them imports it. Route modules and
middleware reach it through ``ctx(request)``. Each collaborator is closed in ``aclose``.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Mapping, Sequence, TypeVar

from starlette.requests import HTTPConnection

from runtime.auth.authenticator import Authenticator
from runtime.db import Database
from runtime.events import EventBus
from runtime.jobs.queue import Handler, JobQueue, PostgresTransport
from runtime.jobs.sqs import SqsTransport
from runtime.limits import Limiter, create_limiter
from runtime.metering import Metering
from runtime.settings import Settings
from runtime.storage import ObjectStore, open_store

if TYPE_CHECKING:
    import httpx

# Scope keys the middleware sets (read through the helpers below, never by string elsewhere).
REQUEST_ID_KEY = "unamentis.request_id"
CLIENT_IP_KEY = "unamentis.client_ip"
CLIENT_KEY = "unamentis.client"
# The request's first Authorization value (None without one), read in the request layer's header scan.
AUTHORIZATION_KEY = "unamentis.authorization"
# Set only by the console listener (runtime.console.entry): which socket accepted the request.
CONSOLE_ENTRY_KEY = "unamentis.console_entry"
# Headers inner middleware want on the response; the outermost layer adds them when it starts.
RESPONSE_HEADERS_KEY = "unamentis.response_headers"

DeepCheck = Callable[["AppContext"], Awaitable[dict]]
DrainProbe = Callable[["AppContext"], bool]
T = TypeVar("T")


class AppContext:
    """Per-app collaborators; created by ``create_app`` and closed by its lifespan.

    ``create_app`` passes what the mounted services contribute: their job handlers (the queue runs
    only those), the job settings, their deep health checks and drain probes."""

    def __init__(
        self,
        settings: Settings,
        services: tuple[str, ...] = (),
        *,
        job_handlers: Mapping[str, Handler] | None = None,
        job_settings: Any = None,
        deep_checks: Mapping[str, DeepCheck] | None = None,
        drain_probes: Sequence[DrainProbe] = (),
    ) -> None:
        self.settings = settings
        self.services = services
        self.started_at = time.time()
        self.job_handlers = dict(job_handlers or {})
        self.job_settings = job_settings
        self.deep_checks = dict(deep_checks or {})
        self.drain_probes = tuple(drain_probes)
        # Objects a service builds once per app on first use (``extension``), by the service's name
        # for them (the voice core, the OpenAPI document); closed by their service's shutdown, not here.
        self.extensions: dict[str, Any] = {}
        self._db: Database | None = None
        self._auth: Authenticator | None = None
        self._limiter: Limiter | None = None
        self._metering: Metering | None = None
        self._http: httpx.AsyncClient | None = None
        self._storage: ObjectStore | None = None
        self._jobs: JobQueue | None = None
        self._events: EventBus | None = None

    def extension(self, name: str, build: Callable[[], T]) -> T:
        """The object a service keeps once per app under ``name``, built by ``build()`` on first use."""
        found = self.extensions.get(name)
        if found is None:
            found = self.extensions[name] = build()
        return found

    # --- database ---------------------------------------------------------------------------
    @property
    def db(self) -> Database:
        if self._db is None:
            self._db = Database(self.settings)
        return self._db

    # --- auth, limits, money ------------------------------------------------------------------
    @property
    def auth(self) -> Authenticator:
        """``client(token)``, ``admin(headers)``, ``open_principal()``."""
        if self._auth is None:
            self._auth = Authenticator(self.settings, self.db, lambda: self.http)
        return self._auth

    @property
    def limiter(self) -> Limiter:
        """``await hit(key, RateLimit)`` against the shared buckets (PostgreSQL or Redis)."""
        if self._limiter is None:
            self._limiter = create_limiter(self.settings, self.db)
        return self._limiter

    @property
    def metering(self) -> Metering:
        """Paid calls: reserve / settle / release against the budgets."""
        if self._metering is None:
            self._metering = Metering(self.settings, self.db)
        return self._metering

    # --- object storage -----------------------------------------------------------------------
    @property
    def storage(self) -> ObjectStore:
        """Filesystem or S3/R2/MinIO; no I/O until first use."""
        if self._storage is None:
            self._storage = open_store(self.settings.storage)
        return self._storage

    # --- jobs and events ----------------------------------------------------------------------
    @property
    def jobs(self) -> JobQueue:
        """enqueue / status / cancel, and the workers (PostgreSQL or SQS transport)."""
        if self._jobs is None:
            vs = self.job_settings or self.settings.voice
            if vs is None:
                raise RuntimeError("the job queue needs job settings: create the app with create_app")
            transport = SqsTransport(vs) if vs.sqs_queue_url else PostgresTransport()
            self._jobs = JobQueue(self, transport, self.job_handlers, vs)
        return self._jobs

    @property
    def events(self) -> EventBus:
        """``publish(type, data)`` to every task's ``/ws`` clients."""
        if self._events is None:
            self._events = EventBus(self.settings, self.db)
        return self._events

    # --- outbound HTTP ------------------------------------------------------------------------
    @property
    def http(self) -> "httpx.AsyncClient":
        """One pooled client per app for calls to providers, JWKS, GPU nodes."""
        if self._http is None:
            # Imported here: most Lambdas never call out, and httpx adds to their cold start.
            import httpx

            self._http = httpx.AsyncClient(
                timeout=httpx.Timeout(10.0, connect=3.0),
                follow_redirects=False,
                headers={"User-Agent": f"unamentis-runtime/{self.settings.version}"},
            )
        return self._http

    # --- lifecycle ------------------------------------------------------------------------------
    async def aclose(self) -> None:
        """Close whatever was opened, in reverse order of dependence; safe to call twice."""
        for name in ("_jobs", "_events"):  # workers and listeners stop before what they use
            obj = getattr(self, name)
            if obj is not None:
                await obj.aclose()
            setattr(self, name, None)
        for name in ("_metering", "_limiter", "_auth", "_storage"):
            obj = getattr(self, name)
            closer = getattr(obj, "aclose", None)
            if closer is not None:
                await closer()
            setattr(self, name, None)
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        if self._db is not None:
            await self._db.close()
            self._db = None


def ctx(conn: HTTPConnection | Any) -> AppContext:
    """The AppContext of the app serving ``conn`` (a Request or WebSocket)."""
    return conn.scope["app"].state.ctx


def request_id(conn: HTTPConnection) -> str | None:
    return conn.scope.get(REQUEST_ID_KEY)


def client_ip(conn: HTTPConnection) -> str:
    """The caller's IP: CF-Connecting-IP only when the origin secret was verified, else the peer."""
    ip = conn.scope.get(CLIENT_IP_KEY)
    if ip:
        return ip
    client = conn.scope.get("client")
    return client[0] if client else "unknown"


def client_info(conn: HTTPConnection) -> dict[str, str | None]:
    """The client headers (platform normalised to lower case): platform, version, id, name, device_id."""
    info = conn.scope.get(CLIENT_KEY)
    if info is None:
        headers = conn.headers
        platform = headers.get("x-client-platform")
        info = {
            "platform": platform.strip().lower() if platform else None,
            "version": headers.get("x-client-version"),
            "id": headers.get("x-client-id"),
            "name": headers.get("x-client-name"),
            "device_id": headers.get("x-device-id"),
        }
    return info
