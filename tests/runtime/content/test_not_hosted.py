"""What the hosted runtime does not run answers a clear state, never a bare 404: importer plugins
(an empty list, 410 for actions) and the latency test harness (410)."""
from __future__ import annotations

from tests.runtime.conftest import make_client
from tests.runtime.content.conftest import bearer


async def test_plugins_and_latency_harness_are_not_hosted(content_app, tenant):
    _, beta = await tenant()
    auth = bearer(beta)
    async with make_client(content_app(None)) as c:
        listed = (await c.get("/api/plugins", headers=auth)).json()
        assert listed["plugins"] == [] and listed["first_run"] is False and "UNAMENTIS_IMPORT_CATALOGS" in listed["message"]
        assert (await c.get("/api/plugins/first-run", headers=auth)).json()["first_run"] is False
        for method, path in (("POST", "/api/plugins/initialize"), ("GET", "/api/plugins/mit_ocw"),
                             ("POST", "/api/plugins/mit_ocw/enable"), ("GET", "/api/plugins/mit_ocw/config-schema")):
            answer = await c.request(method, path, headers=auth)
            assert answer.status_code == 410 and answer.json()["error"] == "plugins_not_hosted", (path, answer.text)
            assert answer.json()["success"] is False
        for method, path in (("GET", "/api/latency-tests/suites"), ("POST", "/api/latency-tests/runs"),
                             ("DELETE", "/api/latency-tests/runs/run-1"), ("POST", "/api/latency-tests/runs/r/results")):
            answer = await c.request(method, path, headers=auth, json={})
            assert answer.status_code == 410 and answer.json()["error"] == "latency_tests_not_hosted", (path, answer.text)
        assert (await c.get("/api/plugins")).status_code == 401
