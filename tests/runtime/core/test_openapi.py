"""GET /api/openapi.json: generated from the mounted routes."""
from __future__ import annotations

from core.probe import probe_service
from tests.runtime.conftest import make_client
from runtime.app import create_app
from runtime.route_table import ALL_SERVICES
from runtime.settings import Settings


async def test_openapi_lists_routes_summaries_and_declared_schemas():
    app = create_app([probe_service()], Settings())
    async with make_client(app) as client:
        response = await client.get("/api/openapi.json")  # public: no token
    assert response.status_code == 200
    doc = response.json()
    assert doc["openapi"].startswith("3.1")
    paths = doc["paths"]
    assert {"/health", "/api/health", "/api/openapi.json", "/api/probe/echo", "/api/probe/items/{item_id}"} <= set(paths)
    assert paths["/api/probe/whoami"]["get"]["summary"] == "Who is calling (test probe)."
    echo = paths["/api/probe/echo"]["post"]
    assert echo["requestBody"]["content"]["application/json"]["schema"]["required"] == ["name"]
    assert echo["responses"]["200"]["description"] == "The validated fields"
    assert echo["responses"]["default"] == {"$ref": "#/components/responses/Error"}
    assert paths["/api/probe/items/{item_id}"]["get"]["parameters"][0]["name"] == "item_id"
    assert "head" not in paths["/health"]
    assert {"path": "/ws/probe", "summary": "Echo one message (Tier 1 over the Authorization header)."} in doc["x-websockets"]
    operation_ids = [op["operationId"] for item in paths.values() for op in item.values()]
    assert len(operation_ids) == len(set(operation_ids))


def test_container_app_builds_with_every_service():
    app = create_app(None, Settings())
    assert app.state.ctx.services == ALL_SERVICES
