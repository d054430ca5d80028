"""One `/ws/audio` conversation: audio in → VAD → STT → streaming LLM → sentence TTS → audio out.

The session never blocks its receive loop: a turn runs as its own task, so barge-in (speech while
the tutor talks, ``cancel``, ``barge_in``, ``start_recording``) cancels it at once. Outgoing TTS audio
is paced to real time plus ``playback_lead_ms`` so the client's buffer stays shallow and a barge-in
silences the tutor within about one frame. Transport is abstract (``send_json``/``send_bytes``/
``close``) so the bench can drive sessions without sockets too.
"""
from __future__ import annotations

import asyncio
import base64
import logging
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from runtime.providers.audio import resample
from runtime.providers.base import ProviderError, ProviderNotConfigured
from runtime.tts.common import TTS_PROVIDER_NAMES, VOICE_PATTERN, provider_name

from .sentences import SentenceSplitter
from .store import SessionState
from .vad import EnergyVAD

log = logging.getLogger("unamentis.voice.session")

OUT_FRAME_MS = 40  # outgoing audio frame size
PREROLL_MS = 300  # audio kept from before the VAD decided "speech" (onset is decided ~60 ms late)


class Transport(Protocol):
    async def send_json(self, data: dict) -> None: ...
    async def send_bytes(self, data: bytes) -> None: ...
    async def close(self, code: int, reason: str = "") -> None: ...


class SessionClosed(Exception):
    def __init__(self, code: int, reason: str):
        super().__init__(reason)
        self.code, self.reason = code, reason


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1000) % 1000:03d}Z"


class BadMessage(ValueError):
    """A client message with a missing or malformed field (answered with a recoverable error)."""


def _num(msg: dict, name: str, default, lo, hi, kind=float):
    value = msg.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadMessage(f"'{name}' must be a number")
    value = kind(value)
    if not lo <= value <= hi:
        raise BadMessage(f"'{name}' must be between {lo} and {hi}")
    return value


def _id(msg: dict, name: str, required: bool = False) -> str | None:
    value = msg.get(name)
    if value is None or value == "":
        if required:
            raise BadMessage(f"'{name}' is required")
        return None
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise BadMessage(f"'{name}' must match ^[A-Za-z0-9_-]{{1,100}}$")
    return value


_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")


@dataclass
class TurnMetrics:
    eos: float = 0.0  # end of user speech (vad_end / stop_recording)
    stt_ms: float = 0.0
    llm_start: float = 0.0
    llm_first: float | None = None
    llm_end: float | None = None
    tts_ms: float = 0.0
    first_audio: float | None = None
    last_audio: float | None = None
    tts_cache_hits: int = 0
    sentences: int = 0

    def as_dict(self, end: float) -> dict:
        # Whole milliseconds on every /ws/audio frame: Android's AudioWebSocketClient decodes them as Long
        # (RawAudioMessage, TurnMetrics); iOS and the web read numbers, which integers satisfy.
        ms = lambda a, b: round((b - a) * 1000) if a is not None and b is not None else None  # noqa: E731
        return {"stt_ms": round(self.stt_ms), "llm_ms": ms(self.llm_start, self.llm_end),
                "llm_ttft_ms": ms(self.llm_start, self.llm_first), "tts_ms": round(self.tts_ms),
                "first_audio_ms": ms(self.eos, self.first_audio), "total_ms": ms(self.eos, end),
                "tts_sentences": self.sentences, "tts_cache_hits": self.tts_cache_hits}


class AudioSession:
    def __init__(self, core, transport: Transport, principal: Any, state: SessionState):
        self.core, self.t, self.principal, self.state = core, transport, principal, state
        self.vs = core.vs
        self.tenant_id = getattr(principal, "tenant_id", None)
        self._send_lock = asyncio.Lock()
        self.vad: EnergyVAD | None = None
        self._apply_config(state.config)
        self.recording = False
        self.buffer = bytearray()  # the utterance being recorded
        self.preroll = bytearray()
        self.turn: asyncio.Task | None = None
        self.turn_id: str | None = None
        self._turn_metrics: TurnMetrics | None = None
        self.last_activity = time.monotonic()
        self.last_sent = time.monotonic()
        self.closed: SessionClosed | None = None
        self.frames_in = 0
        self._utterance_over = asyncio.Event()  # set when no utterance is being recorded

    # ---------------------------------------------------------------- sending
    async def send_json(self, data: dict) -> None:
        async with self._send_lock:
            await self.t.send_json(data)
            self.last_sent = time.monotonic()

    async def send_bytes(self, data: bytes) -> None:
        async with self._send_lock:
            await self.t.send_bytes(data)
            self.last_sent = time.monotonic()

    async def error(self, code: str, message: str, recoverable: bool = True, **extra) -> None:
        await self.send_json({"type": "error", "code": code, "message": message, "recoverable": recoverable,
                              "error": message, **extra})

    # ---------------------------------------------------------------- config
    def _apply_config(self, cfg: dict) -> None:
        self.sample_rate = int(cfg.get("sample_rate", 16000))
        self.out_rate = int(cfg.get("output_sample_rate") or self.sample_rate)
        self.vad_enabled = bool(cfg.get("vad_enabled", True))
        self.vad = EnergyVAD(self.sample_rate, float(cfg.get("vad_threshold", 0.5))) if self.vad_enabled else None

    def _config_from(self, msg: dict) -> dict:
        fmt = msg.get("format", "pcm16")
        if fmt not in ("pcm16", "pcm_s16le", "linear16"):
            raise BadMessage("only format 'pcm16' (PCM 16-bit little-endian) is supported")
        if msg.get("channels", 1) != 1:
            raise BadMessage("only mono audio (channels: 1) is supported")
        cfg = {"format": "pcm16", "channels": 1,
               "sample_rate": _num(msg, "sample_rate", 16000, 8000, 48000, int),
               "vad_enabled": msg.get("vad_enabled", True),
               "vad_threshold": _num(msg, "vad_threshold", 0.5, 0.0, 1.0)}
        if not isinstance(cfg["vad_enabled"], bool):
            raise BadMessage("'vad_enabled' must be true or false")
        if "output_sample_rate" in msg:
            cfg["output_sample_rate"] = _num(msg, "output_sample_rate", 16000, 8000, 48000, int)
        return cfg

    # ---------------------------------------------------------------- inbound
    async def on_text(self, msg: Any) -> None:
        self.last_activity = time.monotonic()
        if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
            await self.error("invalid_message", "messages are JSON objects with a string 'type'")
            return
        kind = msg["type"]
        handler = getattr(self, f"_on_{kind}", None)
        if handler is None:
            await self.error("unknown_message", f"Unknown message type: {kind}")
            return
        try:
            await handler(msg)
        except BadMessage as exc:
            await self.error("invalid_message", f"{kind}: {exc}")
        except (SessionClosed, asyncio.CancelledError):
            raise
        except Exception as exc:
            budget = self.core.budget_error(exc)
            if budget is not None:
                await self.error("budget_exceeded", getattr(exc, "message", str(exc)), recoverable=False)
                raise budget from exc
            # One bad message must not end the conversation: report it and keep the session.
            log.exception("voice message %s failed", kind)
            await self.error("internal_error", f"{kind} failed on the server; it has been logged")

    async def _on_ping(self, msg):
        reply = {"type": "pong", "timestamp": time.time()}
        if isinstance(msg.get("seq"), (int, str)) and not isinstance(msg.get("seq"), bool):
            reply["seq"] = msg["seq"]  # lets a client match pongs to pings (round-trip timing)
        await self.send_json(reply)

    async def _on_pong(self, msg):
        return None

    async def _on_auth(self, msg):
        return None  # already authenticated (the query token or an earlier auth message)

    async def _on_config(self, msg):
        cfg = self._config_from(msg)
        self.state.config = cfg
        self._apply_config(cfg)
        await self.core.save(self)

    async def _on_start_recording(self, msg):
        if self.turn_active:
            await self.barge_in("start_recording")
        self.recording = True
        self.buffer.clear()
        if self.vad:
            self.vad.reset()

    async def _on_stop_recording(self, msg):
        self.recording = False
        self._utterance_over.set()
        if self.buffer:
            await self._utterance_done(time.monotonic())

    async def _on_cancel(self, msg):
        self.buffer.clear()
        self.recording = False
        self._utterance_over.set()
        if self.turn_active:
            await self.barge_in("cancel")

    async def _on_set_topic(self, msg):
        topic_id = _id(msg, "topic_id", required=True)
        curriculum_id = _id(msg, "curriculum_id") or self.state.topic.get("curriculum_id")
        info = await self.core.topic_info(self.tenant_id, curriculum_id, topic_id) if curriculum_id else None
        self.state.topic = {"curriculum_id": curriculum_id, "topic_id": topic_id,
                            "title": (info or {}).get("title")}
        self.state.playback = {"segment_index": 0, "offset_ms": 0, "is_playing": False}
        await self.core.save(self)
        await self.send_json({"type": "topic_set", "curriculum_id": curriculum_id, "topic_id": topic_id,
                              "title": (info or {}).get("title"),
                              "total_segments": len(info["segments"]) if info else None})

    async def _on_voice_config(self, msg):
        voice_id = msg.get("voice_id")
        if voice_id is not None and (not isinstance(voice_id, str) or not re.fullmatch(VOICE_PATTERN, voice_id)):
            raise BadMessage("'voice_id' has an invalid format")
        if msg.get("tts_provider") is not None and msg["tts_provider"] not in TTS_PROVIDER_NAMES:
            raise BadMessage(f"'tts_provider' must be one of {', '.join(TTS_PROVIDER_NAMES)}")
        voice = {"voice_id": voice_id or self.state.voice.get("voice_id"),
                 "tts_provider": provider_name(self.vs, msg.get("tts_provider")) or self.state.voice.get("tts_provider"),
                 "speed": _num(msg, "speed", self.state.voice.get("speed", 1.0), 0.25, 4.0)}
        options = {k: msg[k] for k in ("exaggeration", "cfg_weight", "language")
                   if isinstance(msg.get(k), (str, int, float)) and not isinstance(msg.get(k), bool)}
        if options:
            voice["options"] = options
        try:
            self.core.speech.key_for("x", voice["voice_id"], voice["tts_provider"], voice["speed"], options,
                                     self.tenant_id)
        except ProviderNotConfigured as exc:
            raise BadMessage(f"tts_provider: {exc.message}") from None
        self.state.voice = voice
        await self.core.save(self)
        await self.send_json({"type": "voice_config_ack", "voice_config": voice})

    async def _on_sync(self, msg):
        self.state.playback.update({"segment_index": int(_num(msg, "segment_index", 0, 0, 100000, int)),
                                    "offset_ms": _num(msg, "offset_ms", 0, 0, 1e9),
                                    "is_playing": bool(msg.get("is_playing", False))})
        await self.core.save(self)
        await self.send_json({"type": "sync_ack", "segment_index": self.state.playback["segment_index"],
                              "server_time": time.time()})

    async def _on_barge_in(self, msg):
        idx = int(_num(msg, "segment_index", self.state.playback.get("segment_index", 0), 0, 100000, int))
        offset = _num(msg, "offset_ms", 0, 0, 1e9)
        self.state.playback.update({"segment_index": idx, "offset_ms": offset, "is_playing": False})
        if self.turn_active:
            await self.barge_in("barge_in")
        await self.core.save(self)
        await self.send_json({"type": "barge_in_ack", "segment_index": idx, "offset_ms": offset})
        utterance = msg.get("utterance")
        if isinstance(utterance, str) and utterance.strip():
            self._start_turn(utterance.strip(), time.monotonic(), typed=True)

    async def _on_request_audio(self, msg):
        idx = int(_num(msg, "segment_index", self.state.playback.get("segment_index", 0), 0, 100000, int))
        cid = _id(msg, "curriculum_id") or self.state.topic.get("curriculum_id")
        tid = _id(msg, "topic_id") or self.state.topic.get("topic_id")
        if not cid or not tid:
            await self.error("no_topic", "no topic: send set_topic or curriculum_id and topic_id", segment_index=idx)
            return
        info = await self.core.topic_info(self.tenant_id, cid, tid)
        if not info:
            await self.error("not_found", f"No segments found for {cid}/{tid}", segment_index=idx)
            return
        segments = info["segments"]
        if idx >= len(segments):
            await self.error("out_of_range", f"segment_index {idx} is past the last segment", segment_index=idx)
            return
        text = str(segments[idx].get("content") or "").strip()
        if not text:
            await self.error("empty_segment", f"segment {idx} has no text to speak", segment_index=idx)
            return
        try:
            res = await self.core.speak(self, text, system=info.get("system", False))
        except ProviderError as exc:
            await self.error("tts_failed", exc.message, segment_index=idx)
            return
        self.state.playback.update({"segment_index": idx, "offset_ms": 0, "is_playing": True,
                                    "curriculum_id": cid, "topic_id": tid})
        await self.core.save(self)
        await self.send_json({"type": "audio", "segment_index": idx, "audio_base64": base64.b64encode(res.wav).decode(),
                              "duration_seconds": round(res.duration_seconds, 3), "cache_hit": res.status == "hit",
                              "total_segments": len(segments), "sample_rate": res.sample_rate})
        for asset in info.get("assets", []):
            timing = asset.get("segmentTiming") or {}
            if timing.get("startSegment") == idx:  # the picture that goes with this segment
                await self.send_json({"type": "visual_asset", "segment_index": idx, "asset": {
                    "id": asset.get("id"), "type": asset.get("type"), "url": asset.get("url"),
                    "caption": asset.get("caption") or asset.get("title") or "", "alt": asset.get("alt"),
                    "display_mode": timing.get("displayMode"), "end_segment": timing.get("endSegment")}})
        upcoming = [str(s.get("content") or "").strip() for s in segments[idx + 1: idx + 6]]
        self.core.prefetch_segments(self, [t for t in upcoming if t], info.get("system", False))

    async def on_audio(self, data: bytes) -> None:
        self.last_activity = time.monotonic()
        self.frames_in += 1
        if not self.recording:
            self.recording = True  # a client that streams without start_recording still gets heard
        if self.vad is None:
            self.buffer += data
            if len(self.buffer) > self.vs.max_utterance_seconds * 2 * self.sample_rate:
                await self._utterance_done(time.monotonic())
            return
        events = self.vad.process(data)
        if self.vad.in_speech or events:
            self.buffer += data
        else:
            self.preroll += data
            limit = PREROLL_MS * 2 * self.sample_rate // 1000
            if len(self.preroll) > limit:
                del self.preroll[: len(self.preroll) - limit]
        for ev in events:
            if ev.kind == "start":
                self.buffer[:0] = self.preroll
                self.preroll.clear()
                await self.send_json({"type": "vad_start", "timestamp": now_iso()})
                if self.turn_active:
                    await self.barge_in("speech")
            else:
                await self.send_json({"type": "vad_end", "timestamp": now_iso(), "duration_ms": round(ev.duration_ms)})
                await self._utterance_done(time.monotonic())
        if self.vad.in_speech and len(self.buffer) > self.vs.max_utterance_seconds * 2 * self.sample_rate:
            self.vad.reset()
            await self.send_json({"type": "vad_end", "timestamp": now_iso(), "duration_ms": round(self.vs.max_utterance_seconds * 1000)})
            await self._utterance_done(time.monotonic())
        if not self.mid_utterance:
            self._utterance_over.set()

    # ---------------------------------------------------------------- turns
    @property
    def turn_active(self) -> bool:
        return self.turn is not None and not self.turn.done()

    @property
    def mid_utterance(self) -> bool:
        """The learner is speaking: an utterance is being recorded and has not ended yet."""
        return self.recording and (self.vad.in_speech if self.vad is not None else bool(self.buffer))

    async def utterance_finished(self) -> None:
        """Wait until the learner stops speaking (its turn has started then); callers bound the wait."""
        self._utterance_over.clear()
        if self.mid_utterance and not self.closed:
            await self._utterance_over.wait()

    async def _utterance_done(self, eos: float) -> None:
        pcm, self.buffer = bytes(self.buffer), bytearray()
        if len(pcm) < 2 * self.sample_rate // 10:  # < 100 ms: a click, not speech
            return
        if self.turn_active:
            await self.barge_in("speech")
        self._start_turn(pcm, eos)

    def _start_turn(self, audio_or_text, eos: float, typed: bool = False) -> None:
        self.turn_id = f"turn_{self.state.turn_count + 1}_{uuid.uuid4().hex[:8]}"
        self._turn_metrics = TurnMetrics(eos=eos)
        self.turn = asyncio.create_task(self._run_turn(self.turn_id, audio_or_text, self._turn_metrics, typed))
        self.turn.add_done_callback(self._turn_finished)

    def _turn_finished(self, task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            if isinstance(exc, SessionClosed):
                self.closed = exc
                # Close now: the receive loop may be waiting for a frame that never comes.
                asyncio.get_running_loop().create_task(self.t.close(exc.code, exc.reason))
            else:
                log.error("voice turn failed", exc_info=exc)

    async def barge_in(self, why: str) -> None:
        """Stop the tutor now: cancel generation and playback of the running turn."""
        task, turn_id, metrics = self.turn, self.turn_id, self._turn_metrics
        if task is None or task.done():
            return
        task.cancel()
        try:
            await task
        except (asyncio.CancelledError, Exception):
            pass
        end = time.monotonic()
        await self.send_json({"type": "tts_complete", "interrupted": True, "reason": why, "turn_id": turn_id,
                              "duration_ms": 0, "latency_ms": None})
        await self.send_json({"type": "turn_complete", "turn_id": turn_id, "interrupted": True,
                              "metrics": metrics.as_dict(end) if metrics else {}})

    async def _run_turn(self, turn_id: str, audio_or_text, m: TurnMetrics, typed: bool) -> None:
        try:
            if typed:
                text = audio_or_text
            else:
                t0 = time.monotonic()
                try:
                    transcript, _ = await self.core.router.transcribe(self.principal, audio_or_text, self.sample_rate)
                except ProviderError as exc:
                    await self.error("stt_failed", exc.message, recoverable=True, turn_id=turn_id)
                    return
                m.stt_ms = (time.monotonic() - t0) * 1000
                text = transcript.text
                await self.send_json({"type": "transcript", "text": text, "confidence": transcript.confidence,
                                      "latency_ms": round(m.stt_ms), "is_final": True, "turn_id": turn_id})
                if not text:
                    await self.error("no_speech", "no words were recognised; please repeat", turn_id=turn_id)
                    return
            await self.core.check_turn_rate(self)
            await self._reply(turn_id, text, m)
        except SessionClosed:
            raise
        except Exception as exc:
            budget = self.core.budget_error(exc)
            if budget is not None:
                await self.error("budget_exceeded", getattr(exc, "message", str(exc)), recoverable=False,
                                 turn_id=turn_id)
                raise budget from exc
            raise

    async def _reply(self, turn_id: str, user_text: str, m: TurnMetrics) -> None:
        messages = self.core.build_messages(self.state, user_text)
        sentences: asyncio.Queue[str | None] = asyncio.Queue()
        speaker = asyncio.create_task(self._speak_sentences(turn_id, sentences, m))
        splitter = SentenceSplitter()
        reply: list[str] = []
        m.llm_start = time.monotonic()
        await self.send_json({"type": "llm_start", "timestamp": now_iso(), "turn_id": turn_id})
        try:
            try:
                async for delta in self.core.router.stream_llm(self.principal, messages):
                    if delta.text:
                        if m.llm_first is None:
                            m.llm_first = time.monotonic()
                        reply.append(delta.text)
                        await self.send_json({"type": "llm_token", "token": delta.text})
                        for s in splitter.feed(delta.text):
                            sentences.put_nowait(s)
            except ProviderError as exc:
                await self.error("llm_failed", exc.message, recoverable=True, turn_id=turn_id)
                if not reply:
                    sentences.put_nowait(None)
                    await speaker
                    return
            for s in splitter.flush():
                sentences.put_nowait(s)
            sentences.put_nowait(None)
            m.llm_end = time.monotonic()
            text = "".join(reply).strip()
            await self.send_json({"type": "llm_complete", "text": text, "turn_id": turn_id,
                                  "latency_ms": round((m.llm_end - m.llm_start) * 1000)})
            await speaker
        finally:
            if not speaker.done():
                speaker.cancel()
                try:
                    await speaker
                except (asyncio.CancelledError, Exception):
                    pass
            # Even an interrupted reply is part of the conversation (the student heard some of it).
            if reply:
                self.state.add_exchange(user_text, "".join(reply).strip())
                self.state.turn_count += 1
                await asyncio.shield(self.core.save(self))
        end = time.monotonic()
        await self.send_json({"type": "turn_complete", "turn_id": turn_id, "metrics": m.as_dict(end)})

    async def _speak_sentences(self, turn_id: str, queue: asyncio.Queue, m: TurnMetrics) -> None:
        """Synthesise sentences one ahead of playback and stream them as paced binary frames."""
        audio: asyncio.Queue = asyncio.Queue(maxsize=2)

        async def synthesise() -> None:
            while True:
                sentence = await queue.get()
                if sentence is None:
                    break
                t0 = time.monotonic()
                try:
                    res = await self.core.speak(self, sentence)
                except ProviderError as exc:
                    await self.error("tts_failed", exc.message, recoverable=True, turn_id=turn_id)
                    continue
                m.tts_ms += (time.monotonic() - t0) * 1000
                m.sentences += 1
                m.tts_cache_hits += res.status == "hit"
                await audio.put((sentence, resample(res.pcm, res.sample_rate, self.out_rate)))
            await audio.put(None)

        producer = asyncio.create_task(synthesise())
        try:
            await self._play(turn_id, audio, m)
            await producer
        finally:
            if not producer.done():
                producer.cancel()
                try:
                    await producer
                except (asyncio.CancelledError, Exception):
                    pass

    async def _play(self, turn_id: str, audio: asyncio.Queue, m: TurnMetrics) -> None:
        frame_bytes = self.out_rate * 2 * OUT_FRAME_MS // 1000
        lead = self.vs.playback_lead_ms / 1000
        clock_start = 0.0
        sent_seconds = 0.0
        total_sent = 0.0
        started = False
        total_chars = 0
        while True:
            item = await audio.get()
            if item is None:
                break
            sentence, pcm = item
            total_chars += len(sentence)
            if not started:
                started = True
                await self.send_json({"type": "tts_start", "text_length": len(sentence), "turn_id": turn_id,
                                      "sample_rate": self.out_rate, "format": "pcm16", "channels": 1})
            now = time.monotonic()
            if now > clock_start + sent_seconds:
                clock_start, sent_seconds = now, 0.0  # playback ran dry: restart the clock
            for i in range(0, len(pcm), frame_bytes):
                # Pace to real time + lead: a barge-in then silences the client within ~one frame.
                wait = clock_start + sent_seconds - lead - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                chunk = pcm[i:i + frame_bytes]
                await self.send_bytes(chunk)
                if m.first_audio is None:
                    m.first_audio = time.monotonic()
                sent_seconds += len(chunk) / (2 * self.out_rate)
                total_sent += len(chunk) / (2 * self.out_rate)
        if started:
            m.last_audio = time.monotonic()
            await self.send_json({"type": "tts_complete", "turn_id": turn_id, "text_length": total_chars,
                                  "duration_ms": round(total_sent * 1000),
                                  "latency_ms": round((m.first_audio - m.eos) * 1000) if m.first_audio else None})

    async def shutdown(self) -> None:
        self._utterance_over.set()
        if self.turn_active:
            self.turn.cancel()
            try:
                await self.turn
            except (asyncio.CancelledError, Exception):
                pass
