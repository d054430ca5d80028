"""The hot API routes: the real server vs a minimal program doing the same work, same run, with wrk.

What each side is:
- ``full``: the production server — ``create_app()`` with every service and the whole pure-ASGI
  stack (request id + JSON access log, origin secret, CORS, client headers, body limit, Tier-1 auth
  of a real beta token or user JWT, the per-token rate limit, error handling), the application role
  under row-level security and the owner role for migrations, as ``python -m runtime serve`` runs it.
- ``same``: a bare Starlette app serving the same routes with the same handler functions (so the same
  validation, the same SQL in one tenant transaction that sets ``app.tenant_id``, the same JSON), and
  nothing else: the bearer token is looked up in an in-memory dict filled once at start.
  The difference between the two is what the stack adds over the work itself.

Routes (the calls the apps make most): curricula list and detail, Knowledge Bowl pack list and a
pack's questions, tutoring session create and turn (spread over ``TURN_SESSIONS`` sessions, as apps
post one session's turns one at a time), ``/api/auth/me`` (a user JWT) and a telemetry upload.

For each route, ``--rounds`` rounds run ``wrk`` (a C load generator, so the generator costs little
CPU) against both servers one after the other, after a warm-up, the first server alternating from
round to round. Each round's two runs are a pair measured within seconds of each other, so a
machine whose speed drifts (a shared virtual machine) moves both alike: the ratios printed are the
medians of the rounds' own ratios — requests/s full / same, and p99 full / same — with their range;
beside them each server's median requests/s, p50, p99 and CPU per request (``/proc``), with its user part
(the system part is the sockets' work, alike for both). Ten rounds by default: on a shared two-core
machine one round's ratio moves by a fifth either way from noise alone (``--control``), and the
median of three or five rounds moved enough to turn a route's verdict from one run to the next. An
even number of rounds puts each server first equally often.

    python bench/samework.py [--rounds 10] [--seconds 5] [--connections 32] [--routes curricula,me]
    python bench/samework.py --profile "curricula list"   # where the real server's CPU goes (cProfile)
    python bench/samework.py --routes "curricula list" --full-env UNAMENTIS_ACCESS_LOG=false   # a step's cost
    python bench/samework.py --control   # the same-work program against a copy of itself: the noise

``--control`` measures, with the same rounds, the same-work program in the real server's place: the
two programs are the same, so every ratio would be 1.00 on a perfectly steady machine, and what it
prints instead is how far this machine's noise alone moves the figures.

Needs ``wrk`` on PATH (Debian package ``wrk``) and the local PostgreSQL (``UNAMENTIS_BENCH_PG``); a
throwaway database is created and dropped.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import api as api_bench  # noqa: E402  (the throwaway database, ports, CPU meters)

ORIGIN_SECRET = api_bench.ORIGIN_SECRET
PASSWORD = "bench-password-0123456789"


@dataclass(frozen=True)
class BenchRoute:
    name: str
    method: str
    path: str  # may hold {curriculum}, {pack}, {session}
    body: dict[str, Any] | None = None
    user: bool = False  # sent with a user's access JWT instead of the beta token


ROUTES: tuple[BenchRoute, ...] = (
    BenchRoute("curricula list", "GET", "/api/curricula"),
    BenchRoute("curriculum detail", "GET", "/api/curricula/{curriculum}"),
    BenchRoute("kb packs", "GET", "/api/kb/packs"),
    BenchRoute("kb pack questions", "GET", "/api/kb/packs/{pack}/questions"),
    BenchRoute("session create", "POST", "/api/sessions", {"curriculum_id": "{curriculum}"}),
    BenchRoute("session turn", "POST", "/api/sessions/{session}/turns",
               {"role": "user", "content": "Why does the moon have phases?"}),
    BenchRoute("auth me", "GET", "/api/auth/me", user=True),
    BenchRoute("telemetry upload", "POST", "/api/metrics",
               {"clientId": "bench-client", "clientName": "bench", "sessionId": "bench-session",
                "sessionDuration": 1200.5, "turnsTotal": 14, "interruptions": 1, "e2eLatencyMedian": 410.0,
                "e2eLatencyP99": 880.0, "sttLatencyMedian": 120.0, "llmTTFBMedian": 240.0, "ttsTTFBMedian": 90.0}),
)
SAME_PATHS = ("/api/curricula", "/api/curricula/{id}", "/api/kb/packs", "/api/kb/packs/{pack_id}/questions",
              "/api/sessions", "/api/sessions/{id}/turns", "/api/auth/me", "/api/metrics")


# ------------------------------------------------------------------------------------ servers
def build_same_app(tokens: dict[str, dict[str, Any]]):
    """Starlette + the same handlers for the benchmarked routes + a dict of tokens; nothing else."""
    import contextlib

    from starlette.applications import Starlette
    from starlette.routing import Route

    from runtime.app import load_service
    from runtime.auth.principal import Principal
    from runtime.context import AppContext
    from runtime.settings import Settings

    wanted = {(path, method) for path in SAME_PATHS for method in ("GET", "POST")}
    routes = []
    for name in ("curricula", "kb", "sessions", "auth", "telemetry"):
        for route in load_service(name).routes:
            if isinstance(route, Route) and any((route.path, m) in wanted for m in (route.methods or ())):
                routes.append(route)
    principals = {token: Principal(**fields) for token, fields in tokens.items()}
    settings = Settings.from_env()
    ctx = AppContext(settings)

    class TokenMap:
        """The bearer token looked up in a dict, the principal put where the handlers read it."""

        def __init__(self, app):
            self.app = app

        async def __call__(self, scope, receive, send):
            if scope["type"] == "http":
                for key, value in scope["headers"]:
                    if key == b"authorization":
                        scope["principal"] = principals.get(value.decode()[7:])
                        break
            await self.app(scope, receive, send)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        await ctx.aclose()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.ctx = ctx
    app.add_middleware(TokenMap)
    return app


def serve(kind: str, port: int, tokens_file: str | None) -> None:
    import uvicorn

    from runtime.cli import tune_gc
    from runtime.logging import configure_logging

    if kind == "full":
        # exactly as `python -m runtime serve` serves: its uvicorn options (the header deadline, the
        # connection cap, keep-alive), logging and GC settings
        from runtime.app import create_app
        from runtime.cli import serve_app
        from runtime.settings import Settings

        serve_app(create_app(), "127.0.0.1", port, Settings.from_env())
        return
    configure_logging(os.environ.get("UNAMENTIS_LOG_LEVEL", "INFO"), buffered=True)  # as `serve` does
    app = build_same_app(json.loads(Path(tokens_file or "").read_text()))
    tune_gc()
    # proxy_headers off, as `serve` runs the server: the client address comes from the edge's header
    # after the origin check, not from uvicorn's X-Forwarded-For layer
    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False, server_header=False,
                proxy_headers=False, lifespan="on", ws="none")


def server_settings(db: dict[str, str]) -> dict[str, str]:
    """Both servers' settings on the throwaway database ``db``."""
    return {"DATABASE_URL": db["app_dsn"], "UNAMENTIS_DATABASE_ADMIN_URL": db["owner_dsn"], "UNAMENTIS_APP_ROLE": db["role"],
            "UNAMENTIS_ORIGIN_SECRET": ORIGIN_SECRET, "UNAMENTIS_CORS_ORIGINS": "https://app.example.com",
            "UNAMENTIS_JWT_SECRET": "bench-jwt-secret-0123456789abcdef0123456789",
            # high enough never to refuse, still a real limiter hit per request
            "UNAMENTIS_RATE_LIMIT_TOKEN": "100000000/60", "UNAMENTIS_RATE_LIMIT_USER": "100000000/60"}


def server_env(db: dict[str, str]) -> dict[str, str]:
    """The servers' environment: this one without its own UnaMentis settings, plus ``server_settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNAMENTIS_") and k not in ("DATABASE_URL", "REDIS_URL")}
    return {**env, "PYTHONPATH": str(ROOT), **server_settings(db)}


class Server:
    def __init__(self, kind: str, env: dict[str, str], workdir: str, tokens_file: str | None = None,
                 profile_to: str | None = None, wrapper: Sequence[str] = (), start_seconds: float = 30.0) -> None:
        """``wrapper``: a command the server runs under (e.g. valgrind), given ``start_seconds`` to start."""
        self.kind = kind
        self.port = api_bench._free_port()
        # cProfile: the server's CPU by function (a sampling profiler's wall-clock view would mostly show
        # the waits on PostgreSQL)
        runner = ["-m", "cProfile", "-o", profile_to] if profile_to else []
        cmd = [*wrapper, sys.executable, *runner, __file__, "--serve", kind, "--port", str(self.port)]
        if tokens_file:
            cmd += ["--tokens", tokens_file]
        # The log goes to a file (as it would to a collector): a pipe nobody reads would fill and stall it.
        self.log = open(os.path.join(workdir, f"{kind}-{self.port}.log"), "w")  # --control runs two of a kind
        self.process = subprocess.Popen(cmd, env=env, cwd=str(ROOT), stdout=subprocess.DEVNULL, stderr=self.log)
        if kind == "full":
            api_bench._wait_up(self.port, self.process, start_seconds)
        else:
            _wait_listening(self.port, self.process, start_seconds)

    def stop(self) -> None:
        # SIGINT: uvicorn shuts down cleanly, so a profiler wrapping it writes its report
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def _wait_listening(port: int, process: subprocess.Popen, seconds: float = 30.0) -> None:
    import socket

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("server exited (see its log)")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError("server did not start")


# ------------------------------------------------------------------------------------ data
# Sessions the turns are spread over: an app posts one session's turns one at a time, so 32
# connections posting to one session would measure PostgreSQL's queue on that session's row lock
# (whose order is not first come, first served), not the servers.
TURN_SESSIONS = 32


async def prepare(db: dict[str, str], port: int | None = None, app: Any = None) -> dict[str, Any]:
    """Through the real server (on ``port``, or the ASGI ``app`` in this process): a user and its
    access JWT, ``TURN_SESSIONS`` sessions, and the ids the paths need (``{session}``: the first)."""
    import httpx

    beta = {"Authorization": f"Bearer {db['token']}", "X-Origin-Secret": ORIGIN_SECRET}
    transport = httpx.ASGITransport(app=app) if app is not None else None
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port or 80}", timeout=30, transport=transport) as client:
        curricula = (await client.get("/api/curricula", headers=beta)).json()["curricula"]
        packs = (await client.get("/api/kb/packs", headers=beta)).json()["packs"]
        email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
        device = {"fingerprint": uuid.uuid4().hex * 2, "name": "bench", "type": "web"}
        answer = await client.post("/api/auth/register", headers=beta, json={
            "email": email, "password": PASSWORD, "display_name": "Bench", "name": "Bench", "device": device})
        if answer.status_code not in (200, 201):
            raise RuntimeError(f"register: {answer.status_code} {answer.text[:300]}")
        access = _find_key(answer.json(), "access_token")
        ids = {"curriculum": curricula[0]["id"], "pack": packs[0]["id"]}
        sessions = []
        for _ in range(TURN_SESSIONS):
            created = await client.post("/api/sessions", headers=beta, json={"curriculum_id": ids["curriculum"]})
            if created.status_code != 201:
                raise RuntimeError(f"session: {created.status_code} {created.text[:300]}")
            body = created.json()
            sessions.append(body.get("session_id") or body["id"])
        ids["session"] = sessions[0]
        me = await client.get("/api/auth/me", headers={"Authorization": f"Bearer {access}",
                                                       "X-Origin-Secret": ORIGIN_SECRET})
        if me.status_code != 200:
            raise RuntimeError(f"me: {me.status_code} {me.text[:300]}")
    return {"ids": ids, "access": access, "sessions": sessions}


def _find_key(document: Any, key: str) -> Any:
    if isinstance(document, dict):
        if key in document:
            return document[key]
        for value in document.values():
            found = _find_key(value, key)
            if found is not None:
                return found
    return None


async def principals(db: dict[str, str], env: dict[str, str], tokens: list[str]) -> dict[str, dict[str, Any]]:
    """Each token resolved once by the real authenticator: what the same-work server's dict holds."""
    import dataclasses

    from runtime.context import AppContext
    from runtime.settings import Settings

    saved = dict(os.environ)
    os.environ.update(env)
    try:
        app = AppContext(Settings.from_env())
        try:
            out = {}
            for token in tokens:
                found = dataclasses.asdict(await app.auth.client(token))
                found.pop("rate_limit", None)
                out[token] = found
            return out
        finally:
            await app.aclose()
    finally:
        os.environ.clear()
        os.environ.update(saved)


# ------------------------------------------------------------------------------------ wrk
def request_headers(token: str) -> dict[str, str]:
    """The headers of an app's call as the edge passes it on: the bearer token, the origin secret,
    the client's address and the app's own headers."""
    return {"Authorization": f"Bearer {token}", "X-Origin-Secret": ORIGIN_SECRET,
            "CF-Connecting-IP": "198.51.100.10", "X-Client-Platform": "ios", "X-Client-Version": "1.0.0"}


def wrk_script(route: BenchRoute, ids: dict[str, str], token: str, directory: str,
               sessions: list[str] | None = None) -> str:
    """wrk's Lua script for ``route``: method, body, headers; a path with ``{session}`` takes each of
    ``sessions`` in turn."""
    headers = request_headers(token)
    lines = [f'wrk.method = "{route.method}"']
    if route.body is not None:
        body = json.dumps({k: (v.format(**ids) if isinstance(v, str) else v) for k, v in route.body.items()})
        lines.append(f"wrk.body = {json.dumps(body)}")
        headers["Content-Type"] = "application/json"
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()]
    if "{session}" in route.path and sessions:
        paths = ", ".join(json.dumps(route.path.format(**{**ids, "session": session})) for session in sessions)
        lines += [f"local paths = {{{paths}}}", "local n = 0",
                  "request = function()", "  n = n % #paths + 1", "  return wrk.format(nil, paths[n])", "end"]
    path = os.path.join(directory, f"{re.sub(r'[^a-z]+', '_', route.name)}.lua")
    Path(path).write_text("\n".join(lines) + "\n")
    return path


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def run_wrk(port: int, path: str, script: str, connections: int, seconds: float) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", "-s", script, f"http://127.0.0.1:{port}{path}"],
        capture_output=True, text=True, check=True).stdout
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: .*", out)
    if bad or errors:
        raise RuntimeError(f"wrk saw failures on {path}:\n{out}")
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50_ms": _ms(re.search(r"\s50%\s+(\S+)", out).group(1)),  # type: ignore[union-attr]
        "p99_ms": _ms(re.search(r"\s99%\s+(\S+)", out).group(1)),  # type: ignore[union-attr]
        "requests": float(re.search(r"(\d+) requests in", out).group(1)),  # type: ignore[union-attr]
    }


def measured(server: Server, path: str, script: str, args: argparse.Namespace) -> dict[str, float]:
    if args.warmup:
        run_wrk(server.port, path, script, args.connections, args.warmup)
    user, system = api_bench._proc_cpu_times(server.process.pid)
    result = run_wrk(server.port, path, script, args.connections, args.seconds)
    user_after, system_after = api_bench._proc_cpu_times(server.process.pid)
    per_request = 1e6 / max(result["requests"], 1)
    result["server_cpu_us"] = (user_after + system_after - user - system) * per_request
    result["server_user_us"] = (user_after - user) * per_request  # the system part: the same sockets' work
    return result


def paired(runs: dict[str, list[dict]]) -> dict[str, float]:
    """The medians of the rounds' own full / same ratios (throughput and p99), their range, and each
    server's median figures. A ratio of one round's two runs, taken seconds apart, does not move
    with the machine's speed from round to round as a ratio of two medians taken apart can."""
    pairs = list(zip(runs["full"], runs["same"]))
    ratios = [full["rps"] / same["rps"] for full, same in pairs]
    p99s = [full["p99_ms"] / same["p99_ms"] for full, same in pairs]
    out = {"ratio": statistics.median(ratios), "ratio_low": min(ratios), "ratio_high": max(ratios),
           "p99_ratio": statistics.median(p99s), "p99_ratio_low": min(p99s), "p99_ratio_high": max(p99s)}
    for kind in ("full", "same"):
        for figure in ("rps", "p50_ms", "p99_ms", "server_cpu_us", "server_user_us"):
            out[f"{kind}_{figure}"] = statistics.median(run[figure] for run in runs[kind])
    return out


# ------------------------------------------------------------------------------------ main
def setting_overrides(parser: argparse.ArgumentParser, option: str, items: Sequence[str]) -> dict[str, str]:
    """The ``NAME=VALUE`` items given to a repeatable ``option`` as settings (a usage error for an
    item that is not a ``UNAMENTIS_`` setting)."""
    settings: dict[str, str] = {}
    for item in items:
        name, equals, value = item.partition("=")
        if not name.startswith("UNAMENTIS_") or not equals:
            parser.error(f"{option} {item!r}: give NAME=VALUE with a UNAMENTIS_ setting")
        settings[name] = value
    return settings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=5, help="measured seconds per round, server and route")
    parser.add_argument("--warmup", type=int, default=1, help="warm-up seconds before each measured round (0: none)")
    parser.add_argument("--rounds", type=int, default=10, help="rounds per route (even: each server first as "
                        "often; ten rounds of all routes take about 17 minutes)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--routes", default="", help="comma-separated substrings of route names (default: all)")
    parser.add_argument("--json", action="store_true", help="also print every round as JSON")
    parser.add_argument("--full-env", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting for the full server only, e.g. UNAMENTIS_ACCESS_LOG=false to see what a "
                             "step costs (repeatable)")
    parser.add_argument("--profile", metavar="ROUTE", help="profile the real server on one route (cProfile) for "
                        "--seconds and print where its CPU goes")
    parser.add_argument("--control", action="store_true", help="measure a second copy of the same-work program "
                        "in the real server's place: how far the machine's noise alone moves the ratios")
    parser.add_argument("--serve", choices=("full", "same"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--tokens", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.tokens)
        return 0
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 2
    if args.profile:
        args.routes = args.profile
    picked = [r for r in ROUTES if not args.routes or any(s.strip() and s.strip() in r.name for s in args.routes.split(","))]
    if not picked:
        print(f"no route matches {args.routes!r}; routes: {', '.join(r.name for r in ROUTES)}", file=sys.stderr)
        return 2

    full_settings = setting_overrides(parser, "--full-env", args.full_env)
    if args.control and (args.profile or full_settings):
        parser.error("--control measures the same-work program twice: --profile and --full-env apply to the real server")

    db = asyncio.run(api_bench.make_db())
    workdir = tempfile.mkdtemp(prefix="uma-samework-")
    servers: dict[str, Server] = {}
    try:
        env = server_env(db)
        profile_to = os.path.join(workdir, "profile.pstats") if args.profile else None
        servers["full"] = Server("full", {**env, **full_settings}, workdir, profile_to=profile_to)
        data = asyncio.run(prepare(db, servers["full"].port))
        if profile_to:
            route = picked[0]
            token = data["access"] if route.user else db["token"]
            result = measured(servers["full"], route.path.format(**data["ids"]),
                              wrk_script(route, data["ids"], token, workdir, data["sessions"]), args)
            servers.pop("full").stop()
            print(f"{route.name}: {result['rps']:.0f} req/s under the profiler\n")
            import pstats

            stats = pstats.Stats(profile_to)
            stats.sort_stats("tottime").print_stats(35)
            stats.sort_stats("cumulative").print_stats(r"runtime/|starlette/|uvicorn/", 45)
            return 0
        tokens_file = os.path.join(workdir, "tokens.json")
        Path(tokens_file).write_text(json.dumps(asyncio.run(principals(db, env, [db["token"], data["access"]]))))
        servers["same"] = Server("same", env, workdir, tokens_file)
        if args.control:  # the real server has made the data; a copy of the same work takes its place
            servers.pop("full").stop()
            servers["full"] = Server("same", env, workdir, tokens_file)
            print("control: the 'full' figures are a second copy of the same-work program")
        print(f"{args.connections} connections, wrk -t1, {args.rounds} alternating rounds of {args.seconds:.0f} s per "
              f"server and route (after {args.warmup:.0f} s warm-up); {os.cpu_count()} CPUs")
        print("ratio and p99 x: medians of the rounds' own full / same ratios [lowest–highest]; the rest: "
              "each server's median round figures")
        print(f"{'route':<20} {'full req/s':>10} {'same req/s':>10} {'ratio':>17}   {'p50 full/same ms':>17}   "
              f"{'p99 full/same ms':>17}  {'p99 x':>17}   {'server CPU µs full/same (of it user)':>37}")
        report = {}
        for route in picked:
            token = data["access"] if route.user else db["token"]
            script = wrk_script(route, data["ids"], token, workdir, data["sessions"])
            path = route.path.format(**data["ids"])
            runs: dict[str, list[dict]] = {"full": [], "same": []}
            for round_number in range(args.rounds):
                # the server measured first alternates: neither is always the one after a pause
                for kind in ("full", "same") if round_number % 2 == 0 else ("same", "full"):
                    runs[kind].append(measured(servers[kind], path, script, args))
            figures = paired(runs)
            report[route.name] = {**figures, "rounds": runs}
            print(f"{route.name:<20} {figures['full_rps']:>10.0f} {figures['same_rps']:>10.0f} "
                  f"{figures['ratio']:>5.2f} [{figures['ratio_low']:.2f}–{figures['ratio_high']:.2f}]   "
                  f"{figures['full_p50_ms']:>7.2f} / {figures['same_p50_ms']:<7.2f}   "
                  f"{figures['full_p99_ms']:>7.2f} / {figures['same_p99_ms']:<7.2f}  "
                  f"{figures['p99_ratio']:>5.2f} [{figures['p99_ratio_low']:.2f}–{figures['p99_ratio_high']:.2f}]   "
                  f"{figures['full_server_cpu_us']:>10.0f} / {figures['same_server_cpu_us']:<4.0f} "
                  f"({figures['full_server_user_us']:.0f} / {figures['same_server_user_us']:.0f})", flush=True)
        ratios = [r["ratio"] for r in report.values()]
        missed = [name for name, r in report.items() if r["ratio"] < 0.85 or r["p99_ratio"] > 1.2]
        print(f"{'control (the same program twice): ' if args.control else ''}"
              f"median ratio {statistics.median(ratios):.2f}, lowest {min(ratios):.2f} (target >= 0.85 each, "
              f"p99 within 1.2x: {'met' if not missed else 'missed on ' + ', '.join(missed)}); "
              f"load average at the end {os.getloadavg()[0]:.2f}")
        if args.json:
            print(json.dumps(report))
    finally:
        for server in servers.values():
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        asyncio.run(api_bench.drop_db(db))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
