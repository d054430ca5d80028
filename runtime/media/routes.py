"""``/api/media/*`` (Tier 1; served by the core container, whose image carries Graphviz and matplotlib).

Bodies follow the Operations Console (``format``/``code``/``outputFormat``, ``latex``/``displayMode``,
``center: {latitude, longitude}``), the web client, and Android (``type``, ``display_mode``/``font_size``,
``center: {lat, lng}``). A render answers the console's ``{success, data (base64), mimeType, width,
height, renderMethod}`` with Android's ``RenderedMedia`` keys (``url`` as a data: URL, ``content_type``);
what cannot be drawn is a 422 with ``success: false`` and the reason. Renders run at most
``RENDER_SLOTS`` at a time per process (the rest wait briefly, then 503), on top of the rate limits.
"""
from __future__ import annotations

import asyncio
import base64
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from runtime import client_shapes
from runtime.content.http import reply
from runtime.context import AppContext, ctx
from runtime.errors import ApiError, ServiceUnavailable
from runtime.media import diagrams, formulas, maps, mermaid
from runtime.media.images import image_size
from runtime.validation import field_bool, field_enum, field_float, field_int, field_str, json_body

MAX_BODY_BYTES = 64 * 1024
RENDER_SLOTS = 2
SLOT_WAIT_SECONDS = 10.0
MIME = {"svg": "image/svg+xml", "png": "image/png"}


def _slots(app: AppContext) -> asyncio.Semaphore:
    return app.extension("media_slots", lambda: asyncio.Semaphore(RENDER_SLOTS))


class _Slot:
    """One of the process's render slots, or 503 after ``SLOT_WAIT_SECONDS``."""

    def __init__(self, request: Request):
        self.semaphore = _slots(ctx(request))

    async def __aenter__(self) -> None:
        try:
            await asyncio.wait_for(self.semaphore.acquire(), SLOT_WAIT_SECONDS)
        except asyncio.TimeoutError:
            raise ServiceUnavailable("The media renderer is busy; try again shortly.", error="renderer_busy",
                                     headers={"Retry-After": "5"}) from None

    async def __aexit__(self, *exc: Any) -> None:
        self.semaphore.release()


def _rendered(data: bytes, output: str, method: str, warnings: list[str]) -> dict:
    width, height = image_size(data)
    encoded = base64.b64encode(data).decode()
    return {"success": True, "data": encoded, "mimeType": MIME[output], "width": width, "height": height,
            "renderMethod": method, "warnings": warnings,
            "url": f"data:{MIME[output]};base64,{encoded}", "content_type": MIME[output]}


def _cannot(kind: str, message: str) -> ApiError:
    return ApiError(422, f"invalid_{kind}", message, details={"field": "code" if kind == "diagram" else "latex"})


def map_tiles(app: AppContext) -> dict[str, str]:
    """``UNAMENTIS_MAP_TILES`` as style → URL template (a bare URL is the ``standard`` style)."""
    tiles: dict[str, str] = {}
    for entry in app.settings.map_tiles:
        name, sep, url = entry.partition("=")
        if sep and name.strip().replace("-", "").replace("_", "").isalnum() and "://" not in name:
            tiles[name.strip()] = url.strip()
        else:
            tiles["standard"] = entry.strip()
    return tiles


async def capabilities(request: Request) -> Response:
    """What this server can render (the web client's ``capabilities`` and Android's ``MediaCapabilities``)."""
    has_dot, has_math, has_maps = diagrams.available(), formulas.available(), maps.available()
    styles = [s["id"] for s in maps.styles(map_tiles(ctx(request)))] if has_maps else []
    return reply({
        "success": True,
        "capabilities": {
            "diagrams": {"formats": list(diagrams.FORMATS) if has_dot else [],
                         "renderers": {"graphviz": has_dot, "mermaid": has_dot, "plantuml": False}},
            "formulas": {"renderers": {"mathtext": has_math, "katex": False}, "clientSideSupported": True},
            "maps": {"styles": styles, "renderers": {"pillow": has_maps, "tiles": bool(map_tiles(ctx(request)))},
                     "features": ["markers", "routes", "title"] if has_maps else []},
        },
        "diagram_types": list(diagrams.FORMATS) if has_dot else [], "formula_enabled": has_math, "map_styles": styles,
        "max_diagram_nodes": mermaid.MAX_NODES, "max_formula_length": formulas.MAX_LATEX_CHARS,
        "max_map_markers": maps.MAX_MARKERS,
    })


def _diagram_input(body: dict) -> tuple[str, str]:
    kind = (field_str(body, "format", max_len=20) or field_str(body, "type", max_len=20) or "mermaid").lower()
    code = field_str(body, "code", required=True, max_len=diagrams.MAX_CODE_CHARS, strip=False) or ""
    return kind, code


async def validate_diagram(request: Request) -> Response:
    """Whether a diagram renders, with Graphviz's or the translator's errors."""
    kind, code = _diagram_input(await json_body(request, max_bytes=MAX_BODY_BYTES))
    async with _Slot(request):
        errors, warnings = await diagrams.check(kind, code)
    return reply({"success": True, "valid": not errors, "errors": errors, "warnings": warnings})


async def render_diagram(request: Request) -> Response:
    """A diagram as SVG (default) or PNG."""
    body = await json_body(request, max_bytes=MAX_BODY_BYTES)
    kind, code = _diagram_input(body)
    output = field_enum(body, "outputFormat", ("svg", "png"), default=None) or field_enum(
        body, "output_format", ("svg", "png"), default="svg") or "svg"
    try:
        dot, warnings = diagrams.to_dot(kind, code)
        async with _Slot(request):
            data = await diagrams.run_dot(dot, output)
    except diagrams.DiagramError as exc:
        raise _cannot("diagram", str(exc)) from None
    return reply(_rendered(data, output, "graphviz", warnings))


def _latex(body: dict) -> str:
    return field_str(body, "latex", required=True, max_len=formulas.MAX_LATEX_CHARS, strip=False) or ""


async def validate_formula(request: Request) -> Response:
    """Whether a LaTeX formula renders."""
    latex = _latex(await json_body(request, max_bytes=MAX_BODY_BYTES))
    async with _Slot(request):
        errors, warnings = await asyncio.to_thread(formulas.check, latex)
    return reply({"success": True, "valid": not errors, "errors": errors, "warnings": warnings})


async def render_formula(request: Request) -> Response:
    """A LaTeX formula as SVG (default) or PNG."""
    body = await json_body(request, max_bytes=MAX_BODY_BYTES)
    latex = _latex(body)
    output = field_enum(body, "outputFormat", ("svg", "png"), default=None) or field_enum(
        body, "output_format", ("svg", "png"), default="svg") or "svg"
    display = field_bool(body, "displayMode", default=None)
    display = field_bool(body, "display_mode", default=False) if display is None else display
    size = field_float(body, "fontSize", min=6, max=96) or field_float(body, "font_size", min=6, max=96) or 16.0
    color = field_str(body, "color", max_len=20) or "black"
    try:
        async with _Slot(request):
            data = await asyncio.to_thread(formulas.render, latex, output=output, font_size=size, color=color,
                                           display_mode=bool(display))
    except formulas.FormulaError as exc:
        raise _cannot("formula", str(exc)) from None
    return reply(_rendered(data, output, "mathtext", []))


def _point(raw: Any, name: str) -> tuple[float, float]:
    if not isinstance(raw, dict):
        raise ApiError(422, "invalid_field", f"'{name}' must be an object with latitude and longitude.",
                       details={"field": name})
    lat = raw.get("latitude", raw.get("lat"))
    lon = raw.get("longitude", raw.get("lng", raw.get("lon")))
    if isinstance(lat, bool) or isinstance(lon, bool) or not isinstance(lat, (int, float)) or not isinstance(lon, (int, float)) \
            or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ApiError(422, "invalid_field", f"'{name}' needs latitude in [-90, 90] and longitude in [-180, 180].",
                       details={"field": name})
    return float(lat), float(lon)


def _map_spec(body: dict) -> maps.MapSpec:
    lat, lon = _point(body.get("center"), "center")
    size: dict = body["size"] if isinstance(body.get("size"), dict) else {}
    markers_raw = body.get("markers") or []
    routes_raw = body.get("routes") or []
    if not isinstance(markers_raw, list) or len(markers_raw) > maps.MAX_MARKERS:
        raise ApiError(422, "invalid_field", f"'markers' must be a list of at most {maps.MAX_MARKERS}.",
                       details={"field": "markers"})
    if not isinstance(routes_raw, list):
        raise ApiError(422, "invalid_field", "'routes' must be a list.", details={"field": "routes"})
    markers = []
    for index, raw in enumerate(markers_raw):
        m_lat, m_lon = _point(raw, f"markers[{index}]")
        label = raw.get("label") or raw.get("title") or ""
        markers.append(maps.Marker(m_lat, m_lon, str(label)[:60], str(raw.get("color") or "#d62828")))
    routes = []
    for index, raw in enumerate(routes_raw):
        points = raw.get("points") if isinstance(raw, dict) else raw
        if not isinstance(points, list) or len(points) > maps.MAX_ROUTE_POINTS:
            raise ApiError(422, "invalid_field", f"'routes[{index}]' needs at most {maps.MAX_ROUTE_POINTS} points.",
                           details={"field": "routes"})
        routes.append(tuple(_point(p, f"routes[{index}]") for p in points))
    return maps.MapSpec(
        lat, lon, field_int(body, "zoom", default=5, min=maps.ZOOM_RANGE[0], max=maps.ZOOM_RANGE[1]) or 5,
        width=field_int(body, "width", min=16, max=maps.MAX_SIZE) or field_int(size, "width", min=16, max=maps.MAX_SIZE) or 800,
        height=field_int(body, "height", min=16, max=maps.MAX_SIZE) or field_int(size, "height", min=16, max=maps.MAX_SIZE) or 600,
        title=field_str(body, "title", max_len=120) or "", markers=tuple(markers), routes=tuple(routes))


async def render_map(request: Request) -> Response:
    """A map (PNG) around ``center`` at ``zoom`` with markers and routes, on a configured tile style or ``plain``."""
    body = await json_body(request, max_bytes=MAX_BODY_BYTES)
    if not maps.available():
        raise ApiError(501, "maps_not_installed", "Map rendering is not installed on this server (Pillow).")
    output = field_enum(body, "outputFormat", ("png", "svg"), default="png")
    if output != "png":
        raise ApiError(422, "invalid_field", "Maps render as PNG only.", details={"field": "outputFormat"})
    spec = _map_spec(body)
    tiles = map_tiles(ctx(request))
    style = field_str(body, "style", max_len=50) or (next(iter(tiles)) if tiles else "plain")
    warnings = []
    if style != "plain" and style not in tiles:
        fallback = next(iter(tiles), "plain")
        warnings.append(f"Style {style!r} is not configured on this server; drawn as {fallback!r}.")
        style = fallback
    http = ctx(request).http

    async def fetch(url: str) -> bytes | None:
        try:
            answer = await http.get(url, timeout=5.0, headers={"User-Agent": "UnaMentis map renderer"})
        except Exception:  # a tile that cannot be had leaves a blank square and a warning
            return None
        return answer.content if answer.status_code == 200 else None

    try:
        async with _Slot(request):
            data, more = await maps.render(spec, tiles.get(style), fetch)
    except maps.MapError as exc:
        raise ApiError(422, "invalid_map", str(exc)) from None
    return reply(_rendered(data, "png", f"tiles:{style}" if style in tiles else "plain", warnings + more))


async def map_styles(request: Request) -> Response:
    """The map styles this server draws."""
    found = maps.styles(map_tiles(ctx(request))) if maps.available() else []
    return reply(client_shapes.media_map_styles(request, found))


ROUTES = [
    Route("/api/media/capabilities", capabilities, methods=["GET"]),
    Route("/api/media/diagrams/validate", validate_diagram, methods=["POST"]),
    Route("/api/media/diagrams/render", render_diagram, methods=["POST"]),
    Route("/api/media/formulas/validate", validate_formula, methods=["POST"]),
    Route("/api/media/formulas/render", render_formula, methods=["POST"]),
    Route("/api/media/maps/render", render_map, methods=["POST"]),
    Route("/api/media/maps/styles", map_styles, methods=["GET"]),
]
