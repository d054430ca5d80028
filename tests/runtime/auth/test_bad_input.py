"""Hostile input to every auth route: always a 4xx in the error format, never a 500."""
from __future__ import annotations

import json

from tests.runtime.auth.conftest import bearer, signup
from tests.runtime.conftest import make_client

VALUES = [None, True, 0, -1, 1e308, "", " ", "x" * 5000, "\u0000", "😀" * 50, [], [1, 2], {}, {"a": {"b": [None]}}]
FIELDS = ["email", "password", "display_name", "device", "refresh_token", "all_devices", "current_password",
          "new_password", "avatar_url", "locale", "timezone"]
RAW = [b"", b"null", b"[]", b"\"str\"", b"{", b"\xff\xfe", b"{\"email\": \"a@b.c\",}", b"1e999999"]


def bodies():
    for raw in RAW:
        yield raw
    for field in FIELDS:
        for value in VALUES:
            yield json.dumps({field: value, "email": "fuzz@example.com", "password": "Correct-Horse-42"} | {field: value}).encode()
    for value in VALUES:
        yield json.dumps({"email": "fuzz@example.com", "password": "Correct-Horse-42", "device": {"fingerprint": value, "type": value}}).encode()
        yield json.dumps({"email": "fuzz@example.com", "password": "Correct-Horse-42", "device": {"fingerprint": "f", "type": "ios", "name": value}}).encode()


async def test_no_500_on_any_auth_route(auth_app, tenant):
    _tid, beta = await tenant()
    lots = (100_000, 60.0)
    async with make_client(auth_app(rate_limit_user=lots, rate_limit_ip=lots, rate_limit_token=lots, rate_limit_refresh=lots)) as client:
        user = await signup(client, beta)
        user_h = bearer(user["tokens"]["access_token"])
        routes = [("POST", "/api/auth/register", bearer(beta)), ("POST", "/api/auth/login", bearer(beta)),
                  ("POST", "/api/auth/refresh", {}), ("PATCH", "/api/auth/me", user_h), ("POST", "/api/auth/password", user_h)]
        seen = set()
        for method, path, headers in routes:
            for body in bodies():
                response = await client.request(method, path, content=body, headers={**headers, "Content-Type": "application/json"})
                assert response.status_code < 500, (path, body[:80], response.text)
                if response.status_code >= 400:
                    payload = response.json()
                    assert {"error", "code", "message"} <= set(payload), payload
                seen.add(response.status_code)
        for path in ("/api/auth/devices/..%2F..", "/api/auth/sessions/%00", "/api/auth/devices/" + "9" * 300):
            response = await client.delete(path, headers=user_h)
            assert response.status_code in (400, 404), response.text
        # Logout last: it ends the session the other calls used.
        for body in bodies():
            response = await client.post("/api/auth/logout", content=body, headers={**user_h, "Content-Type": "application/json"})
            assert response.status_code < 500, (body[:80], response.text)
    assert {400, 401, 422} <= seen  # the sweep reached the validators, not only one early refusal
