"""Routes of the import sources (``/api/import/sources*``), the import system status, and ``POST
/api/import/jobs`` (served by the core container, with the job routes of
``runtime.curricula.import_routes``).

Browsing the catalogs is Tier 1 (``runtime.middleware.auth``: read-only, the operator's public course
listings, no tenant data; the Android app browses them as a client). Starting, listing and cancelling
jobs and the status stay Tier 2.

``POST /api/import/jobs`` takes a catalog course — the console's and web client's ``{sourceId, courseId,
outputName?, selectedLectures?}`` or Android's ``StartImportJobRequest {source_id, course_id}`` — or the
document itself as ``{url}`` / ``{content}``.
"""
from __future__ import annotations

import asyncio
import datetime as dt

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from runtime import client_shapes
from runtime.content.http import reply, tx
from runtime.context import AppContext, ctx
from runtime.curricula.import_routes import document_payload, enqueue_import
from runtime.curricula.importer import MAX_DOCUMENT_BYTES
from runtime.errors import ApiError, NotFound, ServiceUnavailable
from runtime.importing import catalogs
from runtime.importing.store import status_counts
from runtime.validation import field_id, field_list, field_str, json_body, path_id, query_int, query_str

PAGE_SIZE_MAX = 100
# sourceId values that mean "the document itself", not a catalog (the old import API's).
DOCUMENT_SOURCES = (None, "url", "umcf")


def _catalogs(app: AppContext) -> catalogs.Catalogs:
    return app.extension("import_catalogs", lambda: catalogs.Catalogs(app.settings.import_catalogs))


async def _sources(request: Request) -> list[catalogs.Source]:
    try:
        return await _catalogs(ctx(request)).sources()
    except catalogs.CatalogError as exc:
        raise ServiceUnavailable(f"An import catalog cannot be read: {exc}", error="catalog_unavailable") from None


async def _source(request: Request) -> catalogs.Source:
    source_id = path_id(request, "source_id")
    found = next((s for s in await _sources(request) if s.id == source_id), None)
    if found is None:
        raise NotFound(f"No import source {source_id!r}; GET /api/import/sources lists them.", error="source_not_found")
    return found


def _course(source: catalogs.Source, course_id: str) -> dict:
    course = source.course(course_id)
    if course is None:
        raise NotFound(f"Source {source.id!r} has no course {course_id!r}.", error="course_not_found")
    return course


async def list_sources(request: Request) -> Response:
    """The configured import sources."""
    items = [catalogs.source_view(s) for s in await _sources(request)]
    return reply(client_shapes.import_listing(request, "sources", items, {}))


async def get_source(request: Request) -> Response:
    """One import source (also under ``source``)."""
    view = catalogs.source_view(await _source(request))
    return reply({**view, "success": True, "source": view})


def _paging(request: Request) -> tuple[int, int]:
    page = query_int(request, "page", 1, min=1, max=100_000) or 1
    size = query_int(request, "pageSize", None, min=1, max=PAGE_SIZE_MAX) or query_int(
        request, "per_page", 20, min=1, max=PAGE_SIZE_MAX) or 20
    return page, size


async def list_courses(request: Request) -> Response:
    """A source's courses, a page at a time (``?page&pageSize&search``)."""
    source = await _source(request)
    search = (query_str(request, "search", max_len=200) or "").strip()
    courses = [c for c in source.courses if not search or catalogs.matches(c, search)]
    page, size = _paging(request)
    chunk, pagination = catalogs.page_of(courses, page, size)
    items = [catalogs.course_view(source, c) for c in chunk]
    return reply(client_shapes.import_listing(request, "courses", items, {"pagination": pagination}))


async def search_courses(request: Request) -> Response:
    """Courses of a source matching ``?q=``: Android's ``CourseSearchResult`` and the catalog page shape."""
    source = await _source(request)
    query = (query_str(request, "q", max_len=200) or "").strip()
    if not query:
        raise ApiError(400, "missing_query", "Send the search text as ?q=.", details={"field": "q"})
    page, size = _paging(request)
    chunk, pagination = catalogs.page_of([c for c in source.courses if catalogs.matches(c, query)], page, size)
    return reply({"success": True, "courses": [catalogs.course_view(source, c) for c in chunk],
                  "total": pagination["total"], "page": page, "per_page": size, "pagination": pagination})


async def get_course(request: Request) -> Response:
    """One course with its lectures, whether it can be imported and what its license asks."""
    source = await _source(request)
    course = _course(source, path_id(request, "course_id"))
    detail = catalogs.course_detail(source, course)
    return reply(client_shapes.import_course_detail(request, detail, {
        "canImport": detail["importable"], "licenseWarnings": catalogs.license_warnings(source, course)}))


async def _catalog_payload(request: Request, source_id: str, body: dict) -> dict:
    sources = await _sources(request)
    source = next((s for s in sources if s.id == source_id), None)
    if source is None:
        raise NotFound(f"No import source {source_id!r}; GET /api/import/sources lists them.", error="source_not_found")
    course_id = field_id(body, "courseId") or field_id(body, "course_id")
    if course_id is None:
        raise ApiError(400, "missing_field", "Send the catalog's 'courseId' with 'sourceId'.", details={"field": "courseId"})
    course = _course(source, course_id)
    where = catalogs.document_location(source, course)
    if where is None:
        raise ApiError(422, "not_importable", f"Course {course_id!r} names no UMCF document in its catalog.",
                       details={"field": "courseId"})
    lectures = field_list(body, "selectedLectures", default=[], item_type=str, max_items=1000) or []
    meta = {"sourceId": source.id, "courseId": course_id, "courseName": course["title"],
            "outputName": field_str(body, "outputName", max_len=200) or course_id, "selectedLectures": lectures}
    if where[0] == "url":
        return {"url": where[1], "source": meta}
    try:
        content = await asyncio.to_thread(catalogs.read_document_file, where[1], MAX_DOCUMENT_BYTES)
    except catalogs.CatalogError as exc:
        raise ServiceUnavailable(f"The course document cannot be read: {exc}", error="catalog_unavailable") from None
    return {**document_payload({"content": content}), "source": meta}


async def create_job(request: Request) -> Response:
    """Queue a curriculum import: a catalog course, or ``{url}`` / ``{content}``."""
    body = await json_body(request, max_bytes=MAX_DOCUMENT_BYTES)
    source_id = field_str(body, "sourceId", max_len=100) or field_str(body, "source_id", max_len=100)
    if source_id in DOCUMENT_SOURCES:
        payload = document_payload(body)
    else:
        payload = await _catalog_payload(request, source_id, body)
    job_id = await enqueue_import(request, payload)
    now = dt.datetime.now(dt.timezone.utc).isoformat()
    return reply({"success": True, "jobId": job_id, "id": job_id, "status": "queued", "progress": 0.0,
                  "topics_imported": 0, "topics_total": 0, "created_at": now}, 202)


async def import_status(request: Request) -> Response:
    """How many of the tenant's import jobs run, wait, and finished today (Android's ``ImportSystemStatus``)."""
    async with tx(request) as conn:
        counts = await status_counts(conn)
    sources = await _sources(request)
    return reply({"success": True, **counts, "sources": len(sources)})


ROUTES = [
    Route("/api/import/sources", list_sources, methods=["GET"]),
    Route("/api/import/sources/{source_id}", get_source, methods=["GET"]),
    Route("/api/import/sources/{source_id}/courses", list_courses, methods=["GET"]),
    Route("/api/import/sources/{source_id}/search", search_courses, methods=["GET"]),
    Route("/api/import/sources/{source_id}/courses/{course_id}", get_course, methods=["GET"]),
    Route("/api/import/jobs", create_job, methods=["POST"]),
    Route("/api/import/status", import_status, methods=["GET"]),
    # the old server's list of enabled sources (the console's FOV panel proxies it)
    Route("/api/sources", list_sources, methods=["GET"]),
]
