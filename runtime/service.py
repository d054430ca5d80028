"""What a service module exports: ``SERVICE = Service(...)``.

``create_app`` mounts the routes of the services it is asked for, runs their ``startup`` /
``shutdown`` hooks in its lifespan (container only: Lambda handlers run with lifespan off, so a
service must not depend on ``startup`` having run — create things lazily on ``AppContext``), and
adds ``public_paths`` to the paths the auth middleware lets through without a token. ``jobs`` maps
the job kinds the service enqueues to their handlers (the app's queue runs those of the mounted
services); ``deep_check`` and ``draining`` feed the health service without it importing the service.

A route may declare schemas for ``/api/openapi.json`` by setting attributes on its endpoint:
``endpoint.openapi = {"requestBody": {...}, "responses": {...}}`` (an OpenAPI operation fragment);
the summary is the endpoint docstring's first line.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from starlette.routing import BaseRoute

if TYPE_CHECKING:
    from runtime.context import AppContext

Hook = Callable[["AppContext"], Awaitable[None]]
JobHandler = Callable[[Any], Awaitable[Any]]  # takes a runtime.jobs.queue.Job


@dataclass
class Service:
    name: str
    routes: list[BaseRoute] = field(default_factory=list)
    startup: Hook | None = None
    shutdown: Hook | None = None
    # Exact paths (no parameters) that need no token, in addition to CONTRACT's public list.
    public_paths: tuple[str, ...] = ()
    # Path prefixes (ending in "/") whose handlers authenticate the caller themselves with a
    # credential that is not a Tier-1 token (e.g. GPU nodes with the node token); still limited per IP.
    public_prefixes: tuple[str, ...] = ()
    # Path prefixes whose clients decode the old error envelope: an ApiError raised by a route under
    # one of them answers with "success": false added (the request layer does it: runtime.middleware.errors).
    envelope_prefixes: tuple[str, ...] = ()
    jobs: dict[str, JobHandler] = field(default_factory=dict)
    # For /api/admin/health/deep: a dict with "ok"; and for /health: True while the service drains.
    deep_check: Callable[["AppContext"], Awaitable[dict]] | None = None
    draining: Callable[["AppContext"], bool] | None = None

    def __post_init__(self) -> None:
        bad = [p for p in self.public_prefixes if not (p.startswith("/api/") and p.endswith("/"))]
        if bad:
            raise ValueError(f"Service {self.name}: public_prefixes must start with /api/ and end with '/': {bad}")
