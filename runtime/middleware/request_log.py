"""The request id and the JSON access line.

The request id comes from a sane incoming ``X-Request-ID`` (the edge's) or is generated; it is put
in the scope, in a contextvar (so every log line of the request carries it) and on the response
(``runtime.middleware.request``). The access line logs the path WITHOUT the query string (tokens
travel there on WebSockets).
"""
from __future__ import annotations

import logging
import os
import random
import re
import time

from starlette.types import Scope

from runtime.auth.principal import Principal
from runtime.context import CLIENT_IP_KEY
from runtime.logging import log_access_line

access_log = logging.getLogger("unamentis.access")
_INCOMING_ID = re.compile(r"^[A-Za-z0-9._:\-]{8,128}$")
# Request ids only need to be unique, not secret: 128 bits from a generator seeded once from the
# system's randomness cost no system call per request (os.urandom did).
_ids = random.Random()
os.register_at_fork(after_in_child=_ids.seed)  # a forked worker must not repeat its parent's ids


def request_id(incoming: bytes | None) -> str:
    """The edge's id when it is sane, else a new one (uuid4().hex's shape)."""
    if incoming:
        text = incoming.decode("latin-1")
        if _INCOMING_ID.match(text):
            return text
    # to_bytes().hex(): the same 32 digits as f"{n:032x}" without the general number formatter
    return _ids.getrandbits(128).to_bytes(16, "big").hex()


def log_access(scope: Scope, status: int, started: float) -> None:
    """One INFO line on ``unamentis.access`` with the request's fields as attributes."""
    if not access_log.isEnabledFor(logging.INFO):
        return
    ms = (time.perf_counter() - started) * 1000
    principal = scope.get("principal")
    if type(principal) is Principal:  # the common case: attributes, not getattr calls
        who: tuple | None = (principal.kind, principal.tenant_id)
    elif principal is not None:
        who = (getattr(principal, "kind", None), getattr(principal, "tenant_id", None))
    else:
        who = None
    log_access_line(access_log, (
        scope.get("method", "WS"),
        scope.get("path"),
        status,
        # round(x * 100) / 100 rather than round(x, 2), whose decimal rounding goes through the C
        # library's printf on every call; the two agree on durations (none differed in 2 million)
        round(ms * 100) / 100,
        scope.get(CLIENT_IP_KEY) or (scope.get("client") or ("unknown",))[0],
        who,
    ))
