"""Cold start of each Lambda handler: import + first request in a fresh process vs bare Python.

For every service in ``runtime.route_table.LAMBDA_SERVICES`` a fresh ``python`` process imports
``runtime.handlers.<service>`` (the Lambda INIT) and serves its first API Gateway HTTP API v2 event,
``GET /api/health`` (through the whole middleware stack; no database). With ``--db`` (default when
the local PostgreSQL answers) a second event follows: an authenticated request (a real beta token
in a throwaway database) that opens the environment's database connection, checks the token and
hits the rate limiter — the real first-request path. Each time runs from spawning the process to
the moment the answer is ready (interpreter teardown is not part of a cold start); bare Python is
timed the same way (spawn to its first statement). The figure that matters is the difference
(budget: 250 ms). Each measurement is the median of
``--runs`` fresh processes. Also printed: the code zip's size (components.lambda_build) and the
dependency layer's size when it was built.

    python bench/cold_start.py [--runs 5] [--no-db] [--layer]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from runtime.route_table import LAMBDA_SERVICES  # noqa: E402

SERVER_DSN = os.environ.get("UNAMENTIS_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
BUDGET_MS = 250.0

BARE = "import time; print(time.time())"
CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import importlib
module = importlib.import_module("runtime.handlers." + sys.argv[1])
t1 = time.perf_counter()

def event(path, token=None):
    headers = {"host": "api.example.com", "user-agent": "bench"}
    if token:
        headers["authorization"] = "Bearer " + token
    return {
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
        "headers": headers, "isBase64Encoded": False,
        "requestContext": {"http": {"method": "GET", "path": path, "protocol": "HTTP/1.1",
                                     "sourceIp": "203.0.113.9", "userAgent": "bench"},
                           "domainName": "api.example.com", "requestId": "bench", "routeKey": "$default",
                           "stage": "$default", "timeEpoch": 0},
    }

first = module.handler(event("/api/health"), None)
t2 = time.perf_counter()
result = {"import_ms": (t1 - t0) * 1000, "first_ms": (t2 - t1) * 1000, "status": first["statusCode"],
          "answered_at": time.time()}
token = sys.argv[2] if len(sys.argv) > 2 else ""
if token:
    authed = module.handler(event("/api/" + sys.argv[1] + "/__bench_first_request__", token), None)
    t3 = time.perf_counter()
    result.update(db_first_ms=(t3 - t2) * 1000, db_status=authed["statusCode"], answered_at=time.time())
print(json.dumps(result))
"""


def _env(database_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UNAMENTIS_", "DATABASE_URL", "REDIS_URL"))}
    env.update(
        PYTHONPATH=str(ROOT),
        AWS_LAMBDA_FUNCTION_NAME="bench",
        UNAMENTIS_LOG_LEVEL="WARNING",
        UNAMENTIS_ACCESS_LOG="false",
        DATABASE_URL=database_url or "postgresql://unused@127.0.0.1:1/unused",
    )
    return env


def _time_process(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    """(ms from spawning the process until it printed its first-line timestamp, stdout).

    Measured to the moment the child reports (the answer is ready), not to its exit: interpreter
    teardown is not part of a Lambda cold start."""
    started = time.time()
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120, cwd=str(ROOT))
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:3])} failed:\n{done.stderr[-2000:]}")
    last = done.stdout.strip().splitlines()[-1]
    reported = json.loads(last)["answered_at"] if last.startswith("{") else float(last)
    return (reported - started) * 1000, done.stdout


async def _make_db() -> tuple[str, str, str, str]:
    """A throwaway migrated database with a tenant and a beta token: (name, role, app dsn, token)."""
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
    owner = f"{base}/{name}"
    host = base.split("@", 1)[1]
    app_dsn = f"postgresql://{role}:{password}@{host}/{name}"
    settings = Settings(database_url=app_dsn, database_admin_url=owner, app_role=role, app_role_password=password)
    await migrate(settings, echo=lambda _m: None)
    conn = await asyncpg.connect(owner)
    tenant_id = await create_tenant(conn, f"bench-{suffix}")
    _id, token = await issue_beta_token(conn, tenant_id, "bench")
    await conn.close()
    return name, role, app_dsn, token


async def _drop_db(name: str, role: str) -> None:
    import asyncpg

    server = await asyncpg.connect(SERVER_DSN)
    await server.execute(f'drop database if exists "{name}" with (force)')
    await server.execute(f'drop role if exists "{role}"')
    await server.close()


def _zip_sizes() -> tuple[int | None, int | None]:
    try:
        from components import lambda_build
    except ImportError:
        return None, None
    code = len(lambda_build.zip_bytes(lambda_build.code_entries()))
    layer = None
    try:
        path = lambda_build.layer_path()
        if path.exists():
            layer = path.stat().st_size
    except Exception:  # an unbuilt layer is fine: we say so
        layer = None
    return code, layer


def _measure(label: str, python: list[str], env: dict[str, str], db: tuple | None, runs: int) -> float:
    """Print one table; returns the worst handler's milliseconds over bare Python."""
    bare = statistics.median(_time_process([*python, "-c", BARE], env)[0] for _ in range(runs))
    print(f"\n[{label}] bare python (start to first statement): {bare:.1f} ms (median of {runs})")
    header = f"{'handler':<28}{'to answer':>10}{'over bare':>11}{'import':>9}{'/api/health':>12}"
    header += f"{'+ authed DB req':>17}" if db else ""
    print(header)
    worst = 0.0
    for service in LAMBDA_SERVICES:
        samples = []
        for _ in range(runs):
            argv = [*python, "-c", CHILD, service] + ([db[3]] if db else [])
            elapsed, out = _time_process(argv, env)
            inner = json.loads(out.strip().splitlines()[-1])
            if inner["status"] != 200:
                raise RuntimeError(f"{service}: /api/health answered {inner['status']}")
            samples.append((elapsed, inner))
        process = statistics.median(s[0] for s in samples)
        imp = statistics.median(s[1]["import_ms"] for s in samples)
        first = statistics.median(s[1]["first_ms"] for s in samples)
        over = process - bare
        worst = max(worst, over)
        line = f"runtime.handlers.{service:<11}{process:>8.1f}ms{over:>9.1f}ms{imp:>7.1f}ms{first:>10.1f}ms"
        if db:
            dbf = statistics.median(s[1]["db_first_ms"] for s in samples)
            statuses = sorted({s[1]["db_status"] for s in samples})
            line += f"{dbf:>10.1f}ms ({'/'.join(map(str, statuses))})"
        print(line)
    print(f"worst import + first request over bare Python: {worst:.1f} ms (budget {BUDGET_MS:.0f} ms) -> "
          f"{'OK' if worst <= BUDGET_MS else 'OVER BUDGET'}")
    return worst


def _layer_dirs(tmp: Path, compiled: bool) -> tuple[Path, Path]:
    """The code zip and a dependency layer built for THIS interpreter by components.lambda_build,
    unpacked like Lambda does (/var/task and /opt/python): as built (with the bytecode the build
    ships), or with the bytecode left out (what a sources-only build costs at every cold start)."""
    import zipfile

    from components import lambda_build

    host = f"{sys.version_info.major}.{sys.version_info.minor}"
    code = lambda_build.build_code_zip(tmp / "build", python_version=host)
    layer = lambda_build.build_layer(target="host")
    code_dir, layer_dir = tmp / "task", tmp / "opt"
    for artifact, dest in ((code, code_dir), (layer, layer_dir)):
        with zipfile.ZipFile(artifact.path) as zf:
            names = [n for n in zf.namelist() if compiled or not n.endswith(".pyc")]
            zf.extractall(dest, members=names)
    return code_dir, layer_dir / "python"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-db", action="store_true", help="skip the authenticated first request")
    parser.add_argument(
        "--layer", action="store_true",
        help="also measure the real artifacts: the code zip + a dependency layer built for this interpreter "
             "(components.lambda_build, needs PyPI once), without the machine's site-packages (python -S), "
             "with and without precompiled bytecode",
    )
    args = parser.parse_args()

    db = None
    if not args.no_db:
        try:
            db = asyncio.run(_make_db())
        except Exception as exc:  # no local PostgreSQL: measure without the database request
            print(f"(no database for the authenticated request: {type(exc).__name__}: {exc})")
    try:
        env = _env(db[2] if db else None)
        _measure("this checkout, this machine's site-packages", [sys.executable], env, db, args.runs)
        if args.layer:
            import tempfile

            for compiled in (False, True):
                with tempfile.TemporaryDirectory(prefix="uma-coldstart-") as tmp:
                    code_dir, layer_dir = _layer_dirs(Path(tmp), compiled)
                    layer_env = {**env, "PYTHONPATH": f"{code_dir}:{layer_dir}", "PYTHONDONTWRITEBYTECODE": "1"}
                    label = "code zip + layer, " + ("as built (precompiled bytecode)" if compiled else "bytecode removed (compiled at every start)")
                    _measure(label, [sys.executable, "-S"], layer_env, db, args.runs)
        code, layer = _zip_sizes()
        if code is not None:
            print(f"\ncode zip (runtime/, shared by every handler): {code / 1024:.1f} KiB")
        print(f"dependency layer: {f'{layer / 1024 / 1024:.1f} MiB' if layer else 'not built (python -m components.lambda_build)'}")
    finally:
        if db:
            asyncio.run(_drop_db(db[0], db[1]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
