"""Queue-backed curriculum import (Tier 2): a job imports a UMCF document through the job queue's
workers, reports progress, and a bad document fails without retries."""
from __future__ import annotations

import asyncio

from starlette.routing import Route

from runtime.curricula.import_routes import ROUTES
from tests.runtime.conftest import make_client
from tests.runtime.content.conftest import bearer, sign_in_admin

DOC = {"formatIdentifier": "umcf", "id": {"value": "queued-course"}, "title": "Queued course",
       "content": [{"id": {"value": "t1"}, "title": "One", "type": "topic", "content": {"text": "Hello."}}]}


def _with_import_routes(app):
    # The voice service (core) serves /api/import; mount the routes here if it does not yet.
    if not any(isinstance(r, Route) and r.path == "/api/import/jobs" for r in app.routes):
        app.router.routes.extend(ROUTES)
    return app


async def _wait(c, job_id, headers, want=("completed", "failed")):
    for _ in range(200):
        body = (await c.get(f"/api/import/jobs/{job_id}", headers=headers)).json()
        if body["job"]["status"] in want:
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {body}")


async def test_import_job_runs_through_the_queue(content_app, tenant, database):
    tid, beta = await tenant()
    app = _with_import_routes(content_app(None))
    async with make_client(app) as c:
        admin = bearer(await sign_in_admin(c, database, tid, beta))
        assert (await c.post("/api/import/jobs", json={"content": DOC}, headers=bearer(beta))).status_code in (401, 403)
        r = await c.post("/api/import/jobs", json={"content": DOC}, headers=admin)
        assert r.status_code == 202 and r.json()["success"] is True and r.json()["status"] == "queued"
        done = await _wait(c, r.json()["jobId"], admin)
        assert done["job"]["status"] == "completed" and done["progress"]["percentComplete"] == 100.0
        assert done["job"]["result"]["id"] == "queued-course"
        assert (await c.get("/api/curricula/queued-course", headers=bearer(beta))).json()["title"] == "Queued course"
        jobs = (await c.get("/api/import/jobs?status=completed", headers=admin)).json()["jobs"]
        assert [j["jobId"] for j in jobs] == [r.json()["jobId"]]
        # refused before queueing: bad documents, non-https URLs, unknown sources
        for body, status in (({"content": {"title": "x"}}, 422), ({"url": "http://example.com/x"}, 400),
                             ({}, 400), ({"sourceId": "mit-ocw", "courseId": "6.001"}, 404)):
            bad = await c.post("/api/import/jobs", json=body, headers=admin)
            assert bad.status_code == status and bad.json()["success"] is False, (body, bad.text)
        # a URL the fetcher refuses (private address) fails the job once, without retries
        r = await c.post("/api/import/jobs", json={"url": "https://127.0.0.1/c.umcf"}, headers=admin)
        failed = await _wait(c, r.json()["jobId"], admin)
        assert failed["job"]["status"] == "failed" and "private" in failed["job"]["error"]
        assert (await c.get("/api/import/jobs/00000000-0000-0000-0000-000000000000", headers=admin)).status_code == 404
        assert (await c.delete(f"/api/import/jobs/{r.json()['jobId']}", headers=admin)).json() == {
            "success": True, "cancelled": False}
