"""Giving memory the process freed back to the system, in a long-running server.

glibc's allocator keeps memory a process has freed for its next allocations. A voice server frees
many short-lived buffers of varied sizes (audio frames, JSON messages, HTTP bodies) and what the
allocator holds this way grows slowly for a long time after start, although what is in use stays
flat: the voice soak (``bench/voice_soak.py``) shows both figures per window. ``malloc_trim(0)``
hands the free pages back; called every ``UNAMENTIS_MALLOC_TRIM_SECONDS`` it keeps the resident size
flat for about a millisecond of CPU each time (ctypes releases the interpreter lock during the call).
With another C library (musl, macOS) there is no ``malloc_trim`` and nothing is done.
"""
from __future__ import annotations

import asyncio
import ctypes
import logging
from typing import Callable

log = logging.getLogger("unamentis.memory")


def _find_malloc_trim() -> Callable[[int], int] | None:
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


async def trim_every(seconds: float) -> None:
    """Run until cancelled: ``trim()`` every ``seconds``, off the event loop's thread."""
    malloc_trim = _find_malloc_trim()
    if malloc_trim is None:
        log.info("no malloc_trim in this C library; freed memory stays with the allocator")
        return
    while True:
        await asyncio.sleep(seconds)
        await asyncio.to_thread(malloc_trim, 0)
