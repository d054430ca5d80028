"""UMCF (UnaMentis Curriculum Format) documents: validation, metadata extraction, the app shapes.

A UMCF document is JSON: ``{"umcf": "1.x" | "formatIdentifier": "umcf", "id": {"value": …}, "title",
"description", "version": {"number"}, "metadata": {"keywords"}, "educational": {"difficulty",
"typicalAgeRange", "typicalLearningTime"}, "glossary": {"terms"}, "content": [nodes]}`` where nodes nest
through ``children`` and the learnable units are nodes of ``type: "topic"`` (carrying ``transcript.segments``,
``content.text``, ``media.embedded/reference``, ``assessments``, ``misconceptions``, ``examples``).

Everything here is pure (no I/O) so the Lambda, the core and the tests share one reading of a document.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
MAX_TITLE = 500
# A text-only topic is read aloud in chunks of about this many characters (a few sentences each).
CHUNK_TARGET_CHARS = 600


class UMCFError(ValueError):
    """The document is not usable UMCF; ``field`` names the offending path for the 400/422 details."""

    def __init__(self, message: str, field: str = "content"):
        super().__init__(message)
        self.field = field


def node_id(node: Any) -> str | None:
    """UMCF ids are ``{"value": "…"}`` objects (older files use a bare string)."""
    if isinstance(node, dict):
        raw = node.get("id")
        if isinstance(raw, dict):
            raw = raw.get("value")
        if isinstance(raw, (str, int)) and not isinstance(raw, bool):
            return str(raw)
    return None


def _text(value: Any, default: str = "") -> str:
    return value.strip() if isinstance(value, str) else default


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class CurriculumMeta:
    """The columns stored next to the document (what list/search/filter need without parsing JSON)."""

    id: str
    title: str
    description: str
    version: str
    difficulty: str | None
    age_range: str | None
    duration: str | None
    keywords: list[str] = field(default_factory=list)
    topic_count: int = 0
    visual_asset_count: int = 0
    language: str = "en"


def validate_document(doc: Any) -> CurriculumMeta:
    """Check that ``doc`` is a UMCF curriculum and extract its metadata, or raise :class:`UMCFError`."""
    if not isinstance(doc, dict):
        raise UMCFError("curriculum content must be a JSON object")
    if not (doc.get("formatIdentifier") == "umcf" or isinstance(doc.get("umcf"), str)):
        raise UMCFError('not a UMCF document: expected "formatIdentifier": "umcf" or a "umcf" version key',
                        "content.formatIdentifier")
    cid = node_id(doc)
    if cid is None or not ID_PATTERN.match(cid):
        raise UMCFError("curriculum id.value must be 1-100 characters of letters, digits, '_' or '-'",
                        "content.id")
    title = _text(doc.get("title"))
    if not title or len(title) > MAX_TITLE:
        raise UMCFError(f"curriculum title is required (at most {MAX_TITLE} characters)", "content.title")
    if not isinstance(doc.get("content", []), list):
        raise UMCFError("content must be a list of nodes", "content.content")
    topics = list_topics(doc)
    seen: set[str] = set()
    for index, topic in enumerate(topics):
        tid = node_id(topic)
        if tid is None or not re.match(r"^[A-Za-z0-9_-]{1,100}$", tid):
            raise UMCFError(f"topic #{index} needs an id.value of 1-100 safe characters", "content.content")
        if tid in seen:
            raise UMCFError(f"topic id {tid!r} appears twice", "content.content")
        seen.add(tid)
    version = doc.get("version")
    version_str = _text(_dict(version).get("number")) if isinstance(version, dict) else _text(version)
    educational = _dict(doc.get("educational"))
    keywords = [k.strip() for k in _list(_dict(doc.get("metadata")).get("keywords")) if isinstance(k, str) and k.strip()]
    visual = 0
    for topic in topics:
        media = _dict(topic.get("media"))
        visual += len(_list(media.get("embedded"))) + len(_list(media.get("reference")))
    return CurriculumMeta(
        id=cid,
        title=title,
        description=_text(doc.get("description")),
        version=version_str or "1.0.0",
        difficulty=_text(educational.get("difficulty")) or None,
        age_range=_text(educational.get("typicalAgeRange")) or None,
        duration=_text(educational.get("typicalLearningTime")) or None,
        keywords=keywords,
        topic_count=len(topics),
        visual_asset_count=visual,
        language=_text(_dict(doc.get("metadata")).get("language")) or "en",
    )


def is_document(body: Any) -> bool:
    """Whether a body is a UMCF document (rather than a metadata-only update)."""
    return isinstance(body, dict) and (body.get("formatIdentifier") == "umcf" or isinstance(body.get("umcf"), str)
                                       or "content" in body)


def apply_metadata(doc: dict, changes: dict) -> dict:
    """``doc`` with metadata changes ``{title, description, difficulty, age_range, keywords}`` written
    where UMCF keeps them (``educational.difficulty``/``typicalAgeRange``, ``metadata.keywords``)."""
    out = dict(doc)
    for key in ("title", "description"):
        if key in changes:
            out[key] = changes[key]
    if "difficulty" in changes or "age_range" in changes:
        educational = dict(_dict(out.get("educational")))
        if "difficulty" in changes:
            educational["difficulty"] = changes["difficulty"]
        if "age_range" in changes:
            educational["typicalAgeRange"] = changes["age_range"]
        out["educational"] = educational
    if "keywords" in changes:
        out["metadata"] = {**_dict(out.get("metadata")), "keywords": list(changes["keywords"])}
    return out


def list_topics(doc: dict) -> list[dict]:
    """Topics in reading order: every node of type ``topic`` (depth first); when a document has none,
    its leaf nodes (old importers wrote untyped leaves)."""
    typed: list[dict] = []
    leaves: list[dict] = []

    def walk(nodes: Any) -> None:
        for node in _list(nodes):
            if not isinstance(node, dict):
                continue
            children = _list(node.get("children"))
            if node.get("type") == "topic":
                typed.append(node)
            elif not children and node.get("type") not in ("assessment", "module", "unit", "curriculum"):
                leaves.append(node)
            walk(children)

    walk(doc.get("content"))
    return typed or leaves


def find_topic(doc: dict, topic_id: str) -> dict | None:
    for topic in list_topics(doc):
        if node_id(topic) == topic_id:
            return topic
    return None


def _segments(topic: dict) -> list[dict]:
    return [s for s in _list(_dict(topic.get("transcript")).get("segments")) if isinstance(s, dict)]


def _topic_text(topic: dict) -> str:
    content = topic.get("content")
    if isinstance(content, dict):
        return _text(content.get("text"))
    return _text(content)


def _duration(topic: dict) -> str:
    estimates = _dict(topic.get("timeEstimates"))
    for key in ("introductory", "intermediate", "overview"):
        if _text(estimates.get(key)):
            return _text(estimates.get(key))
    return _text(topic.get("typicalLearningTime")) or _text(topic.get("duration"))


def topic_summary(topic: dict, index: int) -> dict:
    media = _dict(topic.get("media"))
    segments = _segments(topic)
    order = topic.get("orderIndex")
    return {
        "id": node_id(topic),
        "title": _text(topic.get("title")),
        "description": _text(topic.get("description")),
        "order_index": order if isinstance(order, int) and not isinstance(order, bool) else index,
        "duration": _duration(topic),
        "has_transcript": bool(segments) or bool(_topic_text(topic)),
        "segment_count": len(segments) if segments else len(chunk_text(_topic_text(topic))),
        "assessment_count": len(_list(topic.get("assessments"))),
        "embedded_asset_count": len(_list(media.get("embedded"))),
        "reference_asset_count": len(_list(media.get("reference"))),
    }


def _learning_objectives(doc: dict) -> list:
    objectives = list(_list(doc.get("learningObjectives")))
    for node in _list(doc.get("content")):
        if isinstance(node, dict):
            objectives.extend(_list(node.get("learningObjectives")))
    return objectives


def _iso(value: Any) -> str | None:
    return value.isoformat() if hasattr(value, "isoformat") else None


def list_item(meta: CurriculumMeta, *, created_at: Any = None, updated_at: Any = None, archived: bool = False) -> dict:
    """One entry of ``GET /api/curricula``: iOS and Android ``CurriculumSummary`` (``topic_count``) plus
    the web ``CurriculumSummary`` (``language``, ``created_at``, ``updated_at`` ISO 8601, ``topics_count``,
    ``status``: stored curricula are ``published``, archived ones ``archived``) plus the console's
    camelCase counts."""
    return {
        "id": meta.id,
        "language": meta.language,
        "created_at": _iso(created_at),
        "updated_at": _iso(updated_at),
        "topics_count": meta.topic_count,
        "status": "archived" if archived else "published",
        "title": meta.title,
        "description": meta.description,
        "version": meta.version,
        "topic_count": meta.topic_count,
        "total_duration": meta.duration or "",
        "difficulty": meta.difficulty or "",
        "age_range": meta.age_range or "",
        "keywords": list(meta.keywords),
        "visual_asset_count": meta.visual_asset_count,
        "has_visual_assets": meta.visual_asset_count > 0,
        # the Operations Console's CurriculumSummary (server/web/src/types/index.ts) reads camelCase
        "topicCount": meta.topic_count,
        "totalDuration": meta.duration or "",
        "hasVisualAssets": meta.visual_asset_count > 0,
        "visualAssetCount": meta.visual_asset_count,
    }


def web_topic(topic: dict, index: int) -> dict:
    """A topic as the web ``Topic`` (a UMCF content node): ``id`` as ``{catalog, value}`` and ``type``
    present even when an old document left them out (web-client/src/types/curriculum.ts)."""
    out = dict(topic)
    raw = out.get("id")
    if not isinstance(raw, dict) or not isinstance(raw.get("value"), str):
        out["id"] = {"catalog": "UMCF", "value": node_id(topic) or f"topic-{index}"}
    elif not isinstance(raw.get("catalog"), str):
        out["id"] = {"catalog": "UMCF", **raw}
    out["type"] = "topic"
    if not isinstance(out.get("title"), str):
        out["title"] = _text(out.get("title"))
    return out


def detail(doc: dict, *, created_at: Any = None, updated_at: Any = None, archived: bool = False) -> dict:
    """The flat iOS ``CurriculumDetail`` (``topics`` as TopicSummary, string ids) with Android's
    ``CurriculumSummary`` fields (``topic_count``), plus ``curriculum`` for the web client: the web
    summary fields and ``topics`` as full UMCF topic nodes (``id: {catalog, value}``, ``type``)."""
    meta = validate_document(doc)
    summary = list_item(meta, created_at=created_at, updated_at=updated_at, archived=archived)
    topics = list_topics(doc)
    body = {
        **summary,
        "id": meta.id,
        "title": meta.title,
        "description": meta.description,
        "version": meta.version,
        "difficulty": meta.difficulty or "",
        "age_range": meta.age_range or "",
        "duration": meta.duration or "",
        "keywords": list(meta.keywords),
        "topics": [topic_summary(t, i) for i, t in enumerate(topics)],
        "glossary_terms": _list(_dict(doc.get("glossary")).get("terms")),
        "learning_objectives": _learning_objectives(doc),
    }
    return {**body, "curriculum": {**body, "topics": [web_topic(t, i) for i, t in enumerate(topics)]}}


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def chunk_text(text: str, target: int = CHUNK_TARGET_CHARS) -> list[str]:
    """Split prose into speakable chunks: paragraphs first, then whole sentences packed up to ``target``
    characters (a sentence longer than the target stays whole rather than being cut mid-word)."""
    chunks: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text or ""):
        paragraph = " ".join(paragraph.split())
        if not paragraph:
            continue
        current = ""
        for sentence in _SENTENCE_END.split(paragraph):
            if current and len(current) + 1 + len(sentence) > target:
                chunks.append(current)
                current = sentence
            else:
                current = f"{current} {sentence}" if current else sentence
        if current:
            chunks.append(current)
    return chunks


def _segment(segment: dict, index: int) -> dict:
    """A stored segment with the keys iOS requires (``id``, ``type``, ``content`` as strings) filled in
    when a hand-written document left them out."""
    out = dict(segment)
    if not isinstance(out.get("id"), str) or not out["id"]:
        out["id"] = f"seg-{index}"
    if not isinstance(out.get("type"), str) or not out["type"]:
        out["type"] = "lecture"
    if not isinstance(out.get("content"), str):
        out["content"] = _text(out.get("text")) or ""
    return out


def transcript(doc: dict, topic_id: str) -> dict | None:
    """``GET …/topics/{tid}/transcript``: the topic's segments, or its text chunked when it has none."""
    topic = find_topic(doc, topic_id)
    if topic is None:
        return None
    segments = [_segment(s, i) for i, s in enumerate(_segments(topic))]
    if not segments:
        segments = [
            {"id": f"chunk-{i}", "type": "lecture" if i == 0 else "explanation", "content": chunk}
            for i, chunk in enumerate(chunk_text(_topic_text(topic)))
        ]
    media = _dict(topic.get("media"))
    embedded, reference = _list(media.get("embedded")), _list(media.get("reference"))
    return {
        "topic_id": topic_id,
        "topic_title": _text(topic.get("title")),
        "segments": segments,
        # the web client reads {transcript: {segments}} (useTopicTranscript); iOS and Android the top level
        "transcript": {"segments": segments},
        "misconceptions": _list(topic.get("misconceptions")),
        "examples": _list(topic.get("examples")),
        "assessments": _list(topic.get("assessments")),
        "media": {"embedded": embedded, "reference": reference, "total_count": len(embedded) + len(reference)},
    }


def dumps(doc: dict) -> str:
    """Canonical JSON for storage (asyncpg jsonb parameters are text)."""
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
