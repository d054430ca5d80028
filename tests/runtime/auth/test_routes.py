"""Every /api/auth/* route and its failure paths, through the whole middleware stack."""
from __future__ import annotations

import asyncio
import uuid

import jwt
import pytest

from runtime.errors import SNAKE_CODES
from tests.runtime.auth.conftest import JWT_SECRET, PASSWORD, bearer, device, signup
from tests.runtime.conftest import make_client


@pytest.fixture
async def env(auth_app, tenant):
    tenant_id, beta = await tenant()
    async with make_client(auth_app()) as client:
        yield client, beta, tenant_id


def _error(response, status: int, code: str):
    assert response.status_code == status, response.text
    body = response.json()
    # the dead-token 401s keep the snake name in "code" too (the web client's isAuthError; runtime/errors.py)
    assert body["error"] == code and body["code"] == (code if code in SNAKE_CODES else code.upper()) and body["message"]
    return body


# ---------------------------------------------------------------- register
async def test_register_shapes(env):
    client, beta, tenant_id = env
    bare = await client.post("/api/auth/register", json={"email": "A@Example.com", "password": PASSWORD}, headers=bearer(beta))
    assert bare.status_code == 201
    body = bare.json()
    assert set(body) == {"user"} and body["user"]["email"] == "a@example.com" and body["user"]["role"] == "user"
    with_device = await client.post("/api/auth/register", json={"email": "b@example.com", "password": PASSWORD,
                                                               "display_name": "Bee", "device": device()}, headers=bearer(beta))
    assert with_device.status_code == 201
    body = with_device.json()
    assert body["user"]["display_name"] == "Bee" and body["device"]["id"]
    tokens = body["tokens"]
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 900
    claims = jwt.decode(tokens["access_token"], JWT_SECRET, algorithms=["HS256"], audience="unamentis-api")
    assert claims["tenant"] == tenant_id and claims["device_id"] == body["device"]["id"] and claims["exp"] - claims["iat"] == 900
    me = await client.get("/api/auth/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200


async def test_register_failures(env):
    client, beta, _ = env
    h = bearer(beta)
    _error(await client.post("/api/auth/register", json={"email": "x@example.com", "password": PASSWORD}), 401, "beta_token_required")
    _error(await client.post("/api/auth/register", json={"email": "x@example.com", "password": PASSWORD},
                             headers=bearer("uma_beta_" + "A" * 43)), 401, "invalid_token")
    _error(await client.post("/api/auth/register", content=b"{nope", headers={**h, "Content-Type": "application/json"}), 400, "invalid_json")
    _error(await client.post("/api/auth/register", json={"password": PASSWORD}, headers=h), 400, "missing_credentials")
    _error(await client.post("/api/auth/register", json={"email": "not-an-email", "password": PASSWORD}, headers=h), 400, "invalid_email")
    _error(await client.post("/api/auth/register", json={"email": 42, "password": PASSWORD}, headers=h), 400, "invalid_email")
    short = _error(await client.post("/api/auth/register", json={"email": "s@example.com", "password": "Ab1!"}, headers=h), 400, "weak_password")
    assert short["suggestions"] and short["details"]["suggestions"]
    _error(await client.post("/api/auth/register", json={"email": "l@example.com", "password": "Ab1!" * 33}, headers=h), 400, "weak_password")
    _error(await client.post("/api/auth/register", json={"email": "h@example.com", "password": "A" * 100_000}, headers=h), 400, "weak_password")
    _error(await client.post("/api/auth/register", json={"email": "w@example.com", "password": "password1"}, headers=h), 400, "weak_password")
    _error(await client.post("/api/auth/register", json={"email": "t@example.com", "password": ["x"]}, headers=h), 400, "invalid_password")
    _error(await client.post("/api/auth/register", json={"email": "d@example.com", "password": PASSWORD,
                                                         "device": {"fingerprint": "f", "type": "toaster"}}, headers=h), 400, "invalid_device_type")
    ok = await client.post("/api/auth/register", json={"email": "dup@example.com", "password": PASSWORD}, headers=h)
    assert ok.status_code == 201
    _error(await client.post("/api/auth/register", json={"email": "DUP@example.com", "password": PASSWORD}, headers=h), 409, "email_exists")


async def test_email_unique_across_tenants(env, tenant):
    client, beta, _ = env
    _other, other_beta = await tenant()
    ok = await client.post("/api/auth/register", json={"email": "same@example.com", "password": PASSWORD}, headers=bearer(beta))
    assert ok.status_code == 201
    _error(await client.post("/api/auth/register", json={"email": "same@example.com", "password": PASSWORD},
                             headers=bearer(other_beta)), 409, "email_exists")


async def test_registration_modes(auth_app, tenant, database):
    _tid, beta = await tenant()
    async with make_client(auth_app(registration="closed")) as client:
        _error(await client.post("/api/auth/register", json={"email": "c@example.com", "password": PASSWORD}, headers=bearer(beta)),
               403, "registration_closed")
    open_tid, _ = await tenant(slug=f"open-{uuid.uuid4().hex[:6]}")
    owner = await database.owner()
    slug = await owner.fetchval("select slug from tenants where id = $1", uuid.UUID(open_tid))
    await owner.close()
    async with make_client(auth_app(registration="open", open_tenant=slug)) as client:
        reg = await client.post("/api/auth/register", json={"email": "o@example.com", "password": PASSWORD, "device": device()})
        assert reg.status_code == 201
        claims = jwt.decode(reg.json()["tokens"]["access_token"], JWT_SECRET, algorithms=["HS256"], audience="unamentis-api")
        assert claims["tenant"] == open_tid
        # open mode: login needs no beta token either
        login = await client.post("/api/auth/login", json={"email": "o@example.com", "password": PASSWORD, "device": device()})
        assert login.status_code == 200


# ---------------------------------------------------------------- login
async def test_login_shape_and_failures(env, tenant):
    client, beta, _ = env
    user = await signup(client, beta)
    assert set(user) >= {"user", "device", "tokens"} and user["tokens"]["expires_in"] == 900
    h = bearer(beta)
    creds = {"email": user["email"], "password": PASSWORD}
    _error(await client.post("/api/auth/login", json=creds, headers=h), 400, "missing_device")
    _error(await client.post("/api/auth/login", json={**creds, "device_name": "Pixel"}, headers=h), 400, "missing_device")
    _error(await client.post("/api/auth/login", json={**creds, "device": {"fingerprint": "f", "type": "fridge"}}, headers=h), 400, "invalid_device_type")
    _error(await client.post("/api/auth/login", json={**creds, "device": {"fingerprint": "f"}}, headers=h), 400, "invalid_device_type")
    _error(await client.post("/api/auth/login", json={"email": user["email"], "password": "Wrong-Pass-1", "device": device()}, headers=h),
           401, "invalid_credentials")
    _error(await client.post("/api/auth/login", json={"email": "ghost@example.com", "password": PASSWORD, "device": device()}, headers=h),
           401, "invalid_credentials")
    _error(await client.post("/api/auth/login", json={**creds, "device": device()}), 401, "beta_token_required")
    # A beta token of another tenant does not open this tenant's accounts.
    _other, other_beta = await tenant()
    _error(await client.post("/api/auth/login", json={**creds, "device": device()}, headers=bearer(other_beta)), 401, "invalid_credentials")
    # The same device fingerprint is one device.
    again = await client.post("/api/auth/login", json={**creds, "device": device("fixed")}, headers=h)
    again2 = await client.post("/api/auth/login", json={**creds, "device": device("fixed")}, headers=h)
    assert again.json()["device"]["id"] == again2.json()["device"]["id"]


async def test_login_rate_limit_sixth_attempt(auth_app, tenant):
    from runtime.settings import Settings

    _tid, beta = await tenant()
    secret = "origin-secret-" + "q" * 20
    # A client IP of its own (through the verified edge headers): the module shares one database.
    edge = {"X-Origin-Secret": secret, "CF-Connecting-IP": f"203.0.113.{uuid.uuid4().int % 250 + 1}"}
    async with make_client(auth_app(rate_limit_login=Settings().rate_limit_login, origin_secret=secret)) as client:
        await _sixth_attempt(client, {**bearer(beta), **edge})


async def _sixth_attempt(client, headers):
    body = {"email": "nobody@example.com", "password": "Wrong-Pass-1", "device": device()}
    codes = [(await client.post("/api/auth/login", json=body, headers=headers)).status_code for _ in range(5)]
    assert codes == [401] * 5  # the first attempts are never refused by the limiter
    sixth = await client.post("/api/auth/login", json=body, headers=headers)
    err = _error(sixth, 429, "rate_limited")
    assert int(sixth.headers["Retry-After"]) >= 1
    # The login bucket's own headers, once each: the middleware's per-IP bucket does not add a second set.
    assert sixth.headers.get_list("X-RateLimit-Limit") == ["5"]
    assert sixth.headers.get_list("X-RateLimit-Remaining") == ["0"]
    assert err["details"]["retry_after"] >= 1


async def test_account_lockout(auth_app, tenant):
    _tid, beta = await tenant()
    async with make_client(auth_app(rate_limit_login=(100, 60.0))) as client:
        user = await signup(client, beta)
        bad = {"email": user["email"], "password": "Wrong-Pass-1", "device": device()}
        for _ in range(10):
            _error(await client.post("/api/auth/login", json=bad, headers=bearer(beta)), 401, "invalid_credentials")
        # Locked: even the right password gets the same 401 as a stranger (no lock or account oracle).
        _error(await client.post("/api/auth/login", json={**bad, "password": PASSWORD}, headers=bearer(beta)), 401, "invalid_credentials")


async def test_inactive_account(env, database):
    client, beta, _ = env
    user = await signup(client, beta)
    owner = await database.owner()
    await owner.execute("update users set is_active = false where email = $1", user["email"])
    await owner.close()
    _error(await client.post("/api/auth/login", json={"email": user["email"], "password": PASSWORD, "device": device()},
                             headers=bearer(beta)), 403, "account_inactive")
    _error(await client.post("/api/auth/refresh", json={"refresh_token": user["tokens"]["refresh_token"]}), 403, "account_inactive")


# ---------------------------------------------------------------- refresh
async def test_refresh_rotation_and_reuse(env):
    client, beta, _ = env
    user = await signup(client, beta)
    first = user["tokens"]["refresh_token"]
    rotated = await client.post("/api/auth/refresh", json={"refresh_token": first})
    assert rotated.status_code == 200
    tokens = rotated.json()["tokens"]
    assert set(rotated.json()) == {"tokens"} and tokens["refresh_token"] != first and tokens["expires_in"] == 900
    assert (await client.get("/api/auth/me", headers=bearer(tokens["access_token"]))).status_code == 200
    # Reusing the rotated token revokes the family: the newer token dies too.
    _error(await client.post("/api/auth/refresh", json={"refresh_token": first}), 401, "token_reused")
    _error(await client.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]}), 401, "invalid_token")
    # ... and the session behind the access tokens ended.
    _error(await client.get("/api/auth/me", headers=bearer(tokens["access_token"])), 401, "invalid_token")


async def test_refresh_failures(env, database):
    client, beta, _ = env
    _error(await client.post("/api/auth/refresh", json={}), 400, "missing_token")
    _error(await client.post("/api/auth/refresh", json={"refresh_token": 5}), 401, "invalid_token")
    _error(await client.post("/api/auth/refresh", json={"refresh_token": "uma_rt_" + "x" * 64}), 401, "invalid_token")
    user = await signup(client, beta)
    owner = await database.owner()
    await owner.execute("update refresh_tokens set expires_at = now() - interval '1 minute' "
                        "where user_id = (select id from users where email = $1)", user["email"])
    await owner.close()
    _error(await client.post("/api/auth/refresh", json={"refresh_token": user["tokens"]["refresh_token"]}), 401, "token_expired")


async def test_concurrent_refresh_reuse(auth_app, tenant, database):
    """Two instances present the same refresh token at once: exactly one rotation wins, the other
    is reuse, and the whole family (including the winner's new token) is revoked."""
    tid, beta = await tenant()
    app_a, app_b = auth_app(), auth_app()
    async with make_client(app_a) as a, make_client(app_b) as b:
        user = await signup(a, beta)
        token = user["tokens"]["refresh_token"]
        results = await asyncio.gather(*(c.post("/api/auth/refresh", json={"refresh_token": token}) for c in (a, b, a, b)))
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200, 401, 401, 401], [r.text for r in results]
    assert all(r.json()["error"] == "token_reused" for r in results if r.status_code == 401)
    owner = await database.owner()
    try:
        live = await owner.fetchval("select count(*) from refresh_tokens where revoked_at is null and tenant_id = $1", uuid.UUID(tid))
        reasons = await owner.fetch("select revoked_reason, count(*) from refresh_tokens where tenant_id = $1 group by 1", uuid.UUID(tid))
    finally:
        await owner.close()
    assert live == 0, reasons


# ---------------------------------------------------------------- me, password
async def test_me_get_and_patch(env):
    client, beta, _ = env
    user = await signup(client, beta)
    h = bearer(user["tokens"]["access_token"])
    me = (await client.get("/api/auth/me", headers=h)).json()["user"]
    assert set(me) >= {"id", "email", "email_verified", "display_name", "avatar_url", "locale", "timezone", "role",
                       "mfa_enabled", "created_at", "last_login_at"}
    patched = await client.patch("/api/auth/me", json={"display_name": "Grace", "locale": "en-GB", "timezone": "Europe/London"}, headers=h)
    assert patched.status_code == 200 and patched.json()["user"]["display_name"] == "Grace"
    _error(await client.patch("/api/auth/me", json={"role": "super_admin"}, headers=h), 400, "no_updates")
    _error(await client.patch("/api/auth/me", json={"display_name": 7}, headers=h), 422, "invalid_field")
    _error(await client.patch("/api/auth/me", json={"avatar_url": "javascript:alert(1)"}, headers=h), 422, "invalid_field")
    assert (await client.get("/api/auth/me", headers=h)).json()["user"]["role"] == "user"
    _error(await client.get("/api/auth/me"), 401, "auth_required")
    _error(await client.get("/api/auth/me", headers=bearer(beta)), 403, "user_token_required")


async def test_password_change(env):
    client, beta, _ = env
    user = await signup(client, beta)
    other = await client.post("/api/auth/login", json={"email": user["email"], "password": PASSWORD, "device": device()}, headers=bearer(beta))
    h = bearer(user["tokens"]["access_token"])
    _error(await client.post("/api/auth/password", json={"current_password": PASSWORD}, headers=h), 400, "missing_passwords")
    _error(await client.post("/api/auth/password", json={"current_password": PASSWORD, "new_password": "short"}, headers=h), 400, "weak_password")
    _error(await client.post("/api/auth/password", json={"current_password": "Wrong-Pass-9", "new_password": "New-Secret-77"}, headers=h),
           401, "invalid_password")
    changed = await client.post("/api/auth/password", json={"current_password": PASSWORD, "new_password": "New-Secret-77"}, headers=h)
    assert changed.status_code == 200 and changed.json()["message"]
    fresh = changed.json()["tokens"]
    # Old access tokens (this device and the other) stop; the fresh ones work.
    _error(await client.get("/api/auth/me", headers=h), 401, "invalid_token")
    _error(await client.get("/api/auth/me", headers=bearer(other.json()["tokens"]["access_token"])), 401, "invalid_token")
    _error(await client.post("/api/auth/refresh", json={"refresh_token": other.json()["tokens"]["refresh_token"]}), 401, "invalid_token")
    assert (await client.get("/api/auth/me", headers=bearer(fresh["access_token"]))).status_code == 200
    assert (await client.post("/api/auth/refresh", json={"refresh_token": fresh["refresh_token"]})).status_code == 200
    relog = await client.post("/api/auth/login", json={"email": user["email"], "password": "New-Secret-77", "device": device()}, headers=bearer(beta))
    assert relog.status_code == 200


# ---------------------------------------------------------------- logout, devices, sessions
async def test_logout(env):
    client, beta, _ = env
    user = await signup(client, beta)
    second = (await client.post("/api/auth/login", json={"email": user["email"], "password": PASSWORD, "device": device()},
                                headers=bearer(beta))).json()
    h = bearer(user["tokens"]["access_token"])
    out = await client.post("/api/auth/logout", json={"refresh_token": user["tokens"]["refresh_token"]}, headers=h)
    assert out.status_code == 200 and out.json() == {"message": "Logged out successfully"}
    _error(await client.get("/api/auth/me", headers=h), 401, "invalid_token")
    _error(await client.post("/api/auth/refresh", json={"refresh_token": user["tokens"]["refresh_token"]}), 401, "invalid_token")
    h2 = bearer(second["tokens"]["access_token"])
    assert (await client.get("/api/auth/me", headers=h2)).status_code == 200  # the other device stays signed in
    everywhere = await client.post("/api/auth/logout", json={"all_devices": True}, headers=h2)
    assert everywhere.status_code == 200
    _error(await client.get("/api/auth/me", headers=h2), 401, "invalid_token")
    _error(await client.post("/api/auth/logout", headers=h2), 401, "invalid_token")
    _error(await client.post("/api/auth/logout"), 401, "auth_required")


async def test_devices(env):
    client, beta, _ = env
    user = await signup(client, beta)
    second = (await client.post("/api/auth/login", json={"email": user["email"], "password": PASSWORD, "device": device(kind="android")},
                                headers=bearer(beta))).json()
    h = bearer(user["tokens"]["access_token"])
    listed = (await client.get("/api/auth/devices", headers=h)).json()["devices"]
    assert len(listed) == 2
    current = [d for d in listed if d["is_current"]]
    assert len(current) == 1 and current[0]["id"] == user["device"]["id"]
    assert set(listed[0]) >= {"id", "name", "type", "model", "os_version", "app_version", "is_trusted", "last_seen_at", "created_at"}
    _error(await client.delete("/api/auth/devices/not-a-uuid", headers=h), 404, "not_found")
    _error(await client.delete(f"/api/auth/devices/{uuid.uuid4()}", headers=h), 404, "not_found")
    removed = await client.delete(f"/api/auth/devices/{second['device']['id']}", headers=h)
    assert removed.status_code == 200
    _error(await client.get("/api/auth/me", headers=bearer(second["tokens"]["access_token"])), 401, "invalid_token")
    _error(await client.post("/api/auth/refresh", json={"refresh_token": second["tokens"]["refresh_token"]}), 401, "invalid_token")
    assert len((await client.get("/api/auth/devices", headers=h)).json()["devices"]) == 1


async def test_sessions(env):
    client, beta, _ = env
    user = await signup(client, beta)
    second = (await client.post("/api/auth/login", json={"email": user["email"], "password": PASSWORD, "device": device()},
                                headers=bearer(beta))).json()
    h = bearer(user["tokens"]["access_token"])
    listed = (await client.get("/api/auth/sessions", headers=h)).json()["sessions"]
    assert len(listed) == 2 and sum(s["is_current"] for s in listed) == 1
    assert set(listed[0]) >= {"id", "ip_address", "user_agent", "location", "device", "created_at", "last_activity_at"}
    other = next(s for s in listed if not s["is_current"])
    _error(await client.delete(f"/api/auth/sessions/{uuid.uuid4()}", headers=h), 404, "not_found")
    assert (await client.delete(f"/api/auth/sessions/{other['id']}", headers=h)).status_code == 200
    # Ending a session revokes its refresh tokens too (the UnaMentis server this platform replaces never linked them).
    _error(await client.post("/api/auth/refresh", json={"refresh_token": second["tokens"]["refresh_token"]}), 401, "invalid_token")
    _error(await client.get("/api/auth/me", headers=bearer(second["tokens"]["access_token"])), 401, "invalid_token")
    assert len((await client.get("/api/auth/sessions", headers=h)).json()["sessions"]) == 1


async def test_cross_user_ids_are_not_found(env):
    client, beta, _ = env
    alice, bob = await signup(client, beta), await signup(client, beta)
    hb = bearer(bob["tokens"]["access_token"])
    _error(await client.delete(f"/api/auth/devices/{alice['device']['id']}", headers=hb), 404, "not_found")
    sessions = (await client.get("/api/auth/sessions", headers=bearer(alice["tokens"]["access_token"]))).json()["sessions"]
    _error(await client.delete(f"/api/auth/sessions/{sessions[0]['id']}", headers=hb), 404, "not_found")
    assert (await client.get("/api/auth/me", headers=bearer(alice["tokens"]["access_token"]))).status_code == 200


# ---------------------------------------------------------------- Tier 1 token checks through the middleware
async def test_forged_expired_and_none_tokens_are_401(env):
    client, beta, tenant_id = env
    user = await signup(client, beta)
    claims = jwt.decode(user["tokens"]["access_token"], JWT_SECRET, algorithms=["HS256"], audience="unamentis-api")
    forged = jwt.encode(claims, "another-secret-" + "y" * 40, algorithm="HS256")
    expired = jwt.encode({**claims, "exp": claims["iat"] - 10, "iat": claims["iat"] - 1000}, JWT_SECRET, algorithm="HS256")
    wrong_aud = jwt.encode({**claims, "aud": "other"}, JWT_SECRET, algorithm="HS256")
    none = jwt.encode(claims, None, algorithm="none")
    for token, code in ((forged, "invalid_token"), (expired, "token_expired"), (wrong_aud, "invalid_token"),
                        (none, "invalid_token"), ("garbage", "invalid_token")):
        response = await client.get("/api/auth/me", headers=bearer(token))
        _error(response, 401, code)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_open_principal_for_lan_installs(auth_app, tenant, database):
    tid, _ = await tenant()
    owner = await database.owner()
    slug = await owner.fetchval("select slug from tenants where id = $1", uuid.UUID(tid))
    await owner.close()
    app = auth_app(client_auth="open", open_tenant=slug)
    async with make_client(app):
        who = await app.state.ctx.auth.open_principal()
    assert who.kind == "open" and who.tenant_id == tid and who.user_id is None
    missing = auth_app(client_auth="open", open_tenant="no-such-tenant")
    async with make_client(missing):
        from runtime.errors import ApiError

        with pytest.raises(ApiError) as info:
            await missing.state.ctx.auth.open_principal()
    assert info.value.status == 503 and info.value.error == "open_tenant_missing"


async def test_login_prunes_expired_tokens_and_old_sessions(env, database):
    client, beta, _ = env
    user = await signup(client, beta)
    owner = await database.owner()
    try:
        mine = "(select id from users where email = $1)"
        await owner.execute(f"update refresh_tokens set expires_at = now() - interval '1 day' where user_id = {mine}", user["email"])
        await owner.execute(f"update login_sessions set ended_at = now() - interval '100 days' where user_id = {mine}", user["email"])
        login = await client.post("/api/auth/login", json={"email": user["email"], "password": PASSWORD, "device": device()},
                                  headers=bearer(beta))
        assert login.status_code == 200
        assert await owner.fetchval(f"select count(*) from refresh_tokens where user_id = {mine}", user["email"]) == 1  # the new login's
        assert await owner.fetchval(f"select count(*) from login_sessions where user_id = {mine}", user["email"]) == 1
    finally:
        await owner.close()


async def test_session_ip_and_country_come_from_the_edge_only(auth_app, tenant):
    _tid, beta = await tenant()
    secret = "origin-secret-" + "z" * 20
    edge = {"X-Origin-Secret": secret, "CF-Connecting-IP": "198.51.100.23", "CF-IPCountry": "DE"}
    async with make_client(auth_app(origin_secret=secret)) as client:
        email = f"edge{uuid.uuid4().hex[:6]}@example.com"
        reg = await client.post("/api/auth/register", json={"email": email, "password": PASSWORD, "device": device()},
                                headers={**bearer(beta), **edge})
        assert reg.status_code == 201, reg.text
        h = {**bearer(reg.json()["tokens"]["access_token"]), **edge}
        [session] = (await client.get("/api/auth/sessions", headers=h)).json()["sessions"]
        assert session["ip_address"] == "198.51.100.23" and session["location"] == {"country": "DE", "city": None}
    async with make_client(auth_app()) as client:  # no origin secret: the CF headers are not trusted
        email = f"spoof{uuid.uuid4().hex[:6]}@example.com"
        reg = await client.post("/api/auth/register", json={"email": email, "password": PASSWORD, "device": device()},
                                headers={**bearer(beta), "CF-Connecting-IP": "198.51.100.23", "CF-IPCountry": "DE"})
        [session] = (await client.get("/api/auth/sessions", headers=bearer(reg.json()["tokens"]["access_token"]))).json()["sessions"]
        assert session["ip_address"] == "127.0.0.1" and session["location"] is None
