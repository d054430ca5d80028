"""``serve`` with the console listener: two uvicorn servers on one event loop, one app.

The public server runs the app's lifespan and owns the process's signals; the console server
(``UNAMENTIS_CONSOLE_PORT``, same bind address) serves ``console_entry(app)``, starts once the public
one is up and stops when it stops, so a drain on SIGTERM covers both.
"""
from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Iterator

import uvicorn

from runtime.console.entry import console_entry


class _FollowerServer(uvicorn.Server):
    """A server that leaves the process's signals to the leading server (it is stopped by it)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def console_server(app: Any, base: uvicorn.Config, port: int, host: str | None = None) -> uvicorn.Server:
    """The console listener: ``base``'s options, its own address (``host``, default ``base``'s) and port, no
    lifespan (the public server runs it)."""
    return _FollowerServer(uvicorn.Config(
        console_entry(app), host=host or base.host, port=port, lifespan="off", log_config=None, access_log=False,
        proxy_headers=False, server_header=False, ws_per_message_deflate=base.ws_per_message_deflate,
        ws_ping_interval=base.ws_ping_interval, timeout_graceful_shutdown=base.timeout_graceful_shutdown,
        log_level=base.log_level,
    ))


async def serve_with_console(leader: uvicorn.Server, follower: uvicorn.Server) -> None:
    """Serve until ``leader`` stops (a signal, or ``should_exit``); ``follower`` starts after it and stops with it."""

    async def follow() -> None:
        # uvicorn exposes its state as flags (started, should_exit), so they are polled.
        task: asyncio.Task | None = None
        while not leader.should_exit:
            if task is None and leader.started:
                task = asyncio.create_task(follower.serve())
            elif task is not None and task.done():
                break  # the console listener stopped on its own (its port taken): stop the process, so the
                # orchestrator restarts it instead of serving half of it
            await asyncio.sleep(0.1)
        leader.should_exit = True
        follower.should_exit = True
        if task is not None:
            await task

    following = asyncio.create_task(follow())
    try:
        await leader.serve()
    finally:
        follower.should_exit = True
        await following


def run(public: uvicorn.Config, console_port: int | None, console_host: str | None = None) -> None:
    """Serve ``public``; with ``console_port``, the console listener beside it."""
    if console_port is None:
        uvicorn.Server(public).run()
        return
    asyncio.run(serve_with_console(uvicorn.Server(public), console_server(public.app, public, console_port, console_host)))
