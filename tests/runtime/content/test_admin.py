"""Admin (Tier 2): tenants, beta tokens shown once, users, usage and budgets; tenant scoping of admins."""
from __future__ import annotations

from runtime.voice.config import VoiceSettings
from tests.runtime.conftest import make_client
from tests.runtime.content.conftest import bearer, sign_in_admin
from tests.runtime.voice.test_routing import _asg, _desired


async def test_admin_routes_need_tier2(content_app, tenant):
    _tid, beta = await tenant()
    async with make_client(content_app()) as c:
        assert (await c.get("/api/admin/tenants")).status_code == 401
        # a beta token is never an admin credential
        assert (await c.get("/api/admin/tenants", headers=bearer(beta))).status_code in (401, 403)


async def test_beta_tokens_issue_once_list_revoke(content_app, tenant, database):
    tid, beta = await tenant()
    async with make_client(content_app()) as c:
        admin = bearer(await sign_in_admin(c, database, tid, beta))
        r = await c.post("/api/admin/beta-tokens", json={"name": "Ada's iPad", "expires_in_days": 30}, headers=admin)
        assert r.status_code == 201, r.text
        issued = r.json()
        token = issued["token"]
        assert token.startswith("uma_beta_") and "once" in issued["message"]
        # the new token works on Tier 1 routes
        assert (await c.get("/api/curricula", headers=bearer(token))).status_code == 200
        listed = (await c.get("/api/admin/beta-tokens", headers=admin)).json()
        mine = next(t for t in listed["tokens"] if t["id"] == issued["id"])
        assert mine["status"] == "active" and mine["name"] == "Ada's iPad"
        assert token not in str(listed)  # never shown again
        assert (await c.delete(f"/api/admin/beta-tokens/{issued['id']}", headers=admin)).json()["status"] == "revoked"
        assert (await c.delete(f"/api/admin/beta-tokens/{issued['id']}", headers=admin)).status_code == 404
        listed = (await c.get("/api/admin/beta-tokens", headers=admin)).json()
        assert next(t for t in listed["tokens"] if t["id"] == issued["id"])["status"] == "revoked"
        bad = await c.post("/api/admin/beta-tokens", json={"name": "x", "rate_capacity": 5}, headers=admin)
        assert bad.status_code == 422


async def test_tenants_and_cross_tenant_rules(content_app, tenant, database):
    tid_a, beta = await tenant()
    tid_b, _ = await tenant(slug="tenant-bee")
    async with make_client(content_app()) as c:
        admin_a = bearer(await sign_in_admin(c, database, tid_a, beta))
        # an ordinary admin sees only its tenant and cannot reach another
        listed = (await c.get("/api/admin/tenants", headers=admin_a)).json()
        assert [t["id"] for t in listed["tenants"]] == [tid_a]
        assert (await c.post("/api/admin/tenants", json={"slug": "nope"}, headers=admin_a)).status_code == 403
        assert (await c.get("/api/admin/users?tenant=tenant-bee", headers=admin_a)).status_code == 403
        assert (await c.post("/api/admin/beta-tokens", json={"name": "x", "tenant": tid_b},
                             headers=admin_a)).status_code == 403
        # a super admin lists and creates tenants and acts on another tenant by slug
        root = bearer(await sign_in_admin(c, database, tid_a, beta, role="super_admin"))
        assert {tid_a, tid_b} <= {t["id"] for t in (await c.get("/api/admin/tenants", headers=root)).json()["tenants"]}
        r = await c.post("/api/admin/tenants", json={"slug": "School-One", "name": "School One"}, headers=root)
        assert r.status_code == 201 and r.json()["tenant"]["slug"] == "school-one"
        assert (await c.post("/api/admin/tenants", json={"slug": "school-one"}, headers=root)).status_code == 409
        assert (await c.post("/api/admin/tenants", json={"slug": "Bad Slug!"}, headers=root)).status_code == 422
        r = await c.post("/api/admin/beta-tokens", json={"name": "tester", "tenant": "school-one"}, headers=root)
        assert r.status_code == 201 and r.json()["tenant_id"] == (await c.get(
            "/api/admin/tenants", headers=root)).json()["tenants"][-1]["id"]
        assert (await c.get("/api/admin/users?tenant=no-such-tenant", headers=root)).status_code == 404


async def test_users_crud(content_app, tenant, database):
    tid, beta = await tenant()
    async with make_client(content_app()) as c:
        admin = bearer(await sign_in_admin(c, database, tid, beta))
        r = await c.post("/api/admin/users", json={"email": "Kim@Example.com", "password": "Another-Horse-77",
                                                   "display_name": "Kim"}, headers=admin)
        assert r.status_code == 201 and r.json()["user"]["email"] == "kim@example.com"
        user_id = r.json()["user"]["id"]
        assert (await c.post("/api/admin/users", json={"email": "kim@example.com", "password": "Another-Horse-77"},
                             headers=admin)).json()["error"] == "email_exists"
        assert (await c.post("/api/admin/users", json={"email": "x@example.com", "password": "short"},
                             headers=admin)).status_code == 400
        # admins cannot mint super admins
        assert (await c.post("/api/admin/users", json={"email": "y@example.com", "password": "Another-Horse-77",
                                                       "role": "super_admin"}, headers=admin)).status_code == 403
        r = await c.patch(f"/api/admin/users/{user_id}", json={"role": "admin", "is_active": False}, headers=admin)
        assert r.json()["user"]["role"] == "admin" and r.json()["user"]["is_active"] is False
        users = (await c.get("/api/admin/users", headers=admin)).json()["users"]
        assert user_id in {u["id"] for u in users}
        assert (await c.delete(f"/api/admin/users/{user_id}", headers=admin)).json()["status"] == "deleted"
        assert (await c.delete(f"/api/admin/users/{user_id}", headers=admin)).status_code == 404


async def test_usage_and_budgets(content_app, tenant, database):
    tid, beta = await tenant()
    owner = await database.owner()
    try:
        import uuid

        await owner.execute(
            "insert into usage_events (tenant_id, subject, provider, operation, units, cost_usd) values "
            "($1, 'token:x', 'groq', 'llm', '{}', 0.25), ($1, 'token:x', 'deepgram', 'tts', '{}', 0.5)", uuid.UUID(tid))
    finally:
        await owner.close()
    async with make_client(content_app()) as c:
        admin = bearer(await sign_in_admin(c, database, tid, beta))
        usage = (await c.get("/api/admin/usage?group_by=provider", headers=admin)).json()
        assert {u["provider"]: u["cost_usd"] for u in usage["usage"]} == {"deepgram": 0.5, "groq": 0.25}
        assert usage["total_cost_usd"] == 0.75
        assert (await c.get("/api/admin/usage?group_by=color", headers=admin)).status_code == 400
        assert (await c.get("/api/admin/usage?from=2026-13-01", headers=admin)).status_code == 400
        assert (await c.get("/api/admin/usage?all=true", headers=admin)).status_code == 403
        r = await c.put("/api/admin/budgets", json={"monthly_limit_usd": 12.5}, headers=admin)
        assert r.status_code == 200 and r.json()["limits"]["monthly_limit_usd"] == 12.5
        assert r.json()["status"]["tenant_monthly"]["limit_usd"] == 12.5
        r = await c.put("/api/admin/budgets", json={"user_daily_limit_usd": 1.0}, headers=admin)
        assert r.json()["limits"] == {**r.json()["limits"], "monthly_limit_usd": 12.5, "user_daily_limit_usd": 1.0}
        assert (await c.put("/api/admin/budgets", json={"monthly_limit_usd": -1}, headers=admin)).status_code == 422
        subject = "token:00000000-0000-0000-0000-000000000001"
        r = await c.put("/api/admin/budgets/subjects", json={"subject": subject, "daily_limit_usd": 0.5}, headers=admin)
        assert r.status_code == 200
        budgets = (await c.get("/api/admin/budgets", headers=admin)).json()
        assert budgets["subject_budgets"] == [{**budgets["subject_budgets"][0], "subject": subject, "daily_limit_usd": 0.5}]


async def test_super_admins_write_system_content(content_app, tenant, database):
    tid_a, beta_a = await tenant()
    _tid_b, beta_b = await tenant()
    doc = {"formatIdentifier": "umcf", "id": {"value": "shared-course"}, "title": "Shared course",
           "content": [{"id": {"value": "t"}, "title": "T", "type": "topic", "content": {"text": "Hi."}}]}
    async with make_client(content_app()) as c:
        admin = bearer(await sign_in_admin(c, database, tid_a, beta_a))
        assert (await c.post("/api/admin/system/curricula", json={"content": doc}, headers=admin)).status_code == 403
        root = bearer(await sign_in_admin(c, database, tid_a, beta_a, role="super_admin"))
        r = await c.post("/api/admin/system/curricula", json={"content": doc}, headers=root)
        assert r.status_code == 200 and r.json()["system"] is True
        assert (await c.post("/api/admin/system/curricula", json={"content": {"title": "x"}}, headers=root)).status_code == 422
        # every tenant reads it, no tenant can change it
        for beta in (beta_a, beta_b):
            assert (await c.get("/api/curricula/shared-course", headers=bearer(beta))).json()["title"] == "Shared course"
            assert (await c.delete("/api/curricula/shared-course?confirm=true", headers=bearer(beta))).status_code == 403
        assert (await c.delete("/api/admin/system/curricula/shared-course", headers=root)).json()["status"] == "confirmation_required"
        assert (await c.delete("/api/admin/system/curricula/shared-course?confirm=true", headers=root)).json()["status"] == "deleted"
        assert (await c.get("/api/curricula/shared-course", headers=bearer(beta_b))).status_code == 404
        assert (await c.delete("/api/admin/system/curricula/shared-course?confirm=true", headers=root)).status_code == 404


async def test_publish_a_tenant_pack_as_system_content(content_app, tenant, database):
    tid_a, beta_a = await tenant()
    _tid_b, beta_b = await tenant()
    A, B = bearer(beta_a), bearer(beta_b)
    async with make_client(content_app()) as c:
        q = (await c.post("/api/kb/questions", json={"domain_id": "history", "question_text": "Who built the Parthenon?",
                                                     "answer_text": "The Athenians"}, headers=A)).json()["question"]
        pack = (await c.post("/api/kb/packs", json={"name": "Greek history", "question_ids": [q["id"], "sys-hist-001"]},
                             headers=A)).json()["pack"]
        root = bearer(await sign_in_admin(c, database, tid_a, beta_a, role="super_admin"))
        admin = bearer(await sign_in_admin(c, database, tid_a, beta_a))
        assert (await c.post(f"/api/admin/system/kb/packs/{pack['id']}/publish", headers=admin)).status_code == 403
        r = await c.post(f"/api/admin/system/kb/packs/{pack['id']}/publish", json={"name": "Greek History (official)"},
                         headers=root)
        assert r.status_code == 201, r.text
        system_id = r.json()["pack_id"]
        # tenant B now sees the system pack with a copy of A's question and the reused system question
        questions = (await c.get(f"/api/kb/packs/{system_id}/questions", headers=B)).json()["questions"]
        assert [x["question_text"] for x in questions] == ["Who built the Parthenon?",
                                                            questions[1]["question_text"]]
        assert questions[0]["id"] != q["id"] and questions[1]["id"] == "sys-hist-001"
        detail = (await c.get(f"/api/kb/packs/{system_id}", headers=B)).json()
        assert detail["pack_type"] == "system" and detail["name"] == "Greek History (official)"
        assert (await c.delete(f"/api/kb/packs/{system_id}", headers=B)).status_code == 403
        # A's own pack and question are untouched and still private
        assert (await c.get(f"/api/kb/questions/{q['id']}", headers=B)).status_code == 404
        assert (await c.post("/api/admin/system/kb/packs/nope/publish", headers=root)).status_code == 404
        assert (await c.delete(f"/api/admin/system/kb/packs/{system_id}", headers=root)).json()["status"] == "confirmation_required"
        assert (await c.delete(f"/api/admin/system/kb/packs/{system_id}?confirm=true", headers=root)).json()["status"] == "deleted"
        assert (await c.get(f"/api/kb/packs/{system_id}", headers=B)).status_code == 404


async def test_an_admin_sees_the_gpu_fleet_and_wakes_and_sleeps_it(content_app, tenant, database, moto_endpoint,
                                                                    monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    await _asg(moto_endpoint, "gpu-admin")
    vs = VoiceSettings(llm_provider="openai", llm_url="http://127.0.0.1:9/v1", gpu_asg_name="gpu-admin",
                       aws_endpoint_url=moto_endpoint)
    tid, beta = await tenant()
    async with make_client(content_app(["auth", "voice"], voice=vs)) as c:
        assert (await c.get("/api/admin/gpu", headers=bearer(beta))).status_code in (401, 403)
        admin = bearer(await sign_in_admin(c, database, tid, beta))
        state = await c.get("/api/admin/gpu", headers=admin)
        assert state.status_code == 200, state.text
        assert state.json()["voice_sessions"] == 0 and isinstance(state.json()["gpu"], dict)
        woke = await c.post("/api/admin/gpu/wake", headers=admin)
        assert woke.status_code == 200, woke.text
        assert woke.json()["action"] == "wake" and await _desired(moto_endpoint, "gpu-admin") == 1
        slept = await c.post("/api/admin/gpu/sleep", headers=admin)
        assert slept.status_code == 200 and await _desired(moto_endpoint, "gpu-admin") == 0
        assert (await c.post("/api/admin/gpu/reboot", headers=admin)).status_code == 404


async def test_one_power_profile_by_id(content_app, tenant, database):
    tid, beta = await tenant()
    async with make_client(content_app(["auth", "ops"])) as c:
        admin = bearer(await sign_in_admin(c, database, tid, beta))
        r = await c.get("/api/system/profiles/balanced", headers=admin)
        assert r.status_code == 200, r.text
        assert r.json()["id"] == "balanced" and r.json()["name"] == "Balanced"
        assert (await c.get("/api/system/profiles/no-such-mode", headers=admin)).status_code == 404
