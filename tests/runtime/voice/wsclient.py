"""A small test client for /ws/audio over a real WebSocket (the `websockets` library)."""
from __future__ import annotations

import asyncio
import json
import time

import numpy as np
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from runtime.providers.audio import resample
from runtime.providers.base import TTSRequest
from runtime.providers.tts import EspeakTTS


async def spoken(text: str, speed: float = 0.8) -> bytes:
    """eSpeak NG speech as PCM16 16 kHz, padded with quiet noise before and after."""
    audio = await EspeakTTS().synthesize(TTSRequest(text, "en-us", speed))
    return silence(0.5) + resample(audio.pcm, audio.sample_rate, 16000) + silence(1.0)


def silence(seconds: float, seed: int = 3) -> bytes:
    rng = np.random.default_rng(seed)
    return rng.normal(0, 30, int(16000 * seconds)).astype("<i2").tobytes()


def tone(seconds: float) -> bytes:
    t = np.arange(int(16000 * seconds)) / 16000
    return (np.sin(2 * np.pi * 250 * t) * 7000).astype("<i2").tobytes()


class AudioClient:
    def __init__(self, ws):
        self.ws = ws
        self.events: list[dict] = []  # text messages, plus {"type": "_audio", "bytes": n} markers
        self.audio = bytearray()
        self.close_code: int | None = None

    @classmethod
    async def open(cls, url: str):
        ws = await connect(url, compression=None, max_size=None, open_timeout=10)
        return cls(ws)

    async def send(self, msg: dict) -> None:
        await self.ws.send(json.dumps(msg))

    async def stream(self, pcm: bytes, chunk: int = 4096, realtime: float = 0.0) -> None:
        for i in range(0, len(pcm), chunk):
            await self.ws.send(pcm[i:i + chunk])
            if realtime:
                await asyncio.sleep(chunk / 32000 / realtime)

    async def next(self, timeout: float = 20.0):
        try:
            raw = await asyncio.wait_for(self.ws.recv(), timeout)
        except ConnectionClosed as exc:
            self.close_code = exc.rcvd.code if exc.rcvd else None
            raise
        if isinstance(raw, bytes):
            self.audio += raw
            ev = {"type": "_audio", "bytes": len(raw), "t": time.monotonic()}
        else:
            ev = json.loads(raw)
            ev.setdefault("t", time.monotonic())
        self.events.append(ev)
        return ev

    async def until(self, kind: str, timeout: float = 30.0, **match) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            ev = await self.next(max(0.1, deadline - time.monotonic()))
            if ev["type"] == kind and all(ev.get(k) == v for k, v in match.items()):
                return ev

    async def closed(self, timeout: float = 15.0) -> int | None:
        try:
            while True:
                await self.next(timeout)
        except ConnectionClosed:
            return self.close_code

    def types(self) -> list[str]:
        return [e["type"] for e in self.events]

    async def aclose(self) -> None:
        await self.ws.close()
