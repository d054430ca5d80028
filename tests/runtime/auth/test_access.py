"""Tier 2: Cloudflare Access JWTs signed by a test RSA key whose JWKS a loopback HTTP server serves,
and the admin-role JWT fallback without Cloudflare."""
from __future__ import annotations

import base64
import json
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from runtime.auth.access import AccessTokenError, AccessVerifier, JwksCache
from tests.runtime.auth.conftest import bearer, signup
from tests.runtime.conftest import make_client

TEAM = "unamentis-test.cloudflareaccess.com"
ISSUER = f"https://{TEAM}"
AUD = "4714c1358e65fe4b408ad6d432a5f878f08194bdb4752441fd56faefa9b2b6f2"


class Keys:
    """Signing keys of the fake Access team and the JWKS document it publishes."""

    def __init__(self):
        self.private = {}
        self.published: list[str] = []
        self.fetches = 0
        self.rotate()

    def rotate(self) -> str:
        kid = uuid.uuid4().hex
        self.private[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.published = [kid, *self.published][:2]  # current + previous, as Access does
        return kid

    @property
    def current(self) -> str:
        return self.published[0]

    def jwks(self) -> dict:
        keys = []
        for kid in self.published:
            jwk = json.loads(RSAAlgorithm.to_jwk(self.private[kid].public_key()))
            keys.append({**jwk, "kid": kid, "alg": "RS256", "use": "sig"})
        return {"keys": keys, "public_cert": {"kid": self.current, "cert": "unused"}, "public_certs": []}

    def sign(self, kid: str | None = None, key=None, **changes) -> str:
        now = int(time.time())
        claims = {"aud": [AUD], "email": "Admin@Example.com", "exp": now + 600, "iat": now, "nbf": now - 5,
                  "iss": ISSUER, "type": "app", "identity_nonce": "n", "sub": str(uuid.uuid4()), "country": "US"}
        claims.update(changes)
        claims = {k: v for k, v in claims.items() if v is not None}
        kid = kid or self.current
        return jwt.encode(claims, key or self.private[kid], algorithm="RS256", headers={"kid": kid})


@pytest.fixture
def access_server(live_server):
    keys = Keys()

    async def certs(request):
        keys.fetches += 1
        if getattr(keys, "broken", False):
            return JSONResponse({"error": "down"}, status_code=503)
        return JSONResponse(keys.jwks())

    server = live_server(Starlette(routes=[Route("/cdn-cgi/access/certs", certs)]))
    keys.url = f"{server.url}/cdn-cgi/access/certs"
    return keys


@pytest.fixture
async def verifier(access_server):
    import httpx

    async with httpx.AsyncClient() as http:
        yield AccessVerifier(audience=AUD, issuer=ISSUER, jwks=JwksCache(access_server.url, lambda: http, min_refresh_seconds=0.2))


async def test_valid_token_and_key_cache(verifier, access_server):
    identity = await verifier.verify(access_server.sign())
    assert identity.email == "admin@example.com"
    await verifier.verify(access_server.sign())
    assert access_server.fetches == 1  # the second verification used the cached key


async def test_unknown_kid_refetches_after_rotation(verifier, access_server):
    await verifier.verify(access_server.sign())
    new_kid = access_server.rotate()
    time.sleep(0.25)  # past min_refresh_seconds
    identity = await verifier.verify(access_server.sign(new_kid))
    assert identity.email == "admin@example.com"
    assert access_server.fetches == 2


async def test_unknown_kid_refetch_is_rate_limited(access_server):
    import httpx

    async with httpx.AsyncClient() as http:
        verifier = AccessVerifier(audience=AUD, issuer=ISSUER, jwks=JwksCache(access_server.url, lambda: http, min_refresh_seconds=60))
        await _flood_unknown_kids(verifier, access_server)


async def _flood_unknown_kids(verifier, access_server):
    await verifier.verify(access_server.sign())
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for _ in range(5):
        with pytest.raises(AccessTokenError, match="unknown signing key"):
            await verifier.verify(jwt.encode({"aud": [AUD], "iss": ISSUER}, stranger, algorithm="RS256", headers={"kid": "nope"}))
    assert access_server.fetches == 1  # min_refresh_seconds keeps a flood of bad kids from hammering the team


@pytest.mark.parametrize(
    "changes",
    [
        lambda now: {"aud": ["another-app"]},
        lambda now: {"iss": "https://evil.cloudflareaccess.com"},
        lambda now: {"exp": now - 120},
        lambda now: {"nbf": now + 600},
        lambda now: {"exp": None},
        lambda now: {"iat": None},
    ],
    ids=["wrong-audience", "wrong-issuer", "expired", "not-yet-valid", "no-exp", "no-iat"],
)
async def test_claims_are_checked(verifier, access_server, changes):
    # Times are taken when the test runs, not when it is collected: a long run must not age them.
    with pytest.raises(AccessTokenError):
        await verifier.verify(access_server.sign(**changes(int(time.time()))))


async def test_wrong_key_with_a_known_kid(verifier, access_server):
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(AccessTokenError):
        await verifier.verify(access_server.sign(key=impostor))


async def test_only_rs256(verifier, access_server):
    public_pem = access_server.private[access_server.current].public_key()
    from cryptography.hazmat.primitives import serialization

    pem = public_pem.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    # The classic confusion: HS256 "signed" with the public key as the HMAC secret.
    payload = base64.urlsafe_b64encode(json.dumps({"aud": [AUD], "iss": ISSUER, "exp": int(time.time()) + 60, "iat": int(time.time())}).encode()).rstrip(b"=")
    header = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "kid": access_server.current}).encode()).rstrip(b"=")
    import hashlib
    import hmac

    signature = base64.urlsafe_b64encode(hmac.new(pem, header + b"." + payload, hashlib.sha256).digest()).rstrip(b"=")
    with pytest.raises(AccessTokenError, match="RS256 only"):
        await verifier.verify((header + b"." + payload + b"." + signature).decode())
    unsigned = header.replace(header, base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=")) + b"." + payload + b"."
    with pytest.raises(AccessTokenError):
        await verifier.verify(unsigned.decode())
    with pytest.raises(AccessTokenError, match="missing"):
        await verifier.verify(None)


async def test_stale_keys_are_served_while_the_certs_url_is_down(access_server):
    import httpx

    async with httpx.AsyncClient() as http:
        cache = JwksCache(access_server.url, lambda: http, max_age_seconds=0.0, min_refresh_seconds=0.0)
        verifier = AccessVerifier(audience=AUD, issuer=ISSUER, jwks=cache)
        await verifier.verify(access_server.sign())
        access_server.broken = True
        identity = await verifier.verify(access_server.sign())  # refetch fails, the known key still verifies
        assert identity.email == "admin@example.com" and access_server.fetches == 2
        with pytest.raises(AccessTokenError, match="could not fetch"):
            await verifier.verify(access_server.sign(access_server.rotate()))  # a new key cannot be learnt


async def test_jwks_outage_is_a_clean_rejection():
    import httpx

    async with httpx.AsyncClient() as http:
        dead = AccessVerifier(audience=AUD, issuer=ISSUER, jwks=JwksCache("http://127.0.0.1:9/certs", lambda: http))
        with pytest.raises(AccessTokenError, match="could not fetch"):
            await dead.verify(Keys().sign())


# ---------------------------------------------------------------- through the app (Tier 2 route)
DEEP = "/api/admin/health/deep"


async def _admin_user(database, client, beta, email):
    body = await signup(client, beta, email=email)
    owner = await database.owner()
    try:
        await owner.execute("update users set role = 'admin' where email = $1", email)
    finally:
        await owner.close()
    return body


async def test_access_admin_end_to_end(auth_app, tenant, database, access_server):
    _tid, beta = await tenant()
    app = auth_app(cf_access_team_domain=TEAM, cf_access_aud=AUD, cf_access_certs_url=access_server.url)
    async with make_client(app) as client:
        await _admin_user(database, client, beta, "admin@example.com")
        ok = await client.get(DEEP, headers={"Cf-Access-Jwt-Assertion": access_server.sign()})
        assert ok.status_code == 200, ok.text
        # The unsigned e-mail header alone is worth nothing.
        spoof = await client.get(DEEP, headers={"Cf-Access-Authenticated-User-Email": "admin@example.com"})
        assert spoof.status_code == 401 and spoof.json()["error"] == "access_required"
        wrong_aud = await client.get(DEEP, headers={"Cf-Access-Jwt-Assertion": access_server.sign(aud=["x"])})
        assert wrong_aud.status_code == 401 and wrong_aud.json()["error"] == "invalid_token"
        # A valid Access identity without the admin role in our database is refused.
        stranger = await client.get(DEEP, headers={"Cf-Access-Jwt-Assertion": access_server.sign(email="nobody@example.com")})
        assert stranger.status_code == 403
        # A beta token is never an admin credential.
        beta_try = await client.get(DEEP, headers=bearer(beta))
        assert beta_try.status_code == 401


async def test_admin_role_jwt_without_cloudflare(auth_app, tenant, database):
    _tid, beta = await tenant()
    async with make_client(auth_app()) as client:
        plain = await signup(client, beta)
        refused = await client.get(DEEP, headers=bearer(plain["tokens"]["access_token"]))
        assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
        admin = await _admin_user(database, client, beta, f"boss{uuid.uuid4().hex[:6]}@example.com")
        login = await client.post("/api/auth/login", json={"email": admin["email"], "password": "Correct-Horse-42",
                                                           "device": {"fingerprint": "f1", "type": "web"}}, headers=bearer(beta))
        ok = await client.get(DEEP, headers=bearer(login.json()["tokens"]["access_token"]))
        assert ok.status_code == 200, ok.text
        assert (await client.get(DEEP, headers=bearer(beta))).status_code == 403
        assert (await client.get(DEEP)).status_code == 401


async def test_access_admin_on_client_routes(auth_app, tenant, database, access_server):
    """Through ``admin.<domain>`` the console's browser calls carry only the Access JWT: on a Tier-1
    route it stands for that admin, in the admin's own tenant; anything less is refused as on Tier 2."""
    _tid, beta = await tenant()
    _other, other_beta = await tenant()
    email = f"console{uuid.uuid4().hex[:6]}@example.com"
    app = auth_app(services=("health", "auth", "curricula"), cf_access_team_domain=TEAM, cf_access_aud=AUD, cf_access_certs_url=access_server.url)
    async with make_client(app) as client:
        await _admin_user(database, client, beta, email)
        listed = await client.get("/api/curricula", headers={"Cf-Access-Jwt-Assertion": access_server.sign(email=email)})
        assert listed.status_code == 200, listed.text
        assert listed.json() == (await client.get("/api/curricula", headers=bearer(beta))).json()
        # Not an admin here, a bad signature, or no JWT at all: refused, never served as someone.
        stranger = await client.get("/api/curricula", headers={"Cf-Access-Jwt-Assertion": access_server.sign(email="nobody@example.com")})
        assert stranger.status_code == 403
        forged = await client.get("/api/curricula", headers={"Cf-Access-Jwt-Assertion": access_server.sign(email=email, aud=["x"])})
        assert forged.status_code == 401 and forged.json()["error"] == "invalid_token"
        spoof = await client.get("/api/curricula", headers={"Cf-Access-Authenticated-User-Email": email})
        assert spoof.status_code == 401 and spoof.json()["error"] == "auth_required"
        # A bearer token still decides when both are sent.
        both = await client.get("/api/curricula", headers={**bearer(other_beta), "Cf-Access-Jwt-Assertion": access_server.sign(email=email)})
        assert both.status_code == 200, both.text


async def test_access_header_ignored_without_access(auth_app, tenant, database, access_server):
    """Without Cloudflare Access configured the header means nothing: a Tier-1 route wants a token."""
    _tid, beta = await tenant()
    async with make_client(auth_app(services=("health", "auth", "curricula"))) as client:
        await _admin_user(database, client, beta, f"boss{uuid.uuid4().hex[:6]}@example.com")
        answer = await client.get("/api/curricula", headers={"Cf-Access-Jwt-Assertion": access_server.sign()})
        assert answer.status_code == 401 and answer.json()["error"] == "auth_required"
