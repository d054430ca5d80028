"""The app runs an HTTP request's routes without Starlette's exception layers: every exception is
still answered in the error format, by the request layer, with its request id, CORS and rate-limit
headers, and routes of every kind (sync, class, their own middleware) still run as Starlette runs
them."""
from __future__ import annotations

import logging

import httpx
import pytest
from starlette.endpoints import HTTPEndpoint
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route

from core.probe import probe_service
from runtime.app import ServiceApp, build_middleware
from runtime.db import DatabaseUnavailable
from runtime.errors import Conflict
from runtime.middleware.auth import AuthMiddleware
from runtime.routing import IndexedRouter
from runtime.service import Service
from runtime.settings import Settings
from tests.runtime.conftest import make_client

ORIGIN = "https://app.example.com"


async def conflict(request: Request) -> JSONResponse:
    raise Conflict("Already taken.", details={"field": "name"})


async def http_exception(request: Request) -> JSONResponse:
    raise HTTPException(409, "Taken by someone else.", headers={"X-Why": "taken"})


async def database_down(request: Request) -> JSONResponse:
    raise DatabaseUnavailable("connection refused")


def sync_endpoint(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"sync {request.path_params['n']}")


class ClassEndpoint(HTTPEndpoint):
    async def get(self, request: Request) -> PlainTextResponse:
        return PlainTextResponse("class get")


class Tagged:
    """A route's own middleware: it must still run."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        async def tagged(message):
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-tagged", b"yes")]
            await send(message)

        await self.app(scope, receive, tagged)


async def tagged(request: Request) -> PlainTextResponse:
    return PlainTextResponse("tagged")


async def breaks_mid_body(request: Request) -> StreamingResponse:
    async def chunks():
        yield b"first part"
        raise RuntimeError("broke after the response started")

    return StreamingResponse(chunks(), media_type="text/plain")


def errors_service() -> Service:
    return Service(
        name="errors",
        routes=[
            Route("/api/old/conflict", conflict, methods=["POST"]),
            Route("/api/new/conflict", conflict, methods=["POST"]),
            Route("/api/new/http-exception", http_exception, methods=["GET"]),
            Route("/api/new/database", database_down, methods=["GET"]),
            Route("/api/new/sync/{n:int}", sync_endpoint, methods=["GET"]),
            Route("/api/new/class", ClassEndpoint),
            Route("/api/new/tagged", tagged, methods=["GET"], middleware=[Middleware(Tagged)]),
            Route("/api/new/mid-body", breaks_mid_body, methods=["GET"]),
        ],
        envelope_prefixes=("/api/old/",),
    )


@pytest.fixture
async def client_and_auth(make_app, tenant):
    _tenant_id, token = await tenant()
    app = make_app([probe_service(), errors_service()], cors_origins=(ORIGIN,))
    async with make_client(app) as client:
        yield client, {"Authorization": f"Bearer {token}", "Origin": ORIGIN}


def _stack_headers(response: httpx.Response) -> None:
    """What the stack adds to every answer, errors included."""
    assert response.headers["x-request-id"]
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert int(response.headers["x-ratelimit-limit"]) >= 1


async def test_route_api_error_with_envelope_where_the_service_asks_for_it(client_and_auth):
    client, auth = client_and_auth
    old = await client.post("/api/old/conflict", headers=auth)
    assert old.status_code == 409
    assert old.json() == {"error": "conflict", "code": "CONFLICT", "message": "Already taken.",
                          "details": {"field": "name"}, "success": False}
    _stack_headers(old)
    new = await client.post("/api/new/conflict", headers=auth)
    assert new.status_code == 409
    assert "success" not in new.json()
    _stack_headers(new)


async def test_route_http_exception_database_outage_and_router_errors(client_and_auth, caplog):
    client, auth = client_and_auth
    raised = await client.get("/api/new/http-exception", headers=auth)
    assert raised.status_code == 409
    assert raised.json()["message"] == "Taken by someone else." and raised.json()["error"] == "conflict"
    assert raised.headers["x-why"] == "taken"
    _stack_headers(raised)
    with caplog.at_level(logging.ERROR, logger="unamentis.error"):
        down = await client.get("/api/new/database", headers=auth)
    assert down.status_code == 503
    assert down.json()["error"] == "service_unavailable" and down.headers["retry-after"] == "5"
    assert any("database unavailable" in record.getMessage() for record in caplog.records)
    _stack_headers(down)
    wrong_method = await client.get("/api/new/conflict", headers=auth)
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "POST"
    assert wrong_method.json()["error"] == "method_not_allowed"
    _stack_headers(wrong_method)
    missing = await client.get("/api/new/nothing", headers=auth)
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    _stack_headers(missing)


async def test_routes_of_every_kind_run_as_starlette_runs_them(client_and_auth):
    client, auth = client_and_auth
    sync = await client.get("/api/new/sync/7", headers=auth)
    assert (sync.status_code, sync.text) == (200, "sync 7")
    assert (await client.get("/api/new/sync/x", headers=auth)).status_code == 404  # the convertor refuses
    assert (await client.get("/api/new/class", headers=auth)).text == "class get"
    assert (await client.post("/api/new/class", headers=auth)).status_code == 405  # HTTPEndpoint's own answer
    tagged_response = await client.get("/api/new/tagged", headers=auth)
    assert tagged_response.text == "tagged" and tagged_response.headers["x-tagged"] == "yes"
    _stack_headers(tagged_response)
    head = await client.head("/api/probe/whoami", headers=auth)
    assert head.status_code == 200 and head.content == b""


async def test_an_error_after_the_response_started_is_not_answered_twice(client_and_auth, caplog):
    client, auth = client_and_auth
    # The server drops such a connection; over ASGI the exception reaches the caller.
    with caplog.at_level(logging.ERROR, logger="unamentis.error"), pytest.raises(RuntimeError, match="broke after"):
        await client.get("/api/new/mid-body", headers=auth)
    assert any("unhandled error" in record.getMessage() for record in caplog.records)


def test_service_app_needs_the_request_layer_first():
    settings = Settings.from_env()
    with pytest.raises(TypeError, match="RequestMiddleware"):
        ServiceApp(middleware=[Middleware(AuthMiddleware)])
    with pytest.raises(TypeError, match="RequestMiddleware"):
        ServiceApp()
    assert ServiceApp(middleware=build_middleware(settings)).user_middleware


def test_function_routes_run_directly_and_others_through_their_handle():
    routes = errors_service().routes
    router = IndexedRouter(routes=routes)
    direct = {route.path for route in routes if id(route) in router._direct}
    assert direct == {"/api/old/conflict", "/api/new/conflict", "/api/new/http-exception", "/api/new/database",
                      "/api/new/sync/{n:int}", "/api/new/mid-body"}
