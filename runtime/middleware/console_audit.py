"""Every request on the console listener is written to ``audit_log`` before it runs.

The console's proxies act for whoever Cloudflare Access let into ``admin.<domain>`` but forward no
identity, so the audit trail is the record of what the console's service principal did: one row per
request (``console.request``, target ``METHOD /path`` without the query, the request id, the client
address). If the row cannot be written the request is refused (503): nothing runs unaudited.
``runtime.middleware.auth`` calls this for the console's principal, after its rate limit and just
before the request runs (public paths on the console listener carry no principal).
"""
from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

from starlette.types import Scope

from runtime.auth import store
from runtime.auth.principal import Principal
from runtime.context import REQUEST_ID_KEY
from runtime.errors import ApiError

if TYPE_CHECKING:
    from runtime.context import AppContext

log = logging.getLogger("unamentis.console")
ACTION = "console.request"


async def audit_console_request(ctx: "AppContext", scope: Scope, who: Principal) -> ApiError | None:
    """Writes the request's audit row; the 503 to answer instead when it cannot be written."""
    method = scope.get("method", "WS") if scope["type"] == "http" else "WS"
    peer = (scope.get("client") or (None,))[0]
    try:
        async with ctx.db.tenant(who.tenant_id, who.user_id) as conn:
            await store.audit(conn, who.tenant_id, ACTION, actor_kind="admin", actor_id=who.user_id,
                              target=f"{method} {scope['path']}"[:500], ip=peer, request_id=scope.get(REQUEST_ID_KEY),
                              details=json.dumps({"entry": "console", "email": who.email}))
    except Exception:
        log.exception("console request not audited; refused")
        return ApiError(503, "audit_unavailable", "The console's request could not be audited; try again.")
    return None
