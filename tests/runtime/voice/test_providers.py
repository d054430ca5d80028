"""Providers against real loopback servers speaking each wire protocol, and the offline pair."""
from __future__ import annotations

import httpx
import pytest

from runtime.providers.audio import parse_wav, resample, wav_bytes, rms
from runtime.providers.base import ProviderError, ProviderNotConfigured, TTSRequest
from runtime.providers.llm import OllamaChatLLM, OpenAIChatLLM
from runtime.providers.registry import build_llm, build_stt, build_tts
from runtime.providers.stt import OpenAITranscriptionSTT, PocketSphinxSTT, WhisperCppSTT
from runtime.providers.tts import DeepgramTTS, EspeakTTS, OpenAISpeechTTS
from runtime.settings import ConfigError
from runtime.voice.config import VoiceSettings


async def _collect(stream):
    text, last = [], None
    async for d in stream:
        text.append(d.text)
        last = d
    return "".join(text), last


async def test_openai_chat_streams_tokens_and_reports_usage(peers):
    async with httpx.AsyncClient() as http:
        llm = OpenAIChatLLM(http, peers.url + "/v1", api_key="k1", model="m")
        text, last = await _collect(llm.stream([{"role": "user", "content": "hi there"}], max_tokens=50, temperature=0))
    assert text.startswith("You said hi there.")
    assert last.usage.output_tokens == len(text.strip().split(" ")) and not last.usage.estimated
    kind, req = peers.requests[-1]
    assert kind == "openai_chat" and req["auth"] == "Bearer k1"
    assert req["body"]["stream"] is True and req["body"]["stream_options"] == {"include_usage": True}


async def test_openai_chat_estimates_usage_when_server_sends_none(peers):
    async with httpx.AsyncClient() as http:
        llm = OpenAIChatLLM(http, peers.url + "/v1", api_key=None, model="nousage")
        text, last = await _collect(llm.stream([{"role": "user", "content": "x"}], max_tokens=50, temperature=0))
    assert last.usage.estimated and last.usage.output_tokens > 0


async def test_openai_chat_error_is_retryable_provider_error(peers):
    async with httpx.AsyncClient() as http:
        llm = OpenAIChatLLM(http, peers.url + "/v1", api_key=None, model="fail")
        with pytest.raises(ProviderError) as info:
            await _collect(llm.stream([{"role": "user", "content": "x"}], max_tokens=5, temperature=0))
    assert info.value.retryable and info.value.status == 503


async def test_unreachable_server_is_retryable_error():
    async with httpx.AsyncClient() as http:
        llm = OpenAIChatLLM(http, "http://127.0.0.1:9/v1", api_key=None, model="m")
        with pytest.raises(ProviderError) as info:
            await _collect(llm.stream([{"role": "user", "content": "x"}], max_tokens=5, temperature=0))
    assert info.value.retryable


async def test_ollama_streams_ndjson_with_keep_alive(peers):
    async with httpx.AsyncClient() as http:
        llm = OllamaChatLLM(http, peers.url, model="llama3.2", keep_alive="24h")
        text, last = await _collect(llm.stream([{"role": "user", "content": "photosynthesis"}], max_tokens=40, temperature=0.2))
    assert text.startswith("You said photosynthesis.")
    assert (last.usage.input_tokens, last.usage.estimated) == (20, False)
    kind, req = peers.requests[-1]
    assert kind == "ollama_chat" and req["body"]["keep_alive"] == "24h"
    assert req["body"]["options"] == {"num_predict": 40, "temperature": 0.2}


async def test_transcription_providers(peers):
    pcm = b"\x01\x00" * 16000
    async with httpx.AsyncClient() as http:
        t = await OpenAITranscriptionSTT(http, peers.url + "/v1", api_key="g", model="whisper-large-v3-turbo").transcribe(pcm, 16000)
        assert (t.text, t.audio_seconds) == ("hello world", 1.0) and 0.8 < t.confidence < 1
        kind, req = peers.requests[-1]
        assert kind == "transcriptions" and req["auth"] == "Bearer g" and req["bytes"] == 44 + len(pcm)
        t2 = await WhisperCppSTT(http, peers.url).transcribe(pcm, 16000)
        assert t2.text == "hello world" and peers.requests[-1][0] == "inference"


async def test_speech_providers(peers):
    async with httpx.AsyncClient() as http:
        a = await OpenAISpeechTTS(http, peers.url + "/v1", api_key=None).synthesize(TTSRequest("one two three", "nova", 1.25))
        assert a.sample_rate == 24000 and a.duration_seconds == pytest.approx(0.2, abs=0.01)
        assert peers.requests[-1][1]["body"]["speed"] == 1.25
        d = await DeepgramTTS(http, api_key="dg", base_url=peers.url, sample_rate=16000).synthesize(TTSRequest("hi", "thalia"))
        kind, req = peers.requests[-1]
        assert req["auth"] == "Token dg" and req["params"]["model"] == "aura-2-thalia-en"
        assert req["params"]["encoding"] == "linear16" and d.sample_rate == 16000 and rms(d.pcm) > 1000
    with pytest.raises(ProviderNotConfigured, match="UNAMENTIS_TTS_API_KEY"):
        DeepgramTTS(http, api_key=None)


async def test_offline_espeak_to_pocketsphinx_round_trip():
    audio = await EspeakTTS().synthesize(TTSRequest("hello world", "en-us", 0.8))
    assert audio.sample_rate == 22050 and audio.duration_seconds > 0.5
    transcript = await PocketSphinxSTT().transcribe(resample(audio.pcm, audio.sample_rate, 16000), 16000)
    assert transcript.text == "hello world"


async def test_espeak_never_passes_an_option_like_voice():
    tts = EspeakTTS()
    assert tts.resolve_voice("--help") == "en-us"  # not installed: the default voice speaks
    audio = await tts.synthesize(TTSRequest("fine", "--help"))
    assert audio.duration_seconds > 0.1


def test_wav_round_trip_and_streaming_header():
    pcm = bytes(range(200))
    assert parse_wav(wav_bytes(pcm, 16000)) == (pcm, 16000, 1)
    # espeak-ng/streaming servers write a placeholder size: the data runs to the end.
    broken = bytearray(wav_bytes(pcm, 22050))
    broken[40:44] = b"\xff\xff\xff\x7f"
    assert parse_wav(bytes(broken))[0] == pcm


def test_registry_defaults_to_offline_and_errors_name_the_fix():
    http = httpx.AsyncClient()
    vs = VoiceSettings()
    assert build_stt(vs, http).name == "pocketsphinx"
    assert build_tts(vs, http).name == "espeak"
    assert build_llm(vs, http).name == "ollama"
    assert build_llm(VoiceSettings(llm_url="http://127.0.0.1:1/v1"), http).paid is False
    with pytest.raises(ConfigError, match="UNAMENTIS_STT_API_KEY"):
        VoiceSettings.from_env({"UNAMENTIS_STT_PROVIDER": "groq"})
    with pytest.raises(ConfigError, match="UNAMENTIS_TTS_PROVIDER"):
        VoiceSettings.from_env({"UNAMENTIS_TTS_PROVIDER": "polly"})
    with pytest.raises(ConfigError, match="at most 25"):
        VoiceSettings.from_env({"UNAMENTIS_WS_PING_SECONDS": "60"})


async def test_espeak_maps_other_providers_voice_names_to_its_default():
    tts = EspeakTTS()
    assert tts.resolve_voice("nova") == "en-us" and tts.resolve_voice("en-gb") == "en-gb"
    assert tts.resolve_voice("en-us+f3") == "en-us+f3"
    audio = await tts.synthesize(TTSRequest("hello", "nova"))
    assert audio.duration_seconds > 0.2


async def test_deep_check_names_each_provider_and_drain_state(peers, database, make_app):
    from runtime.voice.core import deep_check, is_draining

    app = make_app(["voice"], voice=VoiceSettings(llm_url=peers.url + "/v1", tts_provider="deepgram", tts_api_key="k"))
    ctx = app.state.ctx
    try:
        report = await deep_check(ctx)
        assert report["providers"]["stt"] == {"ok": True, "name": "pocketsphinx", "paid": False}
        assert report["providers"]["llm"]["name"] == "openai_compatible"
        assert report["providers"]["tts"] == {"ok": True, "name": "deepgram", "paid": True}
        assert report["jobs"] == "PostgresTransport" and is_draining(ctx) is False
    finally:
        await ctx.aclose()


async def test_unreachable_ollama_error_names_the_fix():
    async with httpx.AsyncClient() as http:
        llm = OllamaChatLLM(http, "http://127.0.0.1:9", model="llama3.2")
        with pytest.raises(ProviderError, match="UNAMENTIS_LLM_URL") as info:
            await _collect(llm.stream([{"role": "user", "content": "x"}], max_tokens=5, temperature=0))
    assert info.value.retryable
