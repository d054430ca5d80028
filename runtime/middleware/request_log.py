"""Request id, one JSON access-log line per request, and the last-resort 500.

The request id comes from a sane incoming ``X-Request-ID`` (the edge's) or is generated; it is put
in the scope, in a contextvar (so every log line of the request carries it) and on the response.
The access line logs the path WITHOUT the query string (tokens travel there on WebSockets).
"""
from __future__ import annotations

import logging
import os
import re
import time

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runtime.context import CLIENT_IP_KEY, REQUEST_ID_KEY, RESPONSE_HEADERS_KEY, RESPONSE_STARTED_KEY
from runtime.errors import internal_error
from runtime.logging import request_id_var
from runtime.middleware.common import header, merge_headers, send_error

access_log = logging.getLogger("unamentis.access")
error_log = logging.getLogger("unamentis.error")
_INCOMING_ID = re.compile(r"^[A-Za-z0-9._:\-]{8,128}$")


class RequestLogMiddleware:
    def __init__(self, app: ASGIApp, *, enabled: bool = True) -> None:
        self.app = app
        self.enabled = enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        incoming = header(scope, b"x-request-id")
        request_id = incoming if incoming and _INCOMING_ID.match(incoming) else os.urandom(16).hex()  # uuid4().hex's shape, a quarter of its cost
        scope[REQUEST_ID_KEY] = request_id
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 0
        response_started = False
        queued: list[tuple[bytes, bytes]] = [(b"x-request-id", request_id.encode())]
        scope[RESPONSE_HEADERS_KEY] = queued  # inner layers (CORS, rate limits) append here

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                scope[RESPONSE_STARTED_KEY] = True
                message["headers"] = merge_headers(message.get("headers", ()), queued)
            elif message["type"] == "websocket.accept":
                status = 101
            elif message["type"] == "websocket.close" and not status:
                status = 403  # closed before accept: the server answers the handshake with 403
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except ClientDisconnect:
            # The client went away while sending its body: not a server error, and no one to answer.
            # 499 is the access-log convention (nginx) for exactly this.
            if not response_started:
                status = 499
        except Exception:
            error_log.exception("unhandled error", extra={"path": scope.get("path")})
            if scope["type"] == "http" and not response_started:
                status = 500
                await send_error(scope, receive, send_with_id, internal_error())
            elif scope["type"] == "http":
                raise  # the response is half sent: let the server drop the connection
        finally:
            if self.enabled:
                self._log(scope, status, started)
            request_id_var.reset(token)

    def _log(self, scope: Scope, status: int, started: float) -> None:
        principal = scope.get("principal")
        extra = {
            "method": scope.get("method", "WS"),
            "path": scope.get("path"),
            "status": status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            "client_ip": scope.get(CLIENT_IP_KEY) or (scope.get("client") or ("unknown",))[0],
        }
        if principal is not None:
            extra["principal"] = getattr(principal, "kind", None)
            extra["tenant_id"] = getattr(principal, "tenant_id", None)
        access_log.info("%s %s %s", extra["method"], extra["path"], status, extra=extra)
