"""Lambda handlers: API Gateway v2 and ALB events, one persistent loop, one lazily opened connection."""
from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from runtime.handlers.adapter import lambda_handler
from runtime.route_table import LAMBDA_SERVICES

ROOT = Path(__file__).resolve().parents[3]


def http_api_event(path: str, method: str = "GET", headers: dict | None = None, body: bytes | None = None,
                   query: str = "") -> dict:
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {"host": "api.example.com", **(headers or {})},
        "requestContext": {
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.5", "userAgent": "t"},
            "domainName": "api.example.com", "requestId": "r1", "routeKey": "$default", "stage": "$default",
            "timeEpoch": 0,
        },
        "body": base64.b64encode(body).decode() if body else None,
        "isBase64Encoded": bool(body),
    }


def alb_event(path: str, headers: dict | None = None) -> dict:
    return {
        "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/x/y"}},
        "httpMethod": "GET",
        "path": path,
        "queryStringParameters": {},
        "headers": {"host": "api.example.com", "x-forwarded-for": "203.0.113.6", **(headers or {})},
        "body": "",
        "isBase64Encoded": False,
    }


@pytest.fixture
def restore_process_state():
    """lambda_handler sets the thread's event loop and the root logger, as Lambda INIT should;
    undo both so later tests in this process see what they expect."""
    import logging

    from runtime import logging as runtime_logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    made: list = []
    yield made
    for handler in made:
        handler.loop.run_until_complete(handler.app.state.ctx.aclose())
        handler.loop.close()
    asyncio.set_event_loop(None)
    for extra in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(extra)
        extra.close()
    root.setLevel(level)
    runtime_logging._configured_handler = None


def _tenant_sync(tenant_factory, database):
    # a helper thread: asyncio.run would otherwise replace this thread's (the handler's) event loop
    out = {}
    thread = threading.Thread(target=lambda: out.update(value=asyncio.run(tenant_factory(database=database))))
    thread.start()
    thread.join()
    return out["value"]


def test_events_loop_and_connection_reuse(database, tenant, restore_process_state):
    tenant_id, token = _tenant_sync(tenant, database)
    handler = lambda_handler("curricula", database.settings())
    restore_process_state.append(handler)
    auth = {"authorization": f"Bearer {token}"}

    health = handler(http_api_event("/api/health"), None)
    assert health["statusCode"] == 200 and json.loads(health["body"])["status"] == "healthy"
    assert handler(alb_event("/health"), None)["statusCode"] == 200

    denied = handler(http_api_event("/api/curricula"), None)
    assert denied["statusCode"] == 401 and json.loads(denied["body"])["code"] == "AUTH_REQUIRED"

    first = handler(http_api_event("/api/curricula", headers=auth), None)
    assert first["statusCode"] == 200, first["body"]
    ctx = handler.app.state.ctx
    conn = ctx.db._conn
    assert conn is not None  # opened lazily by the first database request
    second = handler(alb_event("/api/curricula", headers=auth), None)
    assert second["statusCode"] == 200
    assert ctx.db._conn is conn  # same connection, same loop, across invocations
    assert asyncio.get_event_loop() is handler.loop

    # the environment is frozen, the server drops the socket; the next invocation reconnects once
    pid = handler.loop.run_until_complete(conn.fetchval("select pg_backend_pid()"))
    _terminate(database, pid)
    third = handler(http_api_event("/api/curricula", headers=auth), None)
    assert third["statusCode"] == 200, third["body"]
    assert ctx.db.reconnects == 1

    # a body through API Gateway's base64 encoding reaches the validation layer
    bad = handler(http_api_event("/api/curricula/import", "POST", {**auth, "content-type": "application/json"}, b"{oops"), None)
    assert bad["statusCode"] == 400


def _terminate(database, pid: int) -> None:
    async def kill():
        import asyncpg

        owner = await asyncpg.connect(database.owner_dsn)
        try:
            return await owner.fetchval("select pg_terminate_backend($1)", pid)
        finally:
            await owner.close()

    out = {}
    thread = threading.Thread(target=lambda: out.update(ok=asyncio.run(kill())))
    thread.start()
    thread.join()
    assert out["ok"]


def test_every_lambda_service_has_a_handler_module(database):
    """Import each handler the way Lambda does (module path from the route table) in a fresh process."""
    script = (
        "import importlib, json, sys\n"
        "sys.path.insert(0, '.')\n"
        "from tests.runtime.core.test_handlers import http_api_event\n"
        "out = {}\n"
        "for name in sys.argv[1:]:\n"
        "    module = importlib.import_module('runtime.handlers.' + name)\n"
        "    out[name] = module.handler(http_api_event('/api/health'), None)['statusCode']\n"
        "print(json.dumps(out))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DATABASE_URL": database.app_dsn, "UNAMENTIS_LOG_LEVEL": "WARNING"}
    done = subprocess.run([sys.executable, "-c", script, *LAMBDA_SERVICES], env=env, cwd=str(ROOT),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {name: 200 for name in LAMBDA_SERVICES}
    # no boto3 at import in handlers that do not need it
    check = subprocess.run(
        [sys.executable, "-c", "import sys, runtime.handlers.auth; print('boto3' in sys.modules or 'aiobotocore' in sys.modules)"],
        env=env, cwd=str(ROOT), capture_output=True, text=True, timeout=60,
    )
    assert check.stdout.strip() == "False", check.stderr


def test_lambda_settings_use_single_connection_and_no_leases():
    from runtime.settings import Settings

    env = {"AWS_LAMBDA_FUNCTION_NAME": "uma-auth", "DATABASE_URL": "postgresql://a@b/c"}
    settings = Settings.from_env(env)
    assert settings.db_mode == "single" and settings.rate_limit_leases is False
    assert Settings.from_env({}).rate_limit_leases is True
