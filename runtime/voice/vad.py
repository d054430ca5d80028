"""Energy-based voice activity detection for PCM16 16 kHz mono.

Audio arrives in client-sized chunks (4096 bytes ≈ 128 ms typical); the detector looks at 20 ms
windows, vectorised with numpy, so a chunk costs a few microseconds. A window is speech when its RMS
clears both an absolute floor (scaled by the client's ``vad_threshold``) and a multiple of the
adaptive noise floor. Speech starts after ``start_ms`` of speech windows and ends after ``stop_ms`` of
silence — the hangover that keeps short pauses inside one utterance.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WINDOW_MS = 20


@dataclass
class VadEvent:
    kind: str  # "start" | "end"
    at_ms: float  # stream position (ms of audio received) where it was decided
    duration_ms: float = 0.0  # for "end": length of the utterance


class EnergyVAD:
    def __init__(self, sample_rate: int = 16000, threshold: float = 0.5, *, start_ms: int = 60,
                 stop_ms: int = 600, noise_ratio: float = 3.0):
        if not 0.0 <= threshold <= 1.0:
            raise ValueError("vad_threshold must be between 0 and 1")
        self.sample_rate = sample_rate
        self.window = sample_rate * WINDOW_MS // 1000  # samples per window
        # threshold 0.5 → ~-40 dBFS (RMS 330); 0 → very sensitive, 1 → only loud speech.
        self.min_level = 30.0 + 600.0 * threshold
        self.noise_ratio = noise_ratio
        self.start_windows = max(1, start_ms // WINDOW_MS)
        self.stop_windows = max(1, stop_ms // WINDOW_MS)
        self.noise_floor = 50.0
        self.in_speech = False
        self._run = 0  # consecutive windows contradicting the current state
        self._pending = np.empty(0, dtype=np.float32)
        self._odd_byte = b""
        self._pos_windows = 0
        self._speech_started_at = 0

    @property
    def position_ms(self) -> float:
        return self._pos_windows * WINDOW_MS

    def process(self, pcm: bytes) -> list[VadEvent]:
        if self._odd_byte:  # a chunk may split a sample; keep the byte for the next one
            pcm, self._odd_byte = self._odd_byte + pcm, b""
        if len(pcm) % 2:
            pcm, self._odd_byte = pcm[:-1], pcm[-1:]
        samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32)
        if self._pending.size:
            samples = np.concatenate((self._pending, samples))
        n = samples.size // self.window
        self._pending = samples[n * self.window:]
        if n == 0:
            return []
        windows = samples[: n * self.window].reshape(n, self.window)
        levels = np.sqrt(np.einsum("ij,ij->i", windows, windows) / self.window)
        events: list[VadEvent] = []
        for level in levels.tolist():
            self._pos_windows += 1
            speech = level > self.min_level and level > self.noise_floor * self.noise_ratio
            if not self.in_speech:
                if not speech:
                    # Track the background level only while nobody talks.
                    self.noise_floor = 0.95 * self.noise_floor + 0.05 * max(level, 1.0)
                self._run = self._run + 1 if speech else 0
                if self._run >= self.start_windows:
                    self.in_speech, self._run = True, 0
                    self._speech_started_at = self._pos_windows - self.start_windows
                    events.append(VadEvent("start", self.position_ms))
            else:
                self._run = 0 if speech else self._run + 1
                if self._run >= self.stop_windows:
                    self.in_speech, self._run = False, 0
                    dur = (self._pos_windows - self._speech_started_at) * WINDOW_MS
                    events.append(VadEvent("end", self.position_ms, duration_ms=dur))
        return events

    def reset(self) -> None:
        self.in_speech, self._run = False, 0
        self._pending = np.empty(0, dtype=np.float32)
        self._odd_byte = b""
