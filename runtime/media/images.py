"""Sizes of rendered images, read from the bytes (PNG header, SVG root attributes)."""
from __future__ import annotations

import re
import struct

_SVG_SIZE = re.compile(rb'<svg[^>]*?\swidth="([\d.]+)(?:pt|px)?"[^>]*?\sheight="([\d.]+)(?:pt|px)?"', re.S)


def image_size(data: bytes) -> tuple[int, int]:
    """(width, height) in pixels of a PNG, or in the SVG's own units (pt/px); (0, 0) when unknown."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    match = _SVG_SIZE.search(data[:4096])
    if match:
        return round(float(match.group(1))), round(float(match.group(2)))
    return 0, 0
