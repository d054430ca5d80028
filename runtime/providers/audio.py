"""PCM16 helpers shared by every provider: WAV framing, resampling, durations.

Everything inside the voice core is PCM16 little-endian mono; providers convert at the edges.
numpy does the per-sample work so a 20 ms frame costs microseconds, not a Python loop.
"""
from __future__ import annotations

import struct

import numpy as np

SAMPLE_WIDTH = 2  # bytes per PCM16 sample


class AudioFormatError(ValueError):
    """Audio bytes that are not the PCM16 WAV we expect."""


def wav_bytes(pcm: bytes, sample_rate: int, channels: int = 1) -> bytes:
    """A canonical 44-byte-header WAV around PCM16 samples."""
    byte_rate = sample_rate * channels * SAMPLE_WIDTH
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF", 36 + len(pcm), b"WAVE", b"fmt ", 16, 1, channels, sample_rate,
        byte_rate, channels * SAMPLE_WIDTH, 16, b"data", len(pcm),
    )
    return header + pcm


def parse_wav(data: bytes) -> tuple[bytes, int, int]:
    """(pcm, sample_rate, channels) of a PCM16 WAV.

    Streaming encoders (espeak-ng --stdout, many TTS servers) write a placeholder size
    (0xFFFFFFFF-ish) in the RIFF and data headers, so the data chunk runs to the end of the bytes.
    """
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioFormatError("not a RIFF/WAVE file")
    pos, rate, channels, bits = 12, 0, 0, 0
    while pos + 8 <= len(data):
        cid, size = struct.unpack_from("<4sI", data, pos)
        body = pos + 8
        if cid == b"fmt ":
            fmt, channels, rate = struct.unpack_from("<HHI", data, body)
            bits = struct.unpack_from("<H", data, body + 14)[0]
            if fmt not in (1, 0xFFFE) or bits != 16:
                raise AudioFormatError(f"only PCM16 WAV is supported (format {fmt}, {bits} bits)")
        elif cid == b"data":
            if not rate:
                raise AudioFormatError("WAV data chunk before its fmt chunk")
            end = min(len(data), body + size)
            pcm = data[body:end]
            return pcm[: len(pcm) - len(pcm) % (SAMPLE_WIDTH * channels)], rate, channels
        pos = body + size + (size & 1)
    raise AudioFormatError("WAV without a data chunk")


def to_mono(pcm: bytes, channels: int) -> bytes:
    if channels == 1:
        return pcm
    samples = np.frombuffer(pcm, dtype="<i2").reshape(-1, channels)
    return samples.mean(axis=1).astype("<i2").tobytes()


def resample(pcm: bytes, src_rate: int, dst_rate: int) -> bytes:
    """Linear-interpolation resampling; good enough for speech between 8 and 48 kHz."""
    if src_rate == dst_rate or not pcm:
        return pcm
    src = np.frombuffer(pcm, dtype="<i2").astype(np.float32)
    n_out = max(1, int(round(len(src) * dst_rate / src_rate)))
    positions = np.linspace(0, len(src) - 1, n_out, dtype=np.float64)
    out = np.interp(positions, np.arange(len(src)), src)
    return np.clip(np.rint(out), -32768, 32767).astype("<i2").tobytes()


def duration_seconds(pcm_len: int, sample_rate: int) -> float:
    return pcm_len / (SAMPLE_WIDTH * sample_rate) if sample_rate else 0.0


def rms(pcm: bytes) -> float:
    """Root-mean-square level of PCM16 samples, 0..32768."""
    if len(pcm) < SAMPLE_WIDTH:
        return 0.0
    samples = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype="<i2").astype(np.float32)
    return float(np.sqrt(np.dot(samples, samples) / len(samples)))
