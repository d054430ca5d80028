"""The voice service (core container only): `/ws/audio`, `/ws`, TTS, KB audio, curriculum audio, jobs
(including the queue-backed curriculum import ``/api/import/jobs*``).

Startup installs the SIGTERM drain and starts the job workers; shutdown drains what is left.
"""
from __future__ import annotations

from starlette.routing import WebSocketRoute

from runtime.curricula.import_routes import ROUTES as IMPORT_JOB_ROUTES
from runtime.curricula.importer import curriculum_import
from runtime.importing.routes import ROUTES as IMPORT_SOURCE_ROUTES
from runtime.service import Service
from runtime.voice.core import deep_check, is_draining, voice_core
from runtime.voice.jobs import kb_audio_prefetch, tts_pregen, tts_prefetch
from runtime.voice.pregen_routes import ROUTES as PREGEN_ROUTES
from runtime.voice.routes import GPU_NODE_PREFIX, ROUTES as VOICE_ROUTES
from runtime.voice.tts_routes import ROUTES as TTS_ROUTES
from runtime.voice.ws_events import ws_events
from runtime.voice.ws_audio import ws_audio


async def _startup(ctx) -> None:
    await voice_core(ctx).start()
    ctx.jobs.start_workers()


async def _shutdown(ctx) -> None:
    await voice_core(ctx).stop()


SERVICE = Service(
    name="voice",
    routes=[WebSocketRoute("/ws/audio", ws_audio), WebSocketRoute("/ws", ws_events), *TTS_ROUTES, *VOICE_ROUTES,
            *IMPORT_JOB_ROUTES, *IMPORT_SOURCE_ROUTES, *PREGEN_ROUTES],
    startup=_startup,
    shutdown=_shutdown,
    public_prefixes=(GPU_NODE_PREFIX,),
    envelope_prefixes=("/api/kb/", "/api/import/", "/api/tts/profiles", "/api/tts/pregen/"),
    jobs={
        "tts_prefetch": tts_prefetch,
        "kb_audio_prefetch": kb_audio_prefetch,
        "curriculum_import": curriculum_import,
        "tts_pregen": tts_pregen,
    },
    deep_check=deep_check,
    draining=is_draining,
)
