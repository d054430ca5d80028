"""Health and the API description.

``GET /health`` and ``GET /api/health`` answer without a token and without touching the database
(load balancers probe them often; a database blip must not kill healthy tasks):
``{status: "healthy", service: "unamentis_server", timestamp, server_time, version, server_name, uptime_seconds}``
(``service`` is the text Android's ``ServerConfigManager.probeServer`` looks for in the body to
recognise a UnaMentis gateway; ``server_time`` is the web client's ``HealthResponse`` name of
``timestamp``).
``GET /api/admin/health/deep`` (Tier 2) checks the database and the runtime role's safety.
``GET /api/openapi.json`` is OpenAPI 3.1 generated from the mounted routes.
"""
from __future__ import annotations

import datetime as dt
import inspect
import re
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute

from runtime.context import ctx
from runtime.openapi import request_bodies, responses
from runtime.service import Service

_WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
_PARAM_RE = re.compile(r"{([A-Za-z_][A-Za-z0-9_]*)(?::[a-z]+)?}")


def _draining(context) -> bool:
    """A voice core draining after SIGTERM answers 503, so load balancers send new sockets elsewhere.
    The mounted services bring their probes (``Service.draining``): Lambdas never load the voice package."""
    return any(probe(context) for probe in context.drain_probes)


async def health(request: Request) -> JSONResponse:
    """Liveness: the runtime answers (no dependencies are checked); 503 while a voice core drains."""
    context = ctx(request)
    draining = _draining(context)
    now = dt.datetime.now(dt.timezone.utc).isoformat()
    return JSONResponse(
        {
            "status": "draining" if draining else "healthy",
            "service": "unamentis_server",
            "timestamp": now,
            "server_time": now,
            "version": context.settings.version,
            "server_name": context.settings.server_name,
            "uptime_seconds": round(time.time() - context.started_at, 3),
        },
        status_code=503 if draining else 200,
    )


async def deep_health(request: Request) -> JSONResponse:
    """Readiness: the database answers and the runtime role cannot bypass tenant isolation."""
    context = ctx(request)
    checks: dict[str, Any] = {}
    started = time.perf_counter()
    try:
        await context.db.ping()
        problems = await context.db.role_problems()
        checks["database"] = {
            "ok": True,
            "latency_ms": round((time.perf_counter() - started) * 1000, 2),
            "role_problems": problems,
        }
    except Exception as exc:  # a health check reports failures, it does not raise them
        checks["database"] = {"ok": False, "error": type(exc).__name__}
    for name, check in context.deep_checks.items():
        try:
            found = await check(context)
            checks[name] = {**found, "ok": found["ok"] and not _draining(context)}
        except Exception as exc:
            checks[name] = {"ok": False, "error": type(exc).__name__}
    healthy = all(check.get("ok") for check in checks.values())
    return JSONResponse(
        {
            "status": "healthy" if healthy else "degraded",
            "timestamp": dt.datetime.now(dt.timezone.utc).isoformat(),
            "version": context.settings.version,
            "services": list(context.services),
            "checks": checks,
        },
        status_code=200 if healthy else 503,
    )


async def openapi(request: Request) -> JSONResponse:
    """The OpenAPI 3.1 description of this app's routes."""
    context = ctx(request)
    # The routes never change after create_app: build the document once per app.
    return JSONResponse(context.extension("openapi", lambda: build_openapi(request.app.routes, context.settings.version)))


openapi.openapi = {"responses": {"200": {  # type: ignore[attr-defined]
    "description": "This document (OpenAPI 3.1)",
    "content": {"application/json": {"schema": {"type": "object", "required": ["openapi", "info", "paths"]}}}}}}


def _walk(routes: list[BaseRoute], prefix: str = ""):
    for route in routes:
        if isinstance(route, Mount):
            yield from _walk(list(route.routes or []), prefix + route.path)
        elif isinstance(route, (Route, WebSocketRoute)):
            yield prefix, route


def _summary(endpoint: Any) -> str:
    doc = inspect.getdoc(endpoint) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def build_openapi(routes: list[BaseRoute], version: str) -> dict[str, Any]:
    """Every route's path, methods and summary; its request body read off its validation calls
    (``runtime.openapi.request_bodies``) and its answers from the app schemas and recorded answers
    (``runtime.openapi.responses``), unless the route declares them (``.openapi``)."""
    paths: dict[str, dict[str, Any]] = {}
    websockets: list[dict[str, str]] = []
    error_ref = {"$ref": "#/components/responses/Error"}
    used_ids: set[str] = set()
    # One endpoint on several methods or paths (PUT and PATCH, an alias path) answers alike.
    alike: dict[Any, dict[str, Any]] = {}
    for prefix, route in _walk(routes):
        for method in sorted(getattr(route, "methods", None) or ()):
            found = responses.documented(method, _PARAM_RE.sub(r"{\1}", prefix + route.path))
            if found and route.endpoint not in alike:
                alike[route.endpoint] = found
    for prefix, route in _walk(routes):
        path = _PARAM_RE.sub(r"{\1}", prefix + route.path)
        params = _PARAM_RE.findall(prefix + route.path)
        if isinstance(route, WebSocketRoute):
            websockets.append({"path": path, "summary": _summary(route.endpoint)})
            continue
        methods = sorted(m for m in (route.methods or {"GET"}) if m != "HEAD")
        declared = getattr(route.endpoint, "openapi", None) or {}
        for method in methods:
            operation_id = f"{method.lower()}_{route.name}"
            if not route.name or operation_id in used_ids:  # one endpoint on several paths
                operation_id = method.lower() + re.sub(r"[^A-Za-z0-9]+", "_", path).rstrip("_")
            used_ids.add(operation_id)
            operation: dict[str, Any] = {
                "operationId": operation_id,
                "summary": _summary(route.endpoint),
                "responses": {**(responses.documented(method, path) or alike.get(route.endpoint)
                                 or {"200": {"description": "OK"}}),
                              "default": error_ref},
            }
            if params:
                operation["parameters"] = [
                    {"name": name, "in": "path", "required": True, "schema": {"type": "string"}} for name in params
                ]
            fragment = declared.get(method, declared) if isinstance(declared, dict) else {}
            for key, value in fragment.items():
                if key in ("requestBody", "responses", "parameters", "description", "tags", "security"):
                    if key == "responses":
                        recorded = responses.documented(method, path)
                        operation["responses"] = {**responses.with_declared(recorded, value), "default": error_ref}
                    else:
                        operation[key] = value
            if method in _WRITE_METHODS and "requestBody" not in operation:
                body = request_bodies.request_body(route.endpoint)
                if body is not None:
                    operation["requestBody"] = body
            paths.setdefault(path, {})[method.lower()] = operation
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "UnaMentis API", "version": version},
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "A beta token or a user access JWT"},
                "cloudflareAccess": {"type": "apiKey", "in": "header", "name": "Cf-Access-Jwt-Assertion"},
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error", "code", "message"],
                    "properties": {
                        "error": {"type": "string"},
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                        "details": {"type": "object"},
                        "success": {"type": "boolean"},
                    },
                },
                **responses.components(),
            },
            "responses": {
                "Error": {
                    "description": "An error in the API's error format",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                }
            },
        },
        "security": [{"bearer": []}],
    }
    if websockets:
        document["x-websockets"] = websockets
    return document


SERVICE = Service(
    name="health",
    routes=[
        Route("/health", health, methods=["GET"], name="health"),
        Route("/api/health", health, methods=["GET"], name="api_health"),
        Route("/api/admin/health/deep", deep_health, methods=["GET"], name="deep_health"),
        Route("/api/openapi.json", openapi, methods=["GET"], name="openapi"),
    ],
)
