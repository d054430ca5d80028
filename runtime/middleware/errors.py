"""What an exception escaping auth, limits or a route becomes: a 500 (503 for the database) in the
error format.

``runtime.middleware.request`` renders it inside its CORS step and under its request id, so even a
crash answers with CORS headers and the request id; the traceback is logged (redacted). ``ApiError``
and database outages are rendered here too for anything the router's exception handlers did not see.
"""
from __future__ import annotations

import logging

from starlette.types import Scope

from runtime.db import DatabaseUnavailable
from runtime.errors import ApiError, internal_error

log = logging.getLogger("unamentis.error")


def database_unavailable() -> ApiError:
    return ApiError(503, "service_unavailable", "The database is unavailable; retry shortly.", headers={"Retry-After": "5"})


def error_for(exc: Exception, scope: Scope) -> ApiError:
    """The answer to ``exc``; anything but an ``ApiError`` is logged here."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, DatabaseUnavailable):
        log.error("database unavailable: %s", exc)
        return database_unavailable()
    log.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
    return internal_error()
