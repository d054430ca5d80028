"""The production HTTP server's own cost: its protocol (``runtime/http_server.py``) against uvicorn's.

Both servers are uvicorn with uvloop serving the same ASGI app, which answers every request at
once with an API answer's shape: a JSON body and the headers the stack sends (content type and
length, the request id, three rate-limit headers, CORS's two). What differs is the protocol:

- ``ours``: ``uvicorn_options(settings)`` as ``python -m runtime serve`` uses them (the header
  deadline, the head checked and joined in one pass and written with the body in one system call,
  one keep-alive timer per connection);
- ``uvicorn``: uvicorn's own httptools protocol (``http="httptools"``) with the same keep-alive
  timeout.

``wrk`` (a C load generator) drives each in turn, ``--rounds`` alternating rounds, the first
server alternating from round to round; printed per server: the median requests/s and the
server's user and system CPU per request (``/proc``), and the medians of the rounds' own ratios.
With no database and no stack, what is left is the HTTP work itself, so this is where a change to
the protocol shows (in ``bench/samework.py`` it is a few microseconds inside a whole request).

    python bench/http_server.py [--rounds 6] [--seconds 4] [--connections 32]

Needs ``wrk`` on PATH (Debian package ``wrk``).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import api as api_bench  # noqa: E402  (ports)
from bench import samework  # noqa: E402  (wrk and its CPU meter)

BODY = json.dumps({"curricula": [{"id": f"{n:08d}-0000-4000-8000-000000000000", "title": f"Curriculum {n}",
                                  "topic_count": n} for n in range(6)]}).encode()
HEADERS = [(b"content-length", str(len(BODY)).encode()), (b"content-type", b"application/json"),
           (b"x-request-id", b"0123456789abcdef0123456789abcdef"), (b"x-ratelimit-limit", b"100000000"),
           (b"x-ratelimit-remaining", b"99999999"), (b"x-ratelimit-reset", b"60"),
           (b"access-control-allow-origin", b"https://app.example.com"), (b"vary", b"Origin")]


async def app(scope: dict, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": list(HEADERS)})
    await send({"type": "http.response.body", "body": BODY})


def serve(kind: str, port: int) -> None:
    import uvicorn

    from runtime.http_server import uvicorn_options
    from runtime.settings import Settings

    settings = Settings(database_url=None)
    options = uvicorn_options(settings) if kind == "ours" else {"http": "httptools", "timeout_keep_alive": settings.keepalive_timeout}
    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False, server_header=False,
                proxy_headers=False, lifespan="off", ws="none", **options)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=int, default=4, help="measured seconds per round and server")
    parser.add_argument("--warmup", type=int, default=1, help="warm-up seconds before each measured round (0: none)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--serve", choices=("ours", "uvicorn"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return 0
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 2
    workdir = tempfile.mkdtemp(prefix="uma-http-server-")
    servers: dict[str, tuple[int, subprocess.Popen]] = {}
    try:
        script = os.path.join(workdir, "get.lua")
        Path(script).write_text('wrk.method = "GET"\n')
        for kind in ("ours", "uvicorn"):
            port = api_bench._free_port()
            process = subprocess.Popen([sys.executable, __file__, "--serve", kind, "--port", str(port)], cwd=str(ROOT),
                                       env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL)
            servers[kind] = (port, process)
            samework._wait_listening(port, process)
        rounds: dict[str, list[dict[str, float]]] = {"ours": [], "uvicorn": []}
        for number in range(args.rounds):
            for kind in ("ours", "uvicorn") if number % 2 == 0 else ("uvicorn", "ours"):
                port, process = servers[kind]
                result = samework.measured(SimpleNamespace(port=port, process=process), "/", script, args)  # type: ignore[arg-type]
                rounds[kind].append({"rps": result["rps"], "user": result["server_user_us"],
                                     "system": result["server_cpu_us"] - result["server_user_us"]})
        print(f"{args.connections} connections, wrk -t1, {args.rounds} alternating rounds of {args.seconds} s; "
              f"a {len(BODY)}-byte JSON answer with {len(HEADERS)} headers")
        print(f"{'server':<10} {'req/s':>8} {'user µs':>8} {'system µs':>10}   per request, medians of the rounds")
        for kind, measured in rounds.items():
            print(f"{kind:<10} {statistics.median(r['rps'] for r in measured):>8.0f} "
                  f"{statistics.median(r['user'] for r in measured):>8.2f} {statistics.median(r['system'] for r in measured):>10.2f}")
        for figure, label in (("rps", "req/s"), ("user", "user CPU"), ("system", "system CPU")):
            ratios = sorted(ours[figure] / theirs[figure] for ours, theirs in zip(rounds["ours"], rounds["uvicorn"]))
            print(f"ours / uvicorn, {label}: {statistics.median(ratios):.2f} [{ratios[0]:.2f}–{ratios[-1]:.2f}]")
    finally:
        for _port, process in servers.values():
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
