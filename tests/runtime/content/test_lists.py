"""Curriculum lists: the tenant's users read them, administrators change them, other tenants see none."""
from __future__ import annotations

from tests.runtime.conftest import make_client
from tests.runtime.content.conftest import bearer, sign_in_admin


async def test_lists_crud_and_isolation(content_app, tenant, database):
    tid, beta = await tenant()
    _, other_beta = await tenant()
    async with make_client(content_app(["curricula", "auth"])) as c:
        admin = bearer(await sign_in_admin(c, database, tid, beta))
        client = bearer(beta)
        assert (await c.post("/api/lists", json={"name": "Mine"}, headers=client)).status_code == 403
        made = await c.post("/api/lists", json={"name": "Physics picks", "isShared": True}, headers=admin)
        assert made.status_code == 201 and made.json()["itemCount"] == 0, made.text
        list_id = made.json()["id"]
        items = {"items": [{"sourceId": "mit-ocw", "courseId": "8-01sc", "courseTitle": "Physics I"},
                           {"source_id": "mit-ocw", "course_id": "18-01sc"}]}
        added = await c.post(f"/api/lists/{list_id}/items", json=items, headers=admin)
        assert added.status_code == 201 and added.json()["addedCount"] == 2
        again = await c.post(f"/api/lists/{list_id}/items", json=items, headers=admin)
        assert again.json()["addedCount"] == 0 and again.json()["skippedCount"] == 2
        got = (await c.get(f"/api/lists/{list_id}", headers=client)).json()
        assert got["itemCount"] == 2 and [i["courseId"] for i in got["items"]] == ["8-01sc", "18-01sc"]
        member = (await c.get("/api/lists/memberships?courseIds=8-01sc,nope", headers=client)).json()["memberships"]
        assert member == {"8-01sc": [{"listId": list_id, "listName": "Physics picks"}], "nope": []}
        renamed = await c.put(f"/api/lists/{list_id}", json={"name": "Mechanics"}, headers=admin)
        assert renamed.json()["name"] == "Mechanics" and renamed.json()["isShared"] is True
        # bad input is a 4xx
        for body in ({}, {"name": ""}, {"name": "x" * 201}, {"name": "x", "isShared": "yes"}):
            assert (await c.post("/api/lists", json=body, headers=admin)).status_code in (400, 422), body
        assert (await c.post(f"/api/lists/{list_id}/items", json={"items": [{"sourceId": "a"}]},
                             headers=admin)).status_code == 400
        assert (await c.put(f"/api/lists/{list_id}", json={}, headers=admin)).status_code == 400
        assert (await c.get("/api/lists/not-a-uuid", headers=client)).status_code == 400
        # another tenant sees nothing and cannot reach the list by id
        theirs = bearer(other_beta)
        assert (await c.get("/api/lists", headers=theirs)).json()["lists"] == []
        assert (await c.get(f"/api/lists/{list_id}", headers=theirs)).status_code == 404
        item = got["items"][0]["id"]
        assert (await c.delete(f"/api/lists/{list_id}/items/{item}", headers=admin)).status_code == 200
        assert (await c.get(f"/api/lists/{list_id}", headers=client)).json()["itemCount"] == 1
        assert (await c.delete(f"/api/lists/{list_id}", headers=admin)).status_code == 200
        assert (await c.get(f"/api/lists/{list_id}", headers=client)).status_code == 404
