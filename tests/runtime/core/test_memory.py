"""The periodic malloc_trim of a long-running app."""
from __future__ import annotations

import asyncio

from runtime import memory
from runtime.settings import Settings


def test_glibc_has_malloc_trim():
    # The development machine and the container image use glibc: the trim is real there.
    assert memory._find_malloc_trim() is not None


async def test_trim_every_calls_malloc_trim_until_cancelled(monkeypatch):
    calls: list[int] = []
    monkeypatch.setattr(memory, "_find_malloc_trim", lambda: calls.append)
    task = asyncio.create_task(memory.trim_every(0.01))
    await asyncio.sleep(0.1)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    seen = len(calls)
    assert seen >= 3 and set(calls) == {0}
    await asyncio.sleep(0.05)
    assert len(calls) == seen  # stopped


async def test_without_malloc_trim_nothing_runs(monkeypatch):
    monkeypatch.setattr(memory, "_find_malloc_trim", lambda: None)
    await asyncio.wait_for(memory.trim_every(0.01), timeout=1)  # returns at once


def test_the_setting():
    assert Settings.from_env({}).malloc_trim_seconds == 60
    assert Settings.from_env({"UNAMENTIS_MALLOC_TRIM_SECONDS": "0"}).malloc_trim_seconds == 0
