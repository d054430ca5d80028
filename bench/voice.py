"""Voice core under load: N concurrent /ws/audio sessions streaming 16 kHz PCM16 in 20 ms frames.

The server is the real app (``create_app(["voice"])`` under uvicorn with the options ``serve`` uses:
per-message deflate off) in a child process **pinned to one CPU core**; the load generator and the
loopback providers (OpenAI-compatible STT/LLM/TTS, tests/runtime/voice/peers.py) run in this process
on the other core. Every session streams background noise in 20 ms frames (640 bytes) and, every
``--turn-every`` seconds (staggered), a 0.6 s "utterance" that runs a whole turn: VAD → STT → streaming
LLM → sentence TTS with paced audio back.

Added latency per frame: each session sends ``{"type":"ping"}`` right behind an audio frame twice a
second; the server answers in order, so the round trip includes any backlog of frames in the
server's loop. Baseline = the same measurement with a single session, in the same run; added = loaded
minus baseline (p50/p99). CPU = the server process's user+system time over the window.

TTS cache: ``SpeechService.speak`` on a local-layer hit, an object-store hit (fresh local layer) and a
miss (loopback synthesis), p50 in-process; plus ``POST /api/tts`` cache hits through the server.

    python bench/voice.py [--sessions 200] [--seconds 20] [--turn-every 20]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FRAME_MS = 20
FRAME_BYTES = 16000 * 2 * FRAME_MS // 1000  # 640


def pct(values, q):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


# ------------------------------------------------------------------------------------ server
def child_server(port: int) -> None:
    """The server process: one core, the voice service only, serve's uvicorn options."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})
    _raise_priority()
    import uvicorn

    from runtime.app import create_app
    from runtime.settings import Settings

    settings = Settings.from_env()
    uvicorn.run(create_app(["voice"], settings), host="127.0.0.1", port=port, log_level="warning",
                access_log=False, ws_per_message_deflate=False, ws_ping_interval=20.0, lifespan="on")


def _raise_priority() -> None:
    """On a shared machine other processes steal the pinned core; as root, ask the scheduler to
    prefer the bench (closer to a task's dedicated vCPU). Without the privilege, run as is."""
    try:
        os.nice(-15)
    except (PermissionError, OSError):
        pass


def child_peers(port: int) -> None:
    """The loopback providers in their own process (a thread here would share the generator's GIL)."""
    if hasattr(os, "sched_setaffinity") and os.cpu_count() and os.cpu_count() > 1:
        os.sched_setaffinity(0, {1})
    import uvicorn

    from tests.runtime.voice.peers import Peers

    uvicorn.run(Peers().app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="off")


def stop_processes(*procs: "subprocess.Popen | None") -> None:
    """Terminate the child servers in the order given; kill one that has not exited after 30 s."""
    for proc in [p for p in procs if p is not None]:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _wait_http(url: str, proc: subprocess.Popen) -> None:
    import httpx

    for _ in range(300):
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: process exited {proc.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------------------------ clients
# A minimal WebSocket client (RFC 6455) on asyncio protocols: frames are masked once and written as
# bytes, so the load generator costs microseconds per frame and does not distort what it measures.
MASK = b"\x12\x34\x56\x78"


def encode_frame(payload: bytes, opcode: int) -> bytes:
    n = len(payload)
    if n < 126:
        head = bytes([0x80 | opcode, 0x80 | n])
    elif n < 65536:
        head = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + n.to_bytes(8, "big")
    import numpy as np

    mask = np.frombuffer((MASK * (n // 4 + 1))[:n], dtype=np.uint8)
    body = (np.frombuffer(payload, dtype=np.uint8) ^ mask).tobytes()
    return head + MASK + body


class WSClient(asyncio.Protocol):
    def __init__(self, session: "Session"):
        self.s = session
        self.buf = bytearray()
        self.handshake = asyncio.get_running_loop().create_future()
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.buf += data
        if not self.handshake.done():
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(self.buf[:end]).split(b"\r\n", 1)[0]
            del self.buf[:end + 4]
            if b" 101 " not in status + b" ":
                self.handshake.set_exception(RuntimeError(status.decode(errors="replace")))
                return
            self.handshake.set_result(True)
        while len(self.buf) >= 2:
            b0, b1 = self.buf[0], self.buf[1]
            n, pos = b1 & 0x7F, 2
            if n == 126:
                if len(self.buf) < 4:
                    return
                n, pos = int.from_bytes(self.buf[2:4], "big"), 4
            elif n == 127:
                if len(self.buf) < 10:
                    return
                n, pos = int.from_bytes(self.buf[2:10], "big"), 10
            if len(self.buf) < pos + n:
                return
            payload = bytes(self.buf[pos:pos + n])
            del self.buf[:pos + n]
            self.s.on_frame(b0 & 0x0F, payload)

    def connection_lost(self, exc):
        if self.s.closed_code is None:
            self.s.closed_code = -1


class Session:
    def __init__(self, idx: int):
        self.idx = idx
        self.rtts: list[float] = []
        self.ping_sent: dict[int, float] = {}
        self.closed_code = None
        self.turns: list[dict] = []
        self.recording = False

    async def open(self, host: str, port: int, path: str, headers: dict[str, str] | None = None):
        loop = asyncio.get_running_loop()
        self.transport, self.proto = await loop.create_connection(lambda: WSClient(self), host, port)
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self.transport.write((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                              "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                              f"Sec-WebSocket-Version: 13\r\n{extra}\r\n").encode())
        await asyncio.wait_for(self.proto.handshake, 30)
        self.send_text({"type": "config", "sample_rate": 16000, "channels": 1, "format": "pcm16",
                        "vad_enabled": True, "vad_threshold": 0.5})

    def send_text(self, msg: dict) -> None:
        self.transport.write(encode_frame(json.dumps(msg).encode(), 0x1))

    def send_raw(self, frame: bytes) -> None:
        self.transport.write(frame)

    def on_frame(self, opcode: int, payload: bytes) -> None:
        if opcode == 0x1:  # text; binary (0x2) audio frames are not looked at
            if b'"pong"' in payload:
                msg = json.loads(payload)
                sent = self.ping_sent.pop(msg.get("seq"), None)
                if sent is not None and self.recording:
                    self.rtts.append((time.perf_counter() - sent) * 1000)
            elif b"turn_complete" in payload:
                msg = json.loads(payload)
                if not msg.get("interrupted"):
                    self.turns.append(msg["metrics"])
        elif opcode == 0x9:  # protocol ping from the server: answer with the same data
            self.transport.write(encode_frame(payload, 0xA))
        elif opcode == 0x8:
            self.closed_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            self.transport.close()

    def close(self) -> None:
        if self.closed_code is None:
            self.transport.write(encode_frame((1000).to_bytes(2, "big"), 0x8))
        self.transport.close()


def make_audio(seconds: float, seed: int) -> tuple[list[bytes], list[bytes]]:
    """Pre-masked frames: background noise and a 0.6 s tone "utterance"."""
    import numpy as np

    rng = np.random.default_rng(seed)
    noise = rng.normal(0, 30, int(16000 * seconds)).astype("<i2").tobytes()
    t = np.arange(int(16000 * 0.6)) / 16000
    speech = (np.sin(2 * np.pi * 220 * t) * 6000).astype("<i2").tobytes()
    split = lambda pcm: [encode_frame(pcm[i:i + FRAME_BYTES], 0x2)  # noqa: E731
                         for i in range(0, len(pcm) - FRAME_BYTES + 1, FRAME_BYTES)]
    return split(noise), split(speech)


async def drive(sessions: list[Session], seconds: float, turn_every: float, record: bool, ping_every: int = 25) -> dict:
    """Send 20 ms frames to every session on a fixed clock (sessions spread over the 20 ms so the
    server sees a steady stream, like real clients); a ping right behind a frame every ``ping_every``."""
    noise, speech = make_audio(2.0, 1)
    slots = 10
    ticks = int(seconds * 1000 / FRAME_MS)
    start = time.perf_counter()
    seq = 0
    sent = 0
    lag_max = 0.0
    for s in sessions:
        s.recording = record
    for tick in range(ticks):
        for slot in range(slots):
            due = start + (tick + slot / slots) * FRAME_MS / 1000
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                lag_max = max(lag_max, -delay)
            t_sec = tick * FRAME_MS / 1000
            for s in sessions[slot::slots]:
                if s.closed_code is not None:
                    continue
                phase = (t_sec + s.idx * turn_every / max(1, len(sessions))) % turn_every if turn_every else 99
                if phase < 0.58:
                    s.send_raw(speech[min(len(speech) - 1, int(phase * 1000 / FRAME_MS))])
                else:
                    s.send_raw(noise[(tick + s.idx) % len(noise)])
                sent += 1
                if (tick + s.idx) % ping_every == 0:
                    seq += 1
                    s.ping_sent[seq] = time.perf_counter()
                    s.send_text({"type": "ping", "seq": seq})
    elapsed = time.perf_counter() - start
    await asyncio.sleep(0.5)  # the last pongs
    for s in sessions:
        s.recording = False
    return {"frames": sent, "elapsed": elapsed, "client_lag_max_ms": lag_max * 1000}


# ------------------------------------------------------------------------------------ TTS cache
async def cache_bench(peers_url: str, iterations: int) -> dict:
    import httpx

    from runtime.storage import open_store
    from runtime.tts.cache import TTSCache
    from runtime.tts.speech import SpeechService
    from runtime.voice.config import VoiceSettings
    from runtime.voice.gpu import GpuFleet
    from runtime.voice.metering import Meter
    from runtime.voice.routing import ProviderRouter

    vs = VoiceSettings(tts_provider="openai", tts_url=peers_url + "/v1")
    tmp = tempfile.mkdtemp(prefix="uma-bench-store-")
    async with httpx.AsyncClient() as http:
        store = open_store(f"file://{tmp}")
        router = ProviderRouter(vs, http, Meter(None, lambda *a: 0.0), GpuFleet(vs, http))
        speech = SpeechService(router, TTSCache(store), None, vs)
        texts = [f"Sentence number {i} of the cache benchmark." for i in range(50)]
        miss = []
        for t in texts:
            t0 = time.perf_counter()
            await speech.speak(None, "t1", t)
            miss.append((time.perf_counter() - t0) * 1000)
        await speech.drain()
        local = []
        for i in range(iterations):
            t0 = time.perf_counter()
            r = await speech.speak(None, "t1", texts[i % len(texts)])
            local.append((time.perf_counter() - t0) * 1000)
            assert r.status == "hit" and r.layer == "local"
        fresh = SpeechService(router, TTSCache(store), None, vs)  # a second instance: empty local layer
        stored = []
        for t in texts:
            t0 = time.perf_counter()
            r = await fresh.speak(None, "t1", t)
            stored.append((time.perf_counter() - t0) * 1000)
            assert r.layer == "store"
    return {"miss_p50": statistics.median(miss), "local_p50": statistics.median(local), "local_p99": pct(local, 99),
            "store_p50": statistics.median(stored)}


async def http_cache_hits(base: str, token: str, n: int) -> float:
    import httpx

    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30) as c:
        body = {"text": "The cache answers this one.", "voice_id": "nova"}
        r = await c.post("/api/tts", json=body)
        r.raise_for_status()
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            r = await c.post("/api/tts", json=body)
            times.append((time.perf_counter() - t0) * 1000)
            assert r.headers["x-tts-cache-status"] == "hit"
    return statistics.median(times)


# ------------------------------------------------------------------------------------ main
async def run(args) -> int:
    from bench.api import drop_db, make_db
    from tests.runtime.voice.peers import free_port

    if hasattr(os, "sched_setaffinity") and os.cpu_count() and os.cpu_count() > 1:
        os.sched_setaffinity(0, {1})  # the load generator and peers stay off the server's core
    _raise_priority()
    db = await make_db()
    proc = peers_proc = None
    try:
        peers_port, port = free_port(), free_port()
        peers_url = f"http://127.0.0.1:{peers_port}"
        peers_proc = subprocess.Popen([sys.executable, __file__, "--child-peers", str(peers_port)], cwd=str(ROOT))
        _wait_http(peers_url + "/api/tags", peers_proc)
        store_dir = tempfile.mkdtemp(prefix="uma-bench-voice-")
        env = {**os.environ, "DATABASE_URL": db["app_dsn"], "UNAMENTIS_DATABASE_ADMIN_URL": db["owner_dsn"],
               "UNAMENTIS_APP_ROLE": db["role"], "UNAMENTIS_LOG_LEVEL": "WARNING", "UNAMENTIS_ACCESS_LOG": "false",
               "UNAMENTIS_RATE_LIMIT_TOKEN": "1000000/60", "UNAMENTIS_RATE_LIMIT_IP": "1000000/60",
               "UNAMENTIS_VOICE_TURNS_PER_MINUTE": "100000", "UNAMENTIS_DB_POOL_MAX": "10",
               "UNAMENTIS_STT_PROVIDER": "whisper", "UNAMENTIS_STT_URL": peers_url + "/v1",
               "UNAMENTIS_LLM_PROVIDER": "openai", "UNAMENTIS_LLM_URL": peers_url + "/v1", "UNAMENTIS_LLM_MODEL": "slow-5",
               "UNAMENTIS_TTS_PROVIDER": "openai", "UNAMENTIS_TTS_URL": peers_url + "/v1",
               "UNAMENTIS_STORAGE_URL": f"file://{store_dir}", "UNAMENTIS_JOB_WORKERS": "0"}
        proc = subprocess.Popen([sys.executable, __file__, "--child-server", str(port)], env=env, cwd=str(ROOT))
        base = f"127.0.0.1:{port}"
        _wait_http(f"http://{base}/health", proc)
        path = lambda i: f"/ws/audio?token={db['token']}&session=bench-{i}"  # noqa: E731

        # Baseline: one session, same measurement (pings more often: same count of samples matters less).
        one = Session(0)
        await one.open("127.0.0.1", port, path("baseline"))
        await drive([one], 1.0, 0, record=False)
        await drive([one], args.baseline_seconds, 0, record=True, ping_every=5)
        base_rtt = one.rtts
        one.close()

        sessions = [Session(i) for i in range(args.sessions)]
        for i in range(0, len(sessions), 20):
            await asyncio.gather(*(s.open("127.0.0.1", port, path(s.idx)) for s in sessions[i:i + 20]))
        await drive(sessions, 2.0, 0, record=False)  # warm-up
        cpu0, t0, me0 = cpu_seconds(proc.pid), time.perf_counter(), cpu_seconds(os.getpid())
        result = await drive(sessions, args.seconds, args.turn_every, record=True)
        cpu1, t1, me1 = cpu_seconds(proc.pid), time.perf_counter(), cpu_seconds(os.getpid())
        await asyncio.sleep(1.0)
        held = sum(1 for s in sessions if s.closed_code is None)
        rtts = [r for s in sessions for r in s.rtts]
        turns = [m for s in sessions for m in s.turns]
        for s in sessions:
            s.close()
        cpu_frac = (cpu1 - cpu0) / (t1 - t0)
        per_frame_us = 1e6 * (cpu1 - cpu0) / max(1, result["frames"])
        http_hit = await http_cache_hits(f"http://{base}", db["token"], 200)
        cache = await cache_bench(peers_url, 2000)

        b50, b99 = pct(base_rtt, 50), pct(base_rtt, 99)
        l50, l99 = pct(rtts, 50), pct(rtts, 99)
        print(f"voice core, 1 core (server pinned), {args.sessions} sessions x 20 ms PCM16 frames, {args.seconds:.0f} s window"
              f"  [machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores: other processes compete]")
        print(f"  sessions held            {held}/{args.sessions}")
        print(f"  frames/s                 {result['frames'] / result['elapsed']:.0f}  "
              f"(target {args.sessions * 1000 // FRAME_MS}; generator max lag {result['client_lag_max_ms']:.1f} ms)")
        print(f"  ping RTT baseline (1 session)   p50 {b50:.2f} ms  p99 {b99:.2f} ms  (n={len(base_rtt)})")
        print(f"  ping RTT loaded               p50 {l50:.2f} ms  p99 {l99:.2f} ms  (n={len(rtts)})")
        print(f"  added latency per frame       p50 {max(0.0, l50 - b50):.2f} ms  p99 {max(0.0, l99 - b99):.2f} ms"
              f"  (ratio loaded/baseline p99 {l99 / b99:.1f}x)")
        print(f"  server CPU                    {100 * cpu_frac:.1f}% of one core; {1000 * cpu_frac / args.sessions:.2f} ms CPU/s per session"
              f"  (load generator + peers: {100 * (me1 - me0) / (t1 - t0):.0f}% of the other core)")
        print(f"  server CPU per frame          {per_frame_us:.1f} us (turns included) -> one core sustains ~{1e6 / per_frame_us / (1000 / FRAME_MS):.0f} sessions")
        if turns:
            fa = [t["first_audio_ms"] for t in turns if t.get("first_audio_ms") is not None]
            print(f"  turns completed               {len(turns)}  (first audio after end of speech p50 {pct(fa, 50):.0f} ms, p99 {pct(fa, 99):.0f} ms)")
        print(f"  TTS cache (in-process)        local hit p50 {cache['local_p50']:.3f} ms (p99 {cache['local_p99']:.3f}); "
              f"object-store hit p50 {cache['store_p50']:.2f} ms; miss (loopback synthesis) p50 {cache['miss_p50']:.2f} ms "
              f"-> hit is {cache['miss_p50'] / cache['local_p50']:.0f}x faster than a miss")
        print(f"  TTS cache over HTTP           POST /api/tts hit p50 {http_hit:.2f} ms (client included)")
    finally:
        stop_processes(proc, peers_proc)
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
    ap.add_argument("--sessions", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--baseline-seconds", type=float, default=5.0)
    ap.add_argument("--turn-every", type=float, default=20.0, help="seconds between one session's utterances (0 = never)")
    return asyncio.run(run(ap.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
