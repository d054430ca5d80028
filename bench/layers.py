"""The stack's own layers (the request and auth layers), priced two ways, in this process.

``bench/samework.py`` measures whole requests under ``wrk``, where a few microseconds are lost in
the machine's noise; ``bench/instructions.py`` counts instructions under valgrind, where work timed
by the wall clock (remembered tokens expiring, lease windows) comes round some fifty times as often
as at full speed. This bench takes the HTTP server and the machine's noise out:

- ``alone``: the production stack (``runtime.app.build_middleware``: request id and access line,
  origin secret, CORS, client headers, body limit, Tier-1 auth of a real beta token, the rate limit
  spent from a lease) around an app that answers at once with a JSON response's two headers, and the
  same-work program's token map (``bench/samework.py``) around the same app; requests one at a time,
  this process's CPU time per request (a wait for PostgreSQL, when a lease runs out, is not CPU).
- ``in requests``: the production app (``create_app()``) serving ``--route`` with its real handler
  on a throwaway database, ``--concurrency`` requests in flight as under ``wrk``, against the same
  app with the token map in place of the stack (the same router, handlers and context: only the
  layers differ); this process's user CPU per request. The same-work program
  itself is measured beside them: the token map in the production app should cost what it costs.

Each: ``--rounds`` alternating rounds, medians per request, and the stack's extra. Run alone, the
layers' code and data stay in the CPU's caches; between the real work of requests they do not, and
the same layers cost more than twice as much (README, "Runtime: benchmarks").

    python bench/layers.py [--route "curricula list"] [--rounds 7] [--env UNAMENTIS_ACCESS_LOG=false]

``--env NAME=VALUE`` (repeatable) gives the stack a setting: a step's price is the difference.
Needs the local PostgreSQL (``UNAMENTIS_BENCH_PG``): a throwaway database is created and dropped.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Awaitable, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import api as api_bench  # noqa: E402  (the throwaway database)
from bench import instructions  # noqa: E402  (ASGI requests and scopes, requests in flight)
from bench import samework  # noqa: E402  (the settings, the data, the same-work token map)

BODY = b'{"curricula":[],"total":0}'
HEADERS = [(b"content-length", b"%d" % len(BODY)), (b"content-type", b"application/json")]


async def answer(scope: Any, receive: Any, send: Any) -> None:
    """The app inside the layers when they run alone: answers at once."""
    await send({"type": "http.response.start", "status": 200, "headers": list(HEADERS)})
    await send({"type": "http.response.body", "body": BODY})


def _user_seconds() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_utime  # the log's flush thread included


async def _alternate(sides: dict[str, Callable[[], Awaitable[float]]], rounds: int) -> dict[str, list[float]]:
    """Each side's figure per round, the side measured first alternating from round to round."""
    figures: dict[str, list[float]] = {name: [] for name in sides}
    names = list(sides)
    for number in range(rounds):
        for name in names if number % 2 == 0 else names[::-1]:
            figures[name].append(await sides[name]())
    return figures


async def measure(route: samework.BenchRoute, rounds: int, requests: int, concurrency: int,
                  settings_env: dict[str, str]) -> dict[str, dict[str, list[float]]]:
    from starlette.applications import Starlette

    from runtime.app import build_middleware, create_app
    from runtime.cli import tune_gc
    from runtime.logging import configure_logging
    from runtime.settings import Settings
    from tests.runtime.conftest import lifespan

    db = await api_bench.make_db()
    env = samework.server_settings(db)
    for key in [k for k in os.environ if k.startswith("UNAMENTIS_") or k in ("DATABASE_URL", "REDIS_URL")]:
        del os.environ[key]
    os.environ.update({**env, **settings_env})
    # The access lines go where a server's go, not to this terminal: stderr, pointed at /dev/null.
    saved_stderr, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    os.close(null)
    configure_logging("INFO", buffered=True)  # as `serve` does
    try:
        app = create_app()
        async with lifespan(app):
            data = await samework.prepare(db, app=app)
            same_work = samework.build_same_app(await samework.principals(db, env, [db["token"], data["access"]]))
            token_map = same_work.user_middleware[0]

            # alone: the layers around an app that answers at once
            stack: Any = answer
            for layer in reversed(build_middleware(Settings.from_env())):
                stack = layer.cls(stack, *layer.args, **layer.kwargs)
            same = token_map.cls(answer, *token_map.args, **token_map.kwargs)
            headers = instructions.asgi_headers(db["token"])

            async def receive() -> dict[str, Any]:
                return {"type": "http.request", "body": b"", "more_body": False}

            async def send(message: Any) -> None:
                return None

            def one_at_a_time(layers: Any, count: int) -> Callable[[], Awaitable[float]]:
                async def run() -> float:
                    started = time.process_time()
                    for _ in range(count):
                        scope = instructions.asgi_scope("GET", "/api/curricula", headers)
                        scope["app"] = app  # what Starlette sets before its middleware, which runs none here
                        await layers(scope, receive, send)
                    return (time.process_time() - started) / count * 1e6
                return run

            # in requests: the app as served, and the same app with the token map in place of the stack
            # (the production app's router below the token map, as below its stack: the routes'
            # endpoints run directly, with no exception layer of Starlette's between)
            mapped = Starlette()
            mapped.build_middleware_stack = lambda: token_map.cls(app.router, *token_map.args, **token_map.kwargs)
            mapped.state.ctx = app.state.ctx
            one = instructions._asgi_request(route, data["ids"], data["access"] if route.user else db["token"])

            def in_flight(served: Any, count: int) -> Callable[[], Awaitable[float]]:
                async def run() -> float:
                    before = _user_seconds()
                    await instructions._drive(served, one, count, concurrency)
                    return (_user_seconds() - before) / count * 1e6
                return run

            async with lifespan(same_work):
                tune_gc()
                for warm in (one_at_a_time(stack, 2000), one_at_a_time(same, 2000), in_flight(app, 500),
                             in_flight(mapped, 500), in_flight(same_work, 500)):
                    await warm()  # the token remembered, a lease held, the statements prepared
                alone = await _alternate({"stack": one_at_a_time(stack, requests * 3), "same": one_at_a_time(same, requests * 3),
                                          "nothing": one_at_a_time(_nothing, requests * 3)}, rounds)
                served = await _alternate({"stack": in_flight(app, requests), "same": in_flight(mapped, requests),
                                           "same work": in_flight(same_work, requests)}, rounds)
            return {"alone": alone, "in requests": served}
    finally:
        logging.shutdown()  # the lines still queued go to /dev/null too, before stderr is back
        os.dup2(saved_stderr, 2)
        os.close(saved_stderr)
        await api_bench.drop_db(db)


async def _nothing(scope: Any, receive: Any, send: Any) -> None:
    """The making of a scope, measured to take it off both sides of ``alone``."""
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--route", default="curricula list", help="the route of 'in requests' (bench/samework.py's names)")
    parser.add_argument("--requests", type=int, default=10_000, help="requests per round and side in requests (three times "
                        "as many alone)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight in requests")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting for the stack, e.g. UNAMENTIS_ACCESS_LOG=false (repeatable)")
    args = parser.parse_args()
    route = next((r for r in samework.ROUTES if r.name == args.route), None)
    if route is None:
        parser.error(f"no route {args.route!r}; routes: {', '.join(r.name for r in samework.ROUTES)}")
    settings_env = samework.setting_overrides(parser, "--env", args.env)
    figures = asyncio.run(measure(route, args.rounds, args.requests, args.concurrency, settings_env))
    alone, served = figures["alone"], figures["in requests"]
    base = statistics.median(alone["nothing"])
    print(f"{args.rounds} alternating rounds, in process" + (f"; the stack with {' '.join(args.env)}" if args.env else ""))
    print(f"{'µs per request':<56} {'stack':>8} {'token map':>10} {'extra':>8}   stack's rounds")
    for label, got, off in ((f"alone ({args.requests * 3} one at a time, CPU)", alone, base),
                            (f"in requests ({route.name}, {args.concurrency} in flight, user CPU)", served, 0.0)):
        stack, same = statistics.median(got["stack"]) - off, statistics.median(got["same"]) - off
        print(f"{label:<56} {stack:>8.2f} {same:>10.2f} {stack - same:>8.2f}   "
              f"{min(got['stack']) - off:.2f}–{max(got['stack']) - off:.2f}")
    print(f"the same-work program in requests: {statistics.median(served['same work']):.2f} µs "
          f"(the token map in the production app: {statistics.median(served['same']):.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
