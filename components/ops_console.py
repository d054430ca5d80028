"""How the Operations Console (``server/web/`` of sirfifer/unamentis, a Next.js app) is wired to the core.

The console calls the API two ways, and each gets its own way in:

* **its server-side proxy routes** (``src/app/api/**/route.ts``, on ``BACKEND_URL``) forward no
  credential at all, and its code is not ours: they call the core's **console listener**
  (``UNAMENTIS_CONSOLE_PORT``, :data:`CONSOLE_PORT`), where the socket is the credential — every
  request acts as the configured console admin and is audited. The port is published to nothing
  but the console's own network (security group rule from the console's group only); the tunnel's
  ingress and the ALB never point at it.
* **its browser-side calls** (``NEXT_PUBLIC_*`` URLs, all set to ``https://admin.<domain>``) reach
  ``admin.<domain>``, where Cloudflare Access has checked the person (MFA included) and puts its JWT
  on the request. The edge splits that hostname by path: the paths of the console's own proxy routes
  (:data:`PROXY_ROUTES`) and its pages go to the console; every other ``/api/…`` path and ``/ws`` go
  to the API, which verifies the Access JWT on every route.

``NEXT_PUBLIC_*`` values are compiled into the browser bundle by ``next build``: the console image
must be built with them (:func:`build_environment`); the task's environment only reaches the
server-side code.
"""
from __future__ import annotations

import re

CONSOLE_PORT = 8767
"""The core's console listener (``UNAMENTIS_CONSOLE_PORT``); never behind the tunnel or the ALB."""

# The console's proxy routes, from its sources (src/app/api/**/route.ts), `[param]` = one segment.
# Next.js answers only these paths itself (a route file serves its own path, not the paths below it).
PROXY_ROUTES: tuple[str, ...] = (
    "/api/admin/users", "/api/admin/users/[userId]", "/api/clients",
    "/api/curricula", "/api/curricula/reload", "/api/curricula/[curriculumId]",
    "/api/curricula/[curriculumId]/archive", "/api/curricula/[curriculumId]/full",
    "/api/curricula/[curriculumId]/topics/[topicId]/assets",
    "/api/curricula/[curriculumId]/topics/[topicId]/assets/[assetId]",
    "/api/curricula/[curriculumId]/topics/[topicId]/transcript",
    "/api/fov/health",
    "/api/import/jobs", "/api/import/jobs/[jobId]", "/api/import/sources", "/api/import/sources/[sourceId]",
    "/api/import/sources/[sourceId]/courses", "/api/import/sources/[sourceId]/courses/[courseId]",
    "/api/kb/database-status", "/api/kb/domains", "/api/kb/import-from-module", "/api/kb/packs",
    "/api/kb/packs/bundle", "/api/kb/packs/preview-dedup", "/api/kb/packs/[packId]",
    "/api/kb/packs/[packId]/questions", "/api/kb/packs/[packId]/questions/[questionId]",
    "/api/kb/questions", "/api/kb/questions/bulk-update", "/api/kb/questions/[questionId]",
    "/api/kb/sync-to-database",
    "/api/logs", "/api/metrics", "/api/models",
    "/api/modules", "/api/modules/[moduleId]", "/api/modules/[moduleId]/settings",
    "/api/plugins", "/api/plugins/first-run", "/api/plugins/[pluginId]", "/api/plugins/[pluginId]/disable",
    "/api/plugins/[pluginId]/enable", "/api/plugins/[pluginId]/schema", "/api/plugins/[pluginId]/test",
    "/api/reprocess/analyze/[curriculumId]", "/api/reprocess/jobs", "/api/reprocess/jobs/[jobId]",
    "/api/reprocess/preview/[curriculumId]",
    "/api/servers",
    "/api/sessions", "/api/sessions/[sessionId]", "/api/sessions/[sessionId]/analyze-response",
    "/api/sessions/[sessionId]/barge-in", "/api/sessions/[sessionId]/context", "/api/sessions/[sessionId]/debug",
    "/api/sessions/[sessionId]/start", "/api/sessions/[sessionId]/topic", "/api/sessions/[sessionId]/turns",
    "/api/sources", "/api/stats",
    "/api/tts/pregen/extract", "/api/tts/pregen/jobs", "/api/tts/pregen/jobs/[jobId]",
    "/api/tts/pregen/jobs/[jobId]/items", "/api/tts/pregen/jobs/[jobId]/pause",
    "/api/tts/pregen/jobs/[jobId]/progress", "/api/tts/pregen/jobs/[jobId]/resume",
    "/api/tts/pregen/jobs/[jobId]/retry-failed", "/api/tts/pregen/jobs/[jobId]/start",
)

# What admin.<domain> sends to the API rather than the console: the event socket and every /api/ path
# the console does not serve itself (its browser-side calls on NEXT_PUBLIC_*).
API_PATH_REGEX = r"^/(ws|api/.*)$"

_PARAM = re.compile(r"\[[A-Za-z]+\]")


def proxy_route_regex() -> str:
    """One RE2 expression (cloudflared's ``path``) matching exactly the console's proxy routes."""
    return "^(" + "|".join(_PARAM.sub("[^/]+", route) for route in PROXY_ROUTES) + ")/?$"


def alb_proxy_patterns() -> list[str]:
    """ALB path patterns of the proxy routes (``*`` for a parameter; ALB has no "one segment" wildcard,
    so ``/api/kb/packs/*`` also takes deeper paths, which the console answers 404 — as Next.js does)."""
    seen: dict[str, None] = {}
    for route in PROXY_ROUTES:
        seen.setdefault(_PARAM.sub("*", route), None)
    return list(seen)


def console_environment(*, admin_origin: str, backend_url: str, port: int) -> dict[str, str]:
    """The environment the console's container reads (names from its sources).

    ``BACKEND_URL``: its proxy routes → the core's console listener; ``NEXT_PUBLIC_*``: its browser-side
    calls → ``admin.<domain>`` (effective only when also given to ``next build``, see module doc)."""
    return {"PORT": str(port), "HOSTNAME": "0.0.0.0", "BACKEND_URL": backend_url, **build_environment(admin_origin)}


def build_environment(admin_origin: str) -> dict[str, str]:
    """What ``next build`` of the console image must be given: every ``NEXT_PUBLIC_*`` API base it reads
    (``api-client.ts``: NEXT_PUBLIC_BACKEND_URL; users panel: NEXT_PUBLIC_API_URL; latency panels:
    NEXT_PUBLIC_MANAGEMENT_API_URL; test hooks and lists: NEXT_PUBLIC_MANAGEMENT_SERVER_URL)."""
    return {name: admin_origin for name in (
        "NEXT_PUBLIC_BACKEND_URL", "NEXT_PUBLIC_API_URL", "NEXT_PUBLIC_MANAGEMENT_API_URL",
        "NEXT_PUBLIC_MANAGEMENT_SERVER_URL")}


# Browser-side calls under a proxy route's parameter (`/api/sessions/[sessionId]` → `/api/sessions/*`):
# ALB's `*` crosses `/`, so these go to the API by a rule ahead of the console's.
ALB_API_FIRST: tuple[str, ...] = ("/api/sessions/*/context/build",)

# ALB quotas per listener rule: 5 condition values and 5 wildcards (host and header count as values).
ALB_VALUES_PER_RULE = 5
ALB_WILDCARDS_PER_RULE = 5


def alb_pattern_chunks(other_values: int) -> list[list[str]]:
    """The proxy routes' ALB path patterns in groups that fit one rule beside ``other_values`` other
    condition values (the host header, the origin-secret header)."""
    room = ALB_VALUES_PER_RULE - other_values
    chunks: list[list[str]] = [[]]
    for pattern in alb_proxy_patterns():
        stars = sum(p.count("*") for p in chunks[-1])
        if len(chunks[-1]) >= room or stars + pattern.count("*") > ALB_WILDCARDS_PER_RULE:
            chunks.append([])
        chunks[-1].append(pattern)
    return chunks
