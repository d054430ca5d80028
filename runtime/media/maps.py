"""Maps: a Web-Mercator view around a centre, with markers, routes and a title, drawn with Pillow.

The base map comes from the tile servers the operator names in ``UNAMENTIS_MAP_TILES`` (``style=URL``
pairs, the URL with ``{z}``, ``{x}``, ``{y}``; a tile server's usage policy is the operator's to keep).
The ``plain`` style needs none: a graticule (lines every 10°/1°…) under the markers and routes, so a
map answers without any tile server. PNG only. Pillow comes with matplotlib
(``runtime/requirements-media.txt``).
"""
from __future__ import annotations

import importlib.util
import io
import math
from dataclasses import dataclass, field
from typing import Awaitable, Callable

TILE = 256
MAX_SIZE = 1280
MAX_MARKERS = 50
MAX_ROUTE_POINTS = 500
MAX_TILES = 64
ZOOM_RANGE = (1, 18)
PLAIN = {"id": "plain", "name": "Plain", "description": "Latitude/longitude grid with markers and routes; no base map."}
TileFetcher = Callable[[str], Awaitable[bytes | None]]


class MapError(ValueError):
    """The map cannot be drawn as asked; the message says why."""


@dataclass(frozen=True)
class Marker:
    lat: float
    lon: float
    label: str = ""
    color: str = "#d62828"


@dataclass(frozen=True)
class MapSpec:
    lat: float
    lon: float
    zoom: int
    width: int = 800
    height: int = 600
    title: str = ""
    markers: tuple[Marker, ...] = ()
    routes: tuple[tuple[tuple[float, float], ...], ...] = field(default=())


def available() -> bool:
    return importlib.util.find_spec("PIL") is not None


def styles(tiles: dict[str, str]) -> list[dict]:
    return [PLAIN] + [{"id": name, "name": name.replace("-", " ").replace("_", " ").title(),
                       "description": "Base map from the operator's tile server."} for name in tiles]


def _world(lat: float, lon: float, zoom: int) -> tuple[float, float]:
    """Web-Mercator pixel coordinates of a point at ``zoom``."""
    lat = max(min(lat, 85.0511), -85.0511)
    scale = TILE * 2 ** zoom
    x = (lon + 180.0) / 360.0 * scale
    rad = math.radians(lat)
    y = (1.0 - math.log(math.tan(rad) + 1.0 / math.cos(rad)) / math.pi) / 2.0 * scale
    return x, y


def _latlon(x: float, y: float, zoom: int) -> tuple[float, float]:
    scale = TILE * 2 ** zoom
    lon = x / scale * 360.0 - 180.0
    lat = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * y / scale))))
    return lat, lon


def _color(text: str) -> str:
    return text if isinstance(text, str) and text.startswith("#") and len(text) in (4, 7) else "#d62828"


async def render(spec: MapSpec, template: str | None, fetch: TileFetcher) -> tuple[bytes, list[str]]:
    """The map as PNG bytes and warnings (tiles that could not be had)."""
    from PIL import Image, ImageDraw  # optional dependency, imported when used

    if not ZOOM_RANGE[0] <= spec.zoom <= ZOOM_RANGE[1]:
        raise MapError(f"'zoom' must be between {ZOOM_RANGE[0]} and {ZOOM_RANGE[1]}.")
    if not (16 <= spec.width <= MAX_SIZE and 16 <= spec.height <= MAX_SIZE):
        raise MapError(f"The map size must be between 16 and {MAX_SIZE} pixels each way.")
    cx, cy = _world(spec.lat, spec.lon, spec.zoom)
    left, top = cx - spec.width / 2, cy - spec.height / 2
    image = Image.new("RGB", (spec.width, spec.height), "#eef3f7")
    warnings: list[str] = []
    if template:
        n = 2 ** spec.zoom
        tiles = [(tx, ty) for tx in range(math.floor(left / TILE), math.floor((left + spec.width) / TILE) + 1)
                 for ty in range(max(math.floor(top / TILE), 0), min(math.floor((top + spec.height) / TILE), n - 1) + 1)]
        if len(tiles) > MAX_TILES:
            raise MapError("The map needs too many tiles; make it smaller.")
        missing = 0
        for tx, ty in tiles:
            url = template.replace("{z}", str(spec.zoom)).replace("{x}", str(tx % n)).replace("{y}", str(ty))
            data = await fetch(url)
            try:
                tile = Image.open(io.BytesIO(data)).convert("RGB") if data else None
            except OSError:
                tile = None
            if tile is None:
                missing += 1
                continue
            image.paste(tile.resize((TILE, TILE)), (round(tx * TILE - left), round(ty * TILE - top)))
        if missing:
            warnings.append(f"{missing} of {len(tiles)} map tiles could not be loaded.")
    draw = ImageDraw.Draw(image)
    if not template:
        _graticule(draw, spec, left, top)

    def point(lat: float, lon: float) -> tuple[float, float]:
        x, y = _world(lat, lon, spec.zoom)
        return x - left, y - top

    for route in spec.routes:
        draw.line([point(lat, lon) for lat, lon in route], fill="#1d4ed8", width=3)
    for marker in spec.markers:
        x, y = point(marker.lat, marker.lon)
        draw.ellipse((x - 7, y - 7, x + 7, y + 7), fill=_color(marker.color), outline="white", width=2)
        if marker.label:
            draw.text((x + 10, y - 6), marker.label[:60], fill="#111111", stroke_width=2, stroke_fill="white")
    if spec.title:
        draw.rectangle((0, 0, spec.width, 24), fill="#ffffffcc" if image.mode == "RGBA" else "#ffffff")
        draw.text((8, 6), spec.title[:120], fill="#111111")
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue(), warnings


def _graticule(draw, spec: MapSpec, left: float, top: float) -> None:
    """Grid lines at a spacing that suits the zoom, labelled in degrees."""
    north, west = _latlon(left, top, spec.zoom)
    south, east = _latlon(left + spec.width, top + spec.height, spec.zoom)
    span = max(east - west, north - south, 1e-6)
    step = next(s for s in (30, 10, 5, 2, 1, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001) if span / s >= 3)
    lon = math.floor(west / step) * step
    while lon <= east:
        x, _ = _world(0, lon, spec.zoom)
        draw.line([(x - left, 0), (x - left, spec.height)], fill="#c5d3df", width=1)
        draw.text((x - left + 2, spec.height - 14), f"{lon:g}°", fill="#6b7f91")
        lon += step
    lat = math.floor(south / step) * step
    while lat <= north:
        _, y = _world(lat, 0, spec.zoom)
        draw.line([(0, y - top), (spec.width, y - top)], fill="#c5d3df", width=1)
        draw.text((2, y - top + 2), f"{lat:g}°", fill="#6b7f91")
        lat += step
