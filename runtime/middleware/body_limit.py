"""413 past the request's body limit.

The limit lives in the scope (``runtime.validation.BODY_LIMIT_KEY``): the app's default (1 MiB)
set by ``runtime.middleware.request``, raised by a route that allows more
(``validation.set_body_limit``) before it reads. A declared ``Content-Length`` above the route's
limit is refused when the route starts reading (only then is the route's own limit known, so the
413 names it); bytes are counted as the app reads them, so a chunked or lying body is cut off too.
"""
from __future__ import annotations

from starlette.types import Message, Receive, Scope

from runtime.errors import ApiError, PayloadTooLarge
from runtime.validation import BODY_LIMIT_KEY


def too_large(limit: int) -> ApiError:
    return PayloadTooLarge(f"The request body is larger than {limit} bytes.", details={"max_bytes": limit})


def counted(scope: Scope, receive: Receive, declared: int | None, default_limit: int) -> Receive:
    """``receive`` that raises 413 once the body passes the route's limit (declared or counted)."""
    received = 0

    async def counted_receive() -> Message:
        nonlocal received
        limit = scope.get(BODY_LIMIT_KEY) or default_limit
        if declared is not None and declared > limit:
            raise too_large(limit)
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise too_large(limit)
        return message

    return counted_receive
