"""413 past the request's body limit.

The limit lives in the scope (``runtime.validation.BODY_LIMIT_KEY``): the app's default (1 MiB)
set here, raised by a route that allows more (``validation.set_body_limit``) before it reads.
A declared ``Content-Length`` above the route's limit is refused when the route starts reading
(only then is the route's own limit known, so the 413 names it); bytes are counted as the app
reads them, so a chunked or lying body is cut off too.
"""
from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runtime.errors import ApiError, BadRequest, PayloadTooLarge
from runtime.middleware.common import header, send_error
from runtime.validation import BODY_LIMIT_KEY

def too_large(limit: int) -> ApiError:
    return PayloadTooLarge(f"The request body is larger than {limit} bytes.", details={"max_bytes": limit})


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault(BODY_LIMIT_KEY, self.max_bytes)
        declared = header(scope, b"content-length")
        size: int | None = None
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                await send_error(scope, receive, send, BadRequest("Content-Length is not a number."))
                return
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            limit = scope.get(BODY_LIMIT_KEY) or self.max_bytes
            if size is not None and size > limit:
                raise too_large(limit)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise too_large(limit)
            return message

        await self.app(scope, counted_receive, send)
