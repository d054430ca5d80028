"""Every route of the served OpenAPI document, called with generated hostile input: never a 5xx.

A live server (uvicorn, lifespan on) with the origin secret, called as the edge calls it, with a
beta token (Tier 1) on every request. Seeded and bounded (``EXAMPLES`` per operation, no shrinking)
so the run stays near a minute and finds the same cases every time.
"""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings

from tests.runtime.conftest import LiveServer, _run

ORIGIN_SECRET = "fuzz-origin-secret-0123456789"
JWT_SECRET = "fuzz-jwt-secret-" + "z" * 40
EXAMPLES = 3


@pytest.fixture(scope="module")
def fuzz_target(shared_database):
    from runtime.app import create_app
    from runtime.auth.store import issue_beta_token
    from runtime.tenants import create_tenant

    async def prepare() -> str:
        owner = await shared_database.owner()
        try:
            tenant_id = await create_tenant(owner, "fuzz")
        finally:
            await owner.close()
        conn = await shared_database.app()
        try:
            _id, token = await issue_beta_token(conn, tenant_id, "fuzzer")
        finally:
            await conn.close()
        return token

    token = _run(prepare())
    app = create_app(None, shared_database.settings(origin_secret=ORIGIN_SECRET, jwt_secret=JWT_SECRET,
                                                    rate_limit_ip=(0, 1.0), rate_limit_token=(0, 1.0),
                                                    rate_limit_login=(0, 1.0), rate_limit_register=(0, 1.0)))
    server = LiveServer(app).start()
    try:
        yield server, {"X-Origin-Secret": ORIGIN_SECRET, "Authorization": f"Bearer {token}"}
    finally:
        server.stop()


@pytest.fixture(scope="module")
def api_schema(fuzz_target):
    server, headers = fuzz_target
    return schemathesis.openapi.from_url(f"{server.url}/api/openapi.json", headers=headers)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=EXAMPLES, derandomize=True, deadline=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=list(HealthCheck))
def test_no_route_answers_5xx(case, fuzz_target):
    _server, headers = fuzz_target
    response = case.call(headers=headers, timeout=30)
    assert response.status_code < 500, f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
