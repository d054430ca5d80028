"""Short-lived signed URLs: one exact path, fetched with GET and no ``Authorization`` header.

The apps hand some URLs to code that cannot add a bearer token — Android's VisualAssetCache and
media players fetch a URL as it stands. Answers that carry such a URL sign it for the caller:
``?exp=<unix time>&tenant=<tenant id>&sub=<budget subject>&sig=<HMAC-SHA256>``. The signature
covers the path, the tenant, the subject (whose rate limit and budget the fetch counts against) and
the expiry, with a key derived from ``UNAMENTIS_JWT_SECRET`` for this purpose only; a changed path or
parameter, or an expired URL, is refused like a missing token. The query must carry nothing else.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Mapping
from urllib.parse import urlencode

from runtime.auth.principal import Principal

SIGNED_URL_SECONDS = 900
_PURPOSE = b"unamentis signed url v1"
_PARAMS = frozenset({"exp", "tenant", "sub", "sig"})


def url_key(secret: str) -> bytes:
    """The signing key: the JWT secret keyed to this purpose, so a URL signature is never a token's."""
    return hmac.new(secret.encode(), _PURPOSE, hashlib.sha256).digest()


def _mac(key: bytes, path: str, tenant_id: str, subject: str, expires: int) -> str:
    message = "\n".join((path, tenant_id, subject, str(expires))).encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign(key: bytes, path: str, who: Principal, *, now: float, ttl: int = SIGNED_URL_SECONDS) -> str:
    """``path`` plus the signed query for ``who``'s tenant and budget subject."""
    expires = int(now) + ttl
    subject = who.budget_subject
    query = urlencode({"exp": expires, "tenant": who.tenant_id, "sub": subject,
                       "sig": _mac(key, path, who.tenant_id, subject, expires)})
    return f"{path}?{query}"


def verify(key: bytes, path: str, query: Mapping[str, str], *, now: float) -> Principal | None:
    """The principal a valid signed query stands for, or None (not signed, tampered with, or expired)."""
    if set(query) != _PARAMS:
        return None
    try:
        expires = int(query["exp"])
    except ValueError:
        return None
    tenant_id, subject = query["tenant"], query["sub"]
    if expires < now or expires > now + SIGNED_URL_SECONDS + 60:
        return None
    if not hmac.compare_digest(_mac(key, path, tenant_id, subject, expires).encode(), query["sig"].encode()):
        return None
    kind, _, ident = subject.partition(":")
    return Principal(kind="signed", tenant_id=tenant_id, user_id=ident if kind == "user" else None,
                     token_id=ident if kind == "token" else None, role="signed")
