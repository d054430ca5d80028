"""Request helpers shared by the TTS, KB audio and curriculum audio routes."""
from __future__ import annotations

from starlette.responses import Response

from runtime.errors import ApiError
from runtime.providers.base import ProviderError, ProviderNotConfigured
from runtime.validation import field_enum, field_str

# Providers a client may name. The old server's GPU voices map to our GPU TTS when the fleet
# serves one, else to the configured default.
TTS_PROVIDER_NAMES = ("auto", "default", "espeak", "deepgram", "openai", "gpu",
                      "vibevoice", "piper", "chatterbox", "kokoro")
LEGACY_GPU_NAMES = {"vibevoice", "piper", "chatterbox", "kokoro"}
# Voice ids of every provider we speak to ("nova", "aura-2-thalia-en", "en-us+f3", "Alloy").
VOICE_PATTERN = r"[A-Za-z0-9_.+:-]{1,100}"
ID_PATTERN = r"[A-Za-z0-9_-]{1,100}"


def provider_name(vs, raw: str | None) -> str | None:
    if raw is None or raw in ("auto", "default"):
        return None
    if raw in LEGACY_GPU_NAMES:
        return "gpu" if vs.gpu_tts_url else None
    return raw


def read_provider(body: dict, vs, name: str = "tts_provider") -> str | None:
    """The provider a body names in ``name`` or, failing that, in ``provider`` (Android's TTSRequest and
    PrefetchTopicRequest)."""
    key = name if body.get(name) is not None or body.get("provider") is None else "provider"
    return provider_name(vs, field_enum(body, key, TTS_PROVIDER_NAMES, default=None))


def read_voice(body: dict) -> str | None:
    """The voice a body names in ``voice_id`` or ``voice`` (Android's TTSRequest and PrefetchTopicRequest)."""
    return field_str(body, "voice_id", max_len=100, pattern=VOICE_PATTERN) or \
        field_str(body, "voice", max_len=100, pattern=VOICE_PATTERN)


def provider_api_error(exc: ProviderError) -> ApiError:
    if isinstance(exc, ProviderNotConfigured):
        return ApiError(503, "tts_unavailable", exc.message)
    if not exc.retryable and exc.status is not None and 400 <= exc.status < 500:
        # The provider refused this request (unknown voice, bad option): the caller's input.
        return ApiError(422, "tts_rejected", f"the TTS provider refused the request: {exc.message}")
    return ApiError(502 if exc.status else 503, "tts_failed", f"speech synthesis failed: {exc.message}")


def wav_response(wav: bytes, *, duration: float, sample_rate: int, headers: dict[str, str]) -> Response:
    return Response(wav, media_type="audio/wav", headers={
        **headers, "X-TTS-Duration-Seconds": f"{duration:.3f}", "X-TTS-Sample-Rate": str(sample_rate)})
