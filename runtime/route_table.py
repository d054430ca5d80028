"""The one route table: which origin serves each API path.

The runtime registers its routes per service from here, the Cloudflare edge
router (tunnel mode) and API Gateway / ALB listener rules (compute) are
generated from the same list, so a path can never be routed to an origin that
does not serve it.

Grammar of ``pattern``: a path prefix made of ``/``-separated segments, where a
segment ``*`` matches exactly one path segment. A rule matches a request path
that equals the pattern or continues it with ``/...``. Rules are tried in order;
the first match wins; a path no rule matches goes to the core (which serves
every route).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Origin = Literal["lambda", "core"]


@dataclass(frozen=True)
class RouteRule:
    pattern: str
    service: str  # the runtime service (runtime.app.SERVICE_MODULES maps it to its module)
    origin: Origin

    def matches(self, path: str) -> bool:
        want = self.pattern.strip("/").split("/")
        have = path.strip("/").split("/")
        if len(have) < len(want):
            return False
        return all(w == "*" or w == h for w, h in zip(want, have))


# Stateless services that run as one Lambda each (and in the container too).
LAMBDA_SERVICES: tuple[str, ...] = (
    "auth",
    "curricula",
    "kb",
    "sessions",
    "telemetry",
)
# Served only by the container: the stateful voice core, and the Tier 2 admin API, which verifies
# Cloudflare Access JWTs against the team's keys on the internet — a Lambda in the private subnets
# of a stack without NAT (the beta) cannot reach them, the core can.
# The Operations Console's system pages (ops) read the GPU fleet, its node agent and the AWS API; the
# models family manages the fleet's Ollama (found through the fleet's discovery) and streams model pulls.
CORE_SERVICES: tuple[str, ...] = ("admin", "voice", "ops", "models")
ALL_SERVICES: tuple[str, ...] = ("health",) + LAMBDA_SERVICES + CORE_SERVICES

# Order matters: the specific core paths inside a Lambda family come first.
ROUTES: tuple[RouteRule, ...] = (
    # stateful paths inside otherwise stateless families -> core
    # (import by URL fetches from the internet: the core can, the beta's NAT-less Lambdas cannot)
    RouteRule("/api/curricula/import", "curricula", "core"),
    RouteRule("/api/curricula/*/full-with-assets", "voice", "core"),
    RouteRule("/api/curricula/*/topics/*/stream-audio", "voice", "core"),
    RouteRule("/api/curricula/*/preload-assets", "voice", "core"),
    RouteRule("/api/kb/audio", "voice", "core"),
    RouteRule("/api/kb/prefetch", "voice", "core"),
    RouteRule("/api/kb/manifest", "voice", "core"),
    RouteRule("/api/kb/coverage", "voice", "core"),
    RouteRule("/api/kb/feedback", "voice", "core"),
    RouteRule("/api/admin/gpu", "voice", "core"),
    RouteRule("/api/gpu", "voice", "core"),  # GPU node agents' events (node token)
    RouteRule("/api/system/unload-models", "models", "core"),  # before the /api/system family
    # stateless families -> Lambda
    RouteRule("/api/auth", "auth", "lambda"),
    RouteRule("/api/curricula", "curricula", "lambda"),  # with /suggest: one full-text query, stateless
    RouteRule("/api/modules", "curricula", "lambda"),
    RouteRule("/api/kb", "kb", "lambda"),
    RouteRule("/api/sessions", "sessions", "lambda"),
    RouteRule("/api/fov", "sessions", "lambda"),
    RouteRule("/api/metrics", "telemetry", "lambda"),
    RouteRule("/api/clients", "telemetry", "lambda"),
    RouteRule("/api/logs", "telemetry", "lambda"),
    RouteRule("/log", "telemetry", "lambda"),  # Android's log server endpoint (ApiClient.sendLog)
    # the iOS latency harness's result upload: answered 410 (not hosted), no state
    RouteRule("/api/latency-tests", "telemetry", "lambda"),
    # stateful families -> core
    RouteRule("/ws", "voice", "core"),
    RouteRule("/api/tts", "voice", "core"),
    RouteRule("/api/tts-cache", "voice", "core"),
    RouteRule("/api/import", "voice", "core"),
    RouteRule("/api/admin", "admin", "core"),
    RouteRule("/api/models", "models", "core"),
    RouteRule("/api/stats", "ops", "core"),
    RouteRule("/api/servers", "ops", "core"),
    RouteRule("/api/system", "ops", "core"),
    RouteRule("/api/services", "ops", "core"),
    RouteRule("/api/health", "health", "core"),
    RouteRule("/health", "health", "core"),
)


def route_for(path: str) -> RouteRule | None:
    """The first rule matching ``path``; ``None`` means the core's default."""
    for rule in ROUTES:
        if rule.matches(path):
            return rule
    return None


def origin_for(path: str) -> Origin:
    rule = route_for(path)
    return rule.origin if rule else "core"


def as_json_rules() -> list[dict[str, str]]:
    """The table in the form the edge worker embeds."""
    return [{"pattern": r.pattern, "service": r.service, "origin": r.origin} for r in ROUTES]
