"""Curricula routes: import (content and URL refusal), update, delete/archive flows with confirm,
assets in object storage, reload, suggestions by full-text search, and the documented errors."""
from __future__ import annotations

import copy

from tests.runtime.conftest import make_client
from tests.runtime.content.conftest import bearer

DOC = {
    "umcf": "1.0.0",
    "id": {"catalog": "test", "value": "algebra-1"},
    "title": "Algebra One",
    "description": "Linear equations.",
    "version": {"number": "2.1.0"},
    "metadata": {"keywords": ["math", "equations"]},
    "educational": {"difficulty": "medium", "typicalAgeRange": "13-15", "typicalLearningTime": "PT1H"},
    "glossary": {"terms": [{"term": "variable", "definition": "a symbol standing for a number"}]},
    "content": [{"id": {"value": "unit-1"}, "title": "Unit", "type": "module", "children": [
        {"id": {"value": "lin-eq"}, "title": "Linear equations", "type": "topic", "orderIndex": 0,
         "transcript": {"segments": [{"id": "s1", "type": "lecture", "content": "An equation is a balance."}]},
         "assessments": [{"id": "a1"}], "misconceptions": [{"trigger_phrase": "x", "misconception": "y"}]},
        {"id": {"value": "graphs"}, "title": "Graphs", "type": "topic", "orderIndex": 1,
         "content": {"text": "A line has a slope. " * 80}},
    ]}],
}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


async def test_import_list_detail_search_and_update(content_app, tenant):
    _tid, token = await tenant()
    h = bearer(token)
    async with make_client(content_app(["curricula"])) as c:
        r = await c.post("/api/curricula/import", json={"content": DOC}, headers=h)
        assert r.status_code == 200 and r.json()["status"] == "ok" and r.json()["id"] == "algebra-1"
        listed = (await c.get("/api/curricula", headers=h)).json()
        assert listed["total"] == 2  # plus the system curriculum
        mine = next(i for i in listed["curricula"] if i["id"] == "algebra-1")
        assert mine == {**mine, "version": "2.1.0", "topic_count": 2, "difficulty": "medium", "age_range": "13-15",
                        "total_duration": "PT1H", "keywords": ["math", "equations"], "has_visual_assets": False}
        assert [i["id"] for i in (await c.get("/api/curricula?search=EQUATIONS", headers=h)).json()["curricula"]] == ["algebra-1"]
        assert (await c.get("/api/curricula?difficulty=easy", headers=h)).json()["total"] == 1
        detail = (await c.get("/api/curricula/algebra-1", headers=h)).json()
        assert detail["topics"][0] == {**detail["topics"][0], "id": "lin-eq", "has_transcript": True,
                                       "segment_count": 1, "assessment_count": 1}
        assert detail["topics"][1]["segment_count"] >= 2  # chunked text
        transcript = (await c.get("/api/curricula/algebra-1/topics/graphs/transcript", headers=h)).json()
        assert len(transcript["segments"]) == detail["topics"][1]["segment_count"]
        assert all(len(s["content"]) <= 700 for s in transcript["segments"])
        assert (await c.get("/api/curricula/algebra-1/topics/nope/transcript", headers=h)).status_code == 404

        # PUT replaces the document; the id in the body must match
        updated = copy.deepcopy(DOC)
        updated["title"] = "Algebra One (revised)"
        r = await c.put("/api/curricula/algebra-1", json=updated, headers=h)
        assert r.status_code == 200 and r.json()["title"] == "Algebra One (revised)"
        assert (await c.get("/api/curricula/algebra-1/full", headers=h)).json()["title"] == "Algebra One (revised)"
        wrong = {**updated, "id": {"value": "other"}}
        assert (await c.put("/api/curricula/algebra-1", json=wrong, headers=h)).status_code == 422
        assert (await c.put("/api/curricula/missing", json={**updated, "id": {"value": "missing"}}, headers=h)).status_code == 404
        assert (await c.put("/api/curricula/solar-system-intro", json={**updated, "id": {"value": "solar-system-intro"}},
                            headers=h)).status_code == 403
        # re-import updates in place
        assert (await c.post("/api/curricula/import", json={"content": DOC}, headers=h)).status_code == 200
        assert (await c.get("/api/curricula", headers=h)).json()["total"] == 2
        reloaded = (await c.post("/api/curricula/reload", headers=h)).json()
        assert reloaded["status"] == "ok" and reloaded["count"] == reloaded["curricula_count"] == 2


async def test_import_errors(content_app, tenant):
    _tid, token = await tenant()
    h = bearer(token)
    async with make_client(content_app(["curricula"])) as c:
        cases = [
            ({}, 400, "missing_field"),
            ({"content": DOC, "url": "https://example.com/x"}, 400, "missing_field"),
            ({"content": {"title": "no format"}}, 422, "invalid_curriculum"),
            ({"content": {**DOC, "id": {"value": "bad id!"}}}, 422, "invalid_curriculum"),
            ({"content": {**DOC, "title": ""}}, 422, "invalid_curriculum"),
            ({"content": [1, 2]}, 422, "invalid_curriculum"),
            ({"content": "{not json"}, 422, "invalid_curriculum"),
            ({"url": "http://example.com/c.umcf"}, 400, "invalid_url"),
            ({"url": "https://127.0.0.1/c.umcf"}, 400, "url_not_allowed"),
            ({"url": "https://169.254.169.254/latest/meta-data"}, 400, "url_not_allowed"),
            ({"url": "https://[::1]:443/c"}, 400, "url_not_allowed"),
            ({"url": "https://10.1.2.3/c"}, 400, "url_not_allowed"),
            ({"url": "https://u:p@8.8.8.8/c"}, 400, "invalid_url"),
        ]
        for body, status, error in cases:
            r = await c.post("/api/curricula/import", json=body, headers=h)
            assert (r.status_code, r.json()["error"]) == (status, error), (body, r.text)
        dup = copy.deepcopy(DOC)
        dup["content"][0]["children"][1]["id"] = {"value": "lin-eq"}
        r = await c.post("/api/curricula/import", json={"content": dup}, headers=h)
        assert r.status_code == 422 and "twice" in r.json()["message"]
        r = await c.post("/api/curricula/import", content=b"{oops", headers={**h, "Content-Type": "application/json"})
        assert r.status_code == 400 and r.json()["error"] == "invalid_json"


async def test_delete_and_archive_flows(content_app, tenant):
    _tid, token = await tenant()
    h = bearer(token)
    async with make_client(content_app(["curricula"])) as c:
        await c.post("/api/curricula/import", json={"content": DOC}, headers=h)
        r = await c.delete("/api/curricula/algebra-1", headers=h)
        assert r.json()["status"] == "confirmation_required" and r.json()["curriculum"]["id"] == "algebra-1"
        assert (await c.get("/api/curricula/algebra-1", headers=h)).status_code == 200  # nothing happened
        r = await c.post("/api/curricula/algebra-1/archive", headers=h)
        assert r.json() == {**r.json(), "status": "archived", "id": "algebra-1"}
        assert (await c.get("/api/curricula/algebra-1", headers=h)).status_code == 404
        archived = (await c.get("/api/curricula/archived", headers=h)).json()
        assert archived["total"] == 1 and isinstance(archived["archived"][0]["archived_at"], float)
        r = await c.post("/api/curricula/archived/algebra-1.umcf/unarchive", headers=h)
        assert r.json()["status"] == "unarchived"
        assert (await c.get("/api/curricula/algebra-1", headers=h)).status_code == 200
        await c.post("/api/curricula/algebra-1/archive", headers=h)
        assert (await c.delete("/api/curricula/archived/algebra-1", headers=h)).json()["status"] == "confirmation_required"
        r = await c.delete("/api/curricula/archived/algebra-1?confirm=true", headers=h)
        assert r.json() == {"status": "deleted", "id": "algebra-1", "title": "Algebra One"}
        assert (await c.get("/api/curricula/archived", headers=h)).json()["total"] == 0
        await c.post("/api/curricula/import", json={"content": DOC}, headers=h)
        assert (await c.delete("/api/curricula/algebra-1?confirm=true", headers=h)).json()["status"] == "deleted"
        assert (await c.delete("/api/curricula/algebra-1?confirm=true", headers=h)).status_code == 404
        assert (await c.delete("/api/curricula/algebra-1?confirm=perhaps", headers=h)).status_code == 400
        assert (await c.post("/api/curricula/solar-system-intro/archive", headers=h)).status_code == 403


async def test_assets_in_object_storage(content_app, tenant, tmp_path):
    _tid, token = await tenant()
    h = bearer(token)
    async with make_client(content_app(["curricula"])) as c:
        await c.post("/api/curricula/import", json={"content": DOC}, headers=h)
        url = "/api/curricula/algebra-1/topics/graphs/assets"
        r = await c.post(url, headers=h, files={"file": ("slope.png", PNG, "image/png")},
                         data={"metadata": '{"alt": "a sloped line", "title": "Slope", "startSegment": 1}'})
        assert r.status_code == 200, r.text
        asset = r.json()["asset"]
        assert asset["mimeType"] == "image/png" and asset["segmentTiming"]["startSegment"] == 1
        stored = [p for p in (tmp_path / "storage").rglob("*.png")]
        assert len(stored) == 1 and stored[0].read_bytes() == PNG
        got = await c.get(f"{url}/{asset['id']}", headers=h)
        assert got.content == PNG and got.headers["content-type"] == "image/png"
        detail = (await c.get("/api/curricula/algebra-1", headers=h)).json()
        assert detail["topics"][1]["embedded_asset_count"] == 1
        listed = (await c.get("/api/curricula", headers=h)).json()
        assert next(i for i in listed["curricula"] if i["id"] == "algebra-1")["has_visual_assets"] is True
        r = await c.patch(f"{url}/{asset['id']}", json={"caption": "Rise over run", "endSegment": 3}, headers=h)
        assert r.json()["asset"]["caption"] == "Rise over run" and r.json()["asset"]["segmentTiming"]["endSegment"] == 3
        # SVG is served as an attachment under a sandbox CSP
        r = await c.post(url, headers=h, files={"file": ("d.svg", SVG, "image/svg+xml")},
                         data={"metadata": '{"alt": "diagram", "isReference": true, "keywords": ["slope"]}'})
        svg = await c.get(f"{url}/{r.json()['asset']['id']}", headers=h)
        assert svg.headers["content-disposition"].startswith("attachment") and "sandbox" in svg.headers["content-security-policy"]
        # documented errors
        bad = [
            ({"file": ("x.exe", PNG, "application/octet-stream")}, '{"alt": "a"}', 415),
            ({"file": ("x.png", b"<html>", "image/png")}, '{"alt": "a"}', 415),
            ({"file": ("x.png", PNG, "image/png")}, '{"title": "no alt"}', 400),
            ({"file": ("x.png", PNG, "image/png")}, "not json", 400),
        ]
        for files, meta, status in bad:
            assert (await c.post(url, headers=h, files=files, data={"metadata": meta})).status_code == status
        # JSON is Android's upload form (base64 'data'); without a filename it is a 400, other types 415
        assert (await c.post(url, headers=h, json={"alt": "x"})).status_code == 400
        assert (await c.post(url, headers={**h, "Content-Type": "text/plain"}, content=b"x")).status_code == 415
        big = PNG + b"\x00" * (10 * 1024 * 1024 + 1)
        assert (await c.post(url, headers=h, files={"file": ("big.png", big, "image/png")},
                             data={"metadata": '{"alt": "a"}'})).status_code == 413
        assert (await c.post("/api/curricula/algebra-1/topics/nope/assets", headers=h,
                             files={"file": ("x.png", PNG, "image/png")}, data={"metadata": '{"alt": "a"}'})).status_code == 404
        # delete removes the entry, the row and the bytes
        assert (await c.delete(f"{url}/{asset['id']}", headers=h)).json() == {"status": "success"}
        assert (await c.get(f"{url}/{asset['id']}", headers=h)).status_code == 404
        assert not any(p.suffix == ".png" for p in (tmp_path / "storage").rglob("*"))
        # deleting the curriculum removes the remaining objects
        await c.delete("/api/curricula/algebra-1?confirm=true", headers=h)
        assert not any(p.is_file() for p in (tmp_path / "storage").rglob("*"))


async def test_create_by_upload_and_transcript_defaults(content_app, tenant):
    _tid, token = await tenant()
    h = bearer(token)
    doc = {"formatIdentifier": "umcf", "id": {"value": "uploaded"}, "title": "Uploaded",
           "content": [{"id": {"value": "t1"}, "title": "T", "type": "topic",
                        "transcript": {"segments": [{"text": "Hand-written segment."}]}}]}
    import json

    async with make_client(content_app(["curricula"])) as c:
        r = await c.post("/api/curricula", headers=h, files={"file": ("uploaded.umcf", json.dumps(doc).encode(),
                                                                      "application/json")})
        assert r.status_code == 201 and r.json()["id"] == "uploaded"
        segments = (await c.get("/api/curricula/uploaded/topics/t1/transcript", headers=h)).json()["segments"]
        assert segments == [{"text": "Hand-written segment.", "id": "seg-0", "type": "lecture",
                             "content": "Hand-written segment."}]
        assert (await c.post("/api/curricula", headers=h, files={"file": ("x.umcf", b"{nope", "application/json")})).status_code == 422
        assert (await c.post("/api/curricula", headers=h, files={"other": ("x", b"{}", "text/plain")})).status_code == 400
        r = await c.post("/api/curricula", headers=h, json={**doc, "id": {"value": "json-created"}})
        assert r.status_code == 201 and r.json()["id"] == "json-created"


def _doc(cid: str, title: str, description: str, keywords: list[str]) -> dict:
    doc = copy.deepcopy(DOC)
    doc.update({"id": {"value": cid}, "title": title, "description": description, "metadata": {"keywords": keywords}})
    return doc


async def test_suggest_ranks_by_full_text_search_within_the_tenant(content_app, tenant):
    """POST /api/curricula/suggest: title matches outrank keyword matches, which outrank description
    matches; any word of the query may match; archived curricula and other tenants' never appear."""
    _tid, token = await tenant()
    _other, other_token = await tenant()
    h, other = bearer(token), bearer(other_token)
    mine = [
        _doc("planets-title", "Planets and Moons", "A tour of the sky.", ["astronomy"]),
        _doc("planets-keyword", "Night Sky Basics", "Looking up at night.", ["planets"]),
        _doc("planets-description", "Astronomy Notes", "Covers the planets briefly.", ["stars"]),
        _doc("cooking", "Cooking Basics", "Knife skills and heat.", ["kitchen"]),
        _doc("planets-archived", "Planets Archive", "Old planets material.", ["planets"]),
    ]
    async with make_client(content_app(["curricula"])) as c:
        for doc in mine:
            assert (await c.post("/api/curricula/import", json={"content": doc}, headers=h)).status_code == 200
        assert (await c.post("/api/curricula/planets-archived/archive", headers=h)).status_code == 200
        secret = _doc("planets-secret", "Planets Secret Planets", "Planets planets planets.", ["planets"])
        assert (await c.post("/api/curricula/import", json={"content": secret}, headers=other)).status_code == 200

        r = await c.post("/api/curricula/suggest", json={"query": "Study the planets on Friday"}, headers=h)
        assert r.status_code == 200, r.text
        ids = r.json()["curriculumIds"]
        # the seeded system curriculum (the solar system) also speaks of planets and is visible to all
        assert [i for i in ids if i != "solar-system-intro"] == ["planets-title", "planets-keyword", "planets-description"], ids
        ranks = [s["rank"] for s in r.json()["suggestions"]]
        assert ranks == sorted(ranks, reverse=True) and ranks[0] > ranks[-1] > 0
        # the system curriculum is visible to every tenant and matches by its own words
        assert "solar-system-intro" in (await c.post("/api/curricula/suggest", json={"query": "solar system"},
                                                     headers=h)).json()["curriculumIds"]
        # the other tenant sees its own curriculum, and never this tenant's
        theirs = (await c.post("/api/curricula/suggest", json={"query": "planets"}, headers=other)).json()["curriculumIds"]
        assert [i for i in theirs if i != "solar-system-intro"] == ["planets-secret"], theirs
        assert not set(theirs) & {d["id"]["value"] for d in mine}
        r = await c.post("/api/curricula/suggest", json={"query": "planets moons", "limit": 1}, headers=h)
        assert r.json()["curriculumIds"] == ["planets-title"]
        # stop words only: nothing to match
        assert (await c.post("/api/curricula/suggest", json={"query": "the and of"}, headers=h)).json()["curriculumIds"] == []
        for body, field in (({}, "query"), ({"query": "  "}, "query"), ({"query": 5}, "query"),
                            ({"query": "x" * 501}, "query"), ({"query": "planets", "limit": 0}, "limit"),
                            ({"query": "planets", "limit": "ten"}, "limit")):
            r = await c.post("/api/curricula/suggest", json=body, headers=h)
            assert r.status_code in (400, 422) and r.json()["details"]["field"] == field, (body, r.text)


async def test_asset_upload_as_json_with_base64(content_app, tenant):
    """Android's JSON VisualAssetUpload with the bytes as base64 ``data``: stored like a multipart
    upload, answered with VisualAssetMetadata at the top level; without bytes only the metadata is
    registered (no URL, nothing stored)."""
    import base64
    _tid, token = await tenant()
    h = bearer(token)
    async with make_client(content_app(["curricula"])) as c:
        assert (await c.post("/api/curricula/import", json={"content": DOC}, headers=h)).status_code == 200
        url = "/api/curricula/algebra-1/topics/lin-eq/assets"
        body = {"filename": "chart.png", "mime_type": "image/png", "caption": "Chart", "position": 2}
        r = await c.post(url, json=body, headers=h)
        assert r.status_code == 200, r.text
        pending = r.json()
        assert (pending["filename"], pending["mime_type"], pending["caption"], pending["position"], pending["url"]) == (
            "chart.png", "image/png", "Chart", 2, None)
        assert (await c.get(f"{url}/{pending['id']}", headers=h)).status_code == 404
        listed = (await c.get(url, headers=h)).json()["embedded"]
        assert [a["id"] for a in listed] == [pending["id"]]
        assert (await c.delete(f"{url}/{pending['id']}", headers=h)).status_code == 200
        r = await c.post(url, json={**body, "mime_type": "image/gif"}, headers=h)
        assert r.status_code in (400, 422) and r.json()["details"]["field"] == "mime_type", r.text
        r = await c.post(url, json={**body, "data": "not base64!"}, headers=h)
        assert r.status_code == 400 and r.json()["details"]["field"] == "data", r.text
        r = await c.post(url, json={**body, "data": base64.b64encode(b"GIF89a").decode()}, headers=h)
        assert r.status_code == 415, r.text
        r = await c.post(url, json={**body, "data": base64.b64encode(PNG).decode()}, headers=h)
        assert r.status_code == 200, r.text
        answer = r.json()
        assert (answer["filename"], answer["mime_type"], answer["caption"], answer["position"]) == (
            "chart.png", "image/png", "Chart", 2)
        got = await c.get(answer["url"], headers=h)
        assert got.status_code == 200 and got.content == PNG


async def test_transcript_as_text_for_android_api_client(content_app, tenant):
    """Android's ApiClient (X-Client-Platform: Android) decodes the transcript as a JSON string; without
    the header (its TranscriptStreamingService, iOS, the web) the answer stays the segments object."""
    _tid, token = await tenant()
    h = bearer(token)
    async with make_client(content_app(["curricula"])) as c:
        assert (await c.post("/api/curricula/import", json={"content": DOC}, headers=h)).status_code == 200
        url = "/api/curricula/algebra-1/topics/lin-eq/transcript"
        text = (await c.get(url, headers={**h, "X-Client-Platform": "Android"})).json()
        assert text == "An equation is a balance."
        assert (await c.get(url, headers=h)).json()["segments"][0]["content"] == "An equation is a balance."
