"""The indexed router picks exactly the route Starlette's linear scan would pick."""
from __future__ import annotations

import itertools

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route, Router
import httpx

from runtime.routing import IndexedRouter


def _endpoint(name):
    async def endpoint(request):
        return PlainTextResponse(f"{name}:{dict(request.path_params)}")

    return endpoint


ROUTES = [
    Route("/health", _endpoint("health"), methods=["GET"]),
    Route("/api/curricula", _endpoint("list"), methods=["GET"]),
    Route("/api/curricula/archived", _endpoint("archived"), methods=["GET"]),
    Route("/api/curricula/{id}", _endpoint("detail"), methods=["GET", "PUT"]),
    Route("/api/curricula/{id}", _endpoint("delete"), methods=["DELETE"]),
    Route("/api/{family}/special", _endpoint("wild"), methods=["GET"]),
    Route("/api/kb/special", _endpoint("kb-special"), methods=["GET"]),
    Route("/api/kb/packs/{id}/questions", _endpoint("questions"), methods=["GET"]),
    Route("/api/curricula/{id}/full", _endpoint("full"), methods=["GET"]),
    Route("/api/curricula/mine/full", _endpoint("shadowed"), methods=["GET", "POST"]),  # after {id}/full: GET goes there
    Route("/api/curricula/{id}/topics/{topic}", _endpoint("topic"), methods=["GET"]),
    Route("/api/files/{rest:path}", _endpoint("files"), methods=["GET"]),
    Route("/api/files/index", _endpoint("files-index"), methods=["GET"]),
    Route("/api/sessions/{id}/turns", _endpoint("turns"), methods=["POST"]),
    Route("/api/sessions/{id}/{what}", _endpoint("what"), methods=["GET", "POST"]),
    Route("/api/sessions/{id}/turns.{fmt}", _endpoint("turns-as"), methods=["GET"]),
    Route("/api/sessions/{id}/context", _endpoint("context"), methods=["GET"]),
    Mount("/mounted", routes=[Route("/x", _endpoint("mounted"))]),
    Route("/slash/", _endpoint("slash"), methods=["GET"]),
]
PATHS = ["/health", "/api/curricula", "/api/curricula/", "/api/curricula/archived", "/api/curricula/c1",
         "/api/kb/special", "/api/x/special", "/api/kb/packs/p1/questions", "/mounted/x", "/slash", "/nope",
         "/api/curricula/a/b", "/", "/api/curricula/mine/full", "/api/curricula/c1/full", "/api/curricula/c1/topics/t1",
         "/api/curricula/c1/topics", "/api/files/index", "/api/files/a/b/c", "/api/files", "/api/kb/packs/p1/questions/",
         "/api/sessions/s1/turns", "/api/sessions/s1/context", "/api/sessions/s1/turns.json", "/api/sessions/s1/other",
         "/api/sessions/s1/", "/api/sessions//turns"]
METHODS = ["GET", "PUT", "DELETE", "POST"]


async def test_same_answers_as_starlette():
    indexed_app = Starlette(routes=ROUTES)
    indexed_app.router = IndexedRouter(routes=ROUTES)
    plain = httpx.AsyncClient(transport=httpx.ASGITransport(app=Starlette(routes=ROUTES)), base_url="http://t")
    indexed = httpx.AsyncClient(transport=httpx.ASGITransport(app=indexed_app), base_url="http://t")
    for path, method in itertools.product(PATHS, METHODS):
        want = await plain.request(method, path, follow_redirects=False)
        got = await indexed.request(method, path, follow_redirects=False)
        assert (got.status_code, got.text, got.headers.get("location")) == (
            want.status_code, want.text, want.headers.get("location")
        ), (method, path)


def test_is_a_router():
    assert isinstance(IndexedRouter(routes=ROUTES), Router)
