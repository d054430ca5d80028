"""The event bus fans out across app instances through Redis pub/sub (REDIS_URL) as it does
through PostgreSQL NOTIFY (covered over /ws in test_audio_routes)."""
from __future__ import annotations

import asyncio
import uuid

from runtime.events import EventBus
from tests.runtime.conftest import need_server


async def test_redis_fan_out_across_instances(database, make_app):
    need_server("redis://127.0.0.1:6379/0", "Redis")
    apps = [make_app(["voice"], redis_url="redis://127.0.0.1:6379/0") for _ in range(3)]
    buses = [EventBus(a.state.ctx.settings, a.state.ctx.db) for a in apps]
    marker = uuid.uuid4().hex
    try:
        async with buses[0].subscribe() as q0, buses[1].subscribe() as q1:
            await buses[2].publish("metrics", {"marker": marker, "cpu": 0.5})
            for q in (q0, q1):
                while True:
                    ev = await asyncio.wait_for(q.get(), 5)
                    if ev["data"].get("marker") == marker:  # other runs may share this Redis
                        break
                assert ev["type"] == "metrics" and ev["data"]["cpu"] == 0.5
            # Payloads too large for the channel are cut to their keys, never dropped silently.
            await buses[2].publish("log", {"marker": marker, "blob": "x" * 10000})
            ev = await asyncio.wait_for(q0.get(), 5)
            while ev["type"] != "log":
                ev = await asyncio.wait_for(q0.get(), 5)
            assert ev["data"] == {"truncated": True, "keys": ["blob", "marker"]}
    finally:
        for b in buses:
            await b.aclose()
        for a in apps:
            await a.state.ctx.aclose()
