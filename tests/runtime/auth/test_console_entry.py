"""The console listener (``UNAMENTIS_CONSOLE_PORT``): the runtime served the way ``serve`` does, two
real uvicorn listeners on loopback, one app. The console's calls carry no credential (as its Next.js
proxies send them): on the console port they act as the configured admin and are audited; the very
same calls on the public port — also with every header a caller could add — are refused.
"""
from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from typing import Any

import httpx
import pytest
import uvicorn

from runtime.auth.passwords import hash_password
from runtime.console.serve import console_server, serve_with_console
from runtime.settings import ConfigError, Settings
from tests.runtime.conftest import free_port

from .conftest import JWT_SECRET, PASSWORD

ORIGIN_SECRET = "origin-" + "s" * 30
# What a caller on the public side might send to pass for the console: none of it is read.
SPOOFED = {"X-Console": "1", "X-Forwarded-Port": "0", "X-Forwarded-For": "10.0.0.5", "Host": "127.0.0.1",
           "Cf-Access-Authenticated-User-Email": "ops@example.com"}


class TwoListeners:
    """``serve_with_console`` in a thread of its own (its own event loop), as ``serve`` runs it."""

    def __init__(self, app: Any, console_host: str | None = None) -> None:
        self.port, self.console_port = free_port(), app.state.ctx.settings.console_port
        public = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on",
                                ws_ping_interval=None)
        self.public = uvicorn.Server(public)
        self.console = console_server(app, public, self.console_port, console_host)
        self.thread = threading.Thread(target=lambda: asyncio.run(serve_with_console(self.public, self.console)), daemon=True)

    def start(self) -> "TwoListeners":
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.console.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the listeners did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.public.should_exit = True
        self.thread.join(timeout=20)


@pytest.fixture
async def console(make_app, database, tenant, tmp_path):
    from runtime.storage import StorageConfig

    tenant_id, _beta = await tenant(database=database)
    email = f"console-{uuid.uuid4().hex[:10]}@example.com"
    owner = await database.owner()
    try:
        admin_id = await owner.fetchval(
            "insert into users (tenant_id, email, password_hash, display_name, role) values ($1, $2, $3, 'Ops', 'admin') "
            "returning id", uuid.UUID(tenant_id), email, hash_password(PASSWORD))
    finally:
        await owner.close()
    app = make_app(None, database=database, jwt_secret=JWT_SECRET, origin_secret=ORIGIN_SECRET,
                   console_port=free_port(), console_admin_email=email,
                   storage=StorageConfig(url=f"file://{tmp_path / 'storage'}"))
    listeners = TwoListeners(app).start()
    try:
        yield {"listeners": listeners, "tenant_id": tenant_id, "email": email, "admin_id": admin_id, "database": database}
    finally:
        listeners.stop()


# The console's server-side proxy calls (src/app/api/**/route.ts on BACKEND_URL), with no credential.
CALLS = [
    ("GET", "/api/admin/users"),
    ("GET", "/api/curricula"),
    ("GET", "/api/import/jobs"),
    ("GET", "/api/sessions"),
    ("GET", "/api/kb/domains"),
]


async def _audit_rows(database, tenant_id: str) -> list[Any]:
    owner = await database.owner()
    try:
        return await owner.fetch("select actor_kind, actor_id, action, target, details, request_id from audit_log "
                                 "where tenant_id = $1 and action = 'console.request' order by id", uuid.UUID(tenant_id))
    finally:
        await owner.close()


@pytest.mark.parametrize("method,path", CALLS, ids=[f"{m} {p}" for m, p in CALLS])
async def test_console_port_acts_as_the_console_admin_and_public_port_refuses(console, method, path):
    listeners = console["listeners"]
    async with httpx.AsyncClient(timeout=10) as http:
        inside = await http.request(method, f"http://127.0.0.1:{listeners.console_port}{path}")
        assert inside.status_code == 200, inside.text
        # The public port: the edge's origin secret is missing, so Tier 3 refuses first …
        outside = await http.request(method, f"http://127.0.0.1:{listeners.port}{path}", headers=SPOOFED)
        assert outside.status_code == 403, outside.text
        # … and with the origin secret (as if through the edge) but no credential, auth refuses.
        edge = await http.request(method, f"http://127.0.0.1:{listeners.port}{path}",
                                  headers={**SPOOFED, "X-Origin-Secret": ORIGIN_SECRET})
        assert edge.status_code == 401, edge.text
    rows = await _audit_rows(console["database"], console["tenant_id"])
    assert [(r["actor_kind"], r["actor_id"], r["target"]) for r in rows] == [("admin", str(console["admin_id"]), f"{method} {path}")]
    assert rows[0]["request_id"] == inside.headers["x-request-id"]
    assert json.loads(rows[0]["details"]) == {"entry": "console", "email": console["email"]}


async def test_console_principal_is_the_configured_admin(console):
    """The console acts in its admin's tenant: users it lists are that tenant's (RLS), itself included."""
    port = console["listeners"].console_port
    async with httpx.AsyncClient(timeout=10) as http:
        users = (await http.get(f"http://127.0.0.1:{port}/api/admin/users")).json()
    listed = users["users"] if isinstance(users, dict) else users
    assert console["email"] in [u["email"] for u in listed]


async def test_console_ws_on_console_port_only(console):
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    listeners = console["listeners"]
    async with connect(f"ws://127.0.0.1:{listeners.console_port}/ws") as ws:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert frame["type"] == "connected" and isinstance(frame["timestamp"], str)
    for headers in (SPOOFED, {**SPOOFED, "X-Origin-Secret": ORIGIN_SECRET}):
        with pytest.raises(InvalidStatus) as refused:
            async with connect(f"ws://127.0.0.1:{listeners.port}/ws", additional_headers=headers):
                pass
        assert refused.value.response.status_code == 403
    targets = [r["target"] for r in await _audit_rows(console["database"], console["tenant_id"])]
    assert targets == ["WS /ws"]


async def test_console_admin_must_be_an_active_admin(console):
    owner = await console["database"].owner()
    try:
        await owner.execute("update users set is_active = false where id = $1", console["admin_id"])
    finally:
        await owner.close()
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.get(f"http://127.0.0.1:{console['listeners'].console_port}/api/curricula")
    assert answer.status_code == 403 and "UNAMENTIS_CONSOLE_ADMIN_EMAIL" in answer.json()["message"]
    assert await _audit_rows(console["database"], console["tenant_id"]) == []


async def test_stopping_the_public_listener_stops_the_console_listener(console):
    listeners = console["listeners"]
    listeners.public.should_exit = True
    listeners.thread.join(timeout=20)
    assert not listeners.thread.is_alive() and listeners.console.should_exit
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{listeners.console_port}/health", timeout=2)


async def test_console_listener_binds_only_its_own_address(make_app, database, tmp_path):
    """Compose gives the listener the core's address on the console network: other addresses refuse."""
    from runtime.storage import StorageConfig

    app = make_app(["health"], database=database, jwt_secret=JWT_SECRET, console_port=free_port(),
                   console_admin_email="ops@example.com", storage=StorageConfig(url=f"file://{tmp_path / 's'}"))
    listeners = TwoListeners(app, console_host="127.0.0.2").start()
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            assert (await http.get(f"http://127.0.0.2:{listeners.console_port}/health")).status_code == 200
            with pytest.raises(httpx.ConnectError):
                await http.get(f"http://127.0.0.1:{listeners.console_port}/health")
    finally:
        listeners.stop()


def test_settings_need_the_admin_and_their_own_port():
    with pytest.raises(ConfigError, match="UNAMENTIS_CONSOLE_ADMIN_EMAIL"):
        Settings.from_env({"UNAMENTIS_CONSOLE_PORT": "8767"})
    with pytest.raises(ConfigError, match="must differ from PORT"):
        Settings.from_env({"UNAMENTIS_CONSOLE_PORT": "8766", "UNAMENTIS_CONSOLE_ADMIN_EMAIL": "ops@example.com"})
    settings = Settings.from_env({"UNAMENTIS_CONSOLE_PORT": "8767", "UNAMENTIS_CONSOLE_ADMIN_EMAIL": "ops@example.com"})
    assert (settings.console_port, settings.console_admin_email) == (8767, "ops@example.com")
