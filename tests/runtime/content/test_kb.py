"""Knowledge Bowl routes: packs and questions CRUD, pack questions GET/add/remove, bundles with
de-duplication, preview-dedup, bulk update, import-from-module, filters, and the success envelope."""
from __future__ import annotations

from tests.runtime.conftest import make_client
from tests.runtime.content.conftest import bearer


async def _question(c, h, **fields):
    body = {"domain_id": "science", "question_text": "What is H2O?", "answer_text": "Water", **fields}
    r = await c.post("/api/kb/questions", json=body, headers=h)
    assert r.status_code == 200, r.text
    return r.json()["question"]


async def test_questions_crud_filters_and_search(content_app, tenant):
    _tid, token = await tenant()
    h = bearer(token)
    async with make_client(content_app(["kb"])) as c:
        q = await _question(c, h, subcategory="chemistry", difficulty=4, hints=["two hydrogens"],
                            question_type="toss-up", domain_id="fine_arts")
        assert q["domain_id"] == "arts" and q["question_type"] == "toss_up" and q["acceptable_answers"] == ["Water"]
        assert q["id"].startswith("art-chem-") and q["difficulty"] == 4 and q["source"] == "custom"
        assert (await c.get(f"/api/kb/questions/{q['id']}", headers=h)).json()["question"]["hints"] == ["two hydrogens"]
        found = (await c.get("/api/kb/questions?search=water&domain_id=arts", headers=h)).json()
        assert [x["id"] for x in found["questions"]] == [q["id"]] and found["source"] == "database"
        assert (await c.get("/api/kb/questions?difficulty=4,5", headers=h)).json()["total"] == 1
        assert (await c.get("/api/kb/questions?difficulty=1,2,3,4,5&limit=5", headers=h)).json()["total"] == 25
        r = await c.patch(f"/api/kb/questions/{q['id']}", json={"answer_text": "H2O is water", "difficulty": 2,
                                                              "domain_id": "science"}, headers=h)
        assert r.json()["question"]["answer_text"] == "H2O is water" and r.json()["question"]["domain_id"] == "science"
        errors = [
            ({"question_text": "x", "answer_text": "y"}, 400),  # no domain
            ({"domain_id": "nope", "question_text": "x", "answer_text": "y"}, 422),
            ({"domain_id": "science", "question_text": "x", "answer_text": "y", "difficulty": 9}, 422),
            ({"domain_id": "science", "question_text": "x", "answer_text": "y", "question_type": "quiz"}, 422),
            ({"domain_id": "science", "question_text": "", "answer_text": "y"}, 400),
        ]
        for body, status in errors:
            r = await c.post("/api/kb/questions", json=body, headers=h)
            assert r.status_code == status and r.json()["success"] is False, (body, r.text)
        assert (await c.get("/api/kb/questions?difficulty=x", headers=h)).status_code == 400
        assert (await c.get("/api/kb/questions?limit=1000", headers=h)).status_code == 400
        assert (await c.delete(f"/api/kb/questions/{q['id']}", headers=h)).json() == {"success": True, "question_id": q["id"]}
        assert (await c.get(f"/api/kb/questions/{q['id']}", headers=h)).status_code == 404


async def test_packs_crud_and_pack_questions(content_app, tenant):
    _tid, token = await tenant()
    h = bearer(token)
    async with make_client(content_app(["kb"])) as c:
        q1 = await _question(c, h, difficulty=1)
        q2 = await _question(c, h, domain_id="history", question_text="Year of Magna Carta?", answer_text="1215")
        r = await c.post("/api/kb/packs", json={"name": "Mine", "difficulty_tier": "jv"}, headers=h)
        pack = r.json()["pack"]
        assert pack["type"] == pack["pack_type"] == "custom" and pack["status"] == "draft" and pack["id"].startswith("pack-")
        r = await c.post(f"/api/kb/packs/{pack['id']}/questions", json={"question_ids": [q1["id"], q2["id"], q1["id"]]},
                         headers=h)
        assert r.json() == {"success": True, "added_count": 2, "added_ids": [q1["id"], q2["id"]]}
        r = await c.post(f"/api/kb/packs/{pack['id']}/questions", json={"question_ids": ["sys-scie-001", "nope-1"]},
                         headers=h)
        assert r.status_code == 400 and "nope-1" in r.json()["message"]
        detail = (await c.get(f"/api/kb/packs/{pack['id']}", headers=h)).json()
        assert detail["question_ids"] == [q1["id"], q2["id"]]
        assert detail["stats"]["domain_distribution"] == {"science": 1, "history": 1}
        assert detail["stats"]["difficulty_distribution"] == {"1": 1, "2": 1, "3": 0, "4": 0, "5": 0}
        assert {g["domain_id"] for g in detail["domain_groups"]} == {"science", "history"}
        questions = (await c.get(f"/api/kb/packs/{pack['id']}/questions", headers=h)).json()
        assert [x["id"] for x in questions["questions"]] == [q1["id"], q2["id"]] and questions["total"] == 2
        r = await c.delete(f"/api/kb/packs/{pack['id']}/questions/{q1['id']}", headers=h)
        assert r.json() == {"success": True}
        assert (await c.delete(f"/api/kb/packs/{pack['id']}/questions/{q1['id']}", headers=h)).status_code == 404
        r = await c.patch(f"/api/kb/packs/{pack['id']}", json={"name": "Renamed", "status": "active"}, headers=h)
        assert r.json()["pack"]["name"] == "Renamed" and r.json()["pack"]["status"] == "active"
        assert (await c.patch(f"/api/kb/packs/{pack['id']}", json={"status": "gone"}, headers=h)).status_code == 422
        listed = (await c.get("/api/kb/packs?type=custom&status=active", headers=h)).json()
        assert [p["id"] for p in listed["packs"]] == [pack["id"]] and listed["limit"] == 50
        assert (await c.get("/api/kb/packs?type=weird", headers=h)).status_code == 400
        assert (await c.post("/api/kb/packs", json={"name": "x", "type": "system"}, headers=h)).status_code == 403
        assert (await c.post("/api/kb/packs", json={}, headers=h)).status_code == 400
        assert (await c.get("/api/kb/packs/missing/questions", headers=h)).status_code == 404
        assert (await c.delete(f"/api/kb/packs/{pack['id']}", headers=h)).json() == {"success": True, "pack_id": pack["id"]}
        # the questions outlive the pack
        assert (await c.get(f"/api/kb/questions/{q2['id']}", headers=h)).status_code == 200


async def test_bundles_dedup_bulk_update_and_import(content_app, tenant):
    _tid, token = await tenant()
    h = bearer(token)
    async with make_client(content_app(["kb"])) as c:
        a = await _question(c, h, question_text="What is the capital of France?", answer_text="Paris")
        b = await _question(c, h, question_text="what is the capital of   FRANCE", answer_text="Paris")
        other = await _question(c, h, question_text="Largest planet?", answer_text="Jupiter")
        p1 = (await c.post("/api/kb/packs", json={"name": "One", "question_ids": [a["id"], other["id"]]}, headers=h)).json()["pack"]
        p2 = (await c.post("/api/kb/packs", json={"name": "Two", "question_ids": [b["id"]]}, headers=h)).json()["pack"]
        preview = (await c.post("/api/kb/packs/preview-dedup", json={"source_pack_ids": [p1["id"], p2["id"]]},
                                headers=h)).json()
        assert preview["total_duplicates"] == 1 and preview["unique_questions_after_dedup"] == 2
        assert {o["question_id"] for o in preview["duplicate_groups"][0]["occurrences"]} == {a["id"], b["id"]}
        r = await c.post("/api/kb/packs/bundle", json={"name": "Both", "source_pack_ids": [p1["id"], p2["id"], "pack-starter"]},
                         headers=h)
        bundle = r.json()
        assert bundle["duplicates_skipped"] == 1 and bundle["duplicates"] == [{"question_id": b["id"], "duplicate_of": a["id"]}]
        assert bundle["pack"]["type"] == "bundle" and bundle["pack"]["status"] == "active"
        assert bundle["pack"]["question_count"] == 2 + 24 and bundle["pack"]["source_pack_ids"][0] == p1["id"]
        r = await c.post("/api/kb/packs/bundle", json={"name": "x", "source_pack_ids": ["missing"]}, headers=h)
        assert r.status_code == 404
        r = await c.post("/api/kb/questions/bulk-update", json={"question_ids": [a["id"], b["id"], "sys-scie-001", "nope"],
                                                              "updates": {"difficulty": 5, "status": "draft"}}, headers=h)
        body = r.json()
        assert body["affected_count"] == 2 and {e["question_id"] for e in body["errors"]} == {"sys-scie-001", "nope"}
        assert (await c.post("/api/kb/questions/bulk-update", json={"question_ids": [a["id"]], "updates": {"answer_text": "x"}},
                             headers=h)).status_code == 422
        target = (await c.post("/api/kb/packs", json={"name": "From module"}, headers=h)).json()["pack"]
        r = await c.post("/api/kb/import-from-module", json={"pack_id": target["id"], "domains": ["fine_arts", "science"],
                                                            "difficulties": [1, 2]}, headers=h)
        assert r.json() == {"success": True, "imported_count": 3, "skipped_count": 0}
        r = await c.post("/api/kb/import-from-module", json={"pack_id": target["id"], "domains": ["arts", "science"]}, headers=h)
        assert r.json() == {"success": True, "imported_count": 1, "skipped_count": 3}
        assert (await c.post("/api/kb/import-from-module", json={"pack_id": "pack-starter"}, headers=h)).status_code == 403
        status = (await c.get("/api/kb/database-status", headers=h)).json()
        assert status["database_available"] is True and status["total_questions"] == 27
        assert (await c.post("/api/kb/sync-to-database", headers=h)).json()["imported_count"] == 0
        domains = (await c.get("/api/kb/domains", headers=h)).json()["domains"]
        assert [d["id"] for d in domains][:2] == ["science", "mathematics"] and "arts" in {d["id"] for d in domains}
