"""Answers whose shape the shipped apps truly disagree on, chosen by ``X-Client-Platform``.

One small function per conflicting field; each says which app file each shape comes from and what a
caller without the header gets. Everywhere else the runtime answers a superset all apps decode.
"""
from __future__ import annotations

from typing import Any

from starlette.requests import Request

from runtime.context import client_info


def _platform(request: Request) -> str | None:
    return client_info(request).get("platform")


def reload_answer(request: Request, items: list[dict]) -> Any:
    """``POST /api/curricula/reload``.

    - android: a JSON array of ``CurriculumSummary`` (ApiClient.reloadCurricula,
      app/src/main/kotlin/com/unamentis/data/remote/ApiClient.kt).
    - everyone else (ios, web, no header): an object — web ``{message, curricula_count}``
      (server/web-client/src/lib/api/hooks.ts useReloadCurricula), iOS and the old runtime ``{status, count}``.
    """
    if _platform(request) == "android":
        return items
    return {"status": "ok", "count": len(items), "message": f"Reloaded {len(items)} curricula.",
            "curricula_count": len(items)}
