"""Client headers: ``X-Client-Platform`` (ios|android|web, any case), ``X-Client-Version``,
``X-Client-ID``, ``X-Client-Name``, ``X-Device-ID``.

They are parsed once into the scope by the request layer's header scan, each decoded, trimmed, at
most 200 characters, None when empty (``runtime.context.client_info`` reads them). When a minimum version is
configured for the caller's platform and the caller sends a lower version, the answer is 426
``upgrade_required`` naming both versions. Callers without the headers (older builds, curl) pass:
the minimum is about builds we know are broken, not about identifying clients.
"""
from __future__ import annotations

from typing import Mapping

from runtime.errors import ApiError
from runtime.settings import parse_version

EXEMPT_PATHS = frozenset({"/health", "/api/health", "/api/openapi.json"})
WANTED = {
    b"x-client-platform": "platform",
    b"x-client-version": "version",
    b"x-client-id": "id",
    b"x-client-name": "name",
    b"x-device-id": "device_id",
}


# A request's client info before its headers are read (the request layer copies it per request).
NO_CLIENT_INFO: dict[str, str | None] = dict.fromkeys(WANTED.values())


def upgrade_required(info: dict[str, str | None], min_versions: Mapping[str, tuple[int, ...]]) -> ApiError | None:
    """426 when the caller's platform has a minimum version and the caller sends a lower one."""
    minimum = min_versions.get(info["platform"] or "")
    if not minimum or not info["version"]:
        return None
    try:
        too_old = parse_version(info["version"]) < minimum
    except ValueError:
        return None  # unparseable: we cannot say it is old, so let it through
    if not too_old:
        return None
    wanted = ".".join(str(part) for part in minimum)
    return ApiError(
        426,
        "upgrade_required",
        f"This version of the app ({info['version']}) is no longer supported; "
        f"please update to {wanted} or later.",
        details={"platform": info["platform"], "minimum_version": wanted, "version": info["version"]},
    )
