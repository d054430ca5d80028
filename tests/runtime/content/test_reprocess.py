"""Curriculum reprocessing: analysis finds the issues, a job applies the rule-based fixes through the
queue and stores the tenant's copy; a dry run and a preview change nothing; LLM stages are skipped."""
from __future__ import annotations

import asyncio

from tests.runtime.conftest import make_client
from tests.runtime.content.conftest import bearer, sign_in_admin

LONG = " ".join(f"Sentence number {n} explains one more thing about cells." for n in range(60))
DOC = {"umcf": "1.1.0", "id": {"value": "cells-rp"}, "title": "Cells", "content": [
    {"id": {"value": "root"}, "title": "Cells", "type": "curriculum", "children": [
        {"id": {"value": "membrane"}, "title": "Membrane", "type": "topic",
         "transcript": {"segments": [{"id": "s1", "type": "lecture", "content": LONG}]},
         "media": {"embedded": [{"id": "img1", "type": "image", "title": "A membrane", "url": "https://example.com/m.png"},
                                {"id": "img2", "type": "image", "title": "Lost"}]}}]}]}


async def _finished(c, job_id, headers):
    for _ in range(200):
        progress = (await c.get(f"/api/reprocess/jobs/{job_id}", headers=headers)).json()["progress"]
        if progress["status"] in ("complete", "failed"):
            return progress
        await asyncio.sleep(0.05)
    raise AssertionError(progress)


async def test_reprocess_analysis_preview_and_jobs(content_app, tenant, database):
    tid, beta = await tenant()
    _, other_beta = await tenant()
    async with make_client(content_app(None)) as c:
        client = bearer(beta)
        assert (await c.post("/api/curricula/import", json={"content": DOC}, headers=client)).status_code == 200
        found = (await c.post("/api/reprocess/analyze/cells-rp", headers=client)).json()["analysis"]
        kinds = found["stats"]["issuesByType"]
        assert kinds["oversized_segment"] == 1 and kinds["broken_image"] == 2 and kinds["missing_metadata"] == 1
        assert found["stats"]["criticalCount"] == 1
        config = {"curriculumId": "cells-rp", "fixImages": True, "rechunkSegments": True, "fixMetadata": True,
                  "generateObjectives": True}
        preview = (await c.post("/api/reprocess/preview/cells-rp", json=config, headers=client)).json()["preview"]
        assert preview["issuesAfter"]["criticalCount"] == 0 and "generateObjectives needs a language model" in preview["notDone"][0]
        assert preview["stages"]["generating_objectives"] == "skipped"
        assert (await c.post("/api/reprocess/jobs", json=config, headers=client)).status_code == 403
        admin = bearer(await sign_in_admin(c, database, tid, beta))
        dry = await c.post("/api/reprocess/jobs", json={**config, "dryRun": True}, headers=admin)
        assert (await _finished(c, dry.json()["jobId"], admin))["status"] == "complete"
        unchanged = (await c.post("/api/reprocess/analyze/cells-rp", headers=client)).json()["analysis"]
        assert unchanged["stats"]["totalIssues"] == found["stats"]["totalIssues"]
        made = await c.post("/api/reprocess/jobs", json=config, headers=admin)
        assert made.status_code == 202, made.text
        done = await _finished(c, made.json()["jobId"], admin)
        assert done["status"] == "complete" and any("Removed image img2" in f for f in done["fixesApplied"])
        stages = {s["id"]: s["status"] for s in done["stages"]}
        assert stages["rechunking"] == "complete" and stages["generating_objectives"] == "skipped"
        after = (await c.post("/api/reprocess/analyze/cells-rp", headers=client)).json()["analysis"]["stats"]
        assert after["criticalCount"] == 0 and "oversized_segment" not in after["issuesByType"]
        listed = (await c.get("/api/reprocess/jobs", headers=admin)).json()["jobs"]
        assert [j["status"] for j in listed] == ["complete", "complete"] and listed[0]["fixesApplied"] >= 3
        # refused: unknown curriculum, bad config; another tenant sees neither the curriculum nor the job
        assert (await c.post("/api/reprocess/jobs", json={**config, "curriculumId": "nope"}, headers=admin)).status_code == 404
        assert (await c.post("/api/reprocess/jobs", json={**config, "fixImages": "yes"}, headers=admin)).status_code == 422
        assert (await c.post("/api/reprocess/analyze/cells-rp", headers=bearer(other_beta))).status_code == 404
        assert (await c.get("/api/reprocess/jobs/not-a-uuid", headers=admin)).status_code == 400
