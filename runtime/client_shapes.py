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


def archived_list_answer(request: Request, items: list[dict]) -> Any:
    """``GET /api/curricula/archived``.

    - android: a JSON array of ``ArchivedCurriculum {file, title, archived_at (ISO 8601 string),
      original_id}`` (ApiClient.getArchivedCurricula, data/remote/ApiModels.kt).
    - everyone else (no header included): ``{archived: [...], total}`` with ``archived_at`` in epoch
      seconds, as the runtime answered before (the old server's shape).
    """
    if _platform(request) == "android":
        return [{**item, "archived_at": item["archived_at_iso"]} for item in items]
    return {"archived": [{k: v for k, v in item.items() if k != "archived_at_iso"} for item in items],
            "total": len(items)}


def delete_confirmed(request: Request, confirm: bool) -> bool:
    """Whether ``DELETE /api/curricula/{id}`` (and ``…/archived/{file}``) deletes now.

    - android: always — ApiClient.deleteCurriculum / deleteArchivedCurriculum send one DELETE with no
      ``?confirm`` and treat the 2xx as done (ApiResult<Unit>, data/remote/ApiClient.kt); the app has
      no second step that could repeat the call, so asking it to confirm would leave the curriculum in
      place while the app shows it gone.
    - everyone else (no header included): only with ``?confirm=true``; without it the answer is
      ``{status: confirmation_required}`` (the old server's two-step flow).
    """
    return confirm or _platform(request) == "android"
