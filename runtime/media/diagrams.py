"""Diagrams drawn by Graphviz's ``dot`` (the Debian package ``graphviz``): DOT as written, and Mermaid
flowcharts through ``runtime.media.mermaid``. PlantUML and the other Mermaid diagrams need their own
engines (Java, a browser) that the runtime image does not carry; they are refused with a clear message.

``dot`` runs as a subprocess with a deadline, no network, ``SERVER_NAME`` set so Graphviz confines file
access to ``GV_FILE_PATH`` (an empty folder), and DOT that asks for files (``image``, ``shapefile``,
``fontpath``, ``imagepath``, HTML ``<IMG>``) or sets ``dpi`` / ``resolution`` / a forced ``size`` is refused before that.
"""
from __future__ import annotations

import asyncio
import os
import re
import shutil
import tempfile

from runtime.media import mermaid
from runtime.processes import communicate

MAX_CODE_CHARS = 20_000
MAX_OUTPUT_BYTES = 5 * 1024 * 1024
TIMEOUT_SECONDS = 10.0
FORMATS = ("mermaid", "graphviz")
ALIASES = {"mermaid": "mermaid", "graphviz": "graphviz", "dot": "graphviz"}
REFUSED = {"plantuml": "PlantUML needs a Java engine that this server does not run; use a Mermaid flowchart or DOT.",
           "d2": "D2 is not installed on this server; use a Mermaid flowchart or DOT."}
_FILE_ATTRIBUTES = re.compile(r"\b(image|shapefile|fontpath|imagepath)\s*=|<\s*img\b", re.I)
# A huge dpi or resolution makes dot allocate a bitmap of any size: the renderer chooses those.
_SIZE_ATTRIBUTES = re.compile(r"\b(dpi|resolution)\s*=|\bsize\s*=\s*\"?[^\";\]]*!", re.I)
_DOT_NODE = re.compile(r'^\s*("[^"]+"|[A-Za-z0-9_]+)\s*(\[|;|$)', re.M)


class DiagramError(ValueError):
    """The diagram cannot be drawn; the message says why."""


def available() -> bool:
    return shutil.which("dot") is not None


def to_dot(kind: str, code: str) -> tuple[str, list[str]]:
    """(DOT source, warnings) for a diagram of ``kind``; DiagramError when it cannot be drawn."""
    if kind in REFUSED:
        raise DiagramError(REFUSED[kind])
    fmt = ALIASES.get(kind)
    if fmt is None:
        raise DiagramError(f"Unknown diagram format {kind!r}; supported: {', '.join(FORMATS)}.")
    if not code.strip():
        raise DiagramError("The diagram is empty.")
    if len(code) > MAX_CODE_CHARS:
        raise DiagramError(f"The diagram is longer than {MAX_CODE_CHARS} characters.")
    if fmt == "mermaid":
        try:
            return mermaid.to_dot(code)
        except mermaid.MermaidError as exc:
            raise DiagramError(str(exc)) from None
    if _FILE_ATTRIBUTES.search(code):
        raise DiagramError("DOT that reads files (image, shapefile, fontpath, imagepath, <IMG>) is not accepted.")
    if _SIZE_ATTRIBUTES.search(code):
        raise DiagramError("DOT may not set 'dpi', 'resolution' or a forced 'size' (!); the server chooses the image size.")
    if len(_DOT_NODE.findall(code)) > mermaid.MAX_NODES * 2:
        raise DiagramError(f"The diagram has more than about {mermaid.MAX_NODES} nodes.")
    return code, []


async def run_dot(dot: str, output: str) -> bytes:
    """``dot -T<output>`` of the source; DiagramError with Graphviz's own message when it fails."""
    exe = shutil.which("dot")
    if exe is None:
        raise DiagramError("Diagram rendering is not installed on this server (Graphviz 'dot').")
    with tempfile.TemporaryDirectory(prefix="unamentis-dot-") as empty:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "SERVER_NAME": "unamentis", "GV_FILE_PATH": empty + "/"}
        process = await asyncio.create_subprocess_exec(
            exe, f"-T{output}", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=env, cwd=empty)
        try:
            async with asyncio.timeout(TIMEOUT_SECONDS):
                out, err = await communicate(process, dot.encode())
        except TimeoutError:
            raise DiagramError(f"The diagram took longer than {TIMEOUT_SECONDS:.0f} s to lay out.") from None
    if process.returncode != 0 or not out:
        message = err.decode(errors="replace").strip().splitlines()
        raise DiagramError("Graphviz cannot draw it: " + (message[0] if message else "syntax error"))
    if len(out) > MAX_OUTPUT_BYTES:
        raise DiagramError("The drawing is larger than 5 MB.")
    return out


async def check(kind: str, code: str) -> tuple[list[str], list[str]]:
    """(errors, warnings): the diagram is translated and laid out (``-Tcanon``) to find its errors."""
    try:
        dot, warnings = to_dot(kind, code)
        await run_dot(dot, "canon")
    except DiagramError as exc:
        return [str(exc)], []
    return [], warnings
