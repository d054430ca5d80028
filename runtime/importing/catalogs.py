"""Course catalogs: the import sources an operator configures with ``UNAMENTIS_IMPORT_CATALOGS``.

Each entry of the setting is a JSON file on the server or an https URL. A catalog file holds one
source, or ``{"sources": [...]}``::

    {"id": "mit-ocw", "name": "MIT OpenCourseWare", "description": "...", "provider": "MIT",
     "website": "https://ocw.mit.edu", "icon": null, "contentTypes": ["transcripts"], "subjects": ["Physics"],
     "license": {"type": "CC-BY-NC-SA-4.0", "name": "...", "requiresAttribution": true,
                 "allowsCommercialUse": false, "allowsDerivatives": true, "shareAlike": true, "url": "..."},
     "courses": [{"id": "8-01sc", "title": "Physics I", "description": "...", "institution": "MIT",
                  "subject": "Physics", "level": "introductory", "language": "en", "url": "https://...",
                  "instructor": "...", "duration": 12, "featured": true, "thumbnailUrl": null,
                  "contentTypes": ["transcripts"], "lectures": [{"id": "lecture-1", "title": "..."}],
                  "document": "physics-1.umcf.json"}]}

A course is importable when it names its UMCF document: ``document`` (a path relative to the catalog
file, or to the catalog URL) or ``documentUrl`` (https). Pure reading and shaping lives here; the
routes are in ``runtime.importing.routes``.
"""
from __future__ import annotations

import asyncio
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from runtime.curricula.fetch import FetchError, fetch_bytes
from runtime.curricula.umcf import ID_PATTERN
from runtime.ttl_cache import MISSING, TtlCache

MAX_CATALOG_BYTES = 5 * 1024 * 1024
CACHE_SECONDS = 60.0  # a catalog edited on disk (or at its URL) shows within a minute
_LICENSE_DEFAULT = {"type": "unknown", "name": "Unknown license", "requiresAttribution": True,
                    "allowsCommercialUse": False, "allowsDerivatives": False, "shareAlike": False}


class CatalogError(ValueError):
    """A configured catalog cannot be read or is malformed; the message names the catalog."""


@dataclass(frozen=True)
class Source:
    data: dict  # the catalog's source object, courses included
    origin: str  # the catalog file path or URL it came from

    @property
    def id(self) -> str:
        return str(self.data["id"])

    @property
    def courses(self) -> list[dict]:
        return self.data.get("courses") or []

    def course(self, course_id: str) -> dict | None:
        return next((c for c in self.courses if str(c.get("id")) == course_id), None)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _check_source(raw: Any, origin: str) -> dict:
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str) or not ID_PATTERN.match(raw["id"]):
        raise CatalogError(f"{origin}: every source needs an 'id' of letters, digits, '-' or '_'")
    if not isinstance(raw.get("name"), str):
        raise CatalogError(f"{origin}: source {raw['id']!r} needs a 'name'")
    courses = raw.get("courses", [])
    if not isinstance(courses, list):
        raise CatalogError(f"{origin}: 'courses' of source {raw['id']!r} must be a list")
    for course in courses:
        if not isinstance(course, dict) or not isinstance(course.get("id"), str) or not isinstance(course.get("title"), str):
            raise CatalogError(f"{origin}: every course of {raw['id']!r} needs a string 'id' and 'title'")
    return raw


def parse_catalog(text: bytes | str, origin: str) -> list[Source]:
    """The sources of one catalog document."""
    try:
        doc = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{origin}: not JSON ({exc})") from None
    raws = doc.get("sources") if isinstance(doc, dict) and "sources" in doc else [doc]
    if not isinstance(raws, list):
        raise CatalogError(f"{origin}: 'sources' must be a list")
    return [Source(_check_source(raw, origin), origin) for raw in raws]


async def _read(entry: str) -> bytes:
    if entry.startswith("https://"):
        try:
            return await fetch_bytes(entry)
        except FetchError as exc:
            raise CatalogError(f"{entry}: {exc.message}") from None
    # A small local file, read at most once a minute: off the event loop all the same.
    return await asyncio.to_thread(_read_file, entry)


def _read_file(entry: str) -> bytes:
    path = Path(entry)
    try:
        if path.stat().st_size > MAX_CATALOG_BYTES:
            raise CatalogError(f"{entry}: larger than {MAX_CATALOG_BYTES} bytes")
        return path.read_bytes()
    except OSError as exc:
        raise CatalogError(f"{entry}: cannot be read ({exc.strerror})") from None


class Catalogs:
    """The configured catalogs of one app, re-read after ``CACHE_SECONDS``."""

    def __init__(self, entries: tuple[str, ...]):
        self.entries = entries
        self._cache = TtlCache(CACHE_SECONDS, max_entries=max(len(entries), 1))

    async def _load(self, entry: str) -> list[Source]:
        cached = self._cache.get(entry)
        if cached is not MISSING:
            return cached
        sources = parse_catalog(await _read(entry), entry)
        self._cache.put(entry, sources)
        return sources

    async def sources(self) -> list[Source]:
        """Every source of every catalog; the first catalog to name an id wins."""
        seen: dict[str, Source] = {}
        for entry in self.entries:
            for source in await self._load(entry):
                seen.setdefault(source.id, source)
        return list(seen.values())

    async def source(self, source_id: str) -> Source | None:
        return next((s for s in await self.sources() if s.id == source_id), None)


def document_location(source: Source, course: dict) -> tuple[str, str] | None:
    """``("url", https URL)`` or ``("file", path)`` of a course's UMCF document; None when it has none.

    A relative ``document`` resolves against its catalog and may not leave the catalog's folder."""
    url = course.get("documentUrl")
    if isinstance(url, str) and url.startswith("https://"):
        return ("url", url)
    document = course.get("document")
    if not isinstance(document, str) or not document:
        return None
    if source.origin.startswith("https://"):
        return ("url", urljoin(source.origin, document))
    folder = Path(source.origin).resolve().parent
    path = (folder / document).resolve()
    if folder not in path.parents:
        return None
    return ("file", str(path))


def read_document_file(path: str, max_bytes: int) -> Any:
    """A course document stored beside its catalog, parsed; CatalogError when unreadable."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise CatalogError(f"{path}: cannot be read ({exc.strerror})") from None
    if len(raw) > max_bytes:
        raise CatalogError(f"{path}: larger than {max_bytes} bytes")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise CatalogError(f"{path}: not a JSON document") from None


# --- the shapes the clients read (a superset where they read disjoint keys) ------------------------
def license_view(source: Source, course: dict | None = None) -> dict:
    raw = (course or {}).get("license") or source.data.get("license") or {}
    view = {**_LICENSE_DEFAULT, **{k: v for k, v in raw.items() if k in _LICENSE_DEFAULT or k == "url"}}
    return view


def source_view(source: Source) -> dict:
    """Console ``CurriculumSource``, web ``ImportSource`` and Android ``ImportSource`` keys."""
    data = source.data
    content_types = _strings(data.get("contentTypes"))
    license = license_view(source)
    return {
        "id": source.id, "name": data["name"], "description": _text(data.get("description")),
        "provider": _text(data.get("provider")), "website": _text(data.get("website")), "url": _text(data.get("website")),
        "license": license, "license_type": license["type"],
        "contentTypes": content_types, "supported_features": content_types, "supported_types": content_types,
        "subjects": _strings(data.get("subjects")), "courseCount": len(source.courses),
        "isActive": data.get("isActive", True) is not False,
        "icon": data.get("icon") if isinstance(data.get("icon"), str) else None,
        "icon_url": data.get("icon") if isinstance(data.get("icon"), str) else None,
        "requires_auth": False,
    }


def course_view(source: Source, course: dict) -> dict:
    """Console ``CourseSummary``, web ``ImportCourse`` and Android ``ImportCourse`` keys."""
    content_types = _strings(course.get("contentTypes")) or _strings(source.data.get("contentTypes"))
    lectures: list = course["lectures"] if isinstance(course.get("lectures"), list) else []
    duration = course.get("duration")
    return {
        "id": course["id"], "title": course["title"], "description": _text(course.get("description")),
        "institution": _text(course.get("institution")) or _text(source.data.get("provider")),
        "instructor": course.get("instructor") if isinstance(course.get("instructor"), str) else None,
        "subject": _text(course.get("subject")), "level": _text(course.get("level")),
        "difficulty": course.get("level") if isinstance(course.get("level"), str) else None,
        "language": _text(course.get("language")) or "en", "url": _text(course.get("url")),
        "license": license_view(source, course),
        "contentTypes": content_types, "available_features": content_types,
        "duration": duration if isinstance(duration, (int, float)) and not isinstance(duration, bool) else None,
        "featured": bool(course.get("featured", False)),
        "thumbnail_url": course.get("thumbnailUrl") if isinstance(course.get("thumbnailUrl"), str) else None,
        "topic_count": len(lectures) or None,
        "importable": document_location(source, course) is not None,
    }


def course_detail(source: Source, course: dict) -> dict:
    """``CourseDetail``: the summary with its lectures and what the course holds."""
    content_types = set(_strings(course.get("contentTypes")) or _strings(source.data.get("contentTypes")))
    lectures = [{"id": str(item.get("id")), "title": _text(item.get("title")), "number": index + 1}
                for index, item in enumerate(course.get("lectures") or []) if isinstance(item, dict) and item.get("id")]
    return {
        **course_view(source, course),
        "lectures": lectures,
        "contentSummary": {
            "hasTranscripts": "transcripts" in content_types, "hasLectureNotes": "lecture_notes" in content_types,
            "hasAssignments": "assignments" in content_types, "hasExams": "exams" in content_types,
            "hasVideos": "videos" in content_types, "hasSolutions": "solutions" in content_types,
            "lectureCount": len(lectures),
        },
    }


def license_warnings(source: Source, course: dict) -> list[str]:
    license = license_view(source, course)
    warnings = []
    if license["type"] == "unknown":
        warnings.append("The catalog states no license for this course: check the terms before importing.")
    if license["requiresAttribution"]:
        warnings.append(f"{license['name']} requires attribution to {course_view(source, course)['institution'] or 'the author'}.")
    if not license["allowsCommercialUse"]:
        warnings.append("The license does not allow commercial use.")
    if license["shareAlike"]:
        warnings.append("Derived material must be shared under the same license.")
    return warnings


def matches(course: dict, query: str) -> bool:
    """Case-insensitive search over title, description, subject, instructor and institution."""
    needle = query.casefold()
    fields = ("title", "description", "subject", "instructor", "institution", "level")
    return any(needle in _text(course.get(name)).casefold() for name in fields)


def page_of(items: list, page: int, page_size: int) -> tuple[list, dict]:
    total = len(items)
    start = (page - 1) * page_size
    return items[start:start + page_size], {
        "page": page, "pageSize": page_size, "total": total, "totalPages": max(1, math.ceil(total / page_size))}
