"""Cloudflare Access JWT verification (Tier 2).

Access puts a signed JWT in ``Cf-Access-Jwt-Assertion``. We accept RS256 only, fetch the team's
public keys from ``https://<team>/cdn-cgi/access/certs`` (overridable for tests and self-hosting),
cache them, refetch when a token names an unknown ``kid`` (Access rotates keys every 6 weeks) at
most once per ``min_refresh_seconds``, and check ``aud`` (the Access application's AUD tag),
``iss`` (``https://<team>``), ``exp``/``nbf``/``iat``. The unsigned
``Cf-Access-Authenticated-User-Email`` header is never read.
"""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import jwt
from jwt.algorithms import RSAAlgorithm

ALGORITHM = "RS256"


class AccessTokenError(Exception):
    """The Access JWT is missing, malformed, unsigned by the team, expired or for another app."""


@dataclass(frozen=True)
class AccessIdentity:
    email: str | None
    subject: str
    claims: dict


def certs_url_for(team_domain: str) -> str:
    team = team_domain.strip().removeprefix("https://").removeprefix("http://").rstrip("/")
    return f"https://{team}/cdn-cgi/access/certs"


def issuer_for(team_domain: str) -> str:
    team = team_domain.strip().removeprefix("https://").removeprefix("http://").rstrip("/")
    return f"https://{team}"


class JwksCache:
    """The team's signing keys by ``kid``, fetched over HTTP and refreshed on an unknown ``kid``."""

    def __init__(
        self,
        url: str,
        client: Callable[[], httpx.AsyncClient],
        *,
        max_age_seconds: float = 3600.0,
        min_refresh_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.url = url
        self._client = client
        self._max_age = max_age_seconds
        self._min_refresh = min_refresh_seconds
        self._clock = clock
        self._keys: dict[str, object] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()
        self.fetch_count = 0

    async def key_for(self, kid: str):
        now = self._clock()
        fresh = self._fetched_at is not None and now - self._fetched_at < self._max_age
        if fresh and kid in self._keys:
            return self._keys[kid]
        async with self._lock:
            now = self._clock()
            if self._fetched_at is not None and now - self._fetched_at < self._max_age and kid in self._keys:
                return self._keys[kid]  # another task refreshed while we waited
            recently = self._fetched_at is not None and now - self._fetched_at < self._min_refresh
            if not recently:
                try:
                    await self._refresh()
                except AccessTokenError:
                    if kid not in self._keys:
                        raise
                    # Serve the stale key: an outage of the certs URL must not lock admins out.
        key = self._keys.get(kid)
        if key is None:
            raise AccessTokenError(f"unknown signing key id {kid!r}")
        return key

    async def _refresh(self) -> None:
        try:
            response = await self._client().get(self.url, timeout=5.0)
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, json.JSONDecodeError, ValueError) as exc:
            # Keep the keys we had, and do not retry before min_refresh_seconds.
            self._fetched_at = self._clock()
            raise AccessTokenError(f"could not fetch the Access signing keys from {self.url}: {exc}") from exc
        keys: dict[str, object] = {}
        for jwk in document.get("keys", []) if isinstance(document, dict) else []:
            if not isinstance(jwk, dict) or jwk.get("kty") != "RSA" or not jwk.get("kid"):
                continue
            if jwk.get("alg") not in (None, ALGORITHM) or jwk.get("use") not in (None, "sig"):
                continue
            try:
                keys[str(jwk["kid"])] = RSAAlgorithm.from_jwk(jwk)
            except (jwt.PyJWTError, ValueError, KeyError, TypeError):
                continue
        self._keys = keys
        self._fetched_at = self._clock()
        self.fetch_count += 1


class AccessVerifier:
    def __init__(self, *, audience: str, issuer: str, jwks: JwksCache, leeway_seconds: int = 30):
        if not audience:
            raise ValueError("UNAMENTIS_CF_ACCESS_AUD (the Access application's AUD tag) is required for Access verification")
        self.audience = audience
        self.issuer = issuer
        self.jwks = jwks
        self.leeway = leeway_seconds

    async def verify(self, token: str | None) -> AccessIdentity:
        if not token:
            raise AccessTokenError("missing Cf-Access-Jwt-Assertion")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise AccessTokenError("malformed Access token") from exc
        if header.get("alg") != ALGORITHM:
            raise AccessTokenError(f"algorithm {header.get('alg')!r} is not accepted (RS256 only)")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AccessTokenError("Access token has no kid")
        key = await self.jwks.key_for(kid)
        try:
            claims = jwt.decode(
                token, key, algorithms=[ALGORITHM], audience=self.audience, issuer=self.issuer,
                options={"require": ["exp", "iat", "iss", "aud"]}, leeway=self.leeway,
            )
        except jwt.PyJWTError as exc:
            raise AccessTokenError(f"Access token rejected: {exc}") from exc
        email = claims.get("email")
        return AccessIdentity(
            email=email.strip().lower() if isinstance(email, str) and email.strip() else None,
            subject=str(claims.get("sub") or claims.get("common_name") or ""),
            claims=claims,
        )
