"""HTTP routes of the voice core besides ``/api/tts``: prefetch jobs, Knowledge Bowl audio, curriculum
``stream-audio`` / ``full-with-assets`` / ``preload-assets``, import jobs, the GPU fleet admin route
and the GPU nodes' event route.
"""
from __future__ import annotations

import hmac
import re
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from runtime import client_shapes
from runtime.auth.authenticator import bearer_token
from runtime.auth.principal import principal
from runtime.content.http import reply, tx
from runtime.context import ctx
from runtime.curricula import store as curricula_store
from runtime.curricula import assets, umcf
from runtime.errors import ApiError, InvalidField, NotFound
from runtime.jobs.queue import UnknownJobKind, principal_payload
from runtime.providers import audio
from runtime.providers.base import ProviderError
from runtime.tts import kb_audio
from runtime.tts.common import (TTS_PROVIDER_NAMES, VOICE_PATTERN, provider_api_error, provider_name, read_provider,
                                read_voice)
from runtime.validation import (field_bool, field_enum, field_list, field_str, json_body, path_id,
                                query_int, query_str)

from .core import voice_core
from .gpu import NODE_EVENT_TYPES

ID = r"[A-Za-z0-9_-]{1,100}"


async def _enqueue(request: Request, kind: str, payload: dict, *, key: str | None = None) -> str:
    p = principal(request)
    try:
        return await ctx(request).jobs.enqueue(kind, {**payload, "_principal": principal_payload(p)}, p.tenant_id,
                                               idempotency_key=key)
    except UnknownJobKind as exc:
        raise ApiError(501, "not_implemented", str(exc)) from None


def _public_job(status: dict) -> dict:
    status = dict(status)
    (status.get("payload") or {}).pop("_principal", None)
    return status


# ------------------------------------------------------------------ TTS prefetch
async def prefetch_topic(request: Request) -> Response:
    """Pre-generate a curriculum topic's audio into the TTS cache (a job)."""
    p = principal(request)
    core = voice_core(ctx(request))
    body = await json_body(request)
    cid = field_str(body, "curriculum_id", required=True, pattern=ID)
    tid = field_str(body, "topic_id", required=True, pattern=ID)
    info = await core.topic_info(p.tenant_id, cid, tid)
    if not info or not info["segments"]:
        raise NotFound(f"No segments found for {cid}/{tid}.")
    payload = {"curriculum_id": cid, "topic_id": tid,
               "voice_id": read_voice(body),
               "tts_provider": read_provider(body, core.vs), "speed": body.get("speed") or 1.0}
    job_id = await _enqueue(request, "tts_prefetch", payload)
    total = len(info["segments"])
    # progress/segments_*: Android decodes the answer as PrefetchJobStatus (ApiModels.kt).
    return JSONResponse({"status": "started", "job_id": job_id, "total_segments": total, "progress": 0.0,
                         "segments_completed": 0, "segments_total": total}, status_code=202)


async def prefetch_status(request: Request) -> Response:
    """Progress of a prefetch job."""
    p = principal(request)
    job_id = path_id(request, "job_id")
    status = await ctx(request).jobs.status(job_id, p.tenant_id)
    if status is None:
        raise NotFound("Prefetch job not found.")
    prog = status["progress"] or {}
    state = (prog.get("status") if status["status"] == "running" else None) or status["status"]
    return JSONResponse({"job_id": job_id, "status": state,
                         "progress": client_shapes.prefetch_progress(request, prog),
                         "segments_completed": int(prog.get("completed") or 0),
                         "segments_total": int(prog.get("total_segments") or 0),
                         "error": status.get("error"), "job": _public_job(status)})


async def prefetch_cancel(request: Request) -> Response:
    """Cancel a prefetch job."""
    p = principal(request)
    job_id = path_id(request, "job_id")
    ok = await ctx(request).jobs.cancel(job_id, p.tenant_id)
    return JSONResponse({"status": "cancelled" if ok else "not_found", "job_id": job_id}, status_code=200 if ok else 404)


async def tts_cache_prefetch(request: Request) -> Response:
    """iOS: prefetch several topics of one curriculum (``{curriculumId, topicIds, priority}``)."""
    core = voice_core(ctx(request))
    body = await json_body(request)
    cid = field_str(body, "curriculumId", required=True, pattern=ID)
    topics = field_list(body, "topicIds", required=True, item_type=str, min_items=1)
    if len(topics) > 200 or any(not isinstance(t, str) or not t or len(t) > 100 for t in topics):
        raise InvalidField("'topicIds' must be 1-200 topic ids.", details={"field": "topicIds"})
    priority = field_enum(body, "priority", ("low", "normal", "high", "prefetch", "scheduled", "live"), default="normal")
    job_id = await _enqueue(request, "tts_prefetch", {"curriculum_id": cid, "topic_ids": topics, "priority": priority,
                                                      "tts_provider": read_provider(body, core.vs)})
    return JSONResponse({"status": "started", "job_id": job_id, "curriculumId": cid, "topicCount": len(topics)},
                        status_code=202)


# ------------------------------------------------------------------ Knowledge Bowl audio
def _kb_error(status: int, error: str, message: str, **details) -> ApiError:
    return ApiError(status, error, message, details=details or None)


async def kb_audio_get(request: Request) -> Response:
    """A Knowledge Bowl question segment as WAV (generated on first request)."""
    p = principal(request)
    context = ctx(request)
    core = voice_core(context)
    qid = path_id(request, "question_id")
    seg = request.path_params["segment"]
    if seg not in kb_audio.SEGMENT_TYPES:
        raise _kb_error(400, "invalid_segment", f"segment must be one of {', '.join(kb_audio.SEGMENT_TYPES)}")
    module_id = query_str(request, "module_id", "knowledge-bowl", max_len=100)
    if not re.fullmatch(ID, module_id):
        raise _kb_error(400, "invalid_id", "'module_id' has an invalid format.", field="module_id")
    hint_index = query_int(request, "hint_index", 0, 0, 50)
    segment = f"hint_{hint_index}" if seg == "hint" else seg
    key = kb_audio.object_key(p.tenant_id, module_id, qid, segment)
    row = await kb_audio.segment_row(context, p.tenant_id, module_id, qid, segment)
    wav = await context.storage.get(row["object_key"]) if row else None
    status = "hit"
    if wav is None:
        questions = await kb_audio.module_questions(context, p.tenant_id, module_id) or []
        q = next((q for q in questions if q["id"] == qid), None)
        text = kb_audio.question_segments(q).get(segment) if q else None
        if not text:
            raise NotFound("Audio not found",
                           details={"question_id": qid, "segment": segment})
        try:
            await kb_audio.generate_segment(core, p, p.tenant_id, module_id, qid, segment, text, voice=None, provider=None)
        except ProviderError as exc:
            raise provider_api_error(exc) from None
        wav, status = await context.storage.get(key), "miss"
    duration, rate = kb_audio.wav_info(wav)
    return Response(wav, media_type="audio/wav", headers={"X-KB-Cache-Status": status,
                                                          "X-KB-Duration-Seconds": f"{duration:.3f}",
                                                          "X-KB-Sample-Rate": str(rate)})


async def kb_audio_batch(request: Request) -> Response:
    """Availability of many questions' audio segments."""
    p = principal(request)
    body = await json_body(request)
    module_id = field_str(body, "module_id", default="knowledge-bowl", pattern=ID)
    qids = field_list(body, "question_ids", required=True, item_type=str)
    segs = field_list(body, "segments", default=["question", "answer", "explanation"], item_type=str)
    if len(qids) > 1000:
        raise _kb_error(422, "invalid_field", "at most 1000 question_ids", field="question_ids")
    rows = {(r["question_id"], r["segment"]): r for r in await kb_audio.segment_rows(ctx(request), p.tenant_id, module_id)}
    out, total, avail, missing = {}, 0, 0, 0
    for q in qids:
        out[q] = {}
        for s in segs:
            r = rows.get((q, s))
            out[q][s] = {"available": r is not None, "duration": r["duration_seconds"] if r else 0,
                         "size": r["size_bytes"] if r else 0}
            total += r["size_bytes"] if r else 0
            avail, missing = avail + (r is not None), missing + (r is None)
    return JSONResponse({"success": True, "segments": out, "total_size_bytes": total, "available_count": avail,
                         "missing_count": missing})


async def kb_prefetch(request: Request) -> Response:
    """Generate a module's Knowledge Bowl audio (a job)."""
    p = principal(request)
    core = voice_core(ctx(request))
    body = await json_body(request)
    module_id = field_str(body, "module_id", default="knowledge-bowl", pattern=ID)
    questions = await kb_audio.module_questions(ctx(request), p.tenant_id, module_id)
    if questions is None:
        raise _kb_error(404, "not_found", f"module {module_id!r} not found")
    total = sum(len(kb_audio.question_segments(q)) for q in questions)
    provider = provider_name(core.vs, field_enum(body, "provider", TTS_PROVIDER_NAMES, default=None))
    job_id = await _enqueue(request, "kb_audio_prefetch", {
        "module_id": module_id,
        "voice_id": field_str(body, "voice_id", max_len=100, pattern=VOICE_PATTERN),
        "provider": provider, "force_regenerate": field_bool(body, "force_regenerate", default=False)})
    return JSONResponse({"success": True, "status": "started", "job_id": job_id, "total_segments": total,
                         "module_id": module_id})


async def kb_prefetch_status(request: Request) -> Response:
    """Progress of a Knowledge Bowl audio job."""
    p = principal(request)
    job_id = path_id(request, "job_id")
    status = await ctx(request).jobs.status(job_id, p.tenant_id)
    if status is None or status["kind"] != "kb_audio_prefetch":
        raise _kb_error(404, "not_found", "prefetch job not found")
    prog = status["progress"]
    state = prog.get("status") if status["status"] == "running" else status["status"]
    return JSONResponse({"success": True, "job_id": job_id, "module_id": status["payload"].get("module_id"),
                         "total_segments": prog.get("total_segments", 0), "completed": prog.get("completed", 0),
                         "cached": prog.get("cached", 0), "generated": prog.get("generated", 0),
                         "failed": prog.get("failed", 0), "status": state,
                         "percent_complete": prog.get("percent_complete", 0.0), "started_at": prog.get("started_at"),
                         "completed_at": prog.get("completed_at"), "error": status["error"]})


async def kb_manifest(request: Request) -> Response:
    """Every generated audio segment of a module."""
    p = principal(request)
    module_id = path_id(request, "module_id")
    rows = await kb_audio.segment_rows(ctx(request), p.tenant_id, module_id)
    if not rows:
        raise _kb_error(404, "not_found", f"no audio has been generated for module {module_id!r}")
    segments: dict = {}
    for r in rows:
        seg = r["segment"]
        segments.setdefault(r["question_id"], {})[seg] = {
            "question_id": r["question_id"], "segment_type": seg.split("_")[0], "file_path": r["object_key"],
            "size_bytes": r["size_bytes"], "duration_seconds": r["duration_seconds"], "sample_rate": r["sample_rate"],
            "created_at": r["created_at"].isoformat(), "hint_index": int(seg.split("_")[1]) if seg.startswith("hint_") else None}
    return JSONResponse({"success": True, "module_id": module_id, "voice_id": rows[0]["voice"], "provider": rows[0]["provider"],
                         "generated_at": max(r["created_at"] for r in rows).isoformat(), "total_questions": len(segments),
                         "total_segments": len(rows), "total_size_bytes": sum(r["size_bytes"] for r in rows),
                         "total_duration_seconds": round(sum(r["duration_seconds"] for r in rows), 3),
                         "segments": segments})


async def kb_coverage(request: Request) -> Response:
    """How much of a module's audio exists."""
    p = principal(request)
    module_id = path_id(request, "module_id")
    questions = await kb_audio.module_questions(ctx(request), p.tenant_id, module_id)
    if questions is None:
        raise _kb_error(404, "not_found", f"module {module_id!r} not found")
    have = {(r["question_id"], r["segment"]): r["size_bytes"] for r in await kb_audio.segment_rows(ctx(request), p.tenant_id, module_id)}
    total = covered = covered_q = size = 0
    for q in questions:
        segs = kb_audio.question_segments(q)
        n = sum(1 for s in segs if (q["id"], s) in have)
        total, covered, covered_q = total + len(segs), covered + n, covered_q + (n == len(segs) and n > 0)
        size += sum(have.get((q["id"], s), 0) for s in segs)
    return JSONResponse({"success": True, "module_id": module_id, "total_questions": len(questions),
                         "covered_questions": covered_q, "total_segments": total, "covered_segments": covered,
                         "missing_segments": total - covered, "total_size_bytes": size,
                         "is_complete": total > 0 and covered == total,
                         "coverage_percent": round(100.0 * covered / total, 1) if total else 0.0})


async def kb_feedback(request: Request) -> Response:
    """The "Correct!" / "Incorrect." sounds."""
    p = principal(request)
    kind = request.path_params["kind"]
    if kind not in kb_audio.FEEDBACK:
        raise _kb_error(404, "not_found", "feedback is 'correct' or 'incorrect'")
    try:
        res = await voice_core(ctx(request)).speech.speak(p, p.tenant_id, kb_audio.FEEDBACK[kind], system=True)
    except ProviderError as exc:
        raise provider_api_error(exc) from None
    return Response(res.wav, media_type="audio/wav", headers={
        "X-KB-Cache-Status": "hit" if res.status == "hit" else "miss",
        "X-KB-Duration-Seconds": f"{res.duration_seconds:.3f}", "X-KB-Sample-Rate": str(res.sample_rate)})


# ------------------------------------------------------------------ curricula (core side)
async def stream_audio(request: Request) -> Response:
    """A topic's segments as one chunked stream: ``SEG:{idx}:{type}:{len}\\n``, ``AUD:{n}\\n`` + WAV or
    ``ERR:{reason}\\n`` per segment, then ``END\\n``."""
    p = principal(request)
    core = voice_core(ctx(request))
    cid, tid = path_id(request, "id"), path_id(request, "topic_id")
    voice = query_str(request, "voice", max_len=100)
    if voice is not None and not re.fullmatch(VOICE_PATTERN, voice):
        raise InvalidField("'voice' has an invalid format.", details={"field": "voice"})
    raw_provider = query_str(request, "tts_server", max_len=40)
    if raw_provider and raw_provider not in TTS_PROVIDER_NAMES:
        raise InvalidField(f"tts_server must be one of {', '.join(TTS_PROVIDER_NAMES)}",
                       details={"field": "tts_server"})
    provider = provider_name(core.vs, raw_provider)
    info = await core.topic_info(p.tenant_id, cid, tid)
    if info is None:
        raise NotFound("Topic not found.")
    segments = info["segments"]
    if client_shapes.topic_audio_as_wav(request):
        return await _topic_wav(request, core, info, voice=voice, provider=provider)

    async def body():
        for i, seg in enumerate(segments):
            text = str(seg.get("content") or "")
            kind = str(seg.get("type") or "content").replace(":", "_").replace("\n", " ")[:40]
            yield f"SEG:{i}:{kind}:{len(text)}\n".encode()
            if not text.strip():
                yield b"ERR:empty segment\n"
                continue
            try:
                res = await core.speech.speak(p, p.tenant_id, text, voice=voice, provider_name=provider,
                                              system=info["system"])
            except (ProviderError, ApiError) as exc:
                reason = getattr(exc, "message", str(exc)).replace("\n", " ")[:200]
                yield f"ERR:{reason}\n".encode()
                continue
            yield f"AUD:{len(res.wav)}\n".encode() + res.wav
        yield b"END\n"

    title = (info.get("title") or "").encode("ascii", "replace").decode()[:200]
    return StreamingResponse(body(), media_type="application/octet-stream",
                             headers={"X-Topic-Title": title, "X-Segment-Count": str(len(segments))})


async def _topic_wav(request: Request, core, info: dict, *, voice: str | None, provider: str) -> Response:
    """Every segment's speech as one WAV (at the first segment's sample rate); a segment that fails is
    left out and counted in ``X-Segments-Failed``. A player needs the length up front, so the whole topic
    is synthesised (from the TTS cache after a prefetch) before the first byte."""
    p = principal(request)
    pcm, rate, failed = bytearray(), 0, 0
    for seg in info["segments"]:
        text = str(seg.get("content") or "")
        if not text.strip():
            continue
        try:
            res = await core.speech.speak(p, p.tenant_id, text, voice=voice, provider_name=provider, system=info["system"])
            samples, seg_rate, channels = audio.parse_wav(res.wav)
        except (ProviderError, audio.AudioFormatError):
            failed += 1
            continue
        samples = audio.to_mono(samples, channels)
        rate = rate or seg_rate
        pcm += audio.resample(samples, seg_rate, rate) if seg_rate != rate else samples
    if not rate and not failed:
        raise NotFound("This topic has no text to speak.")
    if not rate:
        raise ApiError(502, "tts_failed", "No segment of this topic could be spoken.")
    return Response(audio.wav_bytes(bytes(pcm), rate), media_type="audio/wav", headers={
        "X-Segment-Count": str(len(info["segments"])), "X-Segments-Failed": str(failed),
        "X-TTS-Sample-Rate": str(rate)})


async def full_with_assets(request: Request) -> Response:
    """The UMCF document plus its assets inline (base64). Each asset's ``url`` is absolute and signed for
    the caller: Android's VisualAssetCache fetches it as it stands (bare OkHttp, no token)."""
    cid = path_id(request, "id")
    async with tx(request) as conn:
        doc = await curricula_store.document_with_assets(conn, ctx(request).storage, cid)
    if doc is None:
        raise NotFound("Curriculum not found.")
    assets.rewrite_urls(doc, lambda url: public_url(request, url))
    return reply(doc)


def public_url(request: Request, path: str) -> str:
    """``path`` as an absolute URL on the request's own base URL, signed for the caller where a key exists."""
    signed = ctx(request).auth.sign_url(path, principal(request))
    return str(request.base_url).rstrip("/") + (signed or path)


async def preload_assets(request: Request) -> Response:
    """Pre-generate the audio of every topic of a curriculum (a job)."""
    cid = path_id(request, "id")
    async with tx(request) as conn:
        row = await curricula_store.get_visible(conn, cid)
    if row is None:
        raise NotFound("Curriculum not found.")
    topics = [t for t in (umcf.node_id(t) for t in umcf.list_topics(curricula_store.document(row))) if t]
    job_id = await _enqueue(request, "tts_prefetch", {"curriculum_id": cid, "topic_ids": topics}, key=f"preload:{cid}")
    return JSONResponse({"status": "started", "job_id": job_id, "curriculum_id": cid, "topic_count": len(topics)},
                        status_code=202)


# ------------------------------------------------------------------ admin: GPU fleet, import jobs
async def admin_gpu(request: Request) -> Response:
    """GPU fleet state (Tier 2)."""
    core = voice_core(ctx(request))
    await core.gpu.is_warm()
    return JSONResponse({"gpu": core.gpu.snapshot(), "voice_sessions": len(core.sessions)})


async def admin_gpu_action(request: Request) -> Response:
    """Wake or sleep the GPU fleet (Tier 2)."""
    core = voice_core(ctx(request))
    action = request.path_params["action"]
    if action not in ("wake", "sleep"):
        raise NotFound("use /api/admin/gpu/wake or /api/admin/gpu/sleep")
    if not core.vs.gpu_asg_name:
        raise ApiError(409, "gpu_not_configured", "UNAMENTIS_GPU_ASG_NAME is not set; there is no fleet to scale")
    await (core.gpu.wake() if action == "wake" else core.gpu.sleep())
    if core.gpu.last_error:
        raise ApiError(502, "gpu_scaling_failed", core.gpu.last_error)
    await ctx(request).events.publish("idle_state_changed", {"gpu": action, **core.gpu.snapshot()})
    return JSONResponse({"status": "ok", "action": action, "gpu": core.gpu.snapshot()})


# ------------------------------------------------------------------ GPU nodes -> core
GPU_NODE_PREFIX = "/api/gpu/"  # public for Tier 1 (see SERVICE.public_prefixes): the node token is checked here
INSTANCE_ID = re.compile(r"i-[0-9a-f]{8,17}")


async def gpu_node_event(request: Request) -> Response:
    """An event from a GPU node's agent (drain, state, scale_to_zero, health), authenticated by the node token."""
    core = voice_core(ctx(request))
    expected = core.vs.gpu_node_token
    if not expected:
        raise NotFound("GPU node events are not enabled here (UNAMENTIS_GPU_NODE_TOKEN is not set).")
    presented = bearer_token(request.headers)
    # compare_digest on bytes: the time taken does not tell how much of a guess was right
    if presented is None or not hmac.compare_digest(presented.encode(), expected.encode()):
        raise ApiError(401, "invalid_token", "GPU node events need the node token (Authorization: Bearer).")
    instance_id = request.path_params["instance_id"]
    if not INSTANCE_ID.fullmatch(instance_id):
        raise ApiError(400, "invalid_instance_id", "The path must name an EC2 instance id (i-…).")
    body = await json_body(request, max_bytes=64 * 1024)
    kind = field_enum(body, "type", NODE_EVENT_TYPES, required=True, case_insensitive=False)
    if field_str(body, "instance_id") not in (None, instance_id):
        raise ApiError(400, "instance_mismatch", "The body's instance_id differs from the path's.")
    done = await core.gpu.node_event(instance_id, kind, body)
    # Small on purpose (NOTIFY payloads are capped): the other core tasks act on drains from it.
    raw = body.get("notice") if isinstance(body.get("notice"), dict) else {}
    notice = {k: str(raw[k])[:100] for k in ("kind", "action", "time") if raw.get(k) is not None} or None
    state = str(body["to"])[:40] if kind == "state" and body.get("to") is not None else None
    if kind == "health" and isinstance(body.get("state"), str):
        state = body["state"][:40]
    await ctx(request).events.publish("gpu_node_event", {"instance_id": instance_id, "type": kind, **done,
                                                         "notice": notice, "to": state, "task": core.instance})
    return JSONResponse({"status": "accepted", "type": kind, "instance_id": instance_id, **done}, status_code=202)


ROUTES = [
    Route("/api/tts/prefetch/topic", prefetch_topic, methods=["POST"]),
    Route("/api/tts/prefetch/status/{job_id}", prefetch_status, methods=["GET"]),
    Route("/api/tts/prefetch/{job_id}", prefetch_cancel, methods=["DELETE"]),
    Route("/api/tts-cache/prefetch", tts_cache_prefetch, methods=["POST"]),
    Route("/api/kb/audio/batch", kb_audio_batch, methods=["POST"]),
    Route("/api/kb/audio/{question_id}/{segment}", kb_audio_get, methods=["GET"]),
    Route("/api/kb/prefetch", kb_prefetch, methods=["POST"]),
    Route("/api/kb/prefetch/{job_id}", kb_prefetch_status, methods=["GET"]),
    Route("/api/kb/manifest/{module_id}", kb_manifest, methods=["GET"]),
    Route("/api/kb/coverage/{module_id}", kb_coverage, methods=["GET"]),
    Route("/api/kb/feedback/{kind}", kb_feedback, methods=["GET"]),
    Route("/api/curricula/{id}/topics/{topic_id}/stream-audio", stream_audio, methods=["GET"]),
    Route("/api/curricula/{id}/full-with-assets", full_with_assets, methods=["GET"]),
    Route("/api/curricula/{id}/preload-assets", preload_assets, methods=["POST"]),
    Route("/api/admin/gpu", admin_gpu, methods=["GET"]),
    Route("/api/admin/gpu/{action}", admin_gpu_action, methods=["POST"]),
    Route(GPU_NODE_PREFIX + "nodes/{instance_id}/events", gpu_node_event, methods=["POST"]),
]
