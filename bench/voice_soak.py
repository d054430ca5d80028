"""Voice soak: N /ws/audio sessions for a long time, reported per window (5 minutes by default).

The server is the real app (``create_app(["voice"])`` under uvicorn with serve's options) in a child
process; the loopback providers (tests/runtime/voice/peers.py) run in a second child; the sessions
run here. Every session streams 16 kHz PCM16 in 20 ms frames without pause, speaks a 0.6 s
utterance every ``--turn-every`` seconds (a whole turn: VAD, STT, streaming LLM, sentence TTS) and
is closed and replaced by a new session every ``--session-minutes`` (new learners arrive, others
leave), so per-session state that is never released shows up as growth.

Per window: the server's RSS and open file descriptors (from /proc, last sample of the window),
event-loop lag p99 (a 50 ms ticker inside the server process: how late it wakes), turn latency
p50/p99 (end of speech to the last audio, from ``turn_complete``), first audio p50, the database's
connections (pg_stat_activity), the sizes of the server's in-process caches and registries, live
asyncio tasks, and errors (error messages, unexpected closes, failed connects, server log errors).

    python bench/voice_soak.py                      # short: 3 minutes, 1-minute windows
    python bench/voice_soak.py --minutes 90 --sessions 8
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import ctypes
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.voice import FRAME_MS, Session, _wait_http, child_peers, make_audio, pct, stop_processes  # noqa: E402

LAG_TICK = 0.05
SAMPLE_SECONDS = 5.0


# ------------------------------------------------------------------------------------ server
def container_sizes(root, prefix: str = "ctx", depth: int = 4, seen: set | None = None) -> dict[str, int]:
    """Sizes of the containers reachable from the app context through the runtime's own objects
    (dicts, lists, sets, TTL and LRU caches): a registry that only grows is a leak."""
    seen = set() if seen is None else seen
    out: dict[str, int] = {}
    if id(root) in seen or depth < 0:
        return out
    seen.add(id(root))
    if isinstance(root, dict):
        items = list(root.items())
        for key, value in items:
            if isinstance(key, str) and type(value).__module__.startswith("runtime."):
                out.update(container_sizes(value, f"{prefix}[{key}]", depth - 1, seen))
        return out
    attrs = getattr(root, "__dict__", None)
    if attrs is None:
        return out
    for name, value in list(attrs.items()):
        path = f"{prefix}.{name}"
        if isinstance(value, (dict, list, set, frozenset, collections.deque)):
            out[path] = len(value)
            if isinstance(value, dict):
                out.update(container_sizes(value, path, depth - 1, seen))
            continue
        mod = type(value).__module__
        if not mod.startswith("runtime."):
            continue
        if hasattr(type(value), "__len__"):
            try:
                out[path] = len(value)
            except TypeError:
                pass
        out.update(container_sizes(value, path, depth - 1, seen))
    return out


async def _sampler(app, stats_path: str) -> None:
    """Inside the server: how late a 50 ms timer fires (loop lag), and every few seconds one JSON
    line with RSS, fds, tasks, container sizes and the lags since the last line."""
    loop = asyncio.get_running_loop()
    lags: list[float] = []
    next_dump = loop.time() + SAMPLE_SECONDS
    tracing = os.environ.get("SOAK_TRACE_MEMORY") == "1"
    baseline = None
    samples = 0
    with open(stats_path, "a", buffering=1) as out:
        while True:
            t0 = loop.time()
            await asyncio.sleep(LAG_TICK)
            lags.append(max(0.0, (loop.time() - t0 - LAG_TICK) * 1000))
            if loop.time() >= next_dump:
                next_dump += SAMPLE_SECONDS
                status = Path("/proc/self/status").read_text()
                rss_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))
                ctx = getattr(app.state, "ctx", None)
                out.write(json.dumps({
                    "t": time.time(), "rss_kb": rss_kb, "fds": len(os.listdir("/proc/self/fd")),
                    "heap": c_heap(), "py_blocks": sys.getallocatedblocks(),
                    "tasks": len(asyncio.all_tasks()), "lags": [round(x, 2) for x in lags],
                    "sizes": container_sizes(ctx) if ctx is not None else {},
                    "traced_kb": _traced_kb() if tracing else None,
                    # Comparing snapshots stops the loop for a while: once a minute, not every sample.
                    "growth": _memory_growth(baseline) if tracing and baseline is not None and samples % 12 == 0 else None,
                }) + "\n")
                samples += 1
                if tracing and baseline is None:
                    import tracemalloc

                    baseline = tracemalloc.take_snapshot()  # after the first sample: warm-up done
                lags = []


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]


def c_heap() -> dict[str, int] | None:
    """The C allocator's view (glibc ``mallinfo2``, all arenas), in KB: ``in_use`` (allocated, mmapped
    blocks included) and ``free`` (held by the allocator, not returned to the system). RSS growing
    with ``in_use`` flat is the allocator holding freed memory, not a leak; ``in_use`` growing is
    memory something allocated outside Python's objects (tracemalloc does not see it)."""
    try:
        libc = ctypes.CDLL(None)
        libc.mallinfo2.restype = _MallInfo2
    except (OSError, AttributeError):
        return None  # not glibc, or older than 2.33
    info = libc.mallinfo2()
    return {"in_use": (info.uordblks + info.hblkhd) // 1024, "free": info.fordblks // 1024}


def _traced_kb() -> int:
    import tracemalloc

    return tracemalloc.get_traced_memory()[0] // 1024


def _memory_growth(baseline) -> list[str]:
    """The ten source lines whose allocations grew most since ``baseline`` (``--trace-memory``)."""
    import tracemalloc

    diff = tracemalloc.take_snapshot().compare_to(baseline, "lineno")
    return [str(stat) for stat in diff[:10]]


def child_server(port: int, stats_path: str) -> None:
    import uvicorn

    from runtime.app import create_app
    from runtime.settings import Settings

    app = create_app(["voice"], Settings.from_env())
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False,
                            ws_per_message_deflate=False, ws_ping_interval=20.0, lifespan="on")

    async def serve() -> None:
        if os.environ.get("SOAK_TRACE_MEMORY") == "1":
            import tracemalloc

            tracemalloc.start(3)  # after the imports: only what serving allocates is traced
        sampler = asyncio.create_task(_sampler(app, stats_path))
        try:
            await uvicorn.Server(config).serve()
        finally:
            sampler.cancel()

    asyncio.run(serve())


# ------------------------------------------------------------------------------------ clients
class SoakSession(Session):
    """A bench session that also keeps what a soak counts: completed turns and errors, stamped."""

    def __init__(self, idx: int, events: list):
        super().__init__(idx)
        self.events = events
        self.leaving = False

    def on_frame(self, opcode: int, payload: bytes) -> None:
        if opcode == 0x1 and b'"error"' in payload:
            msg = json.loads(payload)
            if msg.get("type") == "error":
                self.events.append((time.time(), "error", msg.get("code")))
        if opcode == 0x1 and b"turn_complete" in payload:
            msg = json.loads(payload)
            if not msg.get("interrupted"):
                self.events.append((time.time(), "turn", msg["metrics"]))
            return
        if opcode == 0x8 and not self.leaving:
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            self.events.append((time.time(), "error", f"closed {code}"))
        super().on_frame(opcode, payload)

    def close(self) -> None:
        self.leaving = True
        super().close()


async def run_sessions(args, port: int, token: str, events: list, stop_at: float) -> None:
    noise, speech = make_audio(2.0, 1)
    n, turn_every = args.sessions, args.turn_every
    life = args.session_minutes * 60
    serial = 0

    async def open_one(slot: int, born: float) -> SoakSession | None:
        nonlocal serial
        serial += 1
        s = SoakSession(slot, events)
        try:
            await s.open("127.0.0.1", port, f"/ws/audio?token={token}&session=soak-{serial}")
        except Exception as exc:
            events.append((time.time(), "error", f"connect {type(exc).__name__}"))
            return None
        s.born = born  # type: ignore[attr-defined]
        return s

    start = time.perf_counter()
    # Lifetimes staggered so about the same number of sessions leave in every minute.
    live: list[SoakSession | None] = [await open_one(i, start - life * i / n) for i in range(n)]
    tick = 0
    slots = 10
    while time.time() < stop_at:
        for slot in range(slots):
            due = start + (tick + slot / slots) * FRAME_MS / 1000
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            t_sec = tick * FRAME_MS / 1000
            for i in range(slot, n, slots):
                s = live[i]
                if s is None or s.closed_code is not None or time.perf_counter() - s.born > life:  # type: ignore[attr-defined]
                    if s is not None:
                        if s.closed_code is None:
                            s.close()
                        elif not s.leaving:
                            s.transport.close()
                    live[i] = await open_one(i, time.perf_counter())
                    continue
                phase = (t_sec + i * turn_every / n) % turn_every
                if phase < 0.58:
                    s.send_raw(speech[min(len(speech) - 1, int(phase * 1000 / FRAME_MS))])
                else:
                    s.send_raw(noise[(tick + i) % len(noise)])
        tick += 1
    for s in live:
        if s is not None:
            s.close()


# ------------------------------------------------------------------------------------ report
async def db_connections(owner_dsn: str, name: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(owner_dsn)
    try:
        return int(await conn.fetchval(
            "select count(*) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()", name))
    finally:
        await conn.close()


async def watch_db(db: dict, samples: list, stop_at: float) -> None:
    while time.time() < stop_at:
        try:
            samples.append((time.time(), await db_connections(db["owner_dsn"], db["name"])))
        except Exception as exc:  # the figure is missing for that sample, the soak goes on
            samples.append((time.time(), f"{type(exc).__name__}"))
        await asyncio.sleep(SAMPLE_SECONDS)


def server_log_errors(path: Path) -> list[str]:
    """Lines at ERROR in the server's log, and each traceback as its first line, the last place it
    passed through and the exception it ended with."""
    out: list[str] = []
    lines = path.read_text(errors="replace").splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("Traceback"):
            end = index + 1
            while end < len(lines) and (lines[end].startswith((" ", "\t")) or not lines[end].strip()):
                end += 1
            where = next((frame.strip() for frame in reversed(lines[index:end]) if frame.strip().startswith("File ")), "")
            out.append(f"{line} … {where} … {lines[end] if end < len(lines) else ''}")
            index = end + 1
            continue
        if "ERROR" in line:
            out.append(line)
        index += 1
    return out


def report(args, t0: float, stats_path: Path, events: list, db_samples: list, log_path: Path) -> int:
    stats = [json.loads(line) for line in stats_path.read_text().splitlines() if line.strip()]
    window = args.window_minutes * 60
    count = max(1, int(round(args.minutes * 60 / window)))
    size_keys = sorted({k for s in stats for k in s["sizes"]})
    print(f"voice soak: {args.sessions} sessions x 20 ms PCM16 frames, a turn every {args.turn_every:.0f} s per session,"
          f" sessions replaced every {args.session_minutes:g} min; {args.minutes:g} min in {args.window_minutes:g}-min windows"
          f"  [load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores]")
    header = (f"{'window':>9} {'RSS MB':>7} {'C heap MB':>9} {'C free MB':>9} {'Py blocks':>9} {'fds':>4} {'tasks':>5}"
              f" {'lag p99':>8} {'turns':>5} {'turn p50':>8} {'turn p99':>8} {'1st aud p50':>11} {'DB conns':>8} {'errors':>6}")
    print(header)
    totals = {"errors": 0, "turns": 0}
    rows = []
    for w in range(count):
        lo, hi = t0 + w * window, t0 + (w + 1) * window
        ws = [s for s in stats if lo <= s["t"] < hi]
        turns = [m for (t, kind, m) in events if kind == "turn" and lo <= t < hi]
        errors = [m for (t, kind, m) in events if kind == "error" and lo <= t < hi]
        conns = [c for (t, c) in db_samples if lo <= t < hi and isinstance(c, int)]
        lags = [x for s in ws for x in s["lags"]]
        total = [m["total_ms"] for m in turns if m.get("total_ms") is not None]
        first = [m["first_audio_ms"] for m in turns if m.get("first_audio_ms") is not None]
        last = ws[-1] if ws else {"rss_kb": 0, "fds": 0, "tasks": 0, "sizes": {}}
        totals["errors"] += len(errors)
        totals["turns"] += len(turns)
        rows.append((w, last, errors))
        heap = last.get("heap") or {"in_use": 0, "free": 0}
        print(f"{w * args.window_minutes:>4g}-{(w + 1) * args.window_minutes:<4g} {last['rss_kb'] / 1024:>7.1f}"
              f" {heap['in_use'] / 1024:>9.1f} {heap['free'] / 1024:>9.1f} {last.get('py_blocks', 0):>9} {last['fds']:>4}"
              f" {last['tasks']:>5} {pct(lags, 99):>6.1f}ms {len(turns):>5} {pct(total, 50):>6.0f}ms {pct(total, 99):>6.0f}ms"
              f" {pct(first, 50):>9.0f}ms {max(conns) if conns else 0:>8} {len(errors):>6}")
    final = rows[-1][1]["sizes"] if rows else {}
    print(f"in-process containers tracked: {len(size_keys)}; largest at the end: "
          + ", ".join(f"{k}={v}" for k, v in sorted(final.items(), key=lambda kv: -kv[1])[:5]))
    print("container sizes at the end of each window (only those that changed):")
    for key in size_keys:
        values = [r[1]["sizes"].get(key, 0) for r in rows]
        if len(set(values)) > 1:
            print(f"  {key}: {' '.join(str(v) for v in values)}")
    for w, _last, errors in rows:
        if errors:
            print(f"  errors in window {w + 1}: {dict(collections.Counter(map(str, errors)))}")
    traced = [(s["t"], s["traced_kb"]) for s in stats if s.get("traced_kb") is not None]
    if traced:
        per_window = [max((kb for t, kb in traced if t0 + w * window <= t < t0 + (w + 1) * window), default=0)
                      for w in range(count)]
        print(f"Python-level allocations (tracemalloc) per window, KB: {' '.join(map(str, per_window))}")
    growth = next((s["growth"] for s in reversed(stats) if s.get("growth")), None)
    if growth:
        print("allocations grown most since the first sample (tracemalloc):")
        for line in growth:
            print(f"  {line}")
    log_errors = server_log_errors(log_path)
    print(f"turns completed {totals['turns']}; client-side errors {totals['errors']}; server log errors {len(log_errors)}")
    for line in log_errors[:10]:
        print(f"  server: {line}")
    if len(rows) >= 3:
        rss = [r[1]["rss_kb"] / 1024 for r in rows[1:]]
        print(f"RSS after the first window: min {min(rss):.1f} MB, max {max(rss):.1f} MB, last-minus-second {rss[-1] - rss[0]:+.1f} MB")
        heaps = [(r[1].get("heap") or {}).get("in_use") for r in rows[1:]]
        if all(h is not None for h in heaps):
            print(f"C heap in use after the first window: last-minus-second {(heaps[-1] - heaps[0]) / 1024:+.2f} MB;"
                  f" Python blocks last-minus-second {rows[-1][1].get('py_blocks', 0) - rows[1][1].get('py_blocks', 0):+d}")
    return 0


# ------------------------------------------------------------------------------------ main
async def run(args) -> int:
    from bench.api import drop_db, make_db
    from tests.runtime.voice.peers import free_port

    db = await make_db()
    proc = peers_proc = None
    work = Path(tempfile.mkdtemp(prefix="uma-soak-"))
    stats_path, log_path = work / "server-stats.jsonl", work / "server.log"
    try:
        peers_port, port = free_port(), free_port()
        peers_url = f"http://127.0.0.1:{peers_port}"
        # The providers' own tracebacks (a request cut when its session closes) are not the server's errors.
        peers_proc = subprocess.Popen([sys.executable, __file__, "--child-peers", str(peers_port)], cwd=str(ROOT),
                                      stderr=subprocess.DEVNULL)
        _wait_http(peers_url + "/api/tags", peers_proc)
        env = {**os.environ, "DATABASE_URL": db["app_dsn"], "UNAMENTIS_DATABASE_ADMIN_URL": db["owner_dsn"],
               "UNAMENTIS_APP_ROLE": db["role"], "UNAMENTIS_LOG_LEVEL": "WARNING", "UNAMENTIS_ACCESS_LOG": "false",
               "UNAMENTIS_RATE_LIMIT_TOKEN": "1000000/60", "UNAMENTIS_RATE_LIMIT_IP": "1000000/60",
               "UNAMENTIS_VOICE_TURNS_PER_MINUTE": "100000", "UNAMENTIS_DB_POOL_MAX": "10",
               "UNAMENTIS_STT_PROVIDER": "whisper", "UNAMENTIS_STT_URL": peers_url + "/v1",
               "UNAMENTIS_LLM_PROVIDER": "openai", "UNAMENTIS_LLM_URL": peers_url + "/v1", "UNAMENTIS_LLM_MODEL": "slow-5",
               "UNAMENTIS_TTS_PROVIDER": "openai", "UNAMENTIS_TTS_URL": peers_url + "/v1",
               "UNAMENTIS_STORAGE_URL": f"file://{work / 'store'}", "UNAMENTIS_JOB_WORKERS": "0"}
        with open(log_path, "w") as log:
            proc = subprocess.Popen([sys.executable, __file__, "--child-server", str(port), str(stats_path)],
                                    env=env, cwd=str(ROOT), stdout=log, stderr=subprocess.STDOUT)
        _wait_http(f"http://127.0.0.1:{port}/health", proc)
        events: list = []
        db_samples: list = []
        t0 = time.time()
        stop_at = t0 + args.minutes * 60
        watcher = asyncio.create_task(watch_db(db, db_samples, stop_at))
        await run_sessions(args, port, db["token"], events, stop_at)
        await asyncio.sleep(1.0)
        watcher.cancel()
        return report(args, t0, stats_path, events, db_samples, log_path)
    finally:
        stop_processes(proc, peers_proc)
        await drop_db(db)
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--child-server":
        child_server(int(sys.argv[2]), sys.argv[3])
        return 0
    if len(sys.argv) == 3 and sys.argv[1] == "--child-peers":
        child_peers(int(sys.argv[2]))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=8)
    ap.add_argument("--minutes", type=float, default=3.0)
    ap.add_argument("--window-minutes", type=float, help="report window (default 5, or a quarter of a short run)")
    ap.add_argument("--turn-every", type=float, default=30.0, help="seconds between one session's utterances")
    ap.add_argument("--trace-memory", action="store_true", help="trace the server's allocations (slower; finds growth)")
    ap.add_argument("--session-minutes", type=float, help="a session's lifetime before it is replaced (default 10, or half a short run)")
    args = ap.parse_args()
    if args.trace_memory:
        os.environ["SOAK_TRACE_MEMORY"] = "1"  # the server child inherits it
    if args.window_minutes is None:
        args.window_minutes = 5.0 if args.minutes >= 20 else max(0.25, args.minutes / 4)
    if args.session_minutes is None:
        args.session_minutes = min(10.0, args.minutes / 2)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
