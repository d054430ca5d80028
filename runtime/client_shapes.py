"""Answers shaped by the calling app, where the apps truly conflict on one key or one body.

One small function per conflicting field. Each reads ``X-Client-Platform`` (``client_info(request)``:
"ios" | "android" | "web" | None) and says which shape is the default when the header is absent and
which app source file each shape comes from. Routes call these and never test the platform themselves.
"""
from __future__ import annotations

from typing import Any

from starlette.requests import HTTPConnection

from runtime.context import client_info


def _platform(request: HTTPConnection) -> str | None:
    return client_info(request)["platform"]


def tts_audio_as_json(request: HTTPConnection) -> bool:
    """``POST /api/tts`` and ``/api/tts/profiles/{id}/preview``: the audio itself (``audio/wav``, the default,
    which iOS and the web play) or JSON ``TTSResponse {audio_url, duration_ms, cache_hit}`` (Android's
    ``ApiClient.generateTTS``/``previewTTSProfile`` decode JSON, ``data/remote/ApiModels.kt``). JSON when the
    caller is Android or asks for it with ``Accept: application/json`` (and not for audio)."""
    if _platform(request) == "android":
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "audio/" not in accept


def tts_profile_list(request: HTTPConnection, page: dict[str, Any]) -> Any:
    """``GET /api/tts/profiles``: Android decodes a bare JSON array of ``TTSProfile`` (``ApiClient.getTTSProfiles``,
    ``List<TTSProfile>``); the default (no header, iOS, web) is the paged envelope ``{success, profiles, total,
    limit, offset}``."""
    if _platform(request) == "android":
        return page["profiles"]
    return page


def prefetch_progress(request: HTTPConnection, progress: dict[str, Any]) -> Any:
    """``progress`` of ``GET /api/tts/prefetch/status/{id}``: Android's ``PrefetchJobStatus.progress`` is a
    number (a fraction 0..1, ``data/remote/ApiModels.kt``); the default is the job's progress object
    (``{total_segments, completed, cached, generated, failed, percent_complete, …}``)."""
    if _platform(request) == "android":
        return round(float(progress.get("percent_complete") or 0.0) / 100.0, 4)
    return progress


def model_list(request: HTTPConnection, answer: dict[str, Any]) -> Any:
    """``GET /api/models``: Android decodes a bare JSON array of ``ModelInfo`` (``ApiClient.getModels``,
    ``List<ModelInfo>``); the default (no header, iOS ``ServerConfigManager.discoverManagementModels``, web)
    is ``{models: [...], total, default_model, gpu}``."""
    if _platform(request) == "android":
        return answer["models"]
    return answer


def tts_cache_clear_confirmed(request: HTTPConnection, confirm: bool) -> bool:
    """``DELETE /api/tts/cache``: a caller without an app header must add ``?confirm=true`` (a guard against a
    stray script wiping the tenant's cache). The apps call it only from their explicit "clear cache" action
    and Android's ``ApiClient.clearTTSCache`` sends no query, so an identified app (any ``X-Client-Platform``)
    counts as confirmed. The cache only holds regenerable audio of the caller's own tenant."""
    return confirm or _platform(request) is not None
