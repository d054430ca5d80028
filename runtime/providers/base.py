"""Provider interfaces and the errors every provider raises.

Providers are small objects built once per app (they hold an httpx client, never a socket per call)
so one voice task can serve hundreds of sessions.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import AsyncIterator, Protocol


class ProviderError(Exception):
    """A provider call failed. ``retryable`` says whether another attempt (or provider) may work."""

    def __init__(self, provider: str, message: str, *, retryable: bool = True, status: int | None = None):
        super().__init__(f"{provider}: {message}")
        self.provider = provider
        self.message = message
        self.retryable = retryable
        self.status = status


class ProviderNotConfigured(ProviderError):
    """Configuration names a provider that cannot run here (missing package, binary, key or URL)."""

    def __init__(self, provider: str, message: str):
        super().__init__(provider, message, retryable=False)


@dataclass(frozen=True)
class Transcript:
    text: str
    confidence: float | None
    audio_seconds: float


@dataclass
class LLMUsage:
    input_tokens: int
    output_tokens: int
    estimated: bool  # True when the provider never reported counts (stream cut, old server)


@dataclass
class LLMDelta:
    """One streamed piece: text, and on the last one the usage the provider reported."""

    text: str = ""
    usage: LLMUsage | None = None
    finish_reason: str | None = None


@dataclass(frozen=True)
class SpeechAudio:
    pcm: bytes  # PCM16 LE mono
    sample_rate: int

    @property
    def duration_seconds(self) -> float:
        return len(self.pcm) / (2 * self.sample_rate) if self.sample_rate else 0.0


@dataclass(frozen=True)
class TTSRequest:
    text: str
    voice: str
    speed: float = 1.0
    options: dict = field(default_factory=dict)


class STTProvider(Protocol):
    name: str
    paid: bool

    async def transcribe(self, pcm: bytes, sample_rate: int, *, language: str | None = None) -> Transcript: ...


class LLMProvider(Protocol):
    name: str
    model: str
    paid: bool

    def stream(self, messages: list[dict], *, max_tokens: int, temperature: float) -> AsyncIterator[LLMDelta]: ...


class TTSProvider(Protocol):
    name: str
    paid: bool
    default_voice: str

    async def synthesize(self, request: TTSRequest) -> SpeechAudio: ...


def estimate_tokens(text: str) -> int:
    """Token estimate when a provider reports none: ~4 characters per token, at least 1 for non-empty text."""
    return (len(text) + 3) // 4 if text else 0


def messages_tokens(messages: list[dict]) -> int:
    return sum(estimate_tokens(str(m.get("content", ""))) + 4 for m in messages)
