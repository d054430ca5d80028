"""Knowledge Bowl audio: every question's spoken segments, pre-generated as a job and served as WAV.

Segments of a question: ``question``, ``answer``, ``explanation`` (when present) and ``hint_<i>`` per
hint. Audio is synthesised through the TTS cache (so identical text is never generated twice) and
also kept at ``kb-audio/<tenant>/<module>/<question>/<segment>.wav`` with a row in
``kb_audio_segments`` that the manifest, coverage and batch routes read.
"""
from __future__ import annotations

import logging

from runtime.curricula import modules
from runtime.providers.audio import parse_wav

log = logging.getLogger("unamentis.kb_audio")

SEGMENT_TYPES = ("question", "answer", "hint", "explanation")
FEEDBACK = {"correct": "Correct!", "incorrect": "Incorrect."}


def question_segments(q: dict) -> dict[str, str]:
    out = {"question": q.get("question_text") or "", "answer": q.get("answer_text") or ""}
    if q.get("explanation"):
        out["explanation"] = q["explanation"]
    for i, hint in enumerate(q.get("hints") or []):
        if isinstance(hint, str) and hint.strip():
            out[f"hint_{i}"] = hint
    return {k: v for k, v in out.items() if v.strip()}


def object_key(tenant_id: str, module_id: str, question_id: str, segment: str) -> str:
    return f"kb-audio/{tenant_id}/{module_id}/{question_id}/{segment}.wav"


async def module_questions(ctx, tenant_id: str, module_id: str) -> list[dict] | None:
    async with ctx.db.tenant(tenant_id) as conn:
        doc = await modules.download(conn, module_id)
    if doc is None:
        return None
    return [q for d in doc.get("domains", []) for q in d.get("questions", [])]


async def generate_segment(core, principal, tenant_id: str, module_id: str, question_id: str, segment: str,
                           text: str, *, voice: str | None, provider: str | None, force: bool = False) -> str:
    """Synthesise (or reuse) one segment; returns "cached" or "generated"."""
    ctx = core.ctx
    if not force:
        async with ctx.db.tenant(tenant_id) as conn:
            exists = await conn.fetchval(
                "select 1 from kb_audio_segments where tenant_id = $1 and module_id = $2 and question_id = $3 "
                "and segment = $4", tenant_id, module_id, question_id, segment)
        if exists:
            return "cached"
    res = await core.speech.speak(principal, tenant_id, text, voice=voice, provider_name=provider, skip_cache=force)
    key = object_key(tenant_id, module_id, question_id, segment)
    await ctx.storage.put(key, res.wav, "audio/wav")
    async with ctx.db.tenant(tenant_id) as conn:
        await conn.execute(
            "insert into kb_audio_segments (tenant_id, module_id, question_id, segment, object_key, size_bytes, "
            "duration_seconds, sample_rate, voice, provider) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
            "on conflict (tenant_id, module_id, question_id, segment) do update set object_key = excluded.object_key, "
            "size_bytes = excluded.size_bytes, duration_seconds = excluded.duration_seconds, "
            "sample_rate = excluded.sample_rate, voice = excluded.voice, provider = excluded.provider, created_at = now()",
            tenant_id, module_id, question_id, segment, key, len(res.wav), res.duration_seconds, res.sample_rate,
            res.key.voice, res.provider)
    return "hit" if res.status == "hit" else "generated"


async def segment_row(ctx, tenant_id: str, module_id: str, question_id: str, segment: str):
    """The stored segment's row (``object_key``, size, duration …), or None."""
    async with ctx.db.tenant(tenant_id) as conn:
        return await conn.fetchrow("select * from kb_audio_segments where tenant_id = $1 and module_id = $2 "
                                   "and question_id = $3 and segment = $4", tenant_id, module_id, question_id, segment)


async def segment_rows(ctx, tenant_id: str, module_id: str) -> list:
    async with ctx.db.tenant(tenant_id) as conn:
        return await conn.fetch("select * from kb_audio_segments where tenant_id = $1 and module_id = $2 "
                                "order by question_id, segment", tenant_id, module_id)


def wav_info(wav: bytes) -> tuple[float, int]:
    pcm, rate, _ = parse_wav(wav)
    return len(pcm) / (2 * rate), rate
