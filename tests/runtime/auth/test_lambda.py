"""The auth service as its Lambda runs it: Mangum, one event loop, one database connection."""
from __future__ import annotations

import asyncio
import base64
import json
import threading

from runtime.handlers.adapter import lambda_handler
from tests.runtime.auth.conftest import JWT_SECRET, PASSWORD, device


def event(path: str, method: str = "GET", body: dict | None = None, token: str | None = None) -> dict:
    headers = {"host": "api.example.com", "content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    raw = json.dumps(body).encode() if body is not None else None
    return {
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "", "headers": headers,
        "requestContext": {"http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7",
                                    "userAgent": "lambda-test"},
                           "domainName": "api.example.com", "requestId": "r", "routeKey": "$default", "stage": "$default", "timeEpoch": 0},
        "body": base64.b64encode(raw).decode() if raw else None, "isBase64Encoded": bool(raw),
    }


def call(handler, *args, **kwargs) -> tuple[int, dict]:
    response = handler(event(*args, **kwargs), None)
    body = response["body"]
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    return response["statusCode"], json.loads(body) if body else {}


def test_auth_flow_through_the_lambda_handler(database, tenant):
    out = {}
    thread = threading.Thread(target=lambda: out.update(value=asyncio.run(tenant(database=database))))
    thread.start()
    thread.join()
    _tenant_id, beta = out["value"]
    handler = lambda_handler("auth", database.settings(jwt_secret=JWT_SECRET))
    try:
        status, _ = call(handler, "/api/auth/register", "POST", {"email": "lambda@example.com", "password": PASSWORD}, token=beta)
        assert status == 201
        status, login = call(handler, "/api/auth/login", "POST",
                             {"email": "lambda@example.com", "password": PASSWORD, "device": device()}, token=beta)
        assert status == 200 and login["tokens"]["expires_in"] == 900
        status, refreshed = call(handler, "/api/auth/refresh", "POST", {"refresh_token": login["tokens"]["refresh_token"]})
        assert status == 200
        access = refreshed["tokens"]["access_token"]
        status, me = call(handler, "/api/auth/me", token=access)
        assert status == 200 and me["user"]["email"] == "lambda@example.com"
        status, _ = call(handler, "/api/auth/logout", "POST", {}, token=access)
        assert status == 200
        status, error = call(handler, "/api/auth/me", token=access)
        assert status == 401 and error["error"] == "invalid_token"
        status, error = call(handler, "/api/auth/login", "POST", {"email": "x"}, token=beta)
        assert status == 400 and error["error"] == "invalid_email"
        assert handler.app.state.ctx.db.reconnects == 0  # one connection served the whole flow
    finally:
        handler.loop.run_until_complete(handler.app.state.ctx.aclose())
        handler.loop.close()
