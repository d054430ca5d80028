"""A response's status line and headers leave exactly as uvicorn writes them (runtime.http_server.ResponseCycle).

The server's cycle checks and joins the head in one pass and writes a response's head and body
together; whatever it is sent, the bytes on the wire, the error raised and the framing it decides
must be uvicorn's own.
"""
from __future__ import annotations

import asyncio
import socket
from typing import Any

from hypothesis import given, settings as hypothesis_settings, strategies as st
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from runtime import http_server
from runtime.http_server import ResponseCycle
from runtime.settings import Settings
from tests.runtime.hardening.test_server_limits import _Server


class _Transport:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written.append(bytes(data))

    def writelines(self, data: Any) -> None:
        self.written.append(b"".join(data))  # one call, one system call (writev)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


class _Flow:
    write_paused = False


def _new(cls: type, method: str, keep_alive: bool) -> Any:
    return cls(scope={"type": "http", "method": method}, transport=_Transport(), flow=_Flow(), logger=None,
               access_logger=None, access_log=False, default_headers=[(b"date", b"Sat, 05 Dec 2026 10:00:00 GMT")],
               message_event=asyncio.Event(), expect_100_continue=False, keep_alive=keep_alive,
               on_response=lambda: None)


def _cycle(cls: type, messages: list[dict], method: str, keep_alive: bool) -> tuple[Any, Any]:
    """A cycle of ``cls`` that was sent ``messages``, and the error it raised (type and text) or None."""
    cycle = _new(cls, method, keep_alive)
    error = None

    async def send_all() -> None:
        for message in messages:
            await cycle.send(message)

    try:
        asyncio.run(send_all())
    except Exception as exc:  # compared: whatever uvicorn raises, the cycle must raise
        error = (type(exc), str(exc))
    return cycle, error


def _run(cls: type, messages: list[dict], method: str, keep_alive: bool) -> tuple:
    """What a cycle of ``cls`` does with ``messages``: the bytes written, the error, its framing."""
    cycle, error = _cycle(cls, messages, method, keep_alive)
    return (b"".join(cycle.transport.written), error, cycle.transport.closed, cycle.response_started,
            cycle.response_complete, cycle.keep_alive, cycle.chunked_encoding, cycle.expected_content_length)


# Mostly heads a server could send (lower-case names, clean values, the framing headers among
# them), then every way a head can be wrong: names to lower-case, refused bytes, parts that are not
# a pair of byte strings.
_GOOD_NAMES = st.sampled_from([b"content-type", b"content-length", b"x-request-id", b"x-ratelimit-remaining",
                               b"vary", b"transfer-encoding", b"connection", b"set-cookie", b"x-\xe9"])
_GOOD_VALUES = st.sampled_from([b"application/json", b"2", b"12", b"chunked", b"close", b"keep-alive, Close",
                                b"Origin", b"a\tb", b"", b"1 2", b"abc", b"caf\xc3\xa9"])
_NAMES = st.one_of(_GOOD_NAMES, st.sampled_from([b"Content-Type", b"X-Request-ID", b"a b", b"x:y"]),
                   st.binary(max_size=12))
_VALUES = st.one_of(_GOOD_VALUES, st.sampled_from([b"x\r\ny: z", b"\x00", b"\x7f"]), st.binary(max_size=12))
_GOOD = st.tuples(_GOOD_NAMES, _GOOD_VALUES)
_HEADER = st.one_of(
    _GOOD, _GOOD, _GOOD, _GOOD, _GOOD, _GOOD,
    st.tuples(_NAMES, _VALUES),
    st.tuples(_NAMES, _VALUES).map(list),
    st.tuples(_GOOD_NAMES, _GOOD_VALUES, _GOOD_VALUES),  # not a pair
    st.tuples(_GOOD_NAMES),
    st.tuples(st.text(max_size=6), _GOOD_VALUES),  # not bytes
)


@hypothesis_settings(max_examples=1000, deadline=None)
@given(headers=st.lists(_HEADER, max_size=6), status=st.sampled_from([200, 204, 304, 404, 500]),
       method=st.sampled_from(["GET", "HEAD", "POST"]), keep_alive=st.booleans(),
       body=st.sampled_from([b"", b"ok", b"12 bytes....", b"x" * 40]), more_body=st.booleans())
def test_the_head_and_what_follows_are_uvicorns(headers: list, status: int, method: str, keep_alive: bool,
                                                body: bytes, more_body: bool) -> None:
    messages = [{"type": "http.response.start", "status": status, "headers": headers},
                {"type": "http.response.body", "body": body, "more_body": more_body}]
    assert _run(ResponseCycle, messages, method, keep_alive) == _run(RequestResponseCycle, messages, method, keep_alive)


def test_an_api_response_head_takes_the_one_pass(monkeypatch: Any) -> None:
    # a JSON response with the stack's headers, as Starlette and the request layer send it
    passed_on: list[dict] = []

    def counted(self: RequestResponseCycle, message: Any) -> Any:
        passed_on.append(message)
        return RequestResponseCycle.send(self, message)

    monkeypatch.setattr(http_server, "_uvicorn_send", counted)
    headers = [(b"content-length", b"2"), (b"content-type", b"application/json"), (b"x-request-id", b"0" * 32),
               (b"x-ratelimit-limit", b"300"), (b"x-ratelimit-remaining", b"299"), (b"x-ratelimit-reset", b"60"),
               (b"vary", b"Origin")]
    messages = [{"type": "http.response.start", "status": 200, "headers": headers},
                {"type": "http.response.body", "body": b"{}"}]
    cycle, error = _cycle(ResponseCycle, messages, "GET", True)
    assert error is None and cycle.response_complete
    assert passed_on == []  # the head and the body were both written here
    assert cycle.transport.written == [  # in one write
        b"HTTP/1.1 200 OK\r\ndate: Sat, 05 Dec 2026 10:00:00 GMT\r\n"
        + b"".join(name + b": " + value + b"\r\n" for name, value in headers) + b"\r\n{}"]


def test_a_streamed_head_does_not_wait_for_the_first_chunk() -> None:
    async def stream() -> None:
        cycle = _new(ResponseCycle, "GET", True)
        await cycle.send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        await asyncio.sleep(0)  # the app waits for its first event: the loop comes round
        assert cycle.transport.written == [b"HTTP/1.1 200 OK\r\ndate: Sat, 05 Dec 2026 10:00:00 GMT\r\n"
                                           b"content-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"]
        await cycle.send({"type": "http.response.body", "body": b"data: 1\n\n", "more_body": True})
        await cycle.send({"type": "http.response.body", "body": b"", "more_body": False})
        assert cycle.transport.written[1:] == [b"9\r\ndata: 1\n\n\r\n", b"0\r\n\r\n"] and cycle.response_complete

    asyncio.run(stream())


def test_the_server_makes_its_cycles_as_response_cycles() -> None:
    cycles: list[type] = []

    async def app(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            cycles.append(type(send.__self__))  # the server's send is its cycle's bound method
            assert send.__self__.loop is asyncio.get_running_loop()  # given by the protocol, not asked for
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"ok"})

    with _Server(Settings(database_url=None), app) as server:
        sock = socket.create_connection(("127.0.0.1", server.port))
        sock.settimeout(3.0)
        # two requests in one write: the second waits behind the first (pipelined) and is answered too
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = b""
        while True:
            received = sock.recv(4096)
            if not received:
                break
            answer += received
        sock.close()
    first, second = answer.split(b"HTTP/1.1 200 OK\r\n")[1:]
    for response in (first, second):
        head, _, body = response.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        assert lines[0].startswith(b"date: ") and b"content-type: text/plain" in lines
        assert b"transfer-encoding: chunked" in lines and body.startswith(b"2\r\nok\r\n0\r\n")
    assert b"connection: close" in second.split(b"\r\n\r\n")[0] and b"connection: close" not in first
    # made as ResponseCycle, not re-classed: the class a cycle was made as is the one it has
    assert cycles == [ResponseCycle, ResponseCycle]
    assert http_server._on_headers_complete is not http_server.HttpToolsProtocol.on_headers_complete
