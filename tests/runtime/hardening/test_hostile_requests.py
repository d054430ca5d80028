"""Hostile or unlucky requests get a 4xx (or a 503 for an outage), never a 500."""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from typing import Any, AsyncIterator

import pytest

from runtime.errors import ApiError
from runtime.validation import MAX_JSON_DEPTH, parse_json
from tests.runtime.conftest import lifespan, make_client

JWT_SECRET = "hostile-secret-" + "y" * 40
DEEP = "[" * 100_000 + "]" * 100_000


@pytest.fixture(scope="module")
def database(shared_database):
    return shared_database


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_parse_json_bounds_depth_and_refuses_non_numbers():
    assert parse_json('{"a": [1, 2.5, {"b": null}]}') == {"a": [1, 2.5, {"b": None}]}
    assert parse_json("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH) is not None
    for raw in ("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1), DEEP, '{"x": NaN}', "[Infinity]",
                "[-Infinity]", "[1e400]", '{"x": -2e308}', "{", b"\xff\xfe"):
        with pytest.raises(ApiError) as caught:
            parse_json(raw)
        assert caught.value.status == 400 and caught.value.error == "invalid_json"


@pytest.mark.parametrize("path", ["/api/auth/login", "/api/logs", "/api/metrics", "/api/kb/packs"])
@pytest.mark.parametrize("body", [DEEP, "{" + '"a":{' * 5_000 + "}" * 5_001, '{"message": NaN, "level": "info"}'],
                         ids=["deep-array", "deep-object", "nan"])
async def test_deep_or_nan_json_is_a_400(make_app, tenant, path, body):
    _tid, beta = await tenant()
    async with make_client(make_app(jwt_secret=JWT_SECRET)) as client:
        answer = await client.post(path, content=body, headers={**bearer(beta), "Content-Type": "application/json"})
    assert answer.status_code == 400, (path, answer.status_code, answer.text[:200])
    assert answer.json()["error"] == "invalid_json"


async def _call(app: Any, method: str, path: str, headers: list[tuple[bytes, bytes]], messages: list[dict]) -> list[dict]:
    """Drive ``app`` with a raw HTTP scope; ``messages`` are what ``receive`` returns, in order."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"testserver"), *headers], "client": ("127.0.0.1", 50000),
             "server": ("testserver", 80), "state": {}}
    pending = list(messages)
    sent: list[dict] = []

    async def receive() -> dict:
        if pending:
            return pending.pop(0)
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


async def test_413_names_the_routes_own_limit(make_app, tenant):
    _tid, beta = await tenant()
    app = make_app(jwt_secret=JWT_SECRET)
    declared = 11 * 1024 * 1024
    async with lifespan(app):
        sent = await _call(app, "POST", f"/api/curricula/{uuid.uuid4()}/topics/t1/assets",
                           [(b"authorization", f"Bearer {beta}".encode()), (b"content-length", str(declared).encode()),
                            (b"content-type", b"multipart/form-data; boundary=xyz")],
                           [{"type": "http.request", "body": b"--xyz\r\n", "more_body": True}])
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = json.loads(b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"))
    assert start["status"] == 413, body
    limit = body["details"]["max_bytes"]
    assert limit >= 10 * 1024 * 1024 and str(limit) in body["message"]


async def test_client_disconnect_is_499_not_an_error(make_app, tenant, caplog):
    _tid, beta = await tenant()
    app = make_app(jwt_secret=JWT_SECRET)
    caplog.set_level(logging.INFO)
    async with lifespan(app):
        sent = await _call(app, "POST", "/api/logs",
                           [(b"authorization", f"Bearer {beta}".encode()), (b"content-type", b"application/json"),
                            (b"content-length", b"100")],
                           [{"type": "http.request", "body": b'{"mess', "more_body": True}, {"type": "http.disconnect"}])
    assert not [m for m in sent if m["type"] == "http.response.start"]  # nobody left to answer
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], [r.getMessage() for r in caplog.records]
    access = [r for r in caplog.records if r.name == "unamentis.access"]
    assert access and access[-1].status == 499


class _Proxy:
    """A loopback TCP proxy to PostgreSQL that can be cut, as a database outage after start."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.server: asyncio.AbstractServer | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.writers += [writer, up_writer]

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            with contextlib.suppress(Exception):
                dst.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.transport.abort()
        await self.server.wait_closed()


@contextlib.asynccontextmanager
async def _proxied(database) -> AsyncIterator[tuple[_Proxy, str]]:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(database.app_dsn)
    proxy = _Proxy(parts.port or 5432)
    port = await proxy.start()
    netloc = parts.netloc.rsplit(":", 1)[0] if parts.port else parts.netloc
    try:
        yield proxy, urlunsplit((parts.scheme, f"{netloc}:{port}", parts.path, parts.query, ""))
    finally:
        with contextlib.suppress(Exception):
            await proxy.cut()


async def test_database_gone_after_start_is_503_with_retry_after(make_app, tenant, database):
    _tid, beta = await tenant()
    async with _proxied(database) as (proxy, dsn):
        app = make_app(jwt_secret=JWT_SECRET, database_url=dsn, db_connect_timeout=2)
        async with make_client(app) as client:
            first = await client.get("/api/kb/packs", headers=bearer(beta))
            assert first.status_code == 200, first.text
            await proxy.cut()
            for _ in range(2):
                answer = await client.get("/api/kb/packs", headers=bearer(beta))
                assert answer.status_code == 503, answer.text
                assert int(answer.headers["Retry-After"]) >= 1
