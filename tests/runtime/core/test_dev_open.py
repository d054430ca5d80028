"""LAN self-hosting for apps that send no token: `python -m runtime dev` with UNAMENTIS_CLIENT_AUTH=open
serves its own `dev` tenant without UNAMENTIS_OPEN_TENANT; elsewhere the error names the variable."""
from __future__ import annotations

import uuid

from runtime.cli import dev_settings
from tests.runtime.conftest import make_client


async def test_dev_with_open_client_auth_serves_an_app_call_without_a_token(database, tenant):
    slug = f"dev-{uuid.uuid4().hex[:8]}"  # the tenant `dev --tenant <slug>` creates
    await tenant(slug=slug)
    settings = dev_settings(database.settings(client_auth="open"), slug)
    assert settings.open_tenant == slug
    from runtime.app import create_app

    async with make_client(create_app(None, settings)) as client:
        response = await client.get("/api/curricula", headers={"X-Client-Platform": "Android"})
        assert response.status_code == 200, response.text


def test_dev_keeps_an_explicit_open_tenant_and_token_mode(database):
    assert dev_settings(database.settings(client_auth="open", open_tenant="lan"), "dev").open_tenant == "lan"
    assert dev_settings(database.settings(), "dev").open_tenant == "default"


async def test_outside_dev_a_missing_open_tenant_names_the_variable_and_the_fix(database, make_app):
    async with make_client(make_app(None, client_auth="open", open_tenant="nowhere")) as client:
        response = await client.get("/api/curricula")
    assert response.status_code == 503 and response.json()["error"] == "open_tenant_missing"
    message = response.json()["message"]
    assert "UNAMENTIS_OPEN_TENANT" in message and "admin tenant create nowhere" in message
