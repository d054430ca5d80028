"""An exception escaping auth, limits or a route becomes a 500 (503 for the database) in the error format.

It sits inside CORS and the request-id layer, so even a crash answers with CORS headers and the
request id; the traceback is logged (redacted). ``ApiError`` and database outages are rendered
here too for anything the router's exception handlers did not see.
"""
from __future__ import annotations

import logging

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runtime.context import RESPONSE_HEADERS_KEY, RESPONSE_STARTED_KEY
from runtime.db import DatabaseUnavailable
from runtime.errors import ApiError, internal_error
from runtime.middleware.common import send_error

log = logging.getLogger("unamentis.error")


def database_unavailable() -> ApiError:
    return ApiError(503, "service_unavailable", "The database is unavailable; retry shortly.", headers={"Retry-After": "5"})


class ErrorMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if RESPONSE_STARTED_KEY in scope or RESPONSE_HEADERS_KEY in scope:
            # Under the request-log layer, which records when the response starts: no wrapper needed.
            tracking_send = send
        else:
            async def tracking_send(message: Message) -> None:
                if message["type"] == "http.response.start":
                    scope[RESPONSE_STARTED_KEY] = True
                await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except ClientDisconnect:
            raise  # nobody to answer; the request log records it as 499
        except Exception as exc:
            if scope.get(RESPONSE_STARTED_KEY):
                raise  # half-sent response: the server must drop the connection
            if isinstance(exc, ApiError):
                error = exc
            elif isinstance(exc, DatabaseUnavailable):
                log.error("database unavailable: %s", exc)
                error = database_unavailable()
            else:
                log.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
                error = internal_error()
            await send_error(scope, receive, send, error)
