"""What the stack adds over the same work, in CPU instructions per request: figures that do not move
with the machine's speed.

``bench/samework.py`` measures requests/s and CPU time with ``wrk``; on a virtual machine whose speed
changes from hour to hour its ratios move by ±0.05 between runs. This bench counts instructions
instead (valgrind's callgrind counts the same total for the same work, whatever else the machine is
doing), so a change to the stack can be judged by one run before and one after.

One process under ``valgrind --tool=callgrind --instr-atstart=no`` builds both apps of
``bench/samework.py`` — the production app (``create_app()``) and the bare Starlette app serving the
same handler functions with the token looked up in a dict — on a throwaway database, and drives them
through ASGI directly (no HTTP server: both would pay the same for it) with ``--concurrency``
requests in flight. For each variant it runs a warm-up, then counts ``--requests`` requests with
instrumentation switched on (``callgrind_control``) and prints instructions per request:

- ``full`` and ``same``: the two apps; their ratio is what the stack adds;
- ``full - access line``, ``full - rate limit``, ``full - token check``: the production app with one
  step skipped for the count (the access record is not logged, the limit is not hit, the token's
  principal is taken from a dict): what that step costs.

    python bench/instructions.py [--routes "curricula list,auth me"] [--requests 1000]

``--http SECONDS`` counts over HTTP instead: both servers as ``bench/samework.py`` runs them (uvicorn
and its work per response header included), each under callgrind, driven by ``wrk`` with 8
connections for SECONDS per route; per request = the count while ``wrk`` ran / its requests. Work
timed by the wall clock (cache expiry, lease windows, the log flush) comes round some fifty times as
often per request under valgrind, so two runs differ by up to ≈ 5 k.

    python bench/instructions.py --http 15 --routes "curricula list,auth me"   # also needs wrk

Needs valgrind (Debian package ``valgrind``) and the local PostgreSQL (``UNAMENTIS_BENCH_PG``); about
a minute per route. PostgreSQL's own work is not counted (it runs in its own processes).
"""
from __future__ import annotations

import argparse
import asyncio
import functools
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import api as api_bench  # noqa: E402  (the throwaway database)
from bench import samework  # noqa: E402  (the routes, the same-work app, the data)


# ------------------------------------------------------------------------ steps skipped for a count
def _skip_access_line() -> Callable[[], None]:
    from runtime.middleware import request

    original = request.log_access
    request.log_access = lambda *args: None
    return lambda: setattr(request, "log_access", original)


def _skip_rate_limit() -> Callable[[], None]:
    from runtime.middleware import auth

    original = auth.AuthMiddleware._limit_target
    auth.AuthMiddleware._limit_target = lambda self, ctx, scope, principal: None
    return lambda: setattr(auth.AuthMiddleware, "_limit_target", original)


def _skip_token_check() -> Callable[[], None]:
    from runtime.middleware import auth

    originals = auth.AuthMiddleware._known, auth.AuthMiddleware._client
    known: dict[Any, Any] = {}

    def from_dict(self, ctx, scope):
        return known.get(auth.bearer_token(scope))

    async def remembered(self, ctx, scope):
        known[auth.bearer_token(scope)] = principal = await originals[1](self, ctx, scope)
        return principal

    auth.AuthMiddleware._known, auth.AuthMiddleware._client = from_dict, remembered

    def restore() -> None:
        auth.AuthMiddleware._known, auth.AuthMiddleware._client = originals

    return restore


VARIANTS: dict[str, tuple[str, Callable[[], Callable[[], None]] | None]] = {
    "full": ("full", None),
    "same": ("same", None),
    "full - access line": ("full", _skip_access_line),
    "full - rate limit": ("full", _skip_rate_limit),
    "full - token check": ("full", _skip_token_check),
}


# ------------------------------------------------------------------------------------ counting
class Callgrind:
    """Switches this process's instrumentation on and off and reads the totals it dumps."""

    def __init__(self) -> None:
        self.pid = str(os.getpid())
        self.dumps = 0

    def _control(self, *args: str) -> None:
        subprocess.run(["callgrind_control", *args, self.pid], check=True, capture_output=True)

    async def count(self, work) -> int:
        """The instructions ``work`` (a coroutine, not yet started) executes."""
        self._control("-z")
        self._control("-i", "on")
        await work
        self._control("-i", "off")
        self._control("-d")
        self.dumps += 1
        for _ in range(300):  # the dump is written when valgrind next looks at its commands
            files = glob.glob(f"callgrind.out.{self.pid}.*")
            if len(files) >= self.dumps:
                break
            await asyncio.sleep(0.1)
        newest = max(glob.glob(f"callgrind.out.{self.pid}.*"), key=os.path.getmtime)
        # "totals:" counts the dumped part; "summary:" is the run's since the counters were zeroed
        for line in Path(newest).read_text().splitlines():
            if line.startswith("totals:"):
                return int(line.split()[1])
        raise RuntimeError(f"no totals in {newest}")


def asgi_headers(token: str) -> list[tuple[bytes, bytes]]:
    """``samework.request_headers`` as an ASGI scope carries them, after the host."""
    return [(b"host", b"127.0.0.1")] + [(name.lower().encode(), value.encode())
                                        for name, value in samework.request_headers(token).items()]


def asgi_scope(method: str, path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    """An HTTP scope as the server makes one, with a copy of ``headers`` (the layers change theirs)."""
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
            "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
            "headers": list(headers), "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80), "state": {}}


def _asgi_request(route: samework.BenchRoute, ids: dict[str, str], token: str):
    """A function that sends one request of ``route`` to an app and checks it succeeded."""
    path = route.path.format(**ids)
    headers = asgi_headers(token)
    body = b""
    if route.body is not None:
        body = json.dumps({k: (v.format(**ids) if isinstance(v, str) else v) for k, v in route.body.items()}).encode()
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]

    async def one(app) -> None:
        scope = asgi_scope(route.method, path, headers)
        received = False
        status: list[int] = []

        async def receive():
            nonlocal received
            if not received:
                received = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # no disconnect while the response is sent

        async def send(message):
            if message["type"] == "http.response.start":
                status.append(message["status"])

        await app(scope, receive, send)
        if not status or status[0] >= 300:
            raise RuntimeError(f"{route.method} {path}: {status}")

    return one


async def _drive(app, one, requests: int, concurrency: int) -> None:
    left = requests

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await one(app)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def measure(routes: list[samework.BenchRoute], requests: int, concurrency: int) -> dict[str, dict[str, int]]:
    from runtime.app import create_app
    from runtime.cli import tune_gc
    from runtime.logging import configure_logging
    from tests.runtime.conftest import lifespan

    db = await api_bench.make_db()
    env = samework.server_settings(db)
    for key in [k for k in os.environ if k.startswith("UNAMENTIS_") or k in ("DATABASE_URL", "REDIS_URL")]:
        del os.environ[key]
    os.environ.update(env)
    configure_logging("INFO", buffered=True)  # as `serve` does; the lines go to stderr
    counter = Callgrind()
    report: dict[str, dict[str, int]] = {}
    try:
        full = create_app()
        async with lifespan(full):
            data = await samework.prepare(db, app=full)
            same = samework.build_same_app(await samework.principals(db, env, [db["token"], data["access"]]))
            async with lifespan(same):
                apps = {"full": full, "same": same}
                tune_gc()
                for route in routes:
                    one = _asgi_request(route, data["ids"], data["access"] if route.user else db["token"])
                    report[route.name] = {}
                    for name, (kind, skip) in VARIANTS.items():
                        restore = skip() if skip else None
                        try:
                            await _drive(apps[kind], one, 300, concurrency)  # warm-up
                            total = await counter.count(_drive(apps[kind], one, requests, concurrency))
                        finally:
                            if restore:
                                restore()
                        report[route.name][name] = total // requests
                        print(json.dumps({"route": route.name, "variant": name, "per_request": total // requests}), flush=True)
    finally:
        await api_bench.drop_db(db)
    return report


# ------------------------------------------------------------------------------------ over HTTP
def _child_count(pid: int, pattern: str, work: Callable[[], dict[str, float]]) -> tuple[int, dict[str, float]]:
    """The instructions server ``pid`` (under callgrind, dumping to ``pattern``.N) executes while
    ``work`` runs, and what ``work`` returned."""
    def control(*args: str) -> None:
        subprocess.run(["callgrind_control", *args, str(pid)], check=True, capture_output=True)

    before = set(glob.glob(pattern + ".*"))
    control("-z")
    control("-i", "on")
    result = work()
    control("-i", "off")
    control("-d")
    for _ in range(600):  # the dump is written when valgrind next looks at its commands
        new = set(glob.glob(pattern + ".*")) - before
        if new:
            text = Path(new.pop()).read_text()
            if "totals:" in text:
                return next(int(line.split()[1]) for line in text.splitlines() if line.startswith("totals:")), result
        time.sleep(0.1)
    raise RuntimeError(f"no callgrind dump from {pid}")


def measure_http(routes: list[samework.BenchRoute], seconds: int, connections: int) -> dict[str, dict[str, int]]:
    """Instructions per request of each server as ``bench/samework.py`` runs it (uvicorn included),
    each under callgrind and driven by ``wrk``."""
    db = asyncio.run(api_bench.make_db())
    workdir = tempfile.mkdtemp(prefix="uma-instructions-http-")
    report: dict[str, dict[str, int]] = {route.name: {} for route in routes}
    try:
        env = samework.server_env(db)
        plain = samework.Server("full", env, workdir)  # the data and tokens, made at full speed
        try:
            data = asyncio.run(samework.prepare(db, plain.port))
        finally:
            plain.stop()
        tokens_file = os.path.join(workdir, "tokens.json")
        Path(tokens_file).write_text(json.dumps(asyncio.run(samework.principals(db, env, [db["token"], data["access"]]))))
        for kind in ("full", "same"):
            pattern = os.path.join(workdir, f"callgrind.{kind}")
            wrapper = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={pattern}"]
            server = samework.Server(kind, env, workdir, tokens_file, wrapper=wrapper, start_seconds=600)
            try:
                for route in routes:
                    token = data["access"] if route.user else db["token"]
                    script = samework.wrk_script(route, data["ids"], token, workdir, data["sessions"])
                    path = route.path.format(**data["ids"])
                    samework.run_wrk(server.port, path, script, connections, 5)  # warm-up
                    total, ran = _child_count(server.process.pid, pattern, functools.partial(
                        samework.run_wrk, server.port, path, script, connections, seconds))
                    report[route.name][kind] = int(total // ran["requests"])
                    print(json.dumps({"route": route.name, "server": kind, "per_request": report[route.name][kind],
                                      "requests": int(ran["requests"])}), flush=True)
            finally:
                server.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        asyncio.run(api_bench.drop_db(db))
    return report


# ------------------------------------------------------------------------------------ main
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--routes", default="curricula list,auth me", help="comma-separated substrings of route names")
    parser.add_argument("--requests", type=int, default=1000, help="requests counted per variant")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--counted", action="store_true", help=argparse.SUPPRESS)  # set in the child under valgrind
    parser.add_argument("--http", type=int, metavar="SECONDS", help="count over HTTP instead: both servers as "
                        "bench/samework.py runs them, each under callgrind, driven by wrk for SECONDS per route")
    args = parser.parse_args()
    picked = [r for r in samework.ROUTES if any(s.strip() and s.strip() in r.name for s in args.routes.split(","))]
    if not picked:
        print(f"no route matches {args.routes!r}; routes: {', '.join(r.name for r in samework.ROUTES)}", file=sys.stderr)
        return 2
    if args.counted:
        asyncio.run(measure(picked, args.requests, args.concurrency))
        return 0
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("valgrind is not installed: apt-get install valgrind", file=sys.stderr)
        return 2
    if args.http:
        if shutil.which("wrk") is None:
            print("wrk is not installed: apt-get install wrk", file=sys.stderr)
            return 2
        counts = measure_http(picked, args.http, connections=8)
        print(f"instructions per request over HTTP (wrk, 8 connections, {args.http} s per route and server)")
        print(f"{'route':<20} {'full':>11} {'same':>11} {'ratio':>6}")
        for name, got in counts.items():
            print(f"{name:<20} {got['full']:>11,} {got['same']:>11,} {got['same'] / got['full']:>6.2f}")
        return 0
    workdir = tempfile.mkdtemp(prefix="uma-instructions-")
    try:
        # The interpreter itself, not a launcher script: valgrind follows no child processes here.
        python = os.path.realpath(sys.executable)
        cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no", python, os.path.abspath(__file__),
               "--counted", "--routes", args.routes, "--requests", str(args.requests), "--concurrency", str(args.concurrency)]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with open(os.path.join(workdir, "stderr.log"), "w") as log:
            run = subprocess.run(cmd, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
        rows = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
        if run.returncode != 0 or not rows:
            print(Path(workdir, "stderr.log").read_text()[-3000:], file=sys.stderr)
            return 1
        print(f"instructions per request ({args.requests} requests per variant, {args.concurrency} in flight, in process)")
        print(f"{'route':<20} {'full':>11} {'same':>11} {'ratio':>6}   {'access line':>11} {'rate limit':>11} {'token check':>11}")
        for route in picked:
            got = {r["variant"]: r["per_request"] for r in rows if r["route"] == route.name}
            full, same = got["full"], got["same"]
            costs = [full - got[f"full - {step}"] for step in ("access line", "rate limit", "token check")]
            print(f"{route.name:<20} {full:>11,} {same:>11,} {same / full:>6.2f}   " + " ".join(f"{c:>11,}" for c in costs))
        return 0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
