"""Every request's own checks in one pass: request id and access line, origin secret, CORS, errors,
client headers, body limit.

These ran as six pure-ASGI layers; each added its coroutine to the chain that every resumption of a
request walks through, and four wrapped ``send``. Here the same steps run in the same order, with
one scan of the headers and one ``send`` wrapper (what each step decides is in its own module, but
for the two small things every request does, written out here: the secret's constant-time compare
and a client header's clean-up):

  1. request id and access line (``request_log``); an exception no later step answered → 500
     without CORS headers (the failure may be in them)
  2. Tier 3, the origin secret (``origin``): 403, else the client IP from CF-Connecting-IP
  3. CORS (``cors``): a preflight is answered here; from here on every response gets CORS headers
  4. errors (``errors``): an exception from anything below (auth, limits, the router, routes) → the
     error format; the only place an HTTP request's exceptions are answered
  5. client headers (``client``): X-Client-* into the scope; below the minimum version → 426
  6. body limit (``body_limit``): 413 past the route's limit (1 MiB unless the route raises it)
"""
from __future__ import annotations

import hmac
import logging
import time
from typing import Awaitable, Collection, Mapping

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runtime.context import (AUTHORIZATION_KEY, CLIENT_IP_KEY, CLIENT_KEY, CONSOLE_ENTRY_KEY, REQUEST_ID_KEY,
                             RESPONSE_HEADERS_KEY)
from runtime.errors import ApiError, BadRequest, internal_error
from runtime.logging import request_id_var
from runtime.middleware import body_limit, client, origin
from runtime.middleware.common import add_headers, send_error
from runtime.middleware.cors import Cors
from runtime.middleware.errors import error_response
from runtime.middleware.request_log import log_access, request_id
from runtime.validation import BODY_LIMIT_KEY

error_log = logging.getLogger("unamentis.error")

# The headers the one scan reads, by what each is: one dict lookup per header, and most headers
# (the edge adds a dozen: cf-ray, x-forwarded-*, …) are none of them. The Authorization value is
# kept for the auth layer, which would otherwise scan the headers again.
_CLIENT, _REQUEST_ID, _SECRET, _CONNECTING_IP, _ORIGIN, _LENGTH, _PREFLIGHT, _AUTHORIZATION = range(8)
_READ = {**dict.fromkeys(client.WANTED, _CLIENT), b"x-request-id": _REQUEST_ID, origin.SECRET_HEADER: _SECRET,
         origin.CONNECTING_IP_HEADER: _CONNECTING_IP, b"origin": _ORIGIN, b"content-length": _LENGTH,
         b"access-control-request-method": _PREFLIGHT, b"authorization": _AUTHORIZATION}


class RequestMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        access_log: bool = True,
        origin_secret: str | None = None,
        cors_origins: Collection[str] = (),
        min_client_versions: Mapping[str, tuple[int, ...]] | None = None,
        max_body_bytes: int,
        envelope_prefixes: Collection[str] = (),
    ) -> None:
        self.app = app
        self.access_log = access_log
        self.secret = origin_secret.encode() if origin_secret else None
        self.cors = Cors(cors_origins)
        self.min_versions = dict(min_client_versions or {})
        self.max_bytes = max_body_bytes
        self.envelope_prefixes = tuple(envelope_prefixes)  # where a route's ApiError carries "success": false

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        # The one scan of the request's headers: the first value of each, CF-Connecting-IP's last.
        incoming_id = presented = connecting_ip = request_origin = content_length = authorization = None
        preflight_method = False
        secrets = 0
        info = client.NO_CLIENT_INFO.copy()
        for key, value in scope.get("headers") or ():
            if key not in _READ:  # an operator, not a call: most headers end here
                continue
            read = _READ[key]
            if read == _CLIENT:
                name = client.WANTED[key]
                if info[name] is None:
                    # as kept: decoded, trimmed, at most 200 characters, None when empty
                    info[name] = value.decode("latin-1").strip()[:200] or None
            elif read == _AUTHORIZATION:
                authorization = value.decode("latin-1") if authorization is None else authorization
            elif read == _REQUEST_ID:
                incoming_id = value if incoming_id is None else incoming_id
            elif read == _SECRET:
                presented = value if presented is None else presented
                secrets += 1
            elif read == _CONNECTING_IP:
                connecting_ip = value
            elif read == _ORIGIN:
                request_origin = value.decode("latin-1") if request_origin is None else request_origin
            elif read == _LENGTH:
                content_length = value.decode("latin-1") if content_length is None else content_length
            else:
                preflight_method = True

        # 1. request id, and the one send wrapper: status for the access line, CORS, queued headers
        rid = request_id(incoming_id)
        scope[REQUEST_ID_KEY] = rid
        token = request_id_var.set(rid)
        started = time.perf_counter()
        status = 0
        response_started = False
        with_cors = False
        queued: list[tuple[bytes, bytes]] = [(b"x-request-id", rid.encode())]
        scope[RESPONSE_HEADERS_KEY] = queued  # auth and rate limits append here
        scope[AUTHORIZATION_KEY] = authorization

        def send_on(message: Message) -> Awaitable[None]:
            # Not a coroutine: it returns the server's own ``send(message)`` to be awaited, so a
            # response's messages pass no extra coroutine.
            nonlocal status, response_started
            kind_of = message["type"]
            if kind_of == "http.response.start":
                status = message["status"]
                response_started = True
                headers = list(message.get("headers", ()))
                if with_cors:
                    self.cors.response_headers(headers, request_origin)
                add_headers(headers, queued)
                message["headers"] = headers
            elif kind_of == "websocket.accept":
                status = 101
            elif kind_of == "websocket.close" and not status:
                status = 403  # closed before accept: the server answers the handshake with 403
            return send(message)

        try:
            # 2. the origin secret; the console listener is reached only from the console's network
            if self.secret is not None and scope["path"] not in origin.EXEMPT_PATHS and not scope.get(CONSOLE_ENTRY_KEY):
                # compare_digest on equal-type bytes: time does not depend on where they differ
                if presented is None or not hmac.compare_digest(presented, self.secret):
                    await send_error(scope, receive, send_on, origin.forbidden())
                    return
                headers, copy = scope["headers"], (origin.SECRET_HEADER, presented)
                # ``copy in headers`` is not redundant: Mangum (Lambda) passes each header as a list,
                # which equals no tuple; such lists are filtered as below
                if secrets == 1 and type(headers) is list and copy in headers:
                    headers.remove(copy)  # the one copy, in place: no new list per request
                else:
                    scope["headers"] = [(key, value) for key, value in headers if key != origin.SECRET_HEADER]
                ip = origin.canonical_ip(connecting_ip) if connecting_ip else None
                if ip is not None:  # absent or malformed: keep the peer address
                    scope[CLIENT_IP_KEY] = ip
            if kind == "http":
                # 3. CORS
                if request_origin is not None and preflight_method and scope["method"] == "OPTIONS":
                    await self.cors.preflight(scope)(scope, receive, send_on)
                    return
                with_cors = True
                # 4. errors
                try:
                    refused, receive = self._checked(scope, receive, info, content_length)
                    if refused is not None:
                        await send_error(scope, receive, send_on, refused)
                    else:
                        await self.app(scope, receive, send_on)
                except ClientDisconnect:
                    raise  # nobody to answer; the access line records it as 499
                except Exception as exc:
                    if response_started:
                        raise  # half-sent response: the server must drop the connection
                    await error_response(exc, scope, self.envelope_prefixes)(scope, receive, send_on)
            else:
                refused, receive = self._checked(scope, receive, info, None)
                if refused is not None:
                    await send_error(scope, receive, send_on, refused)
                else:
                    await self.app(scope, receive, send_on)
        except ClientDisconnect:
            # The client went away while sending its body: not a server error, and no one to answer.
            # 499 is the access-log convention (nginx) for exactly this.
            if not response_started:
                status = 499
        except Exception:
            error_log.exception("unhandled error", extra={"path": scope.get("path")})
            if kind == "http" and not response_started:
                status = 500
                with_cors = False
                await send_error(scope, receive, send_on, internal_error())
            elif kind == "http":
                raise  # the response is half sent: let the server drop the connection
        finally:
            if self.access_log:
                log_access(scope, status, started)
            request_id_var.reset(token)

    def _checked(self, scope: Scope, receive: Receive, info: dict,
                 content_length: str | None) -> tuple[ApiError | None, Receive]:
        """Steps 5 and 6: the error to answer instead of the app, or None, and the ``receive`` the
        app reads the body through. (Not a coroutine: every resumption of a request walks through
        each coroutine it is awaited in.)"""
        # 5. client headers
        if info["platform"]:
            info["platform"] = info["platform"].lower()
        scope[CLIENT_KEY] = info
        if self.min_versions and scope["path"] not in client.EXEMPT_PATHS:
            outdated = client.upgrade_required(info, self.min_versions)
            if outdated is not None:
                return outdated, receive
        # 6. body limit
        if scope["type"] == "http":
            scope.setdefault(BODY_LIMIT_KEY, self.max_bytes)
            declared: int | None = None
            if content_length is not None:
                try:
                    declared = int(content_length)
                except ValueError:
                    return BadRequest("Content-Length is not a number."), receive
            receive = body_limit.counted(scope, receive, declared, self.max_bytes)
        return None, receive
