"""Answers shaped by the calling app, where the shipped apps truly conflict (the same key, or the
same body, with incompatible types). The one place that reads ``X-Client-Platform`` to shape an
answer: one small function per conflicting field, each naming the default when the header is
absent and the app file each shape comes from. Routes call these; they never branch on the
platform themselves.
"""
from __future__ import annotations

from typing import Any

from starlette.requests import HTTPConnection

from runtime.context import client_info


def _platform(conn: HTTPConnection) -> str | None:
    return client_info(conn)["platform"]


def auth_list(conn: HTTPConnection, key: str, items: list[dict[str, Any]]) -> Any:
    """``GET /api/auth/devices`` and ``GET /api/auth/sessions``.

    - Android (``X-Client-Platform: android``): a bare JSON array — ``ApiClient.getDevices()`` /
      ``getSessions()`` decode ``List<Device>`` / ``List<UserSession>``
      (app/src/main/kotlin/com/unamentis/data/remote/ApiClient.kt, ApiModels.kt).
    - Everyone else, and the default when the header is absent: ``{key: [...]}`` — the web client's
      ``getDevices``/``getSessions`` read ``response.devices`` / ``response.sessions``
      (server/web-client/src/lib/api/auth.ts in the sirfifer mirror), as do the runtime's tests.
    """
    if _platform(conn) == "android":
        return items
    return {key: items}
