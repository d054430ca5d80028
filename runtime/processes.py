"""Child processes the runtime runs (eSpeak, Graphviz): never left running or unreaped.

A request can be cancelled while its child still works (the client went away, the server shuts
down, a timeout): the child is then killed and waited for before the error goes on, so no process
outlives its request and no pipe transport is left for the garbage collector to close after its
event loop is gone.
"""
from __future__ import annotations

import asyncio


async def communicate(process: asyncio.subprocess.Process, data: bytes) -> tuple[bytes, bytes]:
    """``process.communicate(data)``: (stdout, stderr). On any failure or cancellation (a timeout
    around the call included) the process is killed and reaped before the error goes on."""
    try:
        return await process.communicate(data)
    except BaseException:
        if process.returncode is None:
            try:
                process.kill()
            except ProcessLookupError:
                pass  # it ended meanwhile
        await asyncio.shield(process.wait())
        raise
