"""413 past the request's body limit.

The limit lives in the scope (``runtime.validation.BODY_LIMIT_KEY``): the app's default (1 MiB)
set here, raised by a route that allows more (``validation.set_body_limit``) before it reads.
A declared ``Content-Length`` above the largest limit any route may set is refused at once;
otherwise bytes are counted as the app reads them, so a chunked or lying body is cut off too.
"""
from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runtime.errors import ApiError, BadRequest, PayloadTooLarge
from runtime.middleware.common import header, send_error
from runtime.validation import BODY_LIMIT_KEY

# No route accepts more than this (asset uploads are 10 MiB).
ABSOLUTE_MAX_BYTES = 10 * 1024 * 1024


def too_large(limit: int) -> ApiError:
    return PayloadTooLarge(f"The request body is larger than {limit} bytes.", details={"max_bytes": limit})


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.absolute = max(max_bytes, ABSOLUTE_MAX_BYTES)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault(BODY_LIMIT_KEY, self.max_bytes)
        declared = header(scope, b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                await send_error(scope, receive, send, BadRequest("Content-Length is not a number."))
                return
            if size > self.absolute:
                await send_error(scope, receive, send, too_large(scope[BODY_LIMIT_KEY]))
                return
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                limit = scope.get(BODY_LIMIT_KEY) or self.max_bytes
                if received > limit:
                    raise too_large(limit)
            return message

        await self.app(scope, counted_receive, send)
