"""The HTTP server's own limits (how long a client may take, how many may be served at once),
and how it writes a response.

uvicorn cuts idle keep-alive connections and caps concurrent connections (``limit_concurrency``
answers 503 beyond it), but it waits forever for a request's headers: a client that connects and
sends nothing, or one header byte a minute, holds a connection and a slot until the server stops.
``HeaderTimeoutProtocol`` closes such a connection when its headers are not complete within
``UNAMENTIS_HEADER_TIMEOUT`` seconds of the connection opening or of a new request starting.
Every limit here comes from ``runtime.settings`` (README "Configuration").

The same protocol writes a response's status line and headers through ``ResponseCycle``: the
checks uvicorn makes, in one pass instead of one per header, and the head and body of a response
in one write. It keeps uvicorn's keep-alive timeout with one timer per connection, not one per
request.
"""
from __future__ import annotations

import asyncio
import types
from typing import Any, Awaitable, Generator

from uvicorn.protocols.http import httptools_impl
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from runtime.settings import Settings


def _changing(pattern: Any) -> bytes:
    """A ``bytes.translate`` table that changes exactly the bytes ``pattern`` matches, so a text
    translates to itself (the same object: nothing is copied) only when it holds none of them."""
    return bytes((b + 1) % 256 if pattern.match(bytes((b,))) else b for b in range(256))


# The bytes uvicorn refuses in a response header's name and in its value, from its own patterns.
_NAME_TABLE = _changing(httptools_impl.HEADER_RE)
_VALUE_TABLE = _changing(httptools_impl.HEADER_VALUE_RE)
_STATUS_LINE = httptools_impl.STATUS_LINE
_uvicorn_send = RequestResponseCycle.send


class _Sent:
    """What ``ResponseCycle.send`` returns for a head it wrote: an awaitable that is done at once."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, Any, None]:
        return iter(())  # type: ignore[return-value]  # an iterator that ends at once is all ``await`` needs


_SENT = _Sent()


class ResponseCycle(RequestResponseCycle):
    """uvicorn's request-response cycle, with the usual response head written in one pass, and
    with the body in the same write.

    uvicorn checks each response header with two regular expressions, lower-cases its name and
    copies it into the head one header at a time, and an API response carries eight or so (the
    request id and the rate-limit headers among them). Here, when the headers are a list of pairs
    of byte strings whose names are already lower case (Starlette's and the stack's are) and none
    frames the body but ``content-length``, all names and all values are each checked at once for
    the bytes uvicorn's patterns refuse (a table lookup per byte, not the pattern engine) and the
    head is joined in C. Any other head, and every message after it, goes to uvicorn's own
    ``send``, so its errors and framing rules stay its own (a test compares the two on generated
    heads: the bytes written, the error raised, the framing decided).

    uvicorn writes the head and then the body: two system calls and two TCP segments for every
    response, and a small API answer is exactly a head and one body. A head joined here is held
    until the app's next message: a body that completes the response as the head declared it goes
    out with the head in one write (``writelines``: one ``writev``, the body not copied); anything
    else writes the head first and goes to uvicorn's ``send``. So that a streamed response's head
    does not wait for its first chunk, a head still held when the event loop comes round is
    written then."""

    _head: bytes | None = None  # a head joined here, not yet written
    # The protocol's event loop, set by ``HeaderTimeoutProtocol`` on the cycles it makes (asking
    # asyncio for the running loop costs a ``getpid`` system call per call on this interpreter).
    loop: asyncio.AbstractEventLoop | None = None

    def send(self, message: Any) -> Awaitable[None]:  # type: ignore[override]
        # Not a coroutine: uvicorn's ``send(message)`` is returned for the caller to await, so a
        # body message passes no extra coroutine.
        head = self._head
        if head is not None:
            self._head = None
            if (message["type"] == "http.response.body" and not message.get("more_body", False)
                    and not self.disconnected and not self.flow.write_paused and not self.chunked_encoding
                    and self.scope["method"] != "HEAD"):
                body = message.get("body", b"")
                if len(body) == self.expected_content_length:  # what uvicorn checks, for this one write
                    self.transport.writelines((head, body))
                    self.expected_content_length = 0
                    self.response_complete = True
                    self.message_event.set()
                    if not self.keep_alive:
                        self.transport.close()
                    self.on_response()
                    return _SENT
            self._write_head(head)
            return _uvicorn_send(self, message)
        headers = message.get("headers", ())
        if (self.response_started or self.disconnected or self.flow.write_paused or self.access_log
                or message["type"] != "http.response.start" or type(headers) is not list or not headers):
            return _uvicorn_send(self, message)
        headers = self.default_headers + headers
        try:
            names, values = zip(*headers)
            joined_names, joined_values = b"-".join(names), b"\t".join(values)
            head = b"\r\n".join(map(b": ".join, headers))
        except (TypeError, ValueError):  # not pairs of byte strings
            return _uvicorn_send(self, message)
        if (len(head) != len(joined_names) + len(joined_values) + 2 * len(headers)  # a header of three parts
                or joined_names.lower() != joined_names
                # "-" and a tab are allowed in names and values alike, so joining hides no refused byte
                or joined_names.translate(_NAME_TABLE) != joined_names
                or joined_values.translate(_VALUE_TABLE) != joined_values
                or b"transfer-encoding" in names or b"connection" in names):
            return _uvicorn_send(self, message)
        self.response_started = True
        self.waiting_for_100_continue = False
        status_code = message["status"]
        content = [_STATUS_LINE[status_code], head, b"\r\n"]
        if b"content-length" in names:  # the first one counts, as in uvicorn
            self.expected_content_length = int(values[names.index(b"content-length")].decode())
            self.chunked_encoding = False
        if not self.keep_alive:
            content.append(b"connection: close\r\n")
        if self.chunked_encoding is None and self.scope["method"] != "HEAD" and status_code not in (204, 304):
            self.chunked_encoding = True
            content.append(b"transfer-encoding: chunked\r\n")
        content.append(b"\r\n")
        self._head = b"".join(content)
        (self.loop or asyncio.get_running_loop()).call_soon(self._write_held_head)
        return _SENT

    def _write_held_head(self) -> None:
        """The event loop came round with the head still held (a streamed response, an app that
        failed or is waiting after its head): write it now."""
        head = self._head
        if head is not None:
            self._head = None
            self._write_head(head)

    def _write_head(self, head: bytes) -> None:
        if not self.disconnected and not self.transport.is_closing():
            self.transport.write(head)


def _making_response_cycles(method: Any) -> Any:
    """uvicorn's ``on_headers_complete`` itself, with ``ResponseCycle`` as the cycle it makes.

    uvicorn makes each request's cycle in that method by the class's module-level name, and takes
    no cycle class as an option. A cycle re-classed after it is made would work, but every
    attribute access on it would take twice as long (the interpreter lays out an object's
    attributes for the class it was made as). So uvicorn's own code runs, with that one name looked
    up in a copy of its module's names; if a version of uvicorn no longer uses the name, its method
    is used as it is (a test notices)."""
    if "RequestResponseCycle" not in method.__code__.co_names:
        return method
    return types.FunctionType(method.__code__, {**method.__globals__, "RequestResponseCycle": ResponseCycle},
                              method.__name__, method.__defaults__, method.__closure__)


_on_headers_complete = _making_response_cycles(HttpToolsProtocol.on_headers_complete)


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol plus a deadline for the request line and headers, writing its
    responses' heads through ``ResponseCycle``, with one keep-alive timer per connection.

    A new connection gets its deadline at once. A later request on a kept-alive connection gets
    one only if its headers are still incomplete once the bytes at hand are parsed: almost every
    request's headers arrive in one read, and a timer armed and cancelled per request (with the
    calls around it) was a measurable part of a cheap request's CPU.

    uvicorn's keep-alive timeout was such a timer too: armed when a response completes, cancelled
    when the next request's bytes arrive. Here a request's bytes only mark the connection busy, a
    completed response notes when it went idle, and the one timer, when it fires, closes the
    connection if it has been idle for the whole timeout, or waits for the rest of it (and while
    the connection is busy, waits for its next response to complete): the same cut, at the same
    moment, without a timer per request."""

    header_timeout: float = 10.0  # set per server by ``uvicorn_options``

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_deadline: asyncio.TimerHandle | None = None
        self._keep_alive: asyncio.TimerHandle | None = None
        self._idle_since: float | None = None  # the loop's time the last response completed; None while busy
        self._arm_header_deadline()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._header_deadline is None:
            # uvicorn starts a request's scope when its first byte arrives and puts the method in
            # it when its headers are complete: no method yet is a request waiting for its headers.
            scope = self.scope
            if scope is not None and "method" not in scope and not self.transport.is_closing():
                self._arm_header_deadline()

    def on_headers_complete(self) -> None:
        if self._header_deadline is not None:  # most requests of a kept-alive connection armed none
            self._disarm_header_deadline()
        _on_headers_complete(self)
        cycle = self.cycle  # the request's, or (an upgrade) the one before it, or None
        if isinstance(cycle, ResponseCycle):
            cycle.loop = self.loop

    def _unset_keepalive_if_required(self) -> None:
        # uvicorn cancels its keep-alive timer here (bytes came, a response completed, the
        # connection ended); here the connection is only marked busy (see the class)
        self._idle_since = None

    def on_response_complete(self) -> None:
        # uvicorn's own steps, in its order, but for the keep-alive timer (see the class)
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self._unset_keepalive_if_required()
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
            return
        self._idle_since = self.loop.time()
        if self._keep_alive is None:
            self._keep_alive = self.loop.call_later(self.timeout_keep_alive, self._keep_alive_due)

    def _keep_alive_due(self) -> None:
        self._keep_alive = None
        idle_since = self._idle_since
        if idle_since is None:
            return  # busy: armed again when its response completes
        left = idle_since + self.timeout_keep_alive - self.loop.time()
        if left > 0:
            self._keep_alive = self.loop.call_later(left, self._keep_alive_due)
        else:
            self.timeout_keep_alive_handler()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        keep_alive = getattr(self, "_keep_alive", None)  # None too if the connection never started
        if keep_alive is not None:
            keep_alive.cancel()
            self._keep_alive = None
        super().connection_lost(exc)

    def _arm_header_deadline(self) -> None:
        self._header_deadline = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _disarm_header_deadline(self) -> None:
        deadline = getattr(self, "_header_deadline", None)  # None too if the connection never started
        if deadline is not None:
            deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if not self.transport.is_closing():
            self.transport.close()


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The keyword arguments of ``uvicorn.run``/``uvicorn.Config`` that bound clients."""
    protocol = type("ConfiguredHeaderTimeoutProtocol", (HeaderTimeoutProtocol,), {"header_timeout": settings.header_timeout})
    return {
        "http": protocol,
        "timeout_keep_alive": settings.keepalive_timeout,
        "limit_concurrency": settings.max_connections or None,
        "ws_max_size": settings.ws_max_message_bytes,
    }
