"""What an exception escaping auth, limits, the router or a route becomes: the error format.

``runtime.middleware.request`` renders it inside its CORS step and under its request id, so even a
crash answers with CORS headers and the request id; the traceback is logged (redacted). This is the
one place an HTTP request's exceptions are rendered: the app runs its routes without Starlette's
own exception layers (``runtime.app.ServiceApp``), and its exception handlers, used for WebSocket
handshakes only, answer through ``error_response`` too.
"""
from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import Scope

from runtime.db import DatabaseUnavailable
from runtime.errors import ApiError, internal_error, standard_error

log = logging.getLogger("unamentis.error")

# Starlette's own wording for its 404 and 405: replaced by the error format's message for the status.
_STARLETTE_DETAILS = frozenset({"Not Found", "Method Not Allowed"})


def database_unavailable() -> ApiError:
    return ApiError(503, "service_unavailable", "The database is unavailable; retry shortly.", headers={"Retry-After": "5"})


def error_for(exc: Exception, scope: Scope) -> ApiError:
    """The answer to ``exc``; a database outage and anything unexpected are logged here."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, HTTPException):  # the router's 404/405, or one a route raises
        detail = exc.detail if isinstance(exc.detail, str) and exc.detail not in _STARLETTE_DETAILS else None
        return standard_error(exc.status_code, detail, headers=exc.headers)
    if isinstance(exc, DatabaseUnavailable):
        log.error("database unavailable: %s", exc)
        return database_unavailable()
    log.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
    return internal_error()


def error_response(exc: Exception, scope: Scope, envelope_prefixes: tuple[str, ...]) -> Response:
    """The answer to ``exc`` (``error_for``) as a response; an ``ApiError`` (what a route raises on
    purpose) under one of the services' ``envelope_prefixes`` carries the old ``"success": false``."""
    error = error_for(exc, scope)
    return error.to_response(envelope=isinstance(exc, ApiError) and scope["path"].startswith(envelope_prefixes))
