"""Tenant isolation per family: a second tenant sees none of the first tenant's custom content and
can change none of it; system content (tenant_id NULL) is readable by both and writable by neither."""
from __future__ import annotations

import copy

from tests.runtime.conftest import make_client
from tests.runtime.content.conftest import bearer

DOC = {
    "formatIdentifier": "umcf",
    "id": {"value": "tenant-a-private"},
    "title": "Tenant A private course",
    "description": "Only tenant A may see this.",
    "content": [{"id": {"value": "t1"}, "title": "Topic one", "type": "topic",
                 "content": {"text": "Secret text of tenant A. It has two sentences."}}],
}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


async def test_every_family_is_tenant_isolated(content_app, tenant):
    _a, token_a = await tenant()
    _b, token_b = await tenant()
    A, B = bearer(token_a), bearer(token_b)
    async with make_client(content_app()) as c:
        # --- tenant A creates custom content in every family
        assert (await c.post("/api/curricula/import", json={"content": DOC}, headers=A)).status_code == 200
        up = await c.post("/api/curricula/tenant-a-private/topics/t1/assets", headers=A,
                          files={"file": ("pic.png", PNG, "image/png")}, data={"metadata": '{"alt": "a picture"}'})
        assert up.status_code == 200, up.text
        asset_id = up.json()["asset"]["id"]
        q = (await c.post("/api/kb/questions", json={"domain_id": "science", "question_text": "Tenant A secret?",
                                                     "answer_text": "Yes"}, headers=A)).json()["question"]
        pack = (await c.post("/api/kb/packs", json={"name": "A pack", "question_ids": [q["id"]]}, headers=A)).json()["pack"]
        session_id = (await c.post("/api/sessions", json={"curriculum_id": "tenant-a-private"}, headers=A)).json()["session_id"]
        assert (await c.post("/api/metrics", json={"totalCost": 1.0}, headers={**A, "X-Client-ID": "dev-a"})).status_code == 200
        assert (await c.post("/api/logs", json={"level": "info", "message": "A log"}, headers={**A, "X-Client-ID": "dev-a"})).status_code == 200
        assert (await c.post("/api/clients/heartbeat", json={"client_id": "dev-a", "name": "A phone"}, headers=A)).status_code == 200
        assert (await c.put("/api/models/config", json={"temperature": 0.1}, headers=A)).status_code == 200

        # --- tenant A sees its own content
        assert "tenant-a-private" in {x["id"] for x in (await c.get("/api/curricula", headers=A)).json()["curricula"]}
        assert (await c.get(f"/api/curricula/tenant-a-private/topics/t1/assets/{asset_id}", headers=A)).content == PNG

        # --- tenant B sees none of it
        listed = (await c.get("/api/curricula", headers=B)).json()
        assert "tenant-a-private" not in {x["id"] for x in listed["curricula"]}
        for path in ("/api/curricula/tenant-a-private", "/api/curricula/tenant-a-private/full",
                     "/api/curricula/tenant-a-private/topics/t1/transcript",
                     f"/api/curricula/tenant-a-private/topics/t1/assets/{asset_id}",
                     f"/api/kb/questions/{q['id']}", f"/api/kb/packs/{pack['id']}",
                     f"/api/kb/packs/{pack['id']}/questions", f"/api/sessions/{session_id}",
                     f"/api/sessions/{session_id}/events", "/api/metrics/clients/dev-a"):
            r = await c.get(path, headers=B)
            assert r.status_code == 404, (path, r.status_code, r.text)
        assert q["id"] not in str((await c.get("/api/kb/questions?limit=100", headers=B)).json())
        assert pack["id"] not in {p["id"] for p in (await c.get("/api/kb/packs", headers=B)).json()["packs"]}
        assert (await c.get("/api/sessions", headers=B)).json()["total"] == 0
        assert (await c.get("/api/metrics", headers=B)).json()["total"] == 0
        assert (await c.get("/api/logs", headers=B)).json()["total"] == 0
        assert (await c.get("/api/clients", headers=B)).json()["total"] == 0
        assert (await c.get("/api/metrics/summary", headers=B)).json()["total_snapshots"] == 0
        assert (await c.get("/api/models/config", headers=B)).json()["config"]["temperature"] != 0.1
        download = (await c.post("/api/modules/knowledge-bowl/download", headers=B)).json()
        assert q["id"] not in str(download)
        assert q["id"] in str((await c.post("/api/modules/knowledge-bowl/download", headers=A)).json())

        # --- tenant B can change none of it
        changed = copy.deepcopy(DOC)
        changed["title"] = "Hijacked"
        for method, path, kwargs in (
            ("PUT", "/api/curricula/tenant-a-private", {"json": changed}),
            ("DELETE", "/api/curricula/tenant-a-private?confirm=true", {}),
            ("POST", "/api/curricula/tenant-a-private/archive", {}),
            ("PATCH", f"/api/curricula/tenant-a-private/topics/t1/assets/{asset_id}", {"json": {"alt": "x"}}),
            ("DELETE", f"/api/curricula/tenant-a-private/topics/t1/assets/{asset_id}", {}),
            ("PATCH", f"/api/kb/questions/{q['id']}", {"json": {"answer_text": "No"}}),
            ("DELETE", f"/api/kb/questions/{q['id']}", {}),
            ("PATCH", f"/api/kb/packs/{pack['id']}", {"json": {"name": "mine"}}),
            ("DELETE", f"/api/kb/packs/{pack['id']}", {}),
            ("POST", f"/api/kb/packs/{pack['id']}/questions", {"json": {"question_ids": ["sys-scie-001"]}}),
            ("DELETE", f"/api/kb/packs/{pack['id']}/questions/{q['id']}", {}),
            ("POST", f"/api/sessions/{session_id}/turns", {"json": {"role": "user", "content": "hi"}}),
            ("POST", f"/api/sessions/{session_id}/end", {}),
            ("DELETE", f"/api/sessions/{session_id}", {}),
        ):
            r = await c.request(method, path, headers=B, **kwargs)
            assert r.status_code == 404, (method, path, r.status_code, r.text)
        # B cannot put A's question into its own pack either
        own = (await c.post("/api/kb/packs", json={"name": "B pack"}, headers=B)).json()["pack"]
        r = await c.post(f"/api/kb/packs/{own['id']}/questions", json={"question_ids": [q["id"]]}, headers=B)
        assert r.status_code == 400 and r.json()["success"] is False
        bulk = (await c.post("/api/kb/questions/bulk-update", json={"question_ids": [q["id"]],
                                                                   "updates": {"difficulty": 5}}, headers=B)).json()
        assert bulk["affected_count"] == 0 and bulk["errors"][0]["error"] == "Not found"

        # --- A's content is intact
        assert (await c.get("/api/curricula/tenant-a-private", headers=A)).json()["title"] == DOC["title"]
        assert (await c.get(f"/api/kb/questions/{q['id']}", headers=A)).json()["question"]["answer_text"] == "Yes"
        assert (await c.get(f"/api/kb/packs/{pack['id']}", headers=A)).json()["name"] == "A pack"
        assert (await c.get(f"/api/sessions/{session_id}", headers=A)).json()["state"] == "idle"

        # --- system content: readable by both, writable by neither
        for token in (A, B):
            assert (await c.get("/api/curricula/solar-system-intro", headers=token)).status_code == 200
            assert (await c.get("/api/kb/packs/pack-starter/questions", headers=token)).json()["total"] == 24
            r = await c.delete("/api/curricula/solar-system-intro?confirm=true", headers=token)
            assert r.status_code == 403
            assert (await c.patch("/api/kb/packs/pack-starter", json={"name": "x"}, headers=token)).status_code == 403
            assert (await c.delete("/api/kb/questions/sys-scie-001", headers=token)).status_code == 403
            r = await c.post("/api/kb/packs/pack-starter/questions", json={"question_ids": ["sys-math-001"]}, headers=token)
            assert r.status_code == 403 and r.json()["success"] is False
        assert (await c.get("/api/kb/packs/pack-starter", headers=B)).json()["name"] == "Starter Pack"
