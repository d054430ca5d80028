"""The auth routes as Android's ApiClient calls them: client headers instead of a device object, flat
tokens, a top-level user, bare lists (runtime/client_shapes.py) — and the other apps' shapes unchanged."""
from __future__ import annotations

import uuid

import pytest

from tests.runtime.auth.conftest import PASSWORD, bearer
from tests.runtime.conftest import make_client


def android(client_id: str, token: str | None = None) -> dict[str, str]:
    headers = {"X-Client-ID": client_id, "X-Client-Name": "Google Pixel 8", "X-Client-Platform": "Android",
               "X-Client-Version": "1.0.0"}
    return {**headers, **(bearer(token) if token else {})}


@pytest.fixture
async def env(auth_app, tenant):
    _tenant_id, beta = await tenant()
    async with make_client(auth_app()) as client:
        yield client, beta


async def test_register_login_refresh_are_flat_and_share_the_device(env):
    client, beta = env
    phone, email = str(uuid.uuid4()), f"a{uuid.uuid4().hex[:8]}@example.com"
    reg = await client.post("/api/auth/register", json={"email": email, "password": PASSWORD, "name": "Ada"},
                            headers=android(phone, beta))
    assert reg.status_code == 201, reg.text
    body = reg.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900 and "tokens" not in body
    assert body["user"]["display_name"] == "Ada"
    login = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD, "device_name": "My Pixel"},
                              headers=android(phone, beta))
    assert login.status_code == 200, login.text
    tokens = login.json()
    assert tokens["access_token"] and tokens["refresh_token"] and login.json()["device"]["id"] == body["device"]["id"]
    devices = (await client.get("/api/auth/devices", headers=android(phone, tokens["access_token"]))).json()
    assert [d["name"] for d in devices] == ["My Pixel"] and devices[0]["last_seen"]
    sessions = (await client.get("/api/auth/sessions", headers=android(phone, tokens["access_token"]))).json()
    assert len(sessions) == 2 and {s["device_name"] for s in sessions} == {"My Pixel"}
    fresh = await client.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]}, headers=android(phone))
    assert fresh.status_code == 200 and set(fresh.json()) == {"access_token", "refresh_token", "token_type", "expires_in"}


async def test_login_without_device_or_client_id_is_still_refused(env):
    client, beta = env
    email = f"b{uuid.uuid4().hex[:8]}@example.com"
    assert (await client.post("/api/auth/register", json={"email": email, "password": PASSWORD},
                              headers=bearer(beta))).status_code == 201
    refused = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD, "device_name": "Pixel"},
                                headers=bearer(beta))
    assert refused.status_code == 400 and refused.json()["error"] == "missing_device"


async def test_me_and_profile_update(env):
    client, beta = env
    phone, email = str(uuid.uuid4()), f"c{uuid.uuid4().hex[:8]}@example.com"
    token = (await client.post("/api/auth/register", json={"email": email, "password": PASSWORD, "name": "Ada"},
                               headers=android(phone, beta))).json()["access_token"]
    me = (await client.get("/api/auth/me", headers=android(phone, token))).json()
    assert me["email"] == email and me["name"] == "Ada" and me["updated_at"]
    renamed = await client.patch("/api/auth/me", json={"name": "Ada L.", "email": email}, headers=android(phone, token))
    assert renamed.status_code == 200 and renamed.json()["name"] == "Ada L."
    moved = await client.patch("/api/auth/me", json={"name": None, "email": "other@example.com"}, headers=android(phone, token))
    assert moved.status_code == 400 and moved.json()["error"] == "email_change_unsupported"
    # without the platform header: the wrapped shapes the web client reads
    web = (await client.get("/api/auth/me", headers=bearer(token))).json()
    assert web["user"]["display_name"] == "Ada L." and "name" not in web
    assert "devices" in (await client.get("/api/auth/devices", headers=bearer(token))).json()
