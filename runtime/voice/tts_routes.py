"""``/api/tts*``: synthesis through the cache, cache management, profiles, prefetch jobs.

They live with the voice core because they speak through its providers and cache. Shapes follow the
old server where the apps decode them; profiles work (they
returned 500 in the old server). Every route is tenant-scoped: the cache index and profiles through
RLS, cached audio through the tenant's object-store scope.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
import uuid


from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from runtime import client_shapes
from runtime.auth.principal import principal
from runtime.context import ctx
from runtime.errors import ApiError, InvalidField, MissingField, NotFound
from runtime.providers.audio import AudioFormatError, parse_wav, wav_bytes
from runtime.providers.base import ProviderError
from runtime.tts import index, profiles
from runtime.tts.cache import CacheKey
from runtime.tts.common import (TTS_PROVIDER_NAMES, VOICE_PATTERN, provider_api_error, provider_name, read_provider,
                                read_voice, wav_response)
from runtime.validation import (field_bool, field_dict, field_enum, field_float, field_int, field_list, field_str,
                                json_body, query_bool, query_int, query_str)

from .core import voice_core

MAX_TEXT = 5000
_HASH_CHARS = set("0123456789abcdef")


def _options(body: dict) -> dict:
    opts = dict(field_dict(body, "chatterbox_config", default={}) or {})
    opts.update(field_dict(body, "options", default={}) or {})
    for k in ("exaggeration", "cfg_weight", "language"):
        if body.get(k) is not None:
            opts[k] = body[k]
    return {k: v for k, v in opts.items() if isinstance(v, (str, int, float)) and not isinstance(v, bool)}


async def synthesize(request: Request) -> Response:
    """Text to speech (WAV), served from the cache when possible."""
    p = principal(request)
    core = voice_core(ctx(request))
    body = await json_body(request)
    text = field_str(body, "text", required=True, max_len=MAX_TEXT)
    voice = read_voice(body)
    speed = field_float(body, "speed", default=1.0, min=0.25, max=4.0)
    skip = field_bool(body, "skip_cache", default=False)
    name = read_provider(body, core.vs)
    profile_id = field_str(body, "profile_id", max_len=100)
    if profile_id:
        prof = await _profile_row(request, p.tenant_id, profile_id)
        voice, name = voice or prof["voice_id"], name or provider_name(core.vs, prof["provider"])
        prof_settings = json.loads(prof["settings"]) if isinstance(prof["settings"], str) else prof["settings"]
        speed = speed if body.get("speed") is not None else float(prof_settings.get("speed", speed))
    try:
        res = await core.speech.speak(p, p.tenant_id, text, voice=voice, provider_name=name, speed=speed,
                                      options=_options(body), skip_cache=skip)
    except ProviderError as exc:
        raise provider_api_error(exc) from None
    return _speech_response(request, res, {"X-TTS-Cache-Status": res.status, "X-TTS-Provider": res.provider})


def _speech_response(request: Request, res, headers: dict[str, str]) -> Response:
    """The WAV itself, or for a client that decodes JSON (``client_shapes.tts_audio_as_json``) the same audio
    as a ``data:`` URL with its length in whole milliseconds."""
    if not client_shapes.tts_audio_as_json(request):
        return wav_response(res.wav, duration=res.duration_seconds, sample_rate=res.sample_rate, headers=headers)
    audio = base64.b64encode(res.wav).decode()
    return JSONResponse({"audio_url": "data:audio/wav;base64," + audio, "audio_base64": audio,
                         "format": "wav", "sample_rate": res.sample_rate,
                         "duration_ms": round(res.duration_seconds * 1000), "cache_hit": res.status == "hit",
                         "provider": getattr(res, "provider", None)}, headers=headers)


def _key_from(request: Request, source: dict, core, tenant_id: str) -> CacheKey:
    text = field_str(source, "text", required=True, max_len=MAX_TEXT)
    try:
        speed = float(source.get("speed", 1.0))
    except (TypeError, ValueError):
        raise InvalidField("'speed' must be a number.", details={"field": "speed"}) from None
    if not 0.25 <= speed <= 4.0:
        raise InvalidField("'speed' must be between 0.25 and 4.", details={"field": "speed"})
    name = read_provider(source, core.vs)
    try:
        voice = field_str(source, "voice_id", max_len=100, pattern=VOICE_PATTERN)
        key, _ = core.speech.key_for(text, voice, name, speed, _options(source), tenant_id)
    except ProviderError as exc:
        raise provider_api_error(exc) from None
    return key


_CLIENT_HASH = r"[A-Za-z0-9_-]{8,128}"


def _entry_json(name: str, row, wav: bytes | None, *, text: str = "") -> dict:
    """A cache entry as Android's ``TTSCacheEntry`` (``hash`` is the name the caller knows it by) with the
    server's own ``key`` beside it; ``audio_data`` is the WAV as base64 when ``wav`` is given. ``row`` is the
    index entry (None for shared system audio, which the tenant's index does not list)."""
    entry = {"hash": name, "key": name, "text": text, "provider": "", "voice_id": "", "audio_url": None,
             "audio_data": base64.b64encode(wav).decode("ascii") if wav is not None else None,
             "duration_ms": 0, "size_bytes": len(wav or b""), "created_at": None, "last_accessed": None}
    if row is not None:
        entry.update({"key": row["digest"], "text": text or row["text_preview"], "provider": row["provider"],
                      "voice_id": row["voice"], "duration_ms": round(float(row["duration_seconds"]) * 1000),
                      "size_bytes": row["size_bytes"], "created_at": row["created_at"].isoformat(),
                      "last_accessed": row["last_accessed_at"].isoformat()})
    elif wav is not None:
        pcm, rate, _ = parse_wav(wav)
        entry["duration_ms"] = round(len(pcm) * 1000 / (2 * rate))
    return entry


def _cache_miss(digest: str) -> Response:
    return JSONResponse({"error": "Cache miss", "code": "CACHE_MISS", "message": "not cached", "hash": digest},
                        status_code=404)


async def cache_get(request: Request) -> Response:
    """Cached audio by text + voice settings, or by ``?hash=``: the server's 32-hex digest (PUT's ``key``) or
    the caller's own name for an entry it PUT with ``hash``; 404 on a miss. WAV, or for a caller that decodes
    JSON (``client_shapes.tts_audio_as_json``) the entry as ``TTSCacheEntry`` with the audio as base64."""
    p = principal(request)
    core = voice_core(ctx(request))
    as_json = client_shapes.tts_audio_as_json(request)
    digest = query_str(request, "hash", max_len=128) or query_str(request, "key", max_len=128)
    if digest:
        if not re.fullmatch(_CLIENT_HASH, digest):
            raise ApiError(400, "invalid_hash", "'hash' is PUT /api/tts/cache's 32-character 'key' or the 'hash' it was given.")
        named = len(digest) != 32 or not set(digest) <= _HASH_CHARS
        async with ctx(request).db.tenant(p.tenant_id) as conn:
            row = await index.entry(conn, p.tenant_id, client_hash=digest) if named else \
                await index.entry(conn, p.tenant_id, digest=digest)
            if row is None and len(digest) == 32:
                row = await index.entry(conn, p.tenant_id, client_hash=digest)
        keys = [row["object_key"]] if row else []
        if not named:
            keys += [f"tts-cache/{scope}/{digest[:2]}/{digest}.wav" for scope in (p.tenant_id, "system")]
        for okey in keys:
            wav = core.cache.local.get(okey) or (await core.cache.store.get(okey) if core.cache.store else None)
            if wav:
                return JSONResponse(_entry_json(digest, row, wav)) if as_json else _cached_response(wav)
        return _cache_miss(digest)
    key = _key_from(request, dict(request.query_params), core, p.tenant_id)
    found = await core.cache.get(key)
    if found is None:
        return _cache_miss(key.digest)
    core.speech._touch(key)
    if as_json:
        async with ctx(request).db.tenant(p.tenant_id) as conn:
            row = await index.entry(conn, p.tenant_id, digest=key.digest)
        return JSONResponse(_entry_json(key.digest, row, found[0], text=key.text))
    return _cached_response(found[0])


def _cached_response(wav: bytes) -> Response:
    pcm, rate, _ = parse_wav(wav)
    return wav_response(wav, duration=len(pcm) / (2 * rate), sample_rate=rate, headers={"X-TTS-Cache-Status": "hit"})


async def cache_put(request: Request) -> Response:
    """Store client-provided audio in the cache (WAV, or raw PCM16 with ``sample_rate``), as ``audio_base64``
    or Android's ``TTSCacheEntry.audio_data``. With ``hash`` (Android's own name for the entry) the entry can
    be read back by that name. The answer is the entry (``TTSCacheEntry``: ``hash`` as given, else the
    server's digest, which ``key`` always holds) with ``status`` and ``size_bytes``."""
    p = principal(request)
    core = voice_core(ctx(request))
    body = await json_body(request, max_bytes=10 * 1024 * 1024)
    client_hash = field_str(body, "hash", max_len=128, pattern=_CLIENT_HASH)
    raw = body.get("audio_base64", body.get("audio_data"))
    if not isinstance(raw, str) or not raw:
        raise MissingField("'audio_base64' is required.", details={"field": "audio_base64"})
    try:
        audio = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidField("'audio_base64' is not valid base64.", details={"field": "audio_base64"}) from None
    key = _key_from(request, body, core, p.tenant_id)
    if audio[:4] == b"RIFF":
        try:
            pcm, rate, _ = parse_wav(audio)
        except AudioFormatError as exc:
            raise ApiError(422, "invalid_audio", f"audio is not a PCM16 WAV: {exc}", details={"field": "audio_base64"}) from None
        wav = wav_bytes(pcm, rate)
    else:
        rate = field_int(body, "sample_rate", default=24000, min=8000, max=48000)
        wav = wav_bytes(audio[: len(audio) - len(audio) % 2], rate)
    if len(wav) <= 44:
        raise ApiError(422, "invalid_audio", "the audio is empty", details={"field": "audio_base64"})
    await core.speech.put(key, wav)
    async with ctx(request).db.tenant(p.tenant_id) as conn:
        if client_hash:
            row = await index.name_entry(conn, p.tenant_id, key.digest, client_hash)
        else:
            row = await index.entry(conn, p.tenant_id, digest=key.digest)
    return JSONResponse({**_entry_json(client_hash or key.digest, row, None, text=key.text),
                         "status": "ok", "key": key.digest, "size_bytes": len(wav)})


async def _delete_where(request: Request, tenant_id: str, which: str, *args) -> int:
    core = voice_core(ctx(request))
    async with ctx(request).db.tenant(tenant_id) as conn:
        keys = await index.delete_entries(conn, tenant_id, which, *args)
    for key in keys:
        await core.cache.delete_object(key)
    return len(keys)


async def cache_clear(request: Request) -> Response:
    """Delete every cached entry of this tenant (needs ``?confirm=true``)."""
    p = principal(request)
    if not client_shapes.tts_cache_clear_confirmed(request, query_bool(request, "confirm")):
        raise ApiError(400, "confirmation_required", "Add ?confirm=true to delete the whole TTS cache.")
    return JSONResponse({"status": "ok", "entries_removed": await _delete_where(request, p.tenant_id, "all")})


async def cache_expired(request: Request) -> Response:
    """Delete entries older than the TTL."""
    p = principal(request)
    days = voice_core(ctx(request)).vs.tts_cache_ttl_days
    n = await _delete_where(request, p.tenant_id, "older_than_days", days)
    return JSONResponse({"status": "ok", "entries_removed": n})


async def cache_evict(request: Request) -> Response:
    """Evict least recently used entries until the tenant's cache is at most ``target_size_mb``, or (Android's
    ``CacheEvictRequest``) until at least ``bytes_to_free`` bytes are freed."""
    p = principal(request)
    body = await json_body(request)
    if body.get("target_size_mb") is None and body.get("bytes_to_free") is not None:
        to_free = field_int(body, "bytes_to_free", required=True, min=0, max=2**53)
        async with ctx(request).db.tenant(p.tenant_id) as conn:
            row, _ = await index.stats(conn, p.tenant_id)
        target_bytes = max(0, int(row["size"]) - to_free)
    else:
        target_bytes = int(field_float(body, "target_size_mb", required=True, min=0, max=1_000_000) * 1024 * 1024)
    n = await _delete_where(request, p.tenant_id, "beyond_bytes", target_bytes)
    return JSONResponse({"status": "ok", "entries_removed": n})


def _fmt_size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024
    return str(n)


async def cache_stats(request: Request) -> Response:
    """Cache size, entries by provider, hit rate."""
    p = principal(request)
    core = voice_core(ctx(request))
    async with ctx(request).db.tenant(p.tenant_id) as conn:
        row, by_provider = await index.stats(conn, p.tenant_id)
    c = core.cache.counters()
    lookups = c["local_hits"] + c["store_hits"] + c["misses"]
    hit_rate = round(100.0 * (c["local_hits"] + c["store_hits"]) / lookups, 1) if lookups else 0.0
    max_bytes = core.vs.tts_cache_local_bytes
    # Top-level size_bytes/entry_count/hit_rate/max_size_bytes: Android's TTSCacheStats (ApiModels.kt).
    return JSONResponse({"status": "ok", "size_bytes": int(row["size"]), "entry_count": row["n"], "hit_rate": hit_rate,
                         "max_size_bytes": max_bytes, "cache": {
        "total_entries": row["n"], "total_size_bytes": int(row["size"]), "total_size_formatted": _fmt_size(int(row["size"])),
        "max_size_bytes": max_bytes, "utilization_percent": round(100.0 * c["local_bytes"] / max_bytes, 2) if max_bytes else 0,
        "hits": c["local_hits"] + c["store_hits"], "misses": c["misses"], "hit_rate": hit_rate,
        "total_hits_recorded": int(row["hits"]), "eviction_count": 0, "prefetch_count": 0, "prefetch_hits": 0,
        "entries_by_provider": by_provider, "local_layer": c},
        "resource_pool": {"providers": {"tts": TTS_PROVIDER_NAMES}}})


# ------------------------------------------------------------------ profiles
def _profile_json(r) -> dict:
    return {"id": str(r["id"]), "name": r["name"], "provider": r["provider"], "voice_id": r["voice_id"],
            "settings": json.loads(r["settings"]) if isinstance(r["settings"], str) else r["settings"],
            "description": r["description"], "tags": json.loads(r["tags"]) if isinstance(r["tags"], str) else r["tags"],
            "use_case": r["use_case"], "is_default": r["is_default"], "is_active": r["is_active"],
            "created_at": r["created_at"].isoformat(), "updated_at": r["updated_at"].isoformat()}


def _profile_answer(request: Request, row, status_code: int = 200) -> JSONResponse:
    """A profile at the top level (Android decodes TTSProfile there) and under ``profile`` with ``success``
    (the shape the runtime's other clients read): a superset."""
    prof = client_shapes.tts_profile_item(request, _profile_json(row))
    return JSONResponse({**prof, "success": True, "profile": prof}, status_code=status_code)


def _profile_not_found() -> ApiError:
    return NotFound("TTS profile not found.")


def _profile_uuid(request: Request) -> uuid.UUID:
    return _as_profile_id(request.path_params["id"])


def _as_profile_id(raw: str | uuid.UUID) -> uuid.UUID:
    """A profile id from the path or a body field; 404 when it is not a UUID."""
    if isinstance(raw, uuid.UUID):
        return raw
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        raise _profile_not_found() from None


def _name_taken(name: str | None) -> ApiError:
    return ApiError(409, "profile_exists", f"a profile named {name!r} already exists" if name
                    else "a profile with that name already exists")


async def _profile_row(request: Request, tenant_id: str, profile_id: str | uuid.UUID):
    pid = _as_profile_id(profile_id)
    async with ctx(request).db.tenant(tenant_id) as conn:
        row = await profiles.get(conn, tenant_id, pid)
    if row is None:
        raise _profile_not_found()
    return row


def _profile_fields(body: dict, *, partial: bool) -> dict:
    out = {}
    for name, reader in (
        ("name", lambda: field_str(body, "name", required=not partial, max_len=100)),
        ("provider", lambda: _profile_provider(body)),
        ("voice_id", lambda: field_str(body, "voice_id", required=not partial, max_len=100, pattern=VOICE_PATTERN)),
        ("settings", lambda: field_dict(body, "settings", default={})),
        ("description", lambda: field_str(body, "description", max_len=2000)),
        ("tags", lambda: field_list(body, "tags", default=[], item_type=str)),
        ("use_case", lambda: field_str(body, "use_case", max_len=100)),
        ("is_default", lambda: field_bool(body, "is_default", default=False)),
        ("is_active", lambda: field_bool(body, "is_active", default=True)),
    ):
        if partial and body.get(name) is None:
            continue  # absent or null: unchanged (Android's UpdateTTSProfileRequest sends every field, unset ones as null)
        out[name] = reader()
    if "settings" in out:
        speed = out["settings"].get("speed")
        if speed is not None and (not isinstance(speed, (int, float)) or not 0.25 <= speed <= 4):
            raise InvalidField("settings.speed must be between 0.25 and 4.",
                           details={"field": "settings"})
    return out


def _profile_provider(body: dict) -> str:
    if "provider" not in body:
        raise MissingField("'provider' is required.", details={"field": "provider"})
    return field_enum(body, "provider", TTS_PROVIDER_NAMES, required=True)


async def profiles_list(request: Request) -> Response:
    """List TTS profiles (``?is_active=true|false`` filters)."""
    p = principal(request)
    limit = query_int(request, "limit", 50, 1, 200)
    offset = query_int(request, "offset", 0, 0, 1_000_000)
    is_active = query_bool(request, "is_active") if request.query_params.get("is_active") else None
    async with ctx(request).db.tenant(p.tenant_id) as conn:
        rows, total = await profiles.page(conn, p.tenant_id, limit, offset, is_active)
    items = [client_shapes.tts_profile_item(request, _profile_json(r)) for r in rows]
    return JSONResponse(client_shapes.tts_profile_list(request, {
        "success": True, "profiles": items, "total": total, "limit": limit, "offset": offset}))


async def profiles_create(request: Request) -> Response:
    """Create a TTS profile."""
    p = principal(request)
    f = _profile_fields(await json_body(request), partial=False)
    try:
        async with ctx(request).db.tenant(p.tenant_id) as conn:
            row = await profiles.create(conn, p.tenant_id, f)
    except profiles.NameTaken:
        raise _name_taken(f["name"]) from None
    return _profile_answer(request, row, 201)


async def profiles_get(request: Request) -> Response:
    """One TTS profile."""
    p = principal(request)
    return _profile_answer(request, await _profile_row(request, p.tenant_id, _profile_uuid(request)))


async def profiles_update(request: Request) -> Response:
    """Change a TTS profile (any subset of its fields)."""
    p = principal(request)
    pid = _profile_uuid(request)
    f = _profile_fields(await json_body(request), partial=True)
    await _profile_row(request, p.tenant_id, pid)
    if not f:
        raise ApiError(400, "nothing_to_update", "send at least one profile field")
    try:
        async with ctx(request).db.tenant(p.tenant_id) as conn:
            row = await profiles.update(conn, p.tenant_id, pid, f)
    except profiles.NameTaken:
        raise _name_taken(None) from None
    return _profile_answer(request, row)


async def profiles_delete(request: Request) -> Response:
    """Delete a TTS profile."""
    p = principal(request)
    pid = _profile_uuid(request)
    async with ctx(request).db.tenant(p.tenant_id) as conn:
        deleted = await profiles.delete(conn, p.tenant_id, pid)
    if not deleted:
        raise _profile_not_found()
    return JSONResponse({"success": True, "deleted": str(pid)})


async def profiles_set_default(request: Request) -> Response:
    """Make a profile the tenant's default."""
    p = principal(request)
    pid = _profile_uuid(request)
    await _profile_row(request, p.tenant_id, pid)
    async with ctx(request).db.tenant(p.tenant_id) as conn:
        row = await profiles.set_default(conn, p.tenant_id, pid)
    return _profile_answer(request, row)


async def profiles_duplicate(request: Request) -> Response:
    """Copy a profile under a new name."""
    p = principal(request)
    src = await _profile_row(request, p.tenant_id, _profile_uuid(request))
    body = await json_body(request, allow_empty=True)
    name = field_str(body, "name", max_len=100) or f"{src['name']} (copy)"[:100]
    try:
        async with ctx(request).db.tenant(p.tenant_id) as conn:
            row = await profiles.duplicate(conn, p.tenant_id, src["id"], name)
    except profiles.NameTaken:
        raise _name_taken(name) from None
    return _profile_answer(request, row, 201)


async def profiles_preview(request: Request) -> Response:
    """Speak sample text with a profile (WAV)."""
    p = principal(request)
    core = voice_core(ctx(request))
    prof = await _profile_row(request, p.tenant_id, _profile_uuid(request))
    body = await json_body(request, allow_empty=True)
    text = field_str(body, "text", max_len=500) or \
        "Hello! This is how I sound when I help you learn."
    settings = json.loads(prof["settings"]) if isinstance(prof["settings"], str) else prof["settings"]
    try:
        res = await core.speech.speak(p, p.tenant_id, text, voice=prof["voice_id"],
                                      provider_name=provider_name(core.vs, prof["provider"]),
                                      speed=float(settings.get("speed", 1.0)))
    except ProviderError as exc:
        raise provider_api_error(exc) from None
    return _speech_response(request, res, {"X-TTS-Cache-Status": res.status})


_EXPORT_FIELDS = ("name", "provider", "voice_id", "settings", "description", "tags", "use_case")


async def profiles_export(request: Request) -> Response:
    """One profile as a JSON string literal holding the profile's JSON (Android's ``exportTTSProfile`` decodes a
    ``String`` and later posts that text to ``/api/tts/profiles/import``). Ids and timestamps stay behind."""
    p = principal(request)
    prof = _profile_json(await _profile_row(request, p.tenant_id, _profile_uuid(request)))
    doc = {"format": "unamentis.tts_profile", "version": 1, **{k: prof[k] for k in _EXPORT_FIELDS}}
    return JSONResponse(json.dumps(doc, separators=(",", ":")),
                        headers={"Content-Disposition": f'attachment; filename="tts-profile-{prof["id"]}.json"'})


async def profiles_import(request: Request) -> Response:
    """Import a profile exported by ``…/export`` (or any body with the profile fields): validated like a create,
    then inserted into the caller's tenant, or replacing that tenant's profile of the same name. Never the default."""
    p = principal(request)
    body = await json_body(request, max_bytes=64 * 1024)
    fmt = body.get("format")
    if fmt is not None and fmt != "unamentis.tts_profile":
        raise InvalidField("'format' must be unamentis.tts_profile.", details={"field": "format"})
    f = _profile_fields({k: body[k] for k in _EXPORT_FIELDS if body.get(k) is not None}, partial=False)
    f["is_default"] = False
    async with ctx(request).db.tenant(p.tenant_id) as conn:
        row = await profiles.upsert(conn, p.tenant_id, f)
    return _profile_answer(request, row, 201)


ROUTES = [
    Route("/api/tts", synthesize, methods=["POST"]),
    Route("/api/tts/cache", cache_get, methods=["GET"]),
    Route("/api/tts/cache", cache_put, methods=["PUT"]),
    Route("/api/tts/cache", cache_clear, methods=["DELETE"]),
    Route("/api/tts/cache/expired", cache_expired, methods=["DELETE"]),
    Route("/api/tts/cache/evict", cache_evict, methods=["POST"]),
    Route("/api/tts/cache/stats", cache_stats, methods=["GET"]),
    Route("/api/tts/profiles", profiles_list, methods=["GET"]),
    Route("/api/tts/profiles", profiles_create, methods=["POST"]),
    Route("/api/tts/profiles/import", profiles_import, methods=["POST"]),
    Route("/api/tts/profiles/{id}", profiles_get, methods=["GET"]),
    Route("/api/tts/profiles/{id}", profiles_update, methods=["PUT", "PATCH"]),
    Route("/api/tts/profiles/{id}", profiles_delete, methods=["DELETE"]),
    Route("/api/tts/profiles/{id}/set-default", profiles_set_default, methods=["POST"]),
    Route("/api/tts/profiles/{id}/duplicate", profiles_duplicate, methods=["POST"]),
    Route("/api/tts/profiles/{id}/preview", profiles_preview, methods=["POST"]),
    Route("/api/tts/profiles/{id}/export", profiles_export, methods=["GET"]),
]
