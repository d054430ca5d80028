"""What a service module exports: ``SERVICE = Service(...)``.

``create_app`` mounts the routes of the services it is asked for, runs their ``startup`` /
``shutdown`` hooks in its lifespan (container only: Lambda handlers run with lifespan off, so a
service must not depend on ``startup`` having run — create things lazily on ``AppContext``), and
adds ``public_paths`` to the paths the auth middleware lets through without a token.

A route may declare schemas for ``/api/openapi.json`` by setting attributes on its endpoint:
``endpoint.openapi = {"requestBody": {...}, "responses": {...}}`` (an OpenAPI operation fragment);
the summary is the endpoint docstring's first line.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Awaitable, Callable

from starlette.routing import BaseRoute

if TYPE_CHECKING:
    from runtime.context import AppContext

Hook = Callable[["AppContext"], Awaitable[None]]


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

    def __post_init__(self) -> None:
        bad = [p for p in self.public_prefixes if not (p.startswith("/api/") and p.endswith("/"))]
        if bad:
            raise ValueError(f"Service {self.name}: public_prefixes must start with /api/ and end with '/': {bad}")
