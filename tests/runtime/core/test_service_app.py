"""The app runs an HTTP request's routes without Starlette's exception layers: every exception is
still answered in the error format, by the request layer, with its request id, CORS and rate-limit
headers, and routes of every kind (sync, class, their own middleware) still run as Starlette runs
them."""
from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import time

import httpx
import pytest
import uvicorn
from starlette.background import BackgroundTask
from starlette.endpoints import HTTPEndpoint
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from core.probe import probe_service
from runtime import cli
from runtime.app import ServiceApp, build_middleware
from runtime.db import DatabaseUnavailable
from runtime.errors import Conflict
from runtime.middleware.auth import AuthMiddleware
from runtime.routing import IndexedRouter, endpoint_app
from runtime.service import Service
from runtime.settings import Settings
from tests.runtime.conftest import free_port, make_client

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


def test_the_server_calls_the_app_through_its_plain_entry(monkeypatch, make_app, database):
    """``serve_app`` hands uvicorn the app's plain ASGI 3 entry (no coroutine of Starlette's own
    around each request), told that it is ASGI 3: the lifespan runs, requests are answered by the
    whole stack, and the console listener wraps the same entry."""
    app = make_app([probe_service(), errors_service()], cors_origins=(ORIGIN,))
    configs: list = []
    monkeypatch.setattr(cli, "configure_logging", lambda *args, **kwargs: None)  # the test's logging stays
    monkeypatch.setattr(cli, "tune_gc", lambda: None)
    monkeypatch.setattr(cli.console_serve, "run", lambda config, port, host=None: configs.append(config))
    port = free_port()
    cli.serve_app(app, "127.0.0.1", port, database.settings())
    [config] = configs
    assert config.interface == "asgi3" and not inspect.iscoroutinefunction(config.app)
    config.log_level = "warning"
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 15
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            health = client.get("/health")
            assert health.status_code == 200 and health.headers["x-request-id"]
            refused = client.get("/api/new/class", headers={"Origin": ORIGIN})
            assert refused.status_code == 401 and refused.json()["error"] == "auth_required"
            assert refused.headers["access-control-allow-origin"] == ORIGIN
    finally:
        server.should_exit = True
        thread.join(timeout=15)
    assert not thread.is_alive()


async def test_a_routes_response_is_sent_as_starlette_sends_it():
    """A function route's whole-body response is sent by the endpoint app itself: the very
    messages, in order, with its background task after them, that ``Response.__call__`` sends;
    any other response (a stream, one that sends itself its own way) still sends itself."""
    ran: list[str] = []

    class Shouting(PlainTextResponse):
        async def __call__(self, scope, receive, send):
            self.body = self.body.upper()
            await super().__call__(scope, receive, send)

    async def chunks():
        yield b"a"
        yield b"b"

    made = [
        lambda: JSONResponse({"n": 1}, status_code=201, headers={"X-Mine": "1"}),
        lambda: PlainTextResponse("done", background=BackgroundTask(ran.append, "after")),
        lambda: Response(b"", status_code=204),
        lambda: Shouting("quiet"),
        lambda: StreamingResponse(chunks(), media_type="text/plain"),
    ]
    scope = {"type": "http", "method": "GET", "path": "/x", "headers": [], "query_string": b""}

    async def receive():  # the request has no body; the client stays (a stream listens for it leaving)
        await asyncio.Event().wait()

    for make in made:
        by_starlette: list[dict] = []
        by_endpoint: list[dict] = []

        async def record_starlette(message, into=by_starlette):
            into.append({**message, "ran": list(ran)})

        async def record_endpoint(message, into=by_endpoint):
            into.append({**message, "ran": list(ran)})

        ran.clear()
        await make()(dict(scope), receive, record_starlette)
        after_starlette = list(ran)

        async def endpoint(request, make=make):
            return make()

        ran.clear()
        await endpoint_app(endpoint)(dict(scope), receive, record_endpoint)
        assert by_endpoint == by_starlette and ran == after_starlette
    assert [message["ran"] for message in by_starlette] == [[]] * len(by_starlette)
    assert by_starlette[-1]["body"] == b"" and by_starlette[0]["status"] == 200  # the stream's end
    ran.clear()

    async def with_task(request):
        return made[1]()

    await endpoint_app(with_task)(dict(scope), receive, record_endpoint)
    assert ran == ["after"]  # the background task runs, after the body
    assert Response.__call__.__code__.co_names == (  # Starlette's own steps, which the endpoint app repeats
        "_wrap_websocket_denial_send", "status_code", "raw_headers", "body", "background")
