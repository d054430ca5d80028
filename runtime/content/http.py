"""Small response and transaction helpers for the content services.

``tx(request)`` opens the caller's tenant-scoped transaction (RLS does the isolation; the SQL still
filters by tenant where it reads, so intent is visible). ``reply(data)`` renders JSON with datetimes
as ISO-8601 strings and UUIDs as text, the way every app decodes them.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import uuid
from typing import Any, AsyncIterator

import asyncpg

from starlette.requests import Request
from starlette.responses import Response

from runtime.auth.principal import Principal, principal
from runtime.context import ctx
from runtime.errors import Conflict, InvalidField


def _default(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(data: Any) -> str:
    """JSON text; non-finite numbers (which Python's parser accepts but JSON and PostgreSQL do not)
    are the client's error."""
    try:
        return json.dumps(data, default=_default, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError:
        raise InvalidField("Numbers must be finite (no NaN or Infinity).") from None


def reply(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(data).encode(), status_code=status, headers=headers, media_type="application/json")


def tx(request: Request, who: Principal | None = None):
    """The caller's tenant transaction: ``async with tx(request) as conn:``."""
    who = who or principal(request)
    return tenant_tx(request, who.tenant_id, _uuid_or_none(who.user_id))


@contextlib.asynccontextmanager
async def tenant_tx(request: Request, tenant_id: str, user_id: str | None = None) -> AsyncIterator[asyncpg.Connection]:
    """A transaction scoped to ``tenant_id`` (admin routes pick the tenant explicitly).

    Values PostgreSQL refuses (NUL characters, out-of-range numbers, failed CHECKs) can only come
    from the request here, so they become 4xx answers instead of 500s."""
    try:
        async with ctx(request).db.tenant(tenant_id, user_id) as conn:
            yield conn
    except asyncpg.exceptions.DataError as exc:
        raise InvalidField(f"A value was rejected: {_reason(exc)}") from None
    except asyncpg.exceptions.UniqueViolationError:
        raise Conflict("That already exists.") from None
    except asyncpg.exceptions.IntegrityConstraintViolationError as exc:
        raise InvalidField(f"A value was rejected: {_reason(exc)}") from None


def _reason(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


def _uuid_or_none(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return None


def epoch(value: dt.datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
