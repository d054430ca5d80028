"""The server process cuts slow and silent clients and caps concurrent connections (runtime.http_server)."""
from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any

import httpx
import uvicorn

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from runtime.http_server import uvicorn_options
from runtime.settings import Settings
from tests.runtime.conftest import free_port


async def _slow_app(scope: dict, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/slow":
        await asyncio.sleep(1.5)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


class _Server:
    def __init__(self, settings: Settings, app: Any = _slow_app) -> None:
        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off",
                                **uvicorn_options(settings))
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "_Server":
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    sock.settimeout(seconds)
    try:
        return sock.recv(1024) == b""
    except socket.timeout:
        return False
    except ConnectionResetError:
        return True


def _response(sock: socket.socket) -> bytes:
    """One chunked response of ``_slow_app`` (or what came before the server closed)."""
    answer = b""
    while not answer.endswith(b"\r\n0\r\n\r\n"):
        received = sock.recv(1024)
        if not received:
            break
        answer += received
    return answer


def test_silent_and_slow_clients_are_cut():
    settings = Settings(header_timeout=0.5, database_url=None)
    with _Server(settings) as server:
        silent = socket.create_connection(("127.0.0.1", server.port))
        started = time.monotonic()
        assert _closed_within(silent, 3.0)
        assert time.monotonic() - started < 2.0
        slow = socket.create_connection(("127.0.0.1", server.port))
        slow.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # never finishes its headers
        assert _closed_within(slow, 3.0)
        # A prompt client is served, and its kept-alive connection still serves a second request.
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}") as client:
            assert client.get("/").text == "ok"
            time.sleep(0.8)  # longer than the header timeout, shorter than keep-alive
            assert client.get("/").text == "ok"


def test_a_kept_alive_connection_is_cut_when_a_later_request_stalls_in_its_headers():
    settings = Settings(header_timeout=0.5, database_url=None)
    with _Server(settings) as server:
        sock = socket.create_connection(("127.0.0.1", server.port))
        sock.settimeout(3.0)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = _response(sock)
        assert answer.startswith(b"HTTP/1.1 200")
        time.sleep(0.8)  # past the first request's deadline: a new request gets its own
        sock.sendall(b"GET / HTTP/1.1\r\nHo")  # then nothing more
        started = time.monotonic()
        assert _closed_within(sock, 3.0)
        assert 0.3 < time.monotonic() - started < 2.0
        sock.close()
        # the same when the stalled request arrives in one read with a complete one before it
        piped = socket.create_connection(("127.0.0.1", server.port))
        piped.settimeout(3.0)
        piped.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHo")
        started = time.monotonic()
        answer = _response(piped)
        assert answer.startswith(b"HTTP/1.1 200")
        assert _closed_within(piped, 3.0)
        assert time.monotonic() - started < 2.0
        piped.close()


def _served(sock: socket.socket, path: str = "/") -> None:
    sock.settimeout(5.0)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert _response(sock).startswith(b"HTTP/1.1 200")


def test_an_idle_kept_alive_connection_is_cut_after_the_keep_alive_timeout():
    # One timer per connection (runtime.http_server): the cut must still come a whole timeout after
    # the last response, whatever the connection did since the timer was armed.
    settings = Settings(keepalive_timeout=1.0, header_timeout=5.0, database_url=None)
    with _Server(settings) as server:
        idle = socket.create_connection(("127.0.0.1", server.port))
        _served(idle)
        answered = time.monotonic()
        assert not _closed_within(idle, 0.6)
        assert _closed_within(idle, 2.0)
        assert 0.9 < time.monotonic() - answered < 1.8
        # A second request before the timer fires: the cut comes a timeout after the second answer.
        again = socket.create_connection(("127.0.0.1", server.port))
        _served(again)
        time.sleep(0.6)
        _served(again)
        answered = time.monotonic()
        assert not _closed_within(again, 0.7)  # the timer armed after the first answer fired meanwhile
        assert _closed_within(again, 2.0)
        assert 0.9 < time.monotonic() - answered < 1.8
        # A request still running when the timer fires is not cut, and the timeout counts from its answer.
        busy = socket.create_connection(("127.0.0.1", server.port))
        _served(busy)
        time.sleep(0.2)
        _served(busy, "/slow")  # 1.5 s: the timer fires while it runs
        answered = time.monotonic()
        assert not _closed_within(busy, 0.6)
        assert _closed_within(busy, 2.0)
        assert 0.9 < time.monotonic() - answered < 1.8


def test_the_keep_alive_steps_are_uvicorns():
    # HeaderTimeoutProtocol.on_response_complete repeats uvicorn's steps but for its timer: a
    # uvicorn that changes them must be looked at again.
    assert HttpToolsProtocol.on_response_complete.__code__.co_names == (
        "server_state", "total_requests", "transport", "is_closing", "_unset_keepalive_if_required", "flow",
        "resume_reading", "pipeline", "pop", "_start_asgi_task", "loop", "call_later", "timeout_keep_alive",
        "timeout_keep_alive_handler", "timeout_keep_alive_task")


def test_concurrency_cap_answers_503():
    # uvicorn counts the connection being checked too: a cap of 2 leaves room for one busy request.
    settings = Settings(max_connections=2, database_url=None)
    with _Server(settings) as server:
        url = f"http://127.0.0.1:{server.port}"
        results: list[int] = []
        busy = threading.Thread(target=lambda: results.append(httpx.get(f"{url}/slow", timeout=5).status_code))
        busy.start()
        time.sleep(0.4)
        assert httpx.get(f"{url}/", timeout=5).status_code == 503
        busy.join()
        assert results == [200]


def test_options_come_from_settings():
    options = uvicorn_options(Settings(keepalive_timeout=80, max_connections=0, ws_max_message_bytes=2048))
    assert options["timeout_keep_alive"] == 80 and options["limit_concurrency"] is None and options["ws_max_size"] == 2048
    assert options["http"].header_timeout == Settings().header_timeout
