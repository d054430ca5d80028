"""Tier 3: only the edge may call the origin.

With ``UNAMENTIS_ORIGIN_SECRET`` set, every HTTP and WebSocket request except ``GET /health`` (the
load balancer's and container's probe) must carry ``X-Origin-Secret`` equal to it (constant-time
compare), else 403 — except on the console listener, which the edge never reaches. Only after
that check is ``CF-Connecting-IP`` believed as the client IP; the secret header is then removed
from the scope so no handler or log can see it. ``runtime.middleware.request`` runs the check.
"""
from __future__ import annotations

import functools
import ipaddress

from runtime.errors import Forbidden

EXEMPT_PATHS = frozenset({"/health"})
SECRET_HEADER = b"x-origin-secret"
CONNECTING_IP_HEADER = b"cf-connecting-ip"


@functools.lru_cache(maxsize=4096)  # parsing costs more than the rest of the check; clients call again
def canonical_ip(raw: bytes) -> str | None:
    """``CF-Connecting-IP`` as a canonical address, or None when it is not one."""
    try:
        return str(ipaddress.ip_address(raw.decode("latin-1").strip()))
    except ValueError:
        return None


def forbidden() -> Forbidden:
    return Forbidden("Direct access to the origin is not allowed; use the public API URL.")
