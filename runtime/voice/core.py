"""The voice core of one app: providers, cache, session store and the live sessions (for drain).

Built lazily on the AppContext (``voice_core(ctx)``) so the routes work with or without the
lifespan having run; ``start``/``stop`` add the SIGTERM drain and the job workers in the container.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
import uuid

from runtime.context import AppContext
from runtime.curricula import store, umcf
from runtime.errors import ApiError
from runtime.limits import RateLimit
from runtime.metering import cost_usd
from runtime.providers.base import ProviderError, ProviderNotConfigured
from runtime.tts.cache import TTSCache
from runtime.tts.speech import SpeechService

from .config import voice_settings
from .gpu import GpuFleet
from .metering import Meter
from .routing import ProviderRouter
from .session import AudioSession, SessionClosed
from .store import SessionStore

FOLLOW_WAIT_SECONDS = 5.0  # at start, how long to wait for the event bus before serving anyway

log = logging.getLogger("unamentis.voice")


def _price(provider: str, units: dict[str, float]) -> float:
    total = 0.0
    for kind, qty in units.items():
        if kind == "estimated":
            continue
        try:
            total += cost_usd(provider, kind, qty)
        except ValueError:
            # A provider without a published price is metered at 0 but still recorded (units).
            log.warning("no price for %s %s", provider, kind)
    return total


class VoiceCore:
    def __init__(self, ctx: AppContext):
        self.ctx = ctx
        self.vs = voice_settings(ctx.settings)
        self.instance = f"{ctx.settings.server_name}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.gpu = GpuFleet(self.vs, ctx.http)
        self.meter = Meter(ctx.metering, _price)
        self.router = ProviderRouter(self.vs, ctx.http, self.meter, self.gpu)
        objects = getattr(ctx, "storage", None)
        self.cache = TTSCache(objects, max_entries=self.vs.tts_cache_local_entries, max_bytes=self.vs.tts_cache_local_bytes)
        self.speech = SpeechService(self.router, self.cache, ctx.db, self.vs)
        self.sessions_store = SessionStore(ctx.db, self.instance)
        self.sessions: set[AudioSession] = set()
        self.draining = False
        self.drained = asyncio.Event()
        self._prev_sigterm = None
        self._bg: set[asyncio.Task] = set()

    # ---------------------------------------------------------------- used by sessions
    async def save(self, session: AudioSession, *, release: bool = False) -> None:
        if session.tenant_id is None:
            return
        await self.sessions_store.save(session.tenant_id, session.state, release=release)

    def build_messages(self, state, user_text: str) -> list[dict]:
        system = self.vs.system_prompt
        if state.topic.get("title") or state.topic.get("topic_id"):
            system += f" The current lesson topic is: {state.topic.get('title') or state.topic.get('topic_id')}."
        return [{"role": "system", "content": system}, *state.history, {"role": "user", "content": user_text}]

    async def speak(self, session: AudioSession, text: str, system: bool = False):
        v = session.state.voice
        return await self.speech.speak(session.principal, session.tenant_id, text, voice=v.get("voice_id"),
                                       provider_name=v.get("tts_provider"), speed=float(v.get("speed") or 1.0),
                                       options=v.get("options"), system=system)

    def prefetch_segments(self, session: AudioSession, texts: list[str], system: bool) -> None:
        """Warm the cache for the next curriculum segments (background, errors only logged)."""
        async def run():
            for t in texts:
                try:
                    await self.speak(session, t, system=system)
                except (ProviderError, ApiError) as exc:
                    log.info("segment prefetch stopped: %s", exc)
                    return
        task = asyncio.create_task(run())
        self._bg.add(task)
        task.add_done_callback(self._bg.discard)

    async def topic_info(self, tenant_id: str | None, curriculum_id: str, topic_id: str) -> dict | None:
        """``{title, segments:[{id,type,content}], system}`` of a curriculum topic, or None."""
        if tenant_id is None:
            return None
        async with self.ctx.db.tenant(tenant_id) as conn:
            row = await store.get_visible(conn, curriculum_id)
            if row is None:
                return None
            system = await store.is_system(conn, curriculum_id)
        tr = umcf.transcript(store.document(row), topic_id)
        if not tr:
            return None
        # Indexes must match the transcript the app shows, so empty segments stay (and are skipped when spoken).
        segments = [s for s in tr.get("segments", []) if isinstance(s, dict)]
        embedded = [a for a in (tr.get("media") or {}).get("embedded", []) if isinstance(a, dict)]
        return {"title": tr.get("topic_title"), "segments": segments, "system": system, "assets": embedded}

    async def check_turn_rate(self, session: AudioSession) -> None:
        p = session.principal
        key = getattr(p, "limit_key", None) or f"voice-session:{session.state.session_id}"
        decision = await self.ctx.limiter.hit(f"voice-turn:{key}", RateLimit(capacity=self.vs.turns_per_minute, per_seconds=60.0))
        if not decision.allowed:
            await session.error("rate_limited", f"too many turns; retry in {int(decision.retry_after) + 1} s",
                                recoverable=False, retry_after=decision.retry_after)
            raise SessionClosed(4002, "rate limited")

    @staticmethod
    def budget_error(exc: Exception) -> SessionClosed | None:
        if isinstance(exc, ApiError) and exc.status == 402:
            return SessionClosed(4002, "budget exceeded")
        return None

    # ---------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        for kind in ("stt", "llm", "tts"):  # say at start what will serve, or what is missing
            try:
                p = self.router.primary(kind)
                log.info("voice %s provider: %s%s", kind, p.name, " (paid, metered)" if getattr(p, "paid", False) else "")
            except ProviderNotConfigured as exc:
                log.warning("voice %s provider unavailable: %s", kind, exc.message)
        loop = asyncio.get_running_loop()
        try:
            self._prev_sigterm = signal.getsignal(signal.SIGTERM)
            loop.add_signal_handler(signal.SIGTERM, self._on_sigterm)
        except (RuntimeError, ValueError, NotImplementedError):
            # Not the main thread (tests run servers in threads) or no signals on this platform.
            self._prev_sigterm = None
        if self.gpu.configured and self.vs.gpu_node_token:
            following = asyncio.Event()
            task = asyncio.create_task(self._follow_node_drains(following))
            self._bg.add(task)
            task.add_done_callback(self._bg.discard)
            # Serve once a drain posted to another task reaches this one (else one posted in the
            # first moments would be missed); bounded, so a database that is down does not hold
            # the start: the follower keeps retrying.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(following.wait(), timeout=FOLLOW_WAIT_SECONDS)

    async def _follow_node_drains(self, following: asyncio.Event) -> None:
        """A node's drain reaches one core task over HTTP; the others learn it from the event bus,
        so no task keeps sending turns to a node that is going away. ``following`` is set once
        this task listens."""
        while True:
            try:
                async with self.ctx.events.subscribe() as queue:
                    following.set()
                    while True:
                        event = await queue.get()
                        data = event.get("data") or {}
                        if event.get("type") == "gpu_node_event" and data.get("type") == "drain" \
                                and isinstance(data.get("instance_id"), str):
                            await self.gpu.node_event(data["instance_id"], "drain", {"notice": data.get("notice")})
                        elif event.get("type") == "gpu_node_event" and data.get("type") == "health" \
                                and isinstance(data.get("instance_id"), str) and isinstance(data.get("usage"), dict) \
                                and data.get("task") != self.instance:
                            # Another task received the report: keep the figures for this task's admin view.
                            self.gpu.record_usage(data["instance_id"], data["usage"], data.get("to"))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the bus reconnects itself; never let this task die for good
                log.warning("following GPU node drains failed (%s); retrying", type(exc).__name__)
                await asyncio.sleep(5.0)

    def _on_sigterm(self) -> None:
        log.warning("SIGTERM: draining %d voice sessions (at most %.0f s)", len(self.sessions), self.vs.drain_seconds)
        task = asyncio.create_task(self._drain_then_exit())
        self._bg.add(task)

    async def _drain_then_exit(self) -> None:
        await self.drain()
        loop = asyncio.get_running_loop()
        loop.remove_signal_handler(signal.SIGTERM)
        prev = self._prev_sigterm
        if callable(prev):
            signal.signal(signal.SIGTERM, prev)
            prev(signal.SIGTERM, None)  # hand over to the server's own shutdown (uvicorn's handler)
        else:
            signal.raise_signal(signal.SIGTERM)

    async def drain(self) -> None:
        """Stop accepting sessions, let running turns finish, tell every client to reconnect (1001)."""
        self.draining = True
        deadline = time.monotonic() + self.vs.drain_seconds
        sessions = list(self.sessions)
        await asyncio.gather(*(self._drain_one(s, deadline) for s in sessions), return_exceptions=True)
        await self.speech.drain()
        self.drained.set()

    async def _drain_one(self, s: AudioSession, deadline: float) -> None:
        # A learner who is speaking when the drain starts finishes the sentence here: the turn it
        # starts is answered before the hand-over instead of lost with the audio buffered here.
        try:
            await asyncio.wait_for(s.utterance_finished(), timeout=max(0.0, deadline - time.monotonic() - 4))
        except asyncio.TimeoutError:
            pass
        if s.turn_active:
            try:
                await asyncio.wait_for(asyncio.shield(s.turn), timeout=max(0.0, deadline - time.monotonic() - 2))
            except (asyncio.TimeoutError, asyncio.CancelledError, Exception):
                pass
        await s.shutdown()
        try:
            await s.error("server_draining", "the server is restarting; reconnect to resume this session",
                          recoverable=True, session_id=s.state.session_id)
        except Exception:
            pass
        await self.save(s, release=True)
        s.closed = SessionClosed(1001, "server restarting; reconnect")
        await s.t.close(1001, "server restarting; reconnect")

    async def stop(self) -> None:
        if self.sessions and not self.draining:
            await self.drain()
        if self._prev_sigterm is not None and not self.draining:
            # Shutting down without a SIGTERM (tests, dev reload): give the signal back.
            try:
                asyncio.get_running_loop().remove_signal_handler(signal.SIGTERM)
                signal.signal(signal.SIGTERM, self._prev_sigterm)
            except (RuntimeError, ValueError):
                pass
            self._prev_sigterm = None
        for t in list(self._bg):
            t.cancel()
        self.router.close()
        await self.gpu.aclose()


def voice_core(ctx: AppContext) -> VoiceCore:
    return ctx.extension("voice_core", lambda: VoiceCore(ctx))


def is_draining(ctx: AppContext) -> bool:
    """True once SIGTERM started the drain: the health check should answer 503 so the load balancer
    stops sending new sockets here (for the health service to call)."""
    core = ctx.extensions.get("voice_core")
    return bool(core and core.draining)


async def deep_check(ctx: AppContext) -> dict:
    """Provider readiness for the Tier-2 deep health check: which provider serves each kind (or the
    configuration error naming what is missing), the GPU fleet and the job transport."""
    core = voice_core(ctx)
    out: dict = {"ok": True, "providers": {}, "sessions": len(core.sessions), "draining": core.draining}
    for kind in ("stt", "llm", "tts"):
        try:
            p = core.router.primary(kind)
            out["providers"][kind] = {"ok": True, "name": p.name, "paid": bool(getattr(p, "paid", False))}
        except ProviderNotConfigured as exc:
            out["providers"][kind] = {"ok": False, "error": exc.message}
            out["ok"] = False
    await core.gpu.is_warm()
    out["gpu"] = core.gpu.snapshot()
    out["jobs"] = type(ctx.jobs.transport).__name__
    return out
