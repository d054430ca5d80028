"""A Starlette Router that looks only at the routes that can match.

Starlette tries every route in order; the container mounts ~150, so a request for a late family
paid ~150 regex matches. Here a request is matched only against the routes that can match its
path, in the original order — so the first matching route is the same one Starlette would pick:
for a route's literal path (``/api/curricula``), the routes whose pattern matches that path; for
any other, the routes with parameters of its family (first two segments; routes whose first two
segments are not literal — ``/api/{x}``, mounts, hosts — belong to every family) with as many
``/`` and, when they end in a literal segment (``/{id}/turns``), the same last segment. Everything
else (405 via partial matches, trailing-slash redirects, 404) is Starlette's own behaviour.
Measured 2026-12-03 (2 cores, load ≈ 8; bench/api.py, authenticated no-query route): server CPU 3.3× the bare route's with the index, 4.4× with Starlette's scan; in-process dispatch of the last of ~150 routes 24 µs vs 311 µs.

Why not one ``Mount`` per family instead: several services share a prefix in the container
(``/api/kb`` comes from the kb service and the voice core; ``/api/curricula`` and ``/api/admin`` too),
a ``Mount`` answers every path under its prefix (so one family could not span two mounts), and a
family with a route at its bare prefix (``/api/curricula``) would change how ``/api/curricula/`` is
redirected; grouping only the families where none of that applies still cost 90–250 µs above.
"""
from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, Coroutine, Sequence

from starlette.concurrency import run_in_threadpool
from starlette.convertors import PathConvertor
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Mount, Route, Router, WebSocketRoute, request_response
from starlette.types import ASGIApp, Receive, Scope, Send


def _starlette_app_name(app: Any) -> tuple[str, str]:
    return getattr(app, "__module__", ""), getattr(app, "__qualname__", "")


async def _sample_endpoint(request: Request) -> Any:  # only its ``request_response`` app's name is used
    raise NotImplementedError


# How a response with its whole body sends itself (JSONResponse, PlainTextResponse, … inherit it;
# streaming and file responses have their own).
_SEND_WHOLE = Response.__call__

# What the app of a route made from a plain function looks like: Starlette's ``request_response``
# (a route with middleware of its own, or an ASGI class as its endpoint, has another app).
_PLAIN_ROUTE_APP = _starlette_app_name(request_response(_sample_endpoint))


def endpoint_app(endpoint: Callable[[Request], Any]) -> ASGIApp:
    """What Starlette's ``request_response`` runs for ``endpoint`` (a sync one in the thread pool),
    without the exception handling it wraps around it: the app's one exception layer is the request
    layer's (``runtime.middleware.errors``), which every route's exception reaches anyway. Each
    Starlette wrapper is another coroutine in the chain every resumption of a request walks
    through, and another wrapper of ``send`` on every response message."""
    function = endpoint
    while isinstance(function, functools.partial):
        function = function.func
    call = endpoint if inspect.iscoroutinefunction(function) else functools.partial(run_in_threadpool, endpoint)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)
        response = await call(request)
        if type(response).__call__ is not _SEND_WHOLE:
            await response(scope, receive, send)
            return
        # What ``Response.__call__`` does for an HTTP request (a test compares the two), without a
        # coroutine of its own: most routes answer a whole body (JSON) this way.
        await send({"type": "http.response.start", "status": response.status_code, "headers": response.raw_headers})
        await send({"type": "http.response.body", "body": response.body})
        if response.background is not None:
            await response.background()

    return app


def _direct(route: BaseRoute) -> ASGIApp | None:
    """The app a full match of ``route`` runs directly, or None when its own ``handle`` must run."""
    if type(route) is not Route or _starlette_app_name(route.app) != _PLAIN_ROUTE_APP:
        return None
    return endpoint_app(route.endpoint)


def _key(path: str) -> str:
    return "/".join(path.split("/")[:3])


def route_path(scope: Scope) -> str:
    """The path the routes match: ``path`` below the app's ``root_path`` (as Starlette's routes see it)."""
    path: str = scope["path"]
    root = scope.get("root_path", "")
    if not root or not path.startswith(root):
        return path
    if path == root:
        return ""
    return path[len(root):] if path[len(root)] == "/" else path


def _route_key(route: BaseRoute) -> str | None:
    """The bucket of a route, or None when its first two segments are not literal."""
    if not isinstance(route, (Route, WebSocketRoute)):
        return None
    key = _key(route.path)
    return None if "{" in key else key


def _literal(route: BaseRoute) -> bool:
    """A plain route without parameters: it matches its own path and no other."""
    return isinstance(route, (Route, WebSocketRoute)) and not route.param_convertors


def _slashes(route: BaseRoute) -> int | None:
    """How many ``/`` every path the route matches has, or None when that varies (a ``:path``
    parameter, a mount, anything that is not a plain route)."""
    if not isinstance(route, (Route, WebSocketRoute)):
        return None
    if any(isinstance(convertor, PathConvertor) for convertor in route.param_convertors.values()):
        return None
    return route.path.count("/")


def _last_literal(route: BaseRoute) -> str | None:
    """The last segment of a route that matches a fixed number of segments, when it is literal."""
    if _slashes(route) is None:
        return None
    last = route.path.rsplit("/", 1)[1]  # type: ignore[attr-defined]  (a Route or WebSocketRoute here)
    return None if "{" in last else last


def _may_match(route: BaseRoute, path: str) -> bool:
    """False only when ``route`` cannot match ``path`` whatever the method (its path pattern fails)."""
    pattern = getattr(route, "path_regex", None)
    if pattern is None or not isinstance(route, (Route, WebSocketRoute, Mount)):
        return True  # hosts and other routes: always tried
    return pattern.match(path) is not None


class IndexedRouter(Router):
    def __init__(self, routes: Sequence[BaseRoute] | None = None, **kwargs: Any) -> None:
        super().__init__(routes=routes, **kwargs)
        keys = [_route_key(route) for route in self.routes]
        self._wild = [route for route, key in zip(self.routes, keys) if key is None]
        families = {
            key: [route for route, k in zip(self.routes, keys) if k is None or k == key]
            for key in set(keys)
            if key is not None
        }
        # A request for a route's literal path: only the routes whose pattern can match that very
        # path, in order, so the first that matches is still the one Starlette's scan would pick.
        self._exact: dict[str, list[BaseRoute]] = {}
        for route in self.routes:
            if isinstance(route, (Route, WebSocketRoute)) and _literal(route) and route.path not in self._exact:
                self._exact[route.path] = [other for other in self.routes if _may_match(other, route.path)]
        # Any other path: no literal route can match it. Within a family, by the number of "/" in the
        # path (a route whose parameters cannot hold a "/" matches only paths with as many as its
        # own; routes where that varies are in every list), then by the last segment (a route ending
        # in a literal segment, ``/{id}/turns``, matches only paths ending in it).
        self._index: dict[tuple[str, int], list[BaseRoute]] = {}
        self._by_last: dict[tuple[str, int, str], list[BaseRoute]] = {}
        self._family: dict[str, list[BaseRoute]] = {}
        for key, family in families.items():
            family = [route for route in family if not _literal(route)]
            self._family[key] = [route for route in family if _slashes(route) is None]
            for count in {_slashes(route) for route in family} - {None}:
                counted = [route for route in family if _slashes(route) in (None, count)]
                self._index[(key, count)] = [route for route in counted if _last_literal(route) is None]
                for last in {_last_literal(route) for route in counted} - {None}:
                    self._by_last[(key, count, last)] = [route for route in counted if _last_literal(route) in (None, last)]
        # A plain function's route, fully matched (path and method), runs its endpoint directly:
        # ``Route.handle`` would only check the method again. Keyed by identity (a Route is not
        # hashable), with the route kept beside its app so an id is never taken for another's.
        self._direct: dict[int, tuple[BaseRoute, ASGIApp]] = {}
        for route in self.routes:
            direct = _direct(route)
            if direct is not None:
                self._direct[id(route)] = (route, direct)

    def _candidates(self, path: str) -> list[BaseRoute]:
        exact = self._exact.get(path)
        if exact is not None:
            return exact
        key = _key(path)
        count = path.count("/")
        found = self._by_last.get((key, count, path[path.rfind("/") + 1:]))
        if found is None:
            found = self._index.get((key, count))
        if found is not None:
            return found
        return self._family.get(key, self._wild)

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Coroutine[Any, Any, None]:  # type: ignore[override]
        """The router's app (``app`` below, unless the router has middleware of its own), returned,
        not awaited: the router keeps no coroutine of its own in the request's chain."""
        return self.middleware_stack(scope, receive, send)

    def app(self, scope: Scope, receive: Receive, send: Send) -> Coroutine[Any, Any, None]:
        """The matched route's own coroutine (or Starlette's router's): matching needs no await, so
        the router stays out of the chain of coroutines every resumption of a request walks through."""
        if scope["type"] == "lifespan":
            return super().app(scope, receive, send)
        if "router" not in scope:
            scope["router"] = self
        partial = None
        partial_scope: dict[str, Any] = {}
        for route in self._candidates(route_path(scope)):
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                scope["route"] = route
                scope.update(child_scope)
                direct = self._direct.get(id(route))
                if direct is not None and direct[0] is route:
                    return direct[1](scope, receive, send)
                return route.handle(scope, receive, send)
            if match is Match.PARTIAL and partial is None:
                partial, partial_scope = route, child_scope
        if partial is not None:
            scope["route"] = partial
            scope.update(partial_scope)
            return partial.handle(scope, receive, send)
        # No candidate: Starlette's full scan decides (trailing-slash redirect or 404).
        return super().app(scope, receive, send)
