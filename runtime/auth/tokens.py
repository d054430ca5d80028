"""Token formats: HS256 access JWTs and opaque random tokens (beta, refresh) stored only as hashes.

Access JWT claims: ``iss``, ``aud``, ``exp`` (15 minutes), ``iat``, ``sub`` (user id), ``tenant``,
``device_id``, ``jti``, ``sid`` (the login session; revocation is checked against it), ``role``,
``typ: "access"``. Verification accepts HS256 only: the header is checked before any key is used,
so ``alg: none``, RS/ES algorithms and HS384/512 are refused, and ``iss``/``aud``/``exp`` and the
claims above are required.
"""
from __future__ import annotations

import hashlib
import re
import secrets
import time
import uuid
from dataclasses import dataclass

from runtime.ttl_cache import MISSING, TtlCache

ACCESS_TOKEN_SECONDS = 900  # CONTRACT: 15 minutes, expires_in 900
ALGORITHM = "HS256"
MIN_SECRET_LENGTH = 32
LEEWAY_SECONDS = 5
# Verified tokens remembered per process: an app sends the same access JWT on every call for its 15
# minutes, and checking the signature and claims again (PyJWT: ~1.5 ms of CPU) was the largest cost of
# a signed-in request. Only the exact token text that verified is remembered, never longer than it is
# valid; revocation is checked separately, on its login session, on every request.
VERIFIED_CACHE_ENTRIES = 10_000

BETA_PREFIX = "uma_beta_"
REFRESH_PREFIX = "uma_rt_"
_BETA_RE = re.compile(r"^uma_beta_[A-Za-z0-9_-]{43}$")
_REFRESH_RE = re.compile(r"^uma_rt_[A-Za-z0-9_-]{64}$")
_REQUIRED = ("iss", "aud", "exp", "iat", "sub", "tenant", "jti", "sid", "typ")


class TokenError(Exception):
    """A token that does not verify. ``code`` is the API error code (``invalid_token`` | ``token_expired``)."""

    code = "invalid_token"


class TokenExpired(TokenError):
    code = "token_expired"


@dataclass(frozen=True)
class AccessClaims:
    user_id: str
    tenant_id: str
    session_id: str
    jti: str
    device_id: str | None
    role: str
    issued_at: int
    expires_at: int


class JwtCodec:
    """Issues and verifies the runtime's access JWTs with one shared HMAC secret."""

    def __init__(self, secret: str, *, issuer: str = "unamentis", audience: str = "unamentis-api", ttl_seconds: int = ACCESS_TOKEN_SECONDS):
        if not secret or len(secret) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"UNAMENTIS_JWT_SECRET must be at least {MIN_SECRET_LENGTH} characters "
                "(generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))')"
            )
        self._secret = secret
        self.issuer = issuer
        self.audience = audience
        self.ttl_seconds = ttl_seconds
        self._verified = TtlCache(ttl_seconds + LEEWAY_SECONDS, VERIFIED_CACHE_ENTRIES)

    # PyJWT (and the cryptography package it loads) is imported on first use: a Lambda serving
    # only beta-token requests never needs it, and it is ~40 ms of cold start.
    def issue(self, *, user_id: str, tenant_id: str, session_id: str, role: str, device_id: str | None, now: float | None = None) -> tuple[str, AccessClaims]:
        iat = int(now if now is not None else time.time())
        claims = AccessClaims(
            user_id=str(user_id), tenant_id=str(tenant_id), session_id=str(session_id), jti=str(uuid.uuid4()),
            device_id=str(device_id) if device_id else None, role=role, issued_at=iat, expires_at=iat + self.ttl_seconds,
        )
        payload = {
            "iss": self.issuer, "aud": self.audience, "iat": iat, "exp": claims.expires_at,
            "sub": claims.user_id, "tenant": claims.tenant_id, "device_id": claims.device_id,
            "jti": claims.jti, "sid": claims.session_id, "role": role, "typ": "access",
        }
        import jwt  # PyJWT loads cryptography if installed: only Lambdas that sign or check user JWTs pay for it

        return jwt.encode(payload, self._secret, algorithm=ALGORITHM), claims

    def verify(self, token: str) -> AccessClaims:
        claims = self._verified.get(token)
        if claims is MISSING:
            claims = self._verify(token)
            self._verified.put(token, claims)
        if claims.expires_at + LEEWAY_SECONDS <= time.time():
            self._verified.drop(token)
            raise TokenExpired("token expired")
        return claims

    def _verify(self, token: str) -> AccessClaims:
        import jwt  # as in issue(): loaded on first use

        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise TokenError("malformed token") from exc
        if header.get("alg") != ALGORITHM:
            raise TokenError(f"algorithm {header.get('alg')!r} is not accepted")
        try:
            data = jwt.decode(
                token, self._secret, algorithms=[ALGORITHM], audience=self.audience, issuer=self.issuer,
                options={"require": list(_REQUIRED)}, leeway=LEEWAY_SECONDS,
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenExpired("token expired") from exc
        except jwt.PyJWTError as exc:
            raise TokenError(str(exc)) from exc
        if data.get("typ") != "access":
            raise TokenError("not an access token")
        try:
            return AccessClaims(
                user_id=str(uuid.UUID(str(data["sub"]))), tenant_id=str(uuid.UUID(str(data["tenant"]))),
                session_id=str(uuid.UUID(str(data["sid"]))), jti=str(data["jti"]),
                device_id=str(data["device_id"]) if data.get("device_id") else None,
                role=str(data.get("role") or "user"), issued_at=int(data["iat"]), expires_at=int(data["exp"]),
            )
        except (ValueError, TypeError) as exc:
            raise TokenError("malformed claims") from exc


def token_hash(token: str) -> str:
    """The stored form of an opaque token. The tokens carry 256+ random bits, so a fast hash is enough."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_beta_token() -> str:
    return BETA_PREFIX + secrets.token_urlsafe(32)


def new_refresh_token() -> str:
    return REFRESH_PREFIX + secrets.token_urlsafe(48)


def is_beta_token(token: str) -> bool:
    return bool(_BETA_RE.match(token))


def is_refresh_token(token: str) -> bool:
    return bool(_REFRESH_RE.match(token))


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and len(token) < 8192
