"""Edge router overhead: the same requests and /ws/audio frames direct to the runtime and through the
real edge router (components/edge_worker/src/router.js in workerd, the Miniflare set-up its tests use),
in the same run.

The runtime is the container app (every service, serve's uvicorn options, the origin-secret check on)
in a child process on loopback; the router listens on another loopback port with the route table of
runtime/route_table.py and forwards to it with the origin secret. Direct requests carry the secret
themselves. Rounds alternate direct / router so background load on the machine hits both alike; the
median round of each is printed.

HTTP: ``GET /api/bench/tenant`` (Tier-1 auth with a real beta token, a tenant-scoped read under RLS),
one connection (latency p50/p99) and ``--connections`` keep-alive connections (requests/s). WebSocket:
``/ws/audio`` sessions streaming 20 ms PCM16 frames with a ``ping`` right behind a frame; the pong's
round trip includes any backlog of frames, as in bench/voice.py; one session and ``--sessions``.

The figure is what our router code and workerd's proxying add on one machine, not Cloudflare's network.

    python bench/edge_overhead.py [--rounds 3] [--seconds 4] [--connections 16] [--sessions 20]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.api import ORIGIN_SECRET, build_full_app, drop_db, load, make_db  # noqa: E402
from bench.voice import Session, _wait_http, child_peers, drive, pct, stop_processes  # noqa: E402

ROUTER_SCRIPT = ROOT / "components" / "edge_worker" / "bench" / "serve.mjs"
TENANT_READ = "/api/bench/tenant"


def child_server(port: int) -> None:
    import uvicorn

    uvicorn.run(build_full_app(), host="127.0.0.1", port=port, log_level="warning", access_log=False,
                ws_per_message_deflate=False, ws_ping_interval=20.0, lifespan="on", server_header=False)


def start_router(origin: str) -> tuple[subprocess.Popen, int]:
    """The router in workerd on a free loopback port; returns the process and its port."""
    node = shutil.which("node")
    if not node:
        raise SystemExit("node (18+) is required: the router runs in workerd through Miniflare")
    if not (ROUTER_SCRIPT.parent.parent / "node_modules" / "miniflare").is_dir():
        raise SystemExit(f"run `npm ci` in {ROUTER_SCRIPT.parent.parent} first")
    from runtime.route_table import as_json_rules

    proc = subprocess.Popen([node, str(ROUTER_SCRIPT), origin, ORIGIN_SECRET], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, cwd=str(ROUTER_SCRIPT.parent.parent), text=True)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(json.dumps(as_json_rules()))
    proc.stdin.close()
    url = proc.stdout.readline().strip()
    if not url:
        raise RuntimeError(f"the router did not start (exit {proc.poll()})")
    return proc, int(url.rstrip("/").rsplit(":", 1)[1])


async def ws_round(port: int, token: str, headers: dict[str, str], sessions: int, seconds: float, tag: str) -> list[float]:
    """Ping round trips (ms) of ``sessions`` sessions streaming 20 ms frames for ``seconds``."""
    group = [Session(i) for i in range(sessions)]
    for i in range(0, sessions, 10):
        await asyncio.gather(*(s.open("127.0.0.1", port, f"/ws/audio?token={token}&session=edge-{tag}-{s.idx}", headers)
                               for s in group[i:i + 10]))
    await drive(group, 1.0, 0, record=False)
    await drive(group, seconds, 0, record=True, ping_every=2 if sessions == 1 else 5)
    rtts = [r for s in group for r in s.rtts]
    for s in group:
        s.close()
    return rtts


def median_by(results: list[dict], key: str) -> dict:
    ordered = sorted(results, key=lambda r: r[key])
    return ordered[len(ordered) // 2]


async def run(args) -> int:
    from tests.runtime.voice.peers import free_port

    db = await make_db()
    procs: list[subprocess.Popen] = []
    try:
        peers_port, port = free_port(), free_port()
        peers_url = f"http://127.0.0.1:{peers_port}"
        procs.append(subprocess.Popen([sys.executable, __file__, "--child-peers", str(peers_port)], cwd=str(ROOT)))
        _wait_http(peers_url + "/api/tags", procs[-1])
        env = {**os.environ, "DATABASE_URL": db["app_dsn"], "UNAMENTIS_DATABASE_ADMIN_URL": db["owner_dsn"],
               "UNAMENTIS_APP_ROLE": db["role"], "UNAMENTIS_ORIGIN_SECRET": ORIGIN_SECRET,
               "UNAMENTIS_LOG_LEVEL": "WARNING", "UNAMENTIS_ACCESS_LOG": "false",
               "UNAMENTIS_RATE_LIMIT_TOKEN": "100000000/60", "UNAMENTIS_RATE_LIMIT_IP": "100000000/60",
               "UNAMENTIS_STT_PROVIDER": "whisper", "UNAMENTIS_STT_URL": peers_url + "/v1",
               "UNAMENTIS_LLM_PROVIDER": "openai", "UNAMENTIS_LLM_URL": peers_url + "/v1",
               "UNAMENTIS_TTS_PROVIDER": "openai", "UNAMENTIS_TTS_URL": peers_url + "/v1",
               "UNAMENTIS_JOB_WORKERS": "0"}
        procs.append(subprocess.Popen([sys.executable, __file__, "--child-server", str(port)], env=env, cwd=str(ROOT)))
        _wait_http(f"http://127.0.0.1:{port}/health", procs[-1])
        router, router_port = start_router(f"http://127.0.0.1:{port}")
        procs.append(router)

        auth = {"Authorization": f"Bearer {db['token']}", "CF-Connecting-IP": "198.51.100.10"}
        paths = {"direct": (port, {**auth, "X-Origin-Secret": ORIGIN_SECRET}), "router": (router_port, auth)}
        results: dict[str, dict[str, list]] = {k: {"seq": [], "conc": [], "ws1": [], "wsn": []} for k in paths}
        for p, headers in paths.values():  # warm both paths (connections, caches, workerd's isolate)
            await load(p, TENANT_READ, headers, 4, 1.0)
        for rnd in range(args.rounds):
            order = list(paths) if rnd % 2 == 0 else list(reversed(paths))
            for name in order:
                p, headers = paths[name]
                results[name]["seq"].append(await load(p, TENANT_READ, headers, 1, args.seconds))
                results[name]["conc"].append(await load(p, TENANT_READ, headers, args.connections, args.seconds))
                ws_headers = {k: v for k, v in headers.items() if k != "Authorization"}
                results[name]["ws1"].append(await ws_round(p, db["token"], ws_headers, 1, args.seconds, f"{name}{rnd}"))
                results[name]["wsn"].append(await ws_round(p, db["token"], ws_headers, args.sessions, args.seconds, f"{name}{rnd}n"))

        def ws_stats(rounds: list[list[float]]) -> dict:
            per = sorted(({"p50_ms": pct(r, 50), "p99_ms": pct(r, 99), "n": len(r)} for r in rounds if r),
                         key=lambda r: r["p50_ms"])
            return per[len(per) // 2] if per else {"p50_ms": float("nan"), "p99_ms": float("nan"), "n": 0}

        d, r = results["direct"], results["router"]
        seq_d, seq_r = median_by(d["seq"], "p50_ms"), median_by(r["seq"], "p50_ms")
        conc_d, conc_r = median_by(d["conc"], "rps"), median_by(r["conc"], "rps")
        print(f"edge router overhead (workerd via Miniflare in front of the runtime, loopback), {args.rounds} alternating round(s)"
              f" of {args.seconds:g} s, median round  [load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores]")
        print(f"  {'':34} {'direct':>18} {'through router':>18} {'added':>18}")

        def row(label: str, a: dict, b: dict) -> None:
            print(f"  {label:34} {a['p50_ms']:>7.2f} / {a['p99_ms']:>7.2f} {b['p50_ms']:>7.2f} / {b['p99_ms']:>7.2f}"
                  f" {b['p50_ms'] - a['p50_ms']:>+7.2f} / {b['p99_ms'] - a['p99_ms']:>+7.2f}  ms p50 / p99")

        row(f"HTTP {TENANT_READ}, 1 connection", seq_d, seq_r)
        row(f"HTTP, {args.connections} connections", conc_d, conc_r)
        print(f"  {'HTTP requests/s, ' + str(args.connections) + ' connections':34} {conc_d['rps']:>18.0f} {conc_r['rps']:>18.0f}"
              f"   router/direct {conc_r['rps'] / conc_d['rps']:.2f}")
        w1d, w1r, wnd, wnr = ws_stats(d["ws1"]), ws_stats(r["ws1"]), ws_stats(d["wsn"]), ws_stats(r["wsn"])
        row("/ws/audio frame+ping RTT, 1 session", w1d, w1r)
        row(f"/ws/audio frame+ping RTT, {args.sessions} sess.", wnd, wnr)
        print(f"  samples: HTTP {sum(x['requests'] for x in d['seq'] + r['seq'] + d['conc'] + r['conc'])} requests,"
              f" WebSocket {sum(len(x) for x in d['ws1'] + r['ws1'] + d['wsn'] + r['wsn'])} round trips;"
              f" all answers 200 / pong (a non-200 fails the run)")
        spread = statistics.pstdev([x["p50_ms"] for x in r["seq"]]) if len(r["seq"]) > 1 else 0.0
        print(f"  router HTTP p50 spread across rounds {spread:.2f} ms (noise from other processes on the machine)")
    finally:
        stop_processes(*reversed(procs))
        await drop_db(db)
    return 0


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--child-server":
        child_server(int(sys.argv[2]))
        return 0
    if len(sys.argv) == 3 and sys.argv[1] == "--child-peers":
        child_peers(int(sys.argv[2]))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--sessions", type=int, default=20)
    return asyncio.run(run(ap.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
