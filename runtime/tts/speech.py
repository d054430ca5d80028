"""Synthesis through the cache: the one way the runtime turns text into audio.

``SpeechService.speak`` resolves the provider, builds the content-addressed key, answers from the
local layer or the object store when it can, and otherwise synthesises (metered), stores the WAV in
both layers and indexes it for the tenant. Index writes and access-time touches happen in the
background so a live turn never waits on them.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from runtime.providers.audio import parse_wav, wav_bytes
from runtime.providers.base import ProviderError, TTSRequest

from .cache import SYSTEM_SCOPE, CacheKey, TTSCache

log = logging.getLogger("unamentis.tts")


@dataclass
class SpeechResult:
    wav: bytes
    pcm: bytes
    sample_rate: int
    status: str  # hit | miss | bypass
    layer: str | None  # local | store | None
    provider: str
    key: CacheKey
    synth_ms: float

    @property
    def duration_seconds(self) -> float:
        return len(self.pcm) / (2 * self.sample_rate) if self.sample_rate else 0.0


class SpeechService:
    def __init__(self, router, cache: TTSCache, db, vs):
        self.router, self.cache, self.db, self.vs = router, cache, db, vs
        self._bg: set[asyncio.Task] = set()
        self._touches: dict[tuple[str, str], int] = {}
        self._flusher: asyncio.Task | None = None

    def key_for(self, text: str, voice: str | None, provider_name: str | None, speed: float, options: dict | None,
                tenant_id: str | None, system: bool = False) -> tuple[CacheKey, object]:
        provider = self.router.tts_named(provider_name)
        voice = voice or self.vs.tts_voice or provider.default_voice
        resolve = getattr(provider, "resolve_voice", None)
        if resolve is not None:
            voice = resolve(voice)  # the voice actually spoken is what the cache key names
        return CacheKey.build(text, voice, provider.name, speed, options, tenant_id=tenant_id, system=system), provider

    async def speak(self, principal, tenant_id: str | None, text: str, *, voice: str | None = None,
                    provider_name: str | None = None, speed: float = 1.0, options: dict | None = None,
                    system: bool = False, skip_cache: bool = False) -> SpeechResult:
        key, provider = self.key_for(text, voice, provider_name, speed, options, tenant_id, system)
        if not key.text:
            raise ProviderError(key.provider, "there is no text to speak", retryable=False, status=422)
        if not skip_cache:
            found = await self.cache.get(key)
            if found is not None:
                wav, layer = found
                pcm, rate, _ = parse_wav(wav)
                self._touch(key)
                return SpeechResult(wav, pcm, rate, "hit", layer, key.provider, key, 0.0)
        t0 = time.perf_counter()
        audio, used = await self.router.synthesize(principal, TTSRequest(key.text, key.voice, key.speed, dict(key.options)),
                                                   provider=provider)
        synth_ms = (time.perf_counter() - t0) * 1000
        wav = wav_bytes(audio.pcm, audio.sample_rate)
        # Like the old server, skip_cache bypasses the lookup but still stores the fresh audio.
        self.cache.local.put(key.object_key, wav)
        self._background(self._store(key, wav, audio.duration_seconds, audio.sample_rate))
        return SpeechResult(wav, audio.pcm, audio.sample_rate, "bypass" if skip_cache else "miss", None,
                            key.provider, key, synth_ms)

    async def put(self, key: CacheKey, wav: bytes) -> None:
        pcm, rate, _ = parse_wav(wav)
        await self._store(key, wav, len(pcm) / (2 * rate), rate)

    async def _store(self, key: CacheKey, wav: bytes, duration: float, rate: int) -> None:
        try:
            await self.cache.put(key, wav)
            if key.scope != SYSTEM_SCOPE and self.db is not None:
                async with self.db.tenant(key.scope) as conn:
                    await conn.execute(
                        "insert into tts_cache_entries (tenant_id, digest, object_key, provider, voice, speed, "
                        "text_preview, size_bytes, duration_seconds, sample_rate) "
                        "values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
                        "on conflict (tenant_id, digest) do update set size_bytes = excluded.size_bytes, "
                        "duration_seconds = excluded.duration_seconds, sample_rate = excluded.sample_rate, "
                        "created_at = now(), last_accessed_at = now()",
                        key.scope, key.digest, key.object_key, key.provider, key.voice, key.speed,
                        key.text[:200], len(wav), duration, rate)
        except Exception:  # a failed cache write costs a future miss, never the reply
            log.exception("storing a TTS cache entry failed")

    def _touch(self, key: CacheKey) -> None:
        if key.scope == SYSTEM_SCOPE or self.db is None:
            return
        k = (key.scope, key.digest)
        self._touches[k] = self._touches.get(k, 0) + 1
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_touches())

    async def _flush_touches(self) -> None:
        await asyncio.sleep(1.0)  # coalesce the hits of a burst into one statement per tenant
        touches, self._touches = self._touches, {}
        by_tenant: dict[str, list[tuple[str, int]]] = {}
        for (tenant, digest), n in touches.items():
            by_tenant.setdefault(tenant, []).append((digest, n))
        for tenant, rows in by_tenant.items():
            try:
                async with self.db.tenant(tenant) as conn:
                    await conn.executemany(
                        "update tts_cache_entries set last_accessed_at = now(), access_count = access_count + $3 "
                        "where tenant_id = $1 and digest = $2", [(tenant, d, n) for d, n in rows])
            except Exception:
                log.exception("recording TTS cache hits failed")

    def _background(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._bg.add(task)
        task.add_done_callback(self._bg.discard)

    async def drain(self) -> None:
        """Wait for pending cache writes (shutdown, tests)."""
        if self._bg:
            await asyncio.gather(*list(self._bg), return_exceptions=True)
        if self._flusher and not self._flusher.done():
            await self._flusher
