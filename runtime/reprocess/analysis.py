"""Analysis and rule-based fixes of a UMCF document (pure: no I/O).

Issues (the console's ``IssueType``): ``broken_image`` (an image with no url, data or asset),
``placeholder_image`` (an image marked as a placeholder), ``oversized_segment`` / ``undersized_segment``
(transcript segments read aloud badly), ``missing_objectives``, ``missing_checkpoints``,
``missing_time_estimate``, ``missing_metadata``.

Fixes done here: images (alt text from the title or caption, image entries with nothing to show removed),
segments (oversized ones re-chunked at sentence ends, undersized ones merged into the next), metadata
(description, version, keywords from the topic titles) and time estimates (from the spoken words at
150 words a minute). Writing objectives, checkpoints and alternative explanations needs a language
model: those stages are reported as skipped, never faked.
"""
from __future__ import annotations

import copy
import datetime as dt
import time
from typing import Any, Iterator

from runtime.curricula import umcf

OVERSIZED_CHARS = 1500
UNDERSIZED_CHARS = 40
WORDS_PER_MINUTE = 150
IMAGE_TYPES = ("image", "diagram", "chart", "photo", "illustration", "map", "formula")
# The console's stage ids, in order; the LLM ones are skipped by this reprocessor.
STAGES = (("loading", "Load curriculum"), ("analyzing", "Analyze"), ("fixing_images", "Fix images"),
          ("rechunking", "Re-chunk segments"), ("generating_objectives", "Generate objectives"),
          ("adding_checkpoints", "Add checkpoints"), ("adding_alternatives", "Add alternatives"),
          ("fixing_metadata", "Fix metadata"), ("validating", "Validate"), ("storing", "Store"))
NEEDS_LLM = {"generating_objectives": "generateObjectives", "adding_checkpoints": "addCheckpoints",
             "adding_alternatives": "addAlternatives"}
CONFIG_FLAGS = ("fixImages", "rechunkSegments", "generateObjectives", "addCheckpoints", "addAlternatives",
                "fixMetadata", "imageSearchEnabled", "generatePlaceholders", "dryRun")


def _media(topic: dict) -> Iterator[dict]:
    media = topic.get("media")
    if isinstance(media, dict):
        for key in ("embedded", "reference"):
            for item in media.get(key) or []:
                if isinstance(item, dict):
                    yield item


def _segments(topic: dict) -> list[dict]:
    transcript = topic.get("transcript")
    segments = transcript.get("segments") if isinstance(transcript, dict) else None
    return [s for s in segments or [] if isinstance(s, dict)]


def _text(segment: dict) -> str:
    value = segment.get("content")
    return value if isinstance(value, str) else ""


def _is_image(item: dict) -> bool:
    return str(item.get("type") or "image").lower() in IMAGE_TYPES


def _issue(kind: str, severity: str, topic: dict | None, description: str, fix: str, auto: bool, **details: Any) -> dict:
    node = umcf.node_id(topic) if topic else None
    location = f"topic '{topic.get('title') or node}'" if topic else "curriculum"
    return {"issueType": kind, "severity": severity, "location": location, "description": description,
            "suggestedFix": fix, "autoFixable": auto, "details": details, **({"nodeId": node} if node else {})}


def find_issues(doc: dict) -> list[dict]:
    issues: list[dict] = []
    missing = [name for name in ("description", "version") if not doc.get(name)]
    if not (doc.get("metadata") or {}).get("keywords"):
        missing.append("keywords")
    if missing:
        issues.append(_issue("missing_metadata", "warning", None, f"The curriculum has no {', '.join(missing)}.",
                             "Fill them from the title and the topics.", True, fields=missing))
    for topic in umcf.list_topics(doc):
        for item in _media(topic):
            if not _is_image(item):
                continue
            if not (item.get("url") or item.get("data") or item.get("assetId") or item.get("localPath")):
                issues.append(_issue("broken_image", "critical", topic, f"Image {item.get('id') or ''} has nothing to show.",
                                     "Remove the image entry.", True, mediaId=item.get("id")))
            elif item.get("isPlaceholder") or "placeholder" in str(item.get("url") or "").lower():
                issues.append(_issue("placeholder_image", "info", topic, f"Image {item.get('id') or ''} is a placeholder.",
                                     "Replace it with a real image.", False, mediaId=item.get("id")))
            elif not item.get("alt"):
                issues.append(_issue("broken_image", "warning", topic, f"Image {item.get('id') or ''} has no alt text.",
                                     "Use its title or caption as alt text.", True, mediaId=item.get("id"), missing="alt"))
        for segment in _segments(topic):
            size = len(_text(segment))
            if size > OVERSIZED_CHARS:
                issues.append(_issue("oversized_segment", "warning", topic, f"Segment {segment.get('id')} has {size} characters.",
                                     "Split it at sentence ends.", True, segmentId=segment.get("id"), chars=size))
            elif 0 < size < UNDERSIZED_CHARS and len(_segments(topic)) > 1:
                issues.append(_issue("undersized_segment", "info", topic, f"Segment {segment.get('id')} has {size} characters.",
                                     "Merge it into the next segment.", True, segmentId=segment.get("id"), chars=size))
        if not topic.get("learningObjectives"):
            issues.append(_issue("missing_objectives", "info", topic, "The topic has no learning objectives.",
                                 "Write objectives (needs a language model).", False))
        if not topic.get("assessments"):
            issues.append(_issue("missing_checkpoints", "info", topic, "The topic has no comprehension checkpoints.",
                                 "Add checkpoint questions (needs a language model).", False))
        if not (topic.get("timeEstimates") or topic.get("typicalLearningTime")):
            issues.append(_issue("missing_time_estimate", "info", topic, "The topic has no time estimate.",
                                 "Estimate it from the spoken words.", True))
    for index, issue in enumerate(issues):
        issue["id"] = f"issue-{index + 1}"
    return issues


def analyze(doc: dict, curriculum_id: str) -> dict:
    """The console's ``CurriculumAnalysis``."""
    started = time.perf_counter()
    issues = find_issues(doc)
    by_type: dict[str, int] = {}
    for issue in issues:
        by_type[issue["issueType"]] = by_type.get(issue["issueType"], 0) + 1
    return {
        "curriculumId": curriculum_id, "curriculumTitle": str(doc.get("title") or curriculum_id),
        "analyzedAt": dt.datetime.now(dt.timezone.utc).isoformat(),
        "analysisDurationMs": round((time.perf_counter() - started) * 1000, 2), "issues": issues,
        "stats": {"totalIssues": len(issues), "criticalCount": sum(i["severity"] == "critical" for i in issues),
                  "warningCount": sum(i["severity"] == "warning" for i in issues),
                  "infoCount": sum(i["severity"] == "info" for i in issues),
                  "autoFixableCount": sum(i["autoFixable"] for i in issues), "issuesByType": by_type},
    }


def _fix_images(doc: dict, fixes: list[str]) -> None:
    for topic in umcf.list_topics(doc):
        media = topic.get("media")
        if not isinstance(media, dict):
            continue
        for key in ("embedded", "reference"):
            kept = []
            for item in media.get(key) or []:
                if isinstance(item, dict) and _is_image(item):
                    if not (item.get("url") or item.get("data") or item.get("assetId") or item.get("localPath")):
                        fixes.append(f"Removed image {item.get('id') or ''} with nothing to show from '{topic.get('title')}'")
                        continue
                    if not item.get("alt") and (item.get("title") or item.get("caption")):
                        item["alt"] = item.get("title") or item.get("caption")
                        fixes.append(f"Added alt text to image {item.get('id') or ''} in '{topic.get('title')}'")
                kept.append(item)
            if key in media:
                media[key] = kept


def _rechunk(doc: dict, fixes: list[str]) -> None:
    for topic in umcf.list_topics(doc):
        segments = _segments(topic)
        if not segments:
            continue
        out: list[dict] = []
        carry = ""
        for segment in segments:
            text = (carry + " " + _text(segment)).strip() if carry else _text(segment)
            carry = ""
            if 0 < len(text) < UNDERSIZED_CHARS and segment is not segments[-1]:
                carry = text
                fixes.append(f"Merged short segment {segment.get('id')} of '{topic.get('title')}' into the next")
                continue
            if len(text) > OVERSIZED_CHARS:
                parts = umcf.chunk_text(text)
                fixes.append(f"Split segment {segment.get('id')} of '{topic.get('title')}' into {len(parts)}")
                out.extend({**segment, "id": f"{segment.get('id')}-{n + 1}", "content": part} for n, part in enumerate(parts))
            else:
                out.append({**segment, "content": text} if text != _text(segment) else segment)
        topic["transcript"]["segments"] = out


def _fix_metadata(doc: dict, fixes: list[str]) -> None:
    topics = umcf.list_topics(doc)
    if not doc.get("description"):
        titles = ", ".join(str(t.get("title")) for t in topics[:5] if t.get("title"))
        doc["description"] = f"{doc.get('title')}: {titles}." if titles else str(doc.get("title"))
        fixes.append("Added a description")
    if not doc.get("version"):
        doc["version"] = {"number": "1.0.0"}
        fixes.append("Added version 1.0.0")
    metadata = doc.setdefault("metadata", {}) if isinstance(doc.get("metadata", {}), dict) else None
    if metadata is not None and not metadata.get("keywords"):
        metadata["keywords"] = [str(t.get("title")) for t in topics[:10] if t.get("title")]
        fixes.append("Added keywords from the topic titles")
    for topic in topics:
        if not (topic.get("timeEstimates") or topic.get("typicalLearningTime")):
            words = sum(len(_text(s).split()) for s in _segments(topic)) or len(str(topic.get("content") or "").split())
            topic["typicalLearningTime"] = f"PT{max(1, round(words / WORDS_PER_MINUTE))}M"
            fixes.append(f"Estimated the time of '{topic.get('title')}'")


def apply(doc: dict, config: dict) -> tuple[dict, list[str], dict[str, str]]:
    """(fixed copy, fixes applied, stage id → complete | skipped) for a console ``ReprocessConfig``."""
    fixed = copy.deepcopy(doc)
    fixes: list[str] = []
    done: dict[str, str] = {}
    for stage, flag, fix in (("fixing_images", "fixImages", _fix_images), ("rechunking", "rechunkSegments", _rechunk),
                             ("fixing_metadata", "fixMetadata", _fix_metadata)):
        if config.get(flag):
            fix(fixed, fixes)
            done[stage] = "complete"
        else:
            done[stage] = "skipped"
    for stage in NEEDS_LLM:
        done[stage] = "skipped"
    return fixed, fixes, done
