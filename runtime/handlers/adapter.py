"""The Lambda adapter: one service's app behind Mangum.

Per execution environment (module import = Lambda INIT):
- one event loop, created and set once, reused by every invocation (Mangum 0.21+ runs each request
  with ``get_event_loop().run_until_complete``), so the lazily opened asyncpg connection and the
  httpx client, both bound to that loop, survive between warm invocations;
- ``lifespan="off"``: Mangum would otherwise run startup+shutdown around EVERY invocation,
  connecting and disconnecting the database each time; nothing here depends on the lifespan;
- the database in ``single`` mode: one connection, opened on first use, reconnected once when a
  thawed environment finds its socket dead;
- API Gateway HTTP API (payload v2) and ALB events (Mangum infers the source from the event).
Only the service's own module is imported (no boto3, no voice stack), keeping INIT short.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable

from mangum import Mangum

from runtime.app import create_app
from runtime.db import DatabaseUnavailable
from runtime.isolation import enforce_isolation
from runtime.logging import configure_logging
from runtime.settings import Settings

log = logging.getLogger("unamentis.app")
LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


def lambda_handler(service: str, settings: Settings | None = None) -> LambdaHandler:
    settings = (settings or Settings.from_env()).with_overrides(db_mode="single", rate_limit_leases=False)
    configure_logging(settings.log_level, service=service)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    app = create_app([service], settings)
    # INIT fails (and Lambda reports it) when the role could read across tenants; an unreachable
    # database does not stop INIT: requests answer 503 until it is back.
    if settings.database_url:
        try:
            loop.run_until_complete(enforce_isolation(app.state.ctx.db, settings))
        except DatabaseUnavailable as exc:
            log.warning("could not check the runtime database role at INIT: %s", exc)
    adapter = Mangum(app, lifespan="off", api_gateway_base_path="/")

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        # Cheap insurance: if anything replaced the thread's loop between invocations, put ours back.
        asyncio.set_event_loop(loop)
        return adapter(event, context)

    handler.app = app  # type: ignore[attr-defined]  # tests and benchmarks reach the app and its loop
    handler.loop = loop  # type: ignore[attr-defined]
    return handler
