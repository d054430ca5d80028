"""The application context: everything a request may need, hung off ``app.state.ctx``.

No module-level globals hold connections or clients: two apps in one process (tests, benchmarks)
stay independent. Collaborators are created lazily on first use so a Lambda that never touches
object storage never imports aiobotocore, and a health check never opens a database connection.

Owners add their collaborators here as lazily-created attributes with small edits (CT: ``storage``,
VC: ``jobs`` and ``events``); each must be closed in ``aclose``.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from starlette.requests import HTTPConnection

from runtime.settings import Settings

if TYPE_CHECKING:
    import httpx

    from runtime.db import Database

# Scope keys the middleware sets (read through the helpers below, never by string elsewhere).
REQUEST_ID_KEY = "unamentis.request_id"
CLIENT_IP_KEY = "unamentis.client_ip"
CLIENT_KEY = "unamentis.client"
# Headers inner middleware want on the response; the outermost layer adds them when it starts.
RESPONSE_HEADERS_KEY = "unamentis.response_headers"
RESPONSE_STARTED_KEY = "unamentis.response_started"


class AppContext:
    """Per-app collaborators; created by ``create_app`` and closed by its lifespan."""

    def __init__(self, settings: Settings, services: tuple[str, ...] = ()) -> None:
        self.settings = settings
        self.services = services
        self.started_at = time.time()
        self._db: Database | None = None
        self._auth: Any = None
        self._limiter: Any = None
        self._metering: Any = None
        self._http: httpx.AsyncClient | None = None
        self._storage: Any = None

    # --- database ---------------------------------------------------------------------------
    @property
    def db(self) -> "Database":
        if self._db is None:
            from runtime.db import Database

            self._db = Database(self.settings)
        return self._db

    # --- auth, limits, money (RA's modules) ---------------------------------------------------
    @property
    def auth(self) -> Any:
        """``runtime.auth.authenticator.Authenticator``: ``client(token)`` and ``admin(headers)``."""
        if self._auth is None:
            from runtime.auth.authenticator import Authenticator

            self._auth = Authenticator(self)
        return self._auth

    @property
    def limiter(self) -> Any:
        """``runtime.limits``' limiter: ``await hit(key, RateLimit)``."""
        if self._limiter is None:
            from runtime.limits import create_limiter

            self._limiter = create_limiter(self)
        return self._limiter

    @property
    def metering(self) -> Any:
        """``runtime.metering.Metering``: reserve / settle / release."""
        if self._metering is None:
            from runtime.metering import Metering

            self._metering = Metering(self)
        return self._metering

    # --- object storage (CT) -----------------------------------------------------------------
    @property
    def storage(self) -> Any:
        """``runtime.storage.ObjectStore`` (filesystem or S3/R2/MinIO); no I/O until first use."""
        if self._storage is None:
            from runtime.storage import open_store

            self._storage = open_store(self.settings.storage)
        return self._storage

    # --- jobs and events (VC) -------------------------------------------------------------------
    @property
    def jobs(self) -> Any:
        """``runtime.jobs.queue.JobQueue``: enqueue / status / cancel (PostgreSQL or SQS backend)."""
        if getattr(self, "_jobs", None) is None:
            from runtime.jobs.queue import create_queue

            self._jobs = create_queue(self)
        return self._jobs

    @property
    def events(self) -> Any:
        """``runtime.events.EventBus``: ``publish(type, data)`` to every task's ``/ws`` clients."""
        if getattr(self, "_events", None) is None:
            from runtime.events import EventBus

            self._events = EventBus(self)
        return self._events

    # --- outbound HTTP ------------------------------------------------------------------------
    @property
    def http(self) -> "httpx.AsyncClient":
        """One pooled client per app for calls to providers, JWKS, GPU nodes."""
        if self._http is None:
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
        for name in ("_jobs", "_events"):  # VC: workers and listeners stop before what they use
            obj = getattr(self, name, None)
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
