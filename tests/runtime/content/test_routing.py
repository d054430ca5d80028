"""Every content route is served by the service the one route table sends it to, so its Lambda and
the container both answer it; each Lambda app mounts only its own family."""
from __future__ import annotations

import re

import pytest
from starlette.routing import Route

from runtime.app import load_service
from runtime.curricula.import_routes import ROUTES as IMPORT_ROUTES
from runtime.route_table import LAMBDA_SERVICES, route_for

CONTENT_SERVICES = ("curricula", "kb", "sessions", "telemetry", "models", "admin")
CORE_PATHS = {"/api/curricula/import"}


@pytest.mark.parametrize("name", CONTENT_SERVICES)
def test_routes_match_the_route_table(name):
    service = load_service(name)
    assert service.routes, name
    for route in service.routes:
        assert isinstance(route, Route)
        concrete = re.sub(r"\{[^}]+\}", "x", route.path)
        rule = route_for(concrete)
        # admin runs on the core; so does curriculum import by URL (it needs the internet)
        origin = "lambda" if name in LAMBDA_SERVICES and route.path not in CORE_PATHS else "core"
        assert rule is not None and rule.service == name and rule.origin == origin, (route.path, rule)
        assert route.endpoint.__doc__, f"{route.path} needs a docstring (its OpenAPI summary)"


def test_import_job_routes_belong_to_the_core():
    for route in IMPORT_ROUTES:
        rule = route_for(route.path)
        assert rule.service == "voice" and rule.origin == "core"


async def test_a_lambda_app_serves_only_its_family(content_app, tenant):
    from tests.runtime.conftest import make_client

    _tid, token = await tenant()
    async with make_client(content_app(["health", "kb"])) as c:
        h = {"Authorization": f"Bearer {token}"}
        assert (await c.get("/api/kb/packs", headers=h)).status_code == 200
        assert (await c.get("/api/curricula", headers=h)).status_code == 404
        spec = (await c.get("/api/openapi.json")).json()
        assert "/api/kb/packs/{pack_id}/questions" in spec["paths"] and "/api/curricula" not in spec["paths"]
