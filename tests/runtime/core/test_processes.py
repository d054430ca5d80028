"""A child process never outlives the request that started it."""
from __future__ import annotations

import asyncio
import sys

import pytest

from runtime.processes import communicate

SLOW = [sys.executable, "-c", "import sys, time; sys.stdin.read(); time.sleep(30)"]


async def _slow_child() -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(*SLOW, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)


async def test_the_answer_of_a_child_that_finishes():
    child = await asyncio.create_subprocess_exec(sys.executable, "-c", "import sys; print(sys.stdin.read().upper())",
                                                 stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                                                 stderr=asyncio.subprocess.PIPE)
    out, err = await communicate(child, b"hello")
    assert (out.strip(), err, child.returncode) == (b"HELLO", b"", 0)


async def test_a_cancelled_request_kills_and_reaps_its_child():
    child = await _slow_child()
    running = asyncio.ensure_future(communicate(child, b"text"))
    await asyncio.sleep(0.3)
    running.cancel()  # the client went away
    with pytest.raises(asyncio.CancelledError):
        await running
    assert child.returncode is not None  # killed and waited for, not left to the garbage collector


async def test_a_timeout_around_it_kills_and_reaps_the_child():
    child = await _slow_child()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3):
            await communicate(child, b"text")
    assert child.returncode is not None
