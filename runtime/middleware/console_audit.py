"""Every request on the console listener is written to ``audit_log`` before it runs.

The console's proxies act for whoever Cloudflare Access let into ``admin.<domain>`` but forward no
identity, so the audit trail is the record of what the console's service principal did: one row per
request (``console.request``, target ``METHOD /path`` without the query, the request id, the client
address). If the row cannot be written the request is refused (503): nothing runs unaudited.
"""
from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Receive, Scope, Send

from runtime.auth import store
from runtime.auth.principal import Principal
from runtime.context import CONSOLE_ENTRY_KEY, REQUEST_ID_KEY
from runtime.errors import ApiError
from runtime.middleware.common import send_error

if TYPE_CHECKING:
    from runtime.context import AppContext

log = logging.getLogger("unamentis.console")
ACTION = "console.request"


class ConsoleAuditMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        who = scope.get("principal")
        if not scope.get(CONSOLE_ENTRY_KEY) or not isinstance(who, Principal):
            await self.app(scope, receive, send)  # public paths on the console listener carry no principal
            return
        ctx: AppContext = scope["app"].state.ctx
        method = scope.get("method", "WS") if scope["type"] == "http" else "WS"
        peer = (scope.get("client") or (None,))[0]
        try:
            async with ctx.db.tenant(who.tenant_id, who.user_id) as conn:
                await store.audit(conn, who.tenant_id, ACTION, actor_kind="admin", actor_id=who.user_id,
                                  target=f"{method} {scope['path']}"[:500], ip=peer, request_id=scope.get(REQUEST_ID_KEY),
                                  details=json.dumps({"entry": "console", "email": who.email}))
        except Exception:
            log.exception("console request not audited; refused")
            await send_error(scope, receive, send, ApiError(503, "audit_unavailable",
                                                            "The console's request could not be audited; try again."))
            return
        await self.app(scope, receive, send)
