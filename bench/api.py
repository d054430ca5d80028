"""API throughput and latency: the whole middleware stack vs a bare Starlette JSON route, same run.

Two servers, one after the other, each a single uvicorn process on loopback (same uvicorn options):
- ``full``: ``create_app()`` — every service, the whole pure-ASGI stack (request id + JSON access log,
  origin secret, CORS, client headers, body limit, Tier-1 auth with a real beta token, the default
  per-token rate limit in PostgreSQL (or Redis with ``--redis``)) — serving ``GET /api/bench/tenant``,
  an authenticated, tenant-scoped read (``select … from tenants`` in ``ctx.db.tenant(...)``, RLS on).
- ``bare``: ``Starlette(routes=[Route("/", JSONResponse)])`` and nothing else.

The load generator is an asyncio HTTP/1.1 keep-alive client (``--connections``, default 32) in this
process. Both servers run side by side and ``--rounds`` alternating rounds are measured (each: a
warm-up, then ``--seconds`` counted), so background load on the machine hits both alike; the
median round of each is printed (requests/s, p50/p99 latency) and the ratio. A throwaway database is created and dropped on the local
PostgreSQL (``UNAMENTIS_BENCH_PG``, default postgresql://postgres@127.0.0.1:5432/postgres).

CPU accounting (Linux ``/proc``): each round also records the CPU seconds spent by the server
process, by every PostgreSQL process and by this load generator, per request. On a machine where
all three share the cores, that bounds the ratio whatever the server does: even a server as cheap
as the bare route could serve at most ``cores / (bare server + PostgreSQL + load generator CPU per
tenant read)`` reads per second (and ``1 / bare server CPU`` on its one core). The bench prints
that machine ceiling next to the measured ratio.

    python bench/api.py [--rounds 3] [--seconds 5] [--connections 32] [--redis]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SERVER_DSN = os.environ.get("UNAMENTIS_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
ORIGIN_SECRET = "bench-origin-secret-0123456789"


# ------------------------------------------------------------------------------------- servers
def build_full_app():
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from runtime.app import create_app
    from runtime.auth.principal import principal
    from runtime.context import ctx
    from runtime.route_table import ALL_SERVICES
    from runtime.service import Service
    from runtime.settings import Settings

    async def tenant_read(request: Request) -> JSONResponse:
        """An authenticated, tenant-scoped read (benchmark)."""
        who = principal(request)
        async with ctx(request).db.tenant(who.tenant_id) as conn:
            row = await conn.fetchrow("select id, slug, name from tenants")
        return JSONResponse({"id": str(row["id"]), "slug": row["slug"], "name": row["name"]})

    async def hello(request: Request) -> JSONResponse:
        """Authenticated, no database read (isolates the stack from the query)."""
        who = principal(request)
        return JSONResponse({"id": who.tenant_id, "slug": "bench", "name": "bench"})

    bench = Service(
        name="bench",
        routes=[
            Route("/api/bench/tenant", tenant_read, methods=["GET"]),
            Route("/api/bench/hello", hello, methods=["GET"]),
        ],
    )
    return create_app([*ALL_SERVICES, bench], Settings.from_env())


def build_bare_app():
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def hello(request):
        return JSONResponse({"id": "00000000-0000-0000-0000-000000000000", "slug": "bench", "name": "bench"})

    return Starlette(routes=[Route("/", hello)])


def serve(kind: str, port: int) -> None:
    import uvicorn

    from runtime.logging import configure_logging

    configure_logging(os.environ.get("UNAMENTIS_LOG_LEVEL", "INFO"), buffered=True)  # as `serve` does
    from runtime.cli import tune_gc

    app = build_full_app() if kind == "full" else build_bare_app()
    tune_gc()  # the process tuning of `serve`, for both servers
    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False, server_header=False,
                lifespan="on", ws="none")


# ------------------------------------------------------------------------------- CPU accounting
def _proc_cpu_times(pid: int | str) -> tuple[float, float]:
    """user and system CPU seconds of one process (``/proc/<pid>/stat`` fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def _proc_cpu_seconds(pid: int | str) -> float:
    """user + system CPU seconds of one process."""
    return sum(_proc_cpu_times(pid))


def _postgres_cpu_seconds() -> float:
    """CPU seconds of every PostgreSQL process on this machine (backends come and go: sum them all)."""
    total = 0.0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() != "postgres":
                    continue
            total += _proc_cpu_seconds(pid)
        except (OSError, IndexError, ValueError):
            pass  # the process ended between listing and reading
    return total


def _self_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class CpuMeter:
    """CPU per request of the server, PostgreSQL and the load generator over one measured round."""

    available = os.path.exists("/proc/self/stat")

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid

    def sample(self) -> tuple[float, float, float]:
        return _proc_cpu_seconds(self.server_pid), _postgres_cpu_seconds(), _self_cpu_seconds()

    @staticmethod
    def per_request(before: tuple[float, float, float], after: tuple[float, float, float], requests: int) -> dict:
        names = ("server_cpu_us", "postgres_cpu_us", "loadgen_cpu_us")
        return {name: (b - a) * 1e6 / max(requests, 1) for name, a, b in zip(names, before, after)}


def machine_ceiling(bare: dict, full: dict, cores: int) -> float | None:
    """The highest full/bare ratio this machine allows given the CPU the read costs OUTSIDE the server
    (PostgreSQL, load generator), even if the full server needed only the bare server's CPU."""
    if "server_cpu_us" not in bare or "postgres_cpu_us" not in full:
        return None
    server = bare["server_cpu_us"]
    per_request = server + full["postgres_cpu_us"] + full["loadgen_cpu_us"]
    if server <= 0 or per_request <= 0:
        return None
    best_rps = min(1e6 / server, cores * 1e6 / per_request)
    return best_rps / bare["rps"]


# ------------------------------------------------------------------------------- load generator
async def _connection(host: str, port: int, request: bytes, stop_at: float,
                      latencies: list[float], errors: list[str]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while True:
            started = time.perf_counter()
            if started >= stop_at:
                return
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            ended = time.perf_counter()
            if status != 200:
                errors.append(str(status))
            else:
                latencies.append(ended - started)
    finally:
        writer.close()


async def load(port: int, path: str, headers: dict[str, str], connections: int, seconds: float) -> dict[str, float]:
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    latencies: list[float] = []
    errors: list[str] = []
    stop_at = time.perf_counter() + seconds
    await asyncio.gather(*(_connection("127.0.0.1", port, request, stop_at, latencies, errors)
                           for _ in range(connections)))
    if errors:
        raise RuntimeError(f"{len(errors)} non-200 answers, e.g. {errors[:5]}")
    latencies.sort()
    return {
        "rps": len(latencies) / seconds,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "requests": len(latencies),
    }


def _wait_up(port: int, process: subprocess.Popen, seconds: float = 30.0) -> None:
    import urllib.request

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {process.stderr.read()[-2000:] if process.stderr else ''}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """One server process (``full`` or ``bare``) on a free port."""

    def __init__(self, kind: str, env: dict[str, str]) -> None:
        self.kind = kind
        self.port = _free_port()
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve", kind, "--port", str(self.port)],
            env=env, cwd=str(ROOT), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        (_wait_bare if kind == "bare" else _wait_up)(self.port, self.process)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def measured_round(server: "Server", path: str, headers: dict[str, str], args: argparse.Namespace) -> dict:
    """One round: warm-up, then ``args.seconds`` counted, with the CPU it cost where it can be read."""
    if args.warmup:
        asyncio.run(load(server.port, path, headers, args.connections, args.warmup))
    meter = CpuMeter(server.process.pid) if CpuMeter.available else None
    before = meter.sample() if meter else None
    result = asyncio.run(load(server.port, path, headers, args.connections, args.seconds))
    if meter and before:
        result.update(CpuMeter.per_request(before, meter.sample(), result["requests"]))
    return result


def _median_round(results: list[dict]) -> dict:
    """The round with the median throughput (its own latencies, so figures stay consistent)."""
    ordered = sorted(results, key=lambda r: r["rps"])
    return ordered[len(ordered) // 2]


def _wait_bare(port: int, process: subprocess.Popen) -> None:
    import urllib.request

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("bare server exited")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("bare server did not start")


# ---------------------------------------------------------------------------------- database
async def make_db() -> dict[str, str]:
    import asyncpg

    from runtime.auth.store import issue_beta_token
    from runtime.migrate import migrate
    from runtime.settings import Settings
    from runtime.tenants import create_tenant

    suffix = uuid.uuid4().hex[:10]
    name, role, password = f"uma_bench_{suffix}", f"uma_bench_app_{suffix}", "bench-password"
    server = await asyncpg.connect(SERVER_DSN)
    await server.execute(f'create database "{name}"')
    await server.close()
    base = SERVER_DSN.rsplit("/", 1)[0]
    host = base.split("@", 1)[1]
    owner = f"{base}/{name}"
    app_dsn = f"postgresql://{role}:{password}@{host}/{name}"
    settings = Settings(database_url=app_dsn, database_admin_url=owner, app_role=role, app_role_password=password)
    await migrate(settings, echo=lambda _m: None)
    conn = await asyncpg.connect(owner)
    tenant_id = await create_tenant(conn, f"bench-{suffix}")
    _id, token = await issue_beta_token(conn, tenant_id, "bench")
    await conn.close()
    return {"name": name, "role": role, "app_dsn": app_dsn, "owner_dsn": owner, "token": token}


async def drop_db(db: dict[str, str]) -> None:
    import asyncpg

    server = await asyncpg.connect(SERVER_DSN)
    await server.execute(f'drop database if exists "{db["name"]}" with (force)')
    await server.execute(f'drop role if exists "{db["role"]}"')
    await server.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per round and server")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; the median round is printed")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--redis", action="store_true", help="rate limits in Redis (REDIS_URL, default local)")
    parser.add_argument("--serve", choices=("full", "bare"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return 0

    db = asyncio.run(make_db())
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("UNAMENTIS_") and k not in ("DATABASE_URL", "REDIS_URL")}
        env.update(
            PYTHONPATH=str(ROOT),
            DATABASE_URL=db["app_dsn"],
            UNAMENTIS_DATABASE_ADMIN_URL=db["owner_dsn"],
            UNAMENTIS_APP_ROLE=db["role"],
            UNAMENTIS_ORIGIN_SECRET=ORIGIN_SECRET,
            UNAMENTIS_CORS_ORIGINS="https://app.example.com",
            UNAMENTIS_RATE_LIMIT_TOKEN="100000000/60",  # high enough never to refuse, still a real hit per request
        )
        if args.redis:
            env["REDIS_URL"] = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
        headers = {
            "Authorization": f"Bearer {db['token']}",
            "X-Origin-Secret": ORIGIN_SECRET,
            "CF-Connecting-IP": "198.51.100.10",
            "X-Client-Platform": "ios",
            "X-Client-Version": "1.0.0",
        }
        print(f"{args.connections} connections, {args.rounds} alternating rounds of {args.seconds:.0f} s per server "
              f"(after {args.warmup:.0f} s warm-up each); limiter: {'Redis' if args.redis else 'PostgreSQL'}")
        # Both servers stay up; rounds alternate between them so machine noise hits both alike.
        servers = {"full": Server("full", env), "bare": Server("bare", env)}
        runs: dict[str, list[dict]] = {"full": [], "stack": [], "bare": []}
        plan = (("full", "full", "/api/bench/tenant", headers), ("stack", "full", "/api/bench/hello", headers),
                ("bare", "bare", "/", {}))
        try:
            for _round in range(args.rounds):
                for label, kind, path, hdrs in plan:
                    result = measured_round(servers[kind], path, hdrs, args)
                    runs[label].append(result)
        finally:
            for server in servers.values():
                server.stop()
        full, stack, bare = (_median_round(runs[k]) for k in ("full", "stack", "bare"))
        ratios = sorted(f["rps"] / b["rps"] for f, b in zip(runs["full"], runs["bare"]))
        for label, r in (("full stack, authenticated tenant read", full),
                         ("full stack, authenticated, no DB read", stack),
                         ("bare Starlette JSON route", bare)):
            cpu = (f"   CPU/request: server {r['server_cpu_us']:5.0f} µs, PostgreSQL {r['postgres_cpu_us']:4.0f} µs, "
                   f"load generator {r['loadgen_cpu_us']:3.0f} µs" if "server_cpu_us" in r else "")
            print(f"{label:<40} {r['rps']:>8.0f} req/s   p50 {r['p50_ms']:6.2f} ms   p99 {r['p99_ms']:6.2f} ms{cpu}")
        ratio = full["rps"] / bare["rps"]
        print(f"ratio full/bare: {ratio:.1%} (target >= 50%); per-round ratios "
              f"{', '.join(f'{r:.0%}' for r in ratios)}; full-stack p99 {full['p99_ms']:.2f} ms (target <= 15 ms)")
        print(f"stack without the read / bare: {stack['rps'] / bare['rps']:.1%}")
        ceiling = machine_ceiling(bare, full, os.cpu_count() or 1)
        if ceiling is not None:
            print(f"machine ceiling for full/bare: {ceiling:.1%} — the most {os.cpu_count()} cores allow with the tenant "
                  f"read's PostgreSQL and load-generator CPU, even if the server cost no more than the bare route")
        print(f"machine load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
        print(json.dumps({"full": full, "bare": bare, "ratio": ratio, "stack": stack, "rounds": runs}))
    finally:
        asyncio.run(drop_db(db))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
