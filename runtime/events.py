"""The event bus behind the ops console's ``/ws``: publish once, every core task's sockets receive it.

``await ctx.events.publish(type, data)`` sends ``{type, data, timestamp}`` through a shared channel —
Redis pub/sub when ``REDIS_URL`` is set, else PostgreSQL ``NOTIFY`` — and every task that has ``/ws``
clients listens on it (``LISTEN`` on its own connection / a Redis subscription) and fans the event out
to its local subscribers. Publishing works from a Lambda too (no listener needed there). Local
delivery also goes through the channel, so every task sees the same order.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import datetime, timezone

import asyncpg

from runtime.db import Database
from runtime.settings import Settings

log = logging.getLogger("unamentis.events")

CHANNEL = "unamentis_events"
MAX_PAYLOAD = 7900  # PostgreSQL NOTIFY payloads must stay under 8000 bytes
SUBSCRIBER_QUEUE = 256  # a slow console drops events rather than slowing the bus


def envelope(type_: str, data: dict) -> dict:
    return {"type": type_, "data": data, "timestamp": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")}


class EventBus:
    def __init__(self, settings: Settings, db: Database):
        self.settings = settings
        self.db = db
        self.redis_url = settings.redis_url
        self._subscribers: set[asyncio.Queue] = set()
        self._listener: asyncio.Task | None = None
        self._conn = None
        self._redis = None
        self._ready = asyncio.Event()
        self.published = 0
        self.delivered = 0

    # ---------------------------------------------------------------- publish
    async def publish(self, type_: str, data: dict) -> None:
        event = envelope(type_, data)
        payload = json.dumps(event, separators=(",", ":"), default=str)
        if len(payload.encode()) > MAX_PAYLOAD:
            event = envelope(type_, {"truncated": True, "keys": sorted(data)[:50]})
            payload = json.dumps(event, separators=(",", ":"))
        if self.redis_url:
            client = await self._redis_client()
            await client.publish(CHANNEL, payload)
        else:
            async with self.db.unscoped() as conn:
                await conn.execute("select pg_notify($1, $2)", CHANNEL, payload)
        self.published += 1

    async def _redis_client(self):
        if self._redis is None:
            import redis.asyncio as aioredis  # optional: only deployments with REDIS_URL load it

            self._redis = aioredis.from_url(self.redis_url)
        return self._redis

    # ---------------------------------------------------------------- subscribe
    @contextlib.asynccontextmanager
    async def subscribe(self):
        """Yields a queue of events (dicts); starts the listener on first use."""
        queue: asyncio.Queue = asyncio.Queue(SUBSCRIBER_QUEUE)
        self._subscribers.add(queue)
        try:
            await self._ensure_listener()
            yield queue
        finally:
            self._subscribers.discard(queue)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    async def _ensure_listener(self) -> None:
        if self._listener is None or self._listener.done():
            self._ready.clear()
            self._listener = asyncio.create_task(self._listen())
        await asyncio.wait_for(self._ready.wait(), timeout=10)

    def _deliver(self, payload: str) -> None:
        try:
            event = json.loads(payload)
        except ValueError:
            return
        for q in list(self._subscribers):
            try:
                q.put_nowait(event)
                self.delivered += 1
            except asyncio.QueueFull:
                pass

    async def _listen(self) -> None:
        while True:
            try:
                if self.redis_url:
                    await self._listen_redis()
                else:
                    await self._listen_pg()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # reconnect: a console must not stay deaf after a DB blip
                log.warning("event listener lost its connection (%s); reconnecting", exc)
                await asyncio.sleep(1.0)

    async def _listen_pg(self) -> None:
        conn = await asyncpg.connect(self.settings.require_database_url())
        self._conn = conn
        lost = asyncio.Event()
        conn.add_termination_listener(lambda c: lost.set())
        await conn.add_listener(CHANNEL, lambda c, pid, ch, payload: self._deliver(payload))
        self._ready.set()
        try:
            while not lost.is_set():
                try:
                    await asyncio.wait_for(lost.wait(), timeout=30)
                except asyncio.TimeoutError:
                    await conn.execute("select 1")  # keepalive; raises if the socket died
        finally:
            self._conn = None
            with contextlib.suppress(Exception):
                await conn.close(timeout=2)
        raise ConnectionError("listener connection closed")

    async def _listen_redis(self) -> None:
        client = await self._redis_client()
        pubsub = client.pubsub()
        await pubsub.subscribe(CHANNEL)
        self._ready.set()
        try:
            while True:
                msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=30)
                if msg and msg.get("type") == "message":
                    data = msg["data"]
                    self._deliver(data.decode() if isinstance(data, bytes) else data)
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    async def aclose(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
            self._listener = None
        if self._redis is not None:
            with contextlib.suppress(Exception):
                await self._redis.aclose()
            self._redis = None
