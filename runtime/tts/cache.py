"""Content-addressed TTS cache: a local in-memory LRU in front of the shared object store.

Key = sha256 over the normalised text (strip, NFC, whitespace runs collapsed; case kept, as the old
server did), voice, provider, speed (2 dp) and the provider options (sorted JSON). Entries are scoped
to a tenant — the same sentence of two tenants is two objects — except system content (shared
curricula), which lives under ``system``. The object store holds the WAV at
``tts-cache/<scope>/<hash[:2]>/<hash>.wav``, so a second task or a restarted one finds what any task
generated. The PostgreSQL index (``tts_cache_entries``) serves stats, TTL expiry and size eviction.

The local layer is bounded by entries and bytes; a hit there is a dict lookup plus an LRU move.
"""
from __future__ import annotations

import hashlib
import json
import re
import time
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass

_WS = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # never spoken; NUL is not storable text
SYSTEM_SCOPE = "system"


def normalize_text(text: str) -> str:
    return _WS.sub(" ", unicodedata.normalize("NFC", _CONTROL.sub("", text).strip()))


@dataclass(frozen=True)
class CacheKey:
    text: str
    voice: str
    provider: str
    speed: float = 1.0
    options: tuple = ()  # sorted (name, value) pairs
    scope: str = SYSTEM_SCOPE  # tenant id, or "system" for shared content

    @classmethod
    def build(cls, text: str, voice: str, provider: str, speed: float = 1.0, options: dict | None = None,
              *, tenant_id: str | None, system: bool = False) -> "CacheKey":
        opts = tuple(sorted((str(k), v) for k, v in (options or {}).items() if v is not None))
        return cls(normalize_text(text), voice, provider, round(float(speed), 2), opts,
                   SYSTEM_SCOPE if system or not tenant_id else str(tenant_id))

    @property
    def digest(self) -> str:
        text_hash = hashlib.sha256(self.text.encode("utf-8")).hexdigest()
        parts = [text_hash, self.voice, self.provider, f"{self.speed:.2f}",
                 json.dumps(self.options, sort_keys=True, separators=(",", ":"), default=str)]
        return hashlib.sha256("|".join(parts).encode("utf-8")).hexdigest()[:32]

    @property
    def object_key(self) -> str:
        d = self.digest
        return f"tts-cache/{self.scope}/{d[:2]}/{d}.wav"


class LocalLRU:
    """Bytes by key, evicting the least recently used past ``max_entries`` or ``max_bytes``."""

    def __init__(self, max_entries: int, max_bytes: int):
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self.size = 0

    def get(self, key: str) -> bytes | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: str, value: bytes) -> None:
        if self.max_entries <= 0 or len(value) > self.max_bytes:
            return
        old = self._items.pop(key, None)
        if old is not None:
            self.size -= len(old)
        self._items[key] = value
        self.size += len(value)
        while self._items and (len(self._items) > self.max_entries or self.size > self.max_bytes):
            _, dropped = self._items.popitem(last=False)
            self.size -= len(dropped)

    def discard(self, key: str) -> None:
        old = self._items.pop(key, None)
        if old is not None:
            self.size -= len(old)

    def clear(self) -> None:
        self._items.clear()
        self.size = 0

    def __len__(self) -> int:
        return len(self._items)


class TTSCache:
    """Two layers: ``local`` (this process) and ``store`` (shared ObjectStore)."""

    def __init__(self, store, *, max_entries: int = 2000, max_bytes: int = 256 * 1024 * 1024):
        self.store = store
        self.local = LocalLRU(max_entries, max_bytes)
        self.hits_local = 0
        self.hits_store = 0
        self.misses = 0
        self.started = time.time()

    async def get(self, key: CacheKey) -> tuple[bytes, str] | None:
        """(wav, layer) where layer is "local" or "store"; None on a miss."""
        okey = key.object_key
        wav = self.local.get(okey)
        if wav is not None:
            self.hits_local += 1
            return wav, "local"
        if self.store is not None:
            wav = await self.store.get(okey)
            if wav is not None:
                self.local.put(okey, wav)
                self.hits_store += 1
                return wav, "store"
        self.misses += 1
        return None

    async def put(self, key: CacheKey, wav: bytes) -> None:
        okey = key.object_key
        self.local.put(okey, wav)
        if self.store is not None:
            await self.store.put(okey, wav, "audio/wav")

    async def delete_object(self, object_key: str) -> None:
        self.local.discard(object_key)
        if self.store is not None:
            await self.store.delete(object_key)

    def counters(self) -> dict:
        return {"local_hits": self.hits_local, "store_hits": self.hits_store, "misses": self.misses,
                "local_entries": len(self.local), "local_bytes": self.local.size}
