"""Who is calling: the Principal the auth middleware stores in ``scope["principal"]``."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Literal

from runtime.errors import Forbidden, Unauthorized
from runtime.limits import RateLimit

PrincipalKind = Literal["beta_token", "user", "admin", "open", "signed"]

# Roles of the users table that pass Tier 2 (admin) checks.
ADMIN_ROLES = frozenset({"admin", "org_admin", "super_admin"})


@dataclass(frozen=True)
class Principal:
    kind: PrincipalKind
    tenant_id: str
    user_id: str | None
    token_id: str | None  # beta token id, or the access JWT's jti
    role: str
    device_id: str | None = None
    email: str | None = None
    name: str | None = None
    # Added to the contract (additions only): the login session behind a user JWT
    # (logout and /sessions mark it current), and a per-beta-token rate limit
    # that overrides the default per-token limit when set.
    session_id: str | None = None
    rate_limit: "RateLimit | None" = None

    @property
    def is_admin(self) -> bool:
        return self.kind == "admin" or (self.kind == "user" and self.role in ADMIN_ROLES)

    @property
    def budget_subject(self) -> str:
        """Whose daily budget a paid call counts against: the user, else the beta token (tester)."""
        if self.user_id:
            return f"user:{self.user_id}"
        if self.token_id:
            return f"token:{self.token_id}"
        return "open"

    @functools.cached_property
    def limit_key(self) -> str | None:
        """The default rate-limit key of this caller (None: limit per IP); made once per principal
        (a token's principal is remembered, so not on every request)."""
        if self.kind == "beta_token" and self.token_id:
            return f"tok:{self.token_id}"
        if self.user_id:
            return f"user:{self.user_id}"
        return None


def principal(request: Any) -> Principal:
    """The authenticated caller of ``request`` (a Request or WebSocket); 401 if there is none."""
    found = request.scope.get("principal")
    if not isinstance(found, Principal):
        raise Unauthorized("Authentication required: send Authorization: Bearer <token>.")
    return found


def admin_principal(request: Any, refusal: str) -> Principal:
    """The caller of ``request`` if it holds an administrator role; 403 with ``refusal`` otherwise."""
    who = principal(request)
    if not who.is_admin:
        raise Forbidden(refusal)
    return who
