"""A test-only service exercising the runtime core: principal, tenant-scoped reads, validation."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from runtime.auth.principal import principal
from runtime.context import client_info, client_ip, ctx, request_id
from runtime.service import Service
from runtime.validation import (
    field_bool,
    field_enum,
    field_int,
    field_list,
    field_str,
    json_body,
    path_id,
    query_int,
    read_body,
    set_body_limit,
)


async def whoami(request: Request) -> JSONResponse:
    """Who is calling (test probe)."""
    who = principal(request)
    return JSONResponse(
        {
            "kind": who.kind,
            "tenant_id": who.tenant_id,
            "client_ip": client_ip(request),
            "client": client_info(request),
            "request_id": request_id(request),
            "header_names": [name.decode("latin-1") for name, _ in request.scope["headers"]],
        }
    )


async def tenant_read(request: Request) -> JSONResponse:
    """A tenant-scoped read without any WHERE clause (RLS does the filtering)."""
    who = principal(request)
    async with ctx(request).db.tenant(who.tenant_id) as conn:
        tenants = await conn.fetch("select id from tenants")
        setting = await conn.fetchval("select current_setting('app.tenant_id', true)")
    return JSONResponse({"visible_tenants": [str(r["id"]) for r in tenants], "setting": setting})


async def echo(request: Request) -> JSONResponse:
    """Validate a body with the field readers."""
    body = await json_body(request)
    return JSONResponse(
        {
            "name": field_str(body, "name", required=True, max_len=10),
            "count": field_int(body, "count", default=1, min=0, max=5),
            "mode": field_enum(body, "mode", ("fast", "slow"), default="fast"),
            "flag": field_bool(body, "flag", default=False),
            "tags": field_list(body, "tags", default=[], item_type=str, max_items=3),
        }
    )


echo.openapi = {  # type: ignore[attr-defined]
    "requestBody": {"content": {"application/json": {"schema": {"type": "object", "required": ["name"]}}}},
    "responses": {"200": {"description": "The validated fields"}},
}


async def big(request: Request) -> JSONResponse:
    """Accept up to 2 MiB."""
    set_body_limit(request, 2 * 1024 * 1024)
    data = await read_body(request)
    return JSONResponse({"size": len(data)})


async def boom(request: Request) -> JSONResponse:
    """Fail unexpectedly."""
    raise RuntimeError("exploded while holding uma_beta_SHOULDNOTLEAK")


async def item(request: Request) -> JSONResponse:
    """An item by id."""
    return JSONResponse({"id": path_id(request, "item_id"), "limit": query_int(request, "limit", 10, 1, 50)})


async def ws_echo(websocket: WebSocket) -> None:
    """Echo one message (Tier 1 over the Authorization header)."""
    await websocket.accept()
    await websocket.send_json({"kind": websocket.scope["principal"].kind})
    await websocket.close()


def probe_service() -> Service:
    return Service(
        name="probe",
        routes=[
            Route("/api/probe/whoami", whoami, methods=["GET"]),
            Route("/api/probe/tenant-read", tenant_read, methods=["GET"]),
            Route("/api/probe/echo", echo, methods=["POST"]),
            Route("/api/probe/big", big, methods=["POST"]),
            Route("/api/probe/boom", boom, methods=["GET"]),
            Route("/api/probe/items/{item_id}", item, methods=["GET"]),
            Route("/api/admin/probe", whoami, methods=["GET"]),
            WebSocketRoute("/ws/probe", ws_echo),
        ],
        public_paths=("/api/probe/public-echo",),
    )
