"""Import sources: operator-configured course catalogs browsed by clients (Tier 1, read-only) and
imported by admins through the job queue (Tier 2)."""
from __future__ import annotations

import asyncio
import json

import pytest

from runtime.importing import catalogs
from tests.runtime.conftest import make_client
from tests.runtime.content.conftest import bearer, sign_in_admin

DOC = {"umcf": "1.1.0", "id": {"value": "bio-101"}, "title": "Cells", "content": [
    {"id": {"value": "root"}, "title": "Cells", "type": "curriculum", "children": [
        {"id": {"value": "membrane"}, "title": "Membrane", "type": "topic", "content": {"text": "A membrane."}},
        {"id": {"value": "nucleus"}, "title": "Nucleus", "type": "topic", "content": {"text": "A nucleus."}}]}]}


def _catalog(tmp_path, courses=None):
    (tmp_path / "bio.umcf.json").write_text(json.dumps(DOC))
    (tmp_path.parent / "secret.json").write_text(json.dumps(DOC))
    catalog = {"id": "open-bio", "name": "Open Biology", "description": "Cells and life.",
               "courses": courses if courses is not None else [
                   {"id": "bio-101", "title": "Cells", "subject": "Biology", "document": "bio.umcf.json",
                    "lectures": [{"id": "membrane", "title": "Membrane"}, {"id": "nucleus", "title": "Nucleus"}]},
                   {"id": "bio-102", "title": "Genetics", "subject": "Biology", "description": "Genes."},
                   {"id": "escape", "title": "Escape", "document": "../secret.json"}]}
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(catalog))
    return str(path)


async def _wait(c, job_id, headers):
    for _ in range(200):
        body = (await c.get(f"/api/import/jobs/{job_id}", headers=headers)).json()
        if body["job"]["status"] in ("completed", "failed"):
            return body["job"]
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {body}")


async def test_catalog_browse_and_import(content_app, tenant, database, tmp_path):
    tid, beta = await tenant()
    app = content_app(None, import_catalogs=(_catalog(tmp_path),))
    async with make_client(app) as c:
        client = bearer(beta)  # browsing is Tier 1
        sources = (await c.get("/api/import/sources", headers=client)).json()
        assert [s["id"] for s in sources["sources"]] == ["open-bio"] and sources["sources"][0]["courseCount"] == 3
        android = {**client, "X-Client-Platform": "Android"}
        assert isinstance((await c.get("/api/import/sources", headers=android)).json(), list)
        page = (await c.get("/api/import/sources/open-bio/courses?page=2&pageSize=2", headers=client)).json()
        assert [x["id"] for x in page["courses"]] == ["escape"] and page["pagination"]["totalPages"] == 2
        found = (await c.get("/api/import/sources/open-bio/search?q=GENES", headers=client)).json()
        assert [x["id"] for x in found["courses"]] == ["bio-102"] and found["total"] == 1
        detail = (await c.get("/api/import/sources/open-bio/courses/bio-101", headers=client)).json()
        assert detail["canImport"] is True and detail["course"]["contentSummary"]["lectureCount"] == 2
        assert (await c.get("/api/import/sources/open-bio/courses/bio-102", headers=client)).json()["canImport"] is False
        assert (await c.get("/api/import/sources/nope", headers=client)).status_code == 404
        assert (await c.get("/api/import/sources/open-bio/courses?pageSize=1000", headers=client)).status_code == 400
        # starting imports and the status are the operator's
        start = {"sourceId": "open-bio", "courseId": "bio-101", "selectedLectures": ["nucleus"]}
        assert (await c.post("/api/import/jobs", json=start, headers=client)).status_code in (401, 403)
        assert (await c.get("/api/import/status", headers=client)).status_code in (401, 403)
        admin = bearer(await sign_in_admin(c, database, tid, beta))
        made = await c.post("/api/import/jobs", json=start, headers=admin)
        assert made.status_code == 202, made.text
        job = await _wait(c, made.json()["jobId"], admin)
        assert job["status"] == "completed", job
        assert (job["sourceId"], job["courseId"], job["courseName"]) == ("open-bio", "bio-101", "Cells")
        assert job["stats"]["topicsCreated"] == 1 and job["overallProgress"] == 100.0
        stored = (await c.get("/api/curricula/bio-101/full", headers=client)).json()
        stored = stored.get("curriculum", stored)
        assert [t["id"]["value"] for t in stored["content"][0]["children"]] == ["nucleus"]  # only the selected lecture
        status = (await c.get("/api/import/status", headers=admin)).json()
        assert status["completed_today"] >= 1 and status["pending_jobs"] == 0
        # refused: a course without a document, one whose document leaves the catalog's folder, unknown ids
        for body, code in (({"sourceId": "open-bio", "courseId": "bio-102"}, 422),
                           ({"sourceId": "open-bio", "courseId": "escape"}, 422),
                           ({"source_id": "open-bio", "course_id": "nope"}, 404),
                           ({"sourceId": "elsewhere", "courseId": "bio-101"}, 404),
                           ({"sourceId": "open-bio"}, 400)):
            refused = await c.post("/api/import/jobs", json=body, headers=admin)
            assert refused.status_code == code, (body, refused.text)


async def test_a_broken_catalog_is_a_clear_503(content_app, tenant, tmp_path):
    _, beta = await tenant()
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    async with make_client(content_app(None, import_catalogs=(str(broken),))) as c:
        answer = await c.get("/api/import/sources", headers=bearer(beta))
        assert answer.status_code == 503 and answer.json()["error"] == "catalog_unavailable"
        assert "broken.json" in answer.json()["message"]


def test_catalog_checks():
    with pytest.raises(catalogs.CatalogError, match="needs an 'id'"):
        catalogs.parse_catalog(json.dumps({"name": "x"}), "c.json")
    with pytest.raises(catalogs.CatalogError, match="string 'id' and 'title'"):
        catalogs.parse_catalog(json.dumps({"id": "s", "name": "S", "courses": [{"id": "c"}]}), "c.json")
    (source,) = catalogs.parse_catalog(json.dumps({"sources": [{"id": "s", "name": "S", "courses": [
        {"id": "c", "title": "C", "document": "d.json"}]}]}), "https://example.com/cat/catalog.json")
    assert catalogs.document_location(source, source.courses[0]) == ("url", "https://example.com/cat/d.json")
