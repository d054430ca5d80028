"""The curriculum import job: fetch a UMCF document (when a URL was given), validate it, store it.

Re-running a job is harmless: the import is an upsert of the same document. A permanent failure (a bad
document, a refused URL) completes the job with an error result instead of burning retries; a
transient one (5xx, timeout) raises so the queue retries with backoff.
"""
from __future__ import annotations

import json

from runtime.curricula import store, umcf
from runtime.curricula.fetch import FetchError, fetch_bytes
from runtime.jobs.queue import Job

MAX_DOCUMENT_BYTES = 5 * 1024 * 1024


async def curriculum_import(job: Job) -> dict:
    """Job handler: fetch (when a URL was given), validate and store the curriculum."""
    payload = job.payload
    url = payload.get("url")
    await job.progress(status="running", stage="fetching" if url else "validating", percent_complete=0.0)
    if url:
        try:
            raw = await fetch_bytes(url)
        except FetchError as exc:
            if exc.status >= 500 or exc.status == 408:
                raise  # transient: let the queue retry with backoff
            return await _failed(job, exc.message)
        try:
            content = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return await _failed(job, "The URL did not return a JSON document.")
    else:
        content = payload.get("content")
    selected = ((payload.get("source") or {}).get("selectedLectures")) or []
    if selected and isinstance(content, dict):
        content = _only_topics(content, {str(item) for item in selected})
    await job.progress(stage="validating", percent_complete=50.0)
    try:
        umcf.validate_document(content)
    except umcf.UMCFError as exc:
        return await _failed(job, str(exc))
    await job.progress(stage="storing", percent_complete=75.0)
    async with job.ctx.db.tenant(job.tenant_id) as conn:
        meta = await store.upsert(conn, job.tenant_id, content, source_url=url)
    result = {"status": "ok", "id": meta.id, "title": meta.title, "topic_count": meta.topic_count, "source_url": url}
    await job.progress(stage="complete", percent_complete=100.0, curriculum_id=meta.id, title=meta.title)
    return result


def _only_topics(doc: dict, keep: set[str]) -> dict:
    """The document with only the chosen topics (a catalog import of selected lectures); containers
    left empty are dropped too."""

    def prune(nodes: list) -> list:
        kept = []
        for node in nodes:
            if not isinstance(node, dict):
                continue
            if node.get("type") == "topic":
                if umcf.node_id(node) in keep:
                    kept.append(node)
                continue
            children = prune(node.get("children") or [])
            if children or not node.get("children"):
                kept.append({**node, "children": children} if "children" in node else node)
        return kept

    return {**doc, "content": prune(doc.get("content") or [])}


async def _failed(job: Job, message: str) -> dict:
    # A permanent failure completes the job with an error result instead of burning retries.
    await job.progress(stage="failed", error=message)
    return {"status": "failed", "error": message}
