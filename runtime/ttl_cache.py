"""``TtlCache``: a small bounded map whose entries expire; ``MISSING`` is what ``get`` returns for none.

Used where a process remembers something for a while without a shared store: Tier-1 token and
session checks (``runtime.auth.authenticator``), GPU nodes' drain notices (``runtime.voice.gpu``).
"""
from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

MISSING = object()


class TtlCache:
    """A small bounded map whose entries expire ``ttl`` seconds after they were stored."""

    def __init__(self, ttl: float, max_entries: int = 10_000, clock=time.monotonic):
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._data: OrderedDict[Any, tuple[float, Any]] = OrderedDict()

    def get(self, key: Any) -> Any:
        return self.entry(key)[0]

    def entry(self, key: Any) -> tuple[Any, float]:
        """``(value, expires)`` of a live entry (``expires`` on the cache's clock), else ``(MISSING, 0.0)``."""
        item = self._data.get(key)
        if item is None:
            return MISSING, 0.0
        if item[0] <= self._clock():
            self._data.pop(key, None)
            return MISSING, 0.0
        return item[1], item[0]

    def now(self) -> float:
        """The cache's clock (what ``entry``'s ``expires`` is measured on)."""
        return self._clock()

    def put(self, key: Any, value: Any) -> None:
        if self.ttl <= 0:
            return
        self._data[key] = (self._clock() + self.ttl, value)
        self._data.move_to_end(key)
        while len(self._data) > self.max_entries:
            self._data.popitem(last=False)

    def drop(self, key: Any) -> None:
        self._data.pop(key, None)

    def live_keys(self) -> list[Any]:
        """The keys of entries that have not expired (expired ones are dropped on the way)."""
        now = self._clock()
        for key in [k for k, (expires, _value) in self._data.items() if expires <= now]:
            del self._data[key]
        return list(self._data)
