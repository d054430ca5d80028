"""Small response and transaction helpers for the content services.

``tx(request)`` opens the caller's tenant-scoped transaction (RLS does the isolation; the SQL still
filters by tenant where it reads, so intent is visible). ``reply(data)`` renders JSON with datetimes
as ISO-8601 strings and UUIDs as text, the way every app decodes them.
"""
from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from runtime.auth.principal import Principal, principal
from runtime.context import ctx


def _default(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(data: Any) -> str:
    return json.dumps(data, default=_default, ensure_ascii=False, separators=(",", ":"))


def reply(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(data).encode(), status_code=status, headers=headers, media_type="application/json")


def tx(request: Request, who: Principal | None = None):
    """The caller's tenant transaction: ``async with tx(request) as conn:``."""
    who = who or principal(request)
    return ctx(request).db.tenant(who.tenant_id, _uuid_or_none(who.user_id))


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
