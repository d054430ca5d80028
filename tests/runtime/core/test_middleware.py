"""The middleware stack end to end over ASGI, against the real database."""
from __future__ import annotations

import json
import logging
import random
import re
import time
from types import SimpleNamespace

import pytest

from core.probe import probe_service
from runtime.auth.authenticator import parse_bearer
from runtime.auth.principal import Principal
from runtime.context import AUTHORIZATION_KEY, CLIENT_IP_KEY, CLIENT_KEY
from runtime.limits import RateLimit
from runtime.middleware.auth import AuthMiddleware, _device_id, bearer_token
from runtime.middleware.request_log import log_access, request_id
from tests.runtime.conftest import make_client

SECRET = "origin-secret-0123456789abcdef"


@pytest.fixture
def probe_app(make_app):
    def factory(**overrides):
        return make_app([probe_service()], **overrides)

    return factory


async def test_health_answers_without_token(probe_app):
    async with make_client(probe_app()) as client:
        for path in ("/health", "/api/health"):
            response = await client.get(path)
            assert response.status_code == 200
            body = response.json()
            assert body["status"] == "healthy"
            assert set(body) >= {"timestamp", "version", "server_name", "uptime_seconds"}
            assert response.headers["x-request-id"]


async def test_api_without_token_is_401_in_error_format(probe_app):
    async with make_client(probe_app()) as client:
        for path in ("/api/probe/whoami", "/api/curricula", "/api/does-not-exist"):
            response = await client.get(path)
            assert response.status_code == 401, path
            assert response.json() == {
                "error": "auth_required",
                "code": "AUTH_REQUIRED",
                "message": "Authentication required: send Authorization: Bearer <token>.",
                "details": {},
            }
            assert response.headers["www-authenticate"].startswith("Bearer")
        garbage = await client.get("/api/probe/whoami", headers={"Authorization": "Bearer not-a-token"})
        assert garbage.status_code == 401
        assert garbage.json()["error"] == "invalid_token"
        basic = await client.get("/api/probe/whoami", headers={"Authorization": "Basic dXNlcjpwYXNz"})
        assert basic.status_code == 401


async def test_beta_token_reaches_tenant_scoped_route(probe_app, tenant):
    tenant_id, token = await tenant()
    other_id, _ = await tenant()
    async with make_client(probe_app()) as client:
        auth = {"Authorization": f"Bearer {token}"}
        who = await client.get("/api/probe/whoami", headers=auth)
        assert who.status_code == 200, who.text
        assert who.json()["kind"] == "beta_token"
        assert who.json()["tenant_id"] == tenant_id
        read = await client.get("/api/probe/tenant-read", headers=auth)
        assert read.status_code == 200
        # no WHERE clause, yet only the caller's own tenant row is visible
        assert read.json() == {"visible_tenants": [tenant_id], "setting": tenant_id}
        assert other_id not in read.json()["visible_tenants"]
        assert int(who.headers["x-ratelimit-limit"]) >= 1


async def test_router_errors_use_error_format(probe_app, tenant):
    _tenant_id, token = await tenant()
    async with make_client(probe_app()) as client:
        auth = {"Authorization": f"Bearer {token}"}
        missing = await client.get("/api/probe/nothing-here", headers=auth)
        assert missing.status_code == 404
        assert missing.json()["error"] == "not_found" and missing.json()["code"] == "NOT_FOUND"
        wrong_method = await client.delete("/api/probe/whoami", headers=auth)
        assert wrong_method.status_code == 405
        assert wrong_method.json()["error"] == "method_not_allowed"
        assert "GET" in wrong_method.headers["allow"]


async def test_uncaught_exception_is_500_json_with_cors_and_no_secret(probe_app, tenant, caplog):
    _tenant_id, token = await tenant()
    app = probe_app(cors_origins=("https://app.example.com",))
    async with make_client(app) as client:
        with caplog.at_level(logging.ERROR):
            response = await client.get(
                "/api/probe/boom", headers={"Authorization": f"Bearer {token}", "Origin": "https://app.example.com"}
            )
    assert response.status_code == 500
    assert response.json()["error"] == "internal_error"
    assert "SHOULDNOTLEAK" not in response.text
    assert response.headers["access-control-allow-origin"] == "https://app.example.com"
    assert response.headers["x-request-id"]
    assert any("unhandled error" in r.getMessage() for r in caplog.records)


async def test_origin_secret(probe_app, tenant):
    _tenant_id, token = await tenant()
    auth = {"Authorization": f"Bearer {token}"}
    async with make_client(probe_app(origin_secret=SECRET)) as client:
        assert (await client.get("/health")).status_code == 200  # the probe path is exempt
        for headers in ({}, {"X-Origin-Secret": "wrong"}, {"X-Origin-Secret": SECRET[:-1]}):
            response = await client.get("/api/health", headers=headers)
            assert response.status_code == 403
            assert response.json()["error"] == "forbidden"
        ok = await client.get(
            "/api/probe/whoami", headers={**auth, "X-Origin-Secret": SECRET, "CF-Connecting-IP": "198.51.100.7"}
        )
        assert ok.status_code == 200
        assert ok.json()["client_ip"] == "198.51.100.7"
        # a malformed CF-Connecting-IP is ignored (the peer address stays), also when seen again;
        # addresses are canonical (the parse is remembered per address, not per client)
        for _ in range(2):
            odd = await client.get(
                "/api/probe/whoami", headers={**auth, "X-Origin-Secret": SECRET, "CF-Connecting-IP": "not-an-ip"}
            )
            assert odd.json()["client_ip"] == "127.0.0.1"
            v6 = await client.get(
                "/api/probe/whoami", headers={**auth, "X-Origin-Secret": SECRET, "CF-Connecting-IP": " 2001:DB8:0::1 "}
            )
            assert v6.json()["client_ip"] == "2001:db8::1"
    async with make_client(probe_app()) as client:
        # without an origin secret nothing vouches for CF-Connecting-IP: it is not believed
        spoofed = await client.get("/api/probe/whoami", headers={**auth, "CF-Connecting-IP": "198.51.100.7"})
        assert spoofed.json()["client_ip"] == "127.0.0.1"


def test_request_ids_and_access_line_durations_keep_their_shape(caplog):
    made = {request_id(None) for _ in range(2000)}
    assert len(made) == 2000 and all(re.fullmatch(r"[0-9a-f]{32}", rid) for rid in made)
    assert request_id(b"edge-id-0001") == "edge-id-0001" and len(request_id(b"bad id")) == 32
    picked = random.Random(7)
    with caplog.at_level(logging.INFO, logger="unamentis.access"):
        for _ in range(500):
            log_access({"method": "GET", "path": "/x", "client": ("127.0.0.1", 1)}, 200,
                       time.perf_counter() - picked.random() * 3)
    durations = [record.duration_ms for record in caplog.records if record.name == "unamentis.access"]
    assert len(durations) == 500
    assert all(value == round(value, 2) and 0 <= value <= 3001 for value in durations)


async def test_the_one_origin_secret_leaves_the_scope(probe_app, tenant):
    _tenant_id, token = await tenant()
    async with make_client(probe_app(origin_secret=SECRET)) as client:
        answer = await client.get("/api/probe/whoami", headers=[("Authorization", f"Bearer {token}"),
                                                                ("X-Origin-Secret", SECRET), ("X-Client-Version", "2.1")])
        assert answer.status_code == 200
        names = answer.json()["header_names"]
        assert "x-origin-secret" not in names and names.index("authorization") < names.index("x-client-version")


async def test_the_origin_secret_leaves_headers_given_as_lists(probe_app, tenant):
    """Mangum (the Lambda adapter) passes each header as a [name, value] list, not a tuple."""
    _tenant_id, token = await tenant()
    app = probe_app(origin_secret=SECRET)
    headers = [[b"authorization", f"Bearer {token}".encode()], [b"x-origin-secret", SECRET.encode()],
               [b"x-client-version", b"2.1"]]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "https",
             "path": "/api/probe/whoami", "raw_path": b"/api/probe/whoami", "query_string": b"", "root_path": "",
             "headers": headers, "client": ("127.0.0.1", 50000), "server": ("testserver", 443)}
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    async with make_client(app):  # the app's lifespan
        await app(scope, receive, send)
    assert sent[0]["status"] == 200
    body = json.loads(b"".join(m.get("body", b"") for m in sent[1:]))
    assert body["header_names"] == ["authorization", "x-client-version"]


def test_auth_reads_the_credentials_the_request_layer_read_and_the_headers_without_it():
    headers = [(b"x-device-id", b" phone-1 "), (b"authorization", b"Bearer from-headers")]
    alone = {"headers": headers}  # the auth layer on its own: it reads the headers
    assert bearer_token(alone) == "from-headers" and _device_id(alone) == " phone-1 "
    read = {"headers": headers, AUTHORIZATION_KEY: "Bearer from-scan", CLIENT_KEY: {"device_id": "phone-1"}}
    assert bearer_token(read) == "from-scan" and _device_id(read) == "phone-1"
    assert bearer_token({"headers": headers, AUTHORIZATION_KEY: None}) is None  # the scan found none
    for value, token in [("Bearer abc", "abc"), ("bearer abc", "abc"), ("BEARER  abc ", "abc"), (" Bearer abc", "abc"),
                         ("Bearer a b", "a b"), ("Bearer", None), ("Bearer   ", None), ("Basic abc", None), ("", None),
                         (None, None), ("Bearerabc", None)]:
        assert parse_bearer(value) == token, value


def test_a_remembered_principals_limit_follows_the_settings_and_the_callers_address():
    """The limit of a principal the authenticator remembers is worked out once, under the app's
    settings, and again under others; one limited per IP is worked out per request."""
    def context(token_limit: tuple[int, float]) -> SimpleNamespace:
        return SimpleNamespace(settings=SimpleNamespace(rate_limit_ip=(600, 60.0), rate_limit_token=token_limit,
                                                        rate_limit_user=(300, 60.0)))

    layer = AuthMiddleware(app=None)
    token = Principal("beta_token", "t-1", None, "tok-1", "member")
    keyless = Principal("open", "t-1", None, None, "member")
    first, other = context((3, 60.0)), context((5, 60.0))
    assert layer._target(first, {}, token) == ("tok:tok-1", RateLimit(3, 60.0))
    assert layer._target(first, {}, token) is layer._target(first, {}, token)  # remembered
    assert layer._target(other, {}, token) == ("tok:tok-1", RateLimit(5, 60.0))
    assert layer._target(other, {CLIENT_IP_KEY: "192.0.2.1"}, keyless) == ("ip:192.0.2.1", RateLimit(600, 60.0))
    assert layer._target(other, {CLIENT_IP_KEY: "192.0.2.2"}, keyless) == ("ip:192.0.2.2", RateLimit(600, 60.0))


async def test_repeated_headers(probe_app, tenant):
    """A header sent twice: the first value counts (a client header's first non-empty one), but
    CF-Connecting-IP's last; every copy of the origin secret leaves the scope, the rest keep their order."""
    _tenant_id, token = await tenant()
    async with make_client(probe_app(origin_secret=SECRET)) as client:
        headers = [("Authorization", f"Bearer {token}"), ("X-Origin-Secret", SECRET), ("X-Request-ID", "edge-id-0001"),
                   ("X-Client-Platform", " "), ("CF-Connecting-IP", "198.51.100.1"), ("X-Client-Platform", "Android"),
                   ("X-Request-ID", "edge-id-0002"), ("X-Origin-Secret", "anything"), ("X-Client-Version", "2.1"),
                   ("X-Client-Version", "9.9"), ("CF-Connecting-IP", "198.51.100.9")]
        answer = await client.get("/api/probe/whoami", headers=headers)
        assert answer.status_code == 200
        body = answer.json()
        assert body["request_id"] == "edge-id-0001"
        assert body["client"]["platform"] == "android" and body["client"]["version"] == "2.1"
        assert body["client_ip"] == "198.51.100.9"
        names = [name for name in body["header_names"] if name not in ("host", "accept", "accept-encoding", "connection", "user-agent")]
        assert names == ["authorization", "x-request-id", "x-client-platform", "cf-connecting-ip", "x-client-platform",
                         "x-request-id", "x-client-version", "x-client-version", "cf-connecting-ip"]
        # the first secret decides, not a later one
        wrong_first = [("Authorization", f"Bearer {token}"), ("X-Origin-Secret", "wrong"), ("X-Origin-Secret", SECRET)]
        assert (await client.get("/api/probe/whoami", headers=wrong_first)).status_code == 403


async def test_cors_allowlist_preflight_and_errors(probe_app):
    origin = "https://app.example.com"
    async with make_client(probe_app(cors_origins=(origin,))) as client:
        preflight = await client.options(
            "/api/probe/echo",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "PATCH",
                "Access-Control-Request-Headers": "authorization, x-client-platform",
            },
        )
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == origin
        assert "PATCH" in preflight.headers["access-control-allow-methods"]
        allowed_headers = preflight.headers["access-control-allow-headers"].lower()
        for name in ("authorization", "content-type", "x-client-platform", "x-client-version", "x-client-id",
                     "x-client-name", "x-device-id"):
            assert name in allowed_headers
        assert preflight.headers["access-control-allow-credentials"] == "true"
        refused = await client.options(
            "/api/probe/echo", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
        )
        assert refused.status_code == 403
        assert "access-control-allow-origin" not in refused.headers
        # an allowed origin asking for a header the API does not accept is refused the same way
        odd_header = await client.options(
            "/api/probe/echo",
            headers={"Origin": origin, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "x-other"},
        )
        assert odd_header.status_code == 403 and odd_header.json()["error"] == "cors_forbidden"
        # configured origins match whatever their case
        async with make_client(probe_app(cors_origins=("https://App.Example.com",))) as upper:
            again = await upper.options("/api/probe/echo", headers={"Origin": origin, "Access-Control-Request-Method": "GET"})
            assert again.status_code == 204 and again.headers["access-control-allow-origin"] == origin
        # an error response (401) still carries the CORS headers for an allowed origin
        unauth = await client.get("/api/probe/whoami", headers={"Origin": origin})
        assert unauth.status_code == 401
        assert unauth.headers["access-control-allow-origin"] == origin
        assert "x-request-id" in unauth.headers["access-control-expose-headers"].lower()
        other = await client.get("/api/probe/whoami", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
        assert other.headers["vary"] == "Origin"


async def test_minimum_client_version_426(probe_app, tenant):
    _tenant_id, token = await tenant()
    auth = {"Authorization": f"Bearer {token}"}
    app = probe_app(min_client_versions={"ios": (2, 0), "web": (1, 5)})
    async with make_client(app) as client:
        old = await client.get("/api/probe/whoami", headers={**auth, "X-Client-Platform": "iOS", "X-Client-Version": "1.9.3"})
        assert old.status_code == 426
        assert old.json()["error"] == "upgrade_required"
        assert "2.0" in old.json()["message"]
        assert old.json()["details"]["platform"] == "ios"
        new = await client.get(
            "/api/probe/whoami",
            headers={**auth, "X-Client-Platform": "ios", "X-Client-Version": "2.0.1 (57)", "X-Client-ID": "c-1"},
        )
        assert new.status_code == 200
        assert new.json()["client"]["platform"] == "ios"
        assert new.json()["client"]["id"] == "c-1"
        android = await client.get("/api/probe/whoami", headers={**auth, "X-Client-Platform": "android", "X-Client-Version": "0.1"})
        assert android.status_code == 200  # no minimum configured for android
        unknown = await client.get("/api/probe/whoami", headers=auth)
        assert unknown.status_code == 200  # old builds send no headers
        health = await client.get("/api/health", headers={"X-Client-Platform": "ios", "X-Client-Version": "1.0"})
        assert health.status_code == 200  # probes are never refused


async def test_body_limits(probe_app, tenant):
    _tenant_id, token = await tenant()
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    async with make_client(probe_app()) as client:
        too_big = b'{"name": "' + b"x" * (1024 * 1024) + b'"}'
        response = await client.post("/api/probe/echo", content=too_big, headers=auth)
        assert response.status_code == 413
        assert response.json()["error"] == "payload_too_large"

        async def chunks():
            for _ in range(20):
                yield b"x" * 65536  # 1.25 MiB without a Content-Length

        streamed = await client.post("/api/probe/echo", content=chunks(), headers=auth)
        assert streamed.status_code == 413
        # a route that raises its own limit accepts more
        bigger = await client.post("/api/probe/big", content=b"y" * (1536 * 1024), headers=auth)
        assert bigger.status_code == 200 and bigger.json() == {"size": 1536 * 1024}
        over = await client.post("/api/probe/big", content=b"y" * (2 * 1024 * 1024 + 1), headers=auth)
        assert over.status_code == 413
        absurd = await client.post("/api/probe/big", headers={**auth, "Content-Length": "999999999"}, content=b"")
        assert absurd.status_code in (400, 413)


async def test_validation_errors_are_4xx(probe_app, tenant):
    _tenant_id, token = await tenant()
    auth = {"Authorization": f"Bearer {token}"}
    async with make_client(probe_app()) as client:
        async def post(raw: bytes | str):
            return await client.post("/api/probe/echo", content=raw, headers={**auth, "Content-Type": "application/json"})

        assert (await post(b"{not json")).json()["error"] == "invalid_json"
        assert (await post(b"[1, 2]")).status_code == 400
        assert (await post(b"")).status_code == 400
        assert (await post(b"\xff\xfe")).status_code == 400
        missing = await post("{}")
        assert missing.status_code == 400 and missing.json()["details"] == {"field": "name"}
        cases = [
            ({"name": 5}, "name"),
            ({"name": "x" * 11}, "name"),
            ({"name": "a\u0000b"}, "name"),
            ({"name": "ok", "count": "3"}, "count"),
            ({"name": "ok", "count": True}, "count"),
            ({"name": "ok", "count": 9}, "count"),
            ({"name": "ok", "count": 1.5}, "count"),
            ({"name": "ok", "mode": "warp"}, "mode"),
            ({"name": "ok", "flag": "yes"}, "flag"),
            ({"name": "ok", "tags": "a"}, "tags"),
            ({"name": "ok", "tags": ["a", 1]}, "tags"),
            ({"name": "ok", "tags": ["a", "b", "c", "d"]}, "tags"),
        ]
        for body, field in cases:
            response = await post(json.dumps(body))
            assert response.status_code == 422, body
            assert response.json()["error"] == "invalid_field"
            assert response.json()["details"]["field"] == field
        good = await post(json.dumps({"name": " ok ", "count": 2.0, "mode": "SLOW", "tags": ["a"]}))
        assert good.status_code == 200
        assert good.json() == {"name": "ok", "count": 2, "mode": "slow", "flag": False, "tags": ["a"]}
        assert (await client.get("/api/probe/items/abc_DEF-1", headers=auth)).json() == {"id": "abc_DEF-1", "limit": 10}
        assert (await client.get("/api/probe/items/bad.id", headers=auth)).status_code == 400
        assert (await client.get("/api/probe/items/" + "a" * 101, headers=auth)).status_code == 400
        assert (await client.get("/api/probe/items/x?limit=0", headers=auth)).status_code == 400
        assert (await client.get("/api/probe/items/x?limit=abc", headers=auth)).status_code == 400


async def test_default_rate_limit_per_token(probe_app, tenant):
    _tenant_id, token = await tenant()
    auth = {"Authorization": f"Bearer {token}"}
    async with make_client(probe_app(rate_limit_token=(3, 60.0))) as client:
        statuses = [(await client.get("/api/probe/whoami", headers=auth)) for _ in range(4)]
    assert [r.status_code for r in statuses[:3]] == [200, 200, 200]  # the first request always passes
    limited = statuses[3]
    assert limited.status_code == 429
    assert limited.json()["error"] == "rate_limited"
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.headers["x-ratelimit-limit"] == "3"
    assert limited.headers["x-ratelimit-remaining"] == "0"
    assert "x-ratelimit-reset" in limited.headers


async def test_failed_auth_is_limited_per_ip(probe_app):
    async with make_client(probe_app(rate_limit_ip=(2, 60.0))) as client:
        codes = [(await client.get("/api/probe/whoami", headers={"Authorization": "Bearer uma_beta_guess"})).status_code
                 for _ in range(3)]
        assert codes == [401, 401, 429]
        # probes are never limited
        assert (await client.get("/health")).status_code == 200


async def test_public_prefix_skips_tier_1_but_not_the_ip_limit(make_app):
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from runtime.middleware.auth import AuthMiddleware
    from runtime.service import Service

    async def hook(request):
        return JSONResponse({"principal": request.scope.get("principal") is not None})

    service = Service(name="hooks", routes=[Route("/api/hooks/{id}/ping", hook, methods=["POST"])],
                      public_prefixes=("/api/hooks/",))
    async with make_client(make_app([service], rate_limit_ip=(2, 60.0))) as client:
        codes = [(await client.post("/api/hooks/a/ping")).status_code for _ in range(3)]
        assert codes == [200, 200, 429]  # no token needed; the handler authenticates; the IP limit holds
    with pytest.raises(ValueError):
        Service(name="bad", public_prefixes=("/api/hooks",))  # a prefix must end with "/"
    with pytest.raises(ValueError):
        AuthMiddleware(lambda *a: None, public_prefixes=("/api/admin/",))  # never opens the admin API


async def test_admin_paths_need_tier_2(probe_app, tenant):
    _tenant_id, token = await tenant()
    async with make_client(probe_app()) as client:
        no_token = await client.get("/api/admin/probe")
        assert no_token.status_code == 401
        beta = await client.get("/api/admin/probe", headers={"Authorization": f"Bearer {token}"})
        assert beta.status_code == 403
        # the unsigned e-mail header alone never makes an admin
        spoof = await client.get("/api/admin/probe", headers={"Cf-Access-Authenticated-User-Email": "boss@example.com"})
        assert spoof.status_code in (401, 403)


async def test_open_client_auth(probe_app, database):
    from runtime.tenants import create_tenant

    app = probe_app(client_auth="open", open_tenant="lan")
    async with make_client(app) as client:
        missing = await client.get("/api/probe/whoami")
        assert missing.status_code == 503
        assert "admin tenant create lan" in missing.json()["message"]
    owner = await database.owner()
    try:
        tenant_id = await create_tenant(owner, "lan")
    finally:
        await owner.close()
    async with make_client(probe_app(client_auth="open", open_tenant="lan")) as client:
        who = await client.get("/api/probe/whoami")
        assert who.status_code == 200
        assert who.json()["kind"] == "open" and who.json()["tenant_id"] == str(tenant_id)


async def test_database_down_is_503():
    from runtime.settings import Settings

    from runtime.app import create_app

    app = create_app([probe_service()], Settings(database_url="postgresql://nobody@127.0.0.1:1/none", db_connect_timeout=1))
    async with make_client(app) as client:
        response = await client.get("/api/probe/whoami", headers={"Authorization": "Bearer uma_beta_" + "a" * 43})
    assert response.status_code == 503
    assert response.json()["error"] == "service_unavailable"
