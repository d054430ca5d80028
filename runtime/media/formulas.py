"""LaTeX formulas rendered with matplotlib's mathtext (the TeX subset matplotlib parses itself, no TeX
installation): ``\\frac``, ``\\sqrt``, sub/superscripts, Greek, operators, accents, ``\\mathbf`` …;
not environments such as ``\\begin{align}`` or ``\\matrix``.

matplotlib is an optional dependency (``runtime/requirements-media.txt``): without it ``available()``
is False and the routes say so. Rendering is CPU work: callers run it in a thread.
"""
from __future__ import annotations

import importlib.util
import io
import re
import threading

MAX_LATEX_CHARS = 2000
FONT_SIZE_RANGE = (6, 96)
# Writers of LaTeX reach for these; mathtext has none of them, so say it plainly instead of a parser trace.
_UNSUPPORTED = re.compile(r"\\(begin|end|matrix|pmatrix|bmatrix|align|eqnarray|label|tag|newcommand|def|input|include)\b")
_COLOR = re.compile(r"^(#[0-9a-fA-F]{6}|#[0-9a-fA-F]{3}|[a-z]{3,20})$")
# matplotlib's font and text caches are not thread-safe; one render at a time per process.
_LOCK = threading.Lock()


class FormulaError(ValueError):
    """The formula cannot be rendered; the message says why in words an author can act on."""


def available() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


def _math(latex: str) -> str:
    text = latex.strip()
    if text.startswith("$$") and text.endswith("$$") and len(text) > 4:
        text = text[2:-2]
    elif text.startswith("$") and text.endswith("$") and len(text) > 2:
        text = text[1:-1]
    return f"${text}$"


def check(latex: str) -> tuple[list[str], list[str]]:
    """(errors, warnings) of a formula; no errors means it renders."""
    if not latex.strip():
        return ["The formula is empty."], []
    if len(latex) > MAX_LATEX_CHARS:
        return [f"The formula is longer than {MAX_LATEX_CHARS} characters."], []
    unsupported = ", ".join(sorted({"\\" + m.group(1) for m in _UNSUPPORTED.finditer(latex)}))
    if unsupported:
        return [f"Not supported by the renderer: {unsupported} "
                "(use one-line math: \\frac, \\sqrt, ^, _, Greek letters, operators)."], []
    if not available():
        return ["Formula rendering is not installed on this server (matplotlib)."], []
    from matplotlib.mathtext import MathTextParser  # optional dependency, imported when used

    warnings = []
    if "\\displaystyle" in latex:
        warnings.append("\\displaystyle is ignored; send displayMode instead.")
    try:
        with _LOCK:
            MathTextParser("path").parse(_math(latex.replace("\\displaystyle", "")))
    except ValueError as exc:
        first = str(exc).strip().splitlines()
        return [f"The formula does not parse: {first[-1] if first else 'syntax error'}"], warnings
    return [], warnings


def render(latex: str, *, output: str = "svg", font_size: float = 16.0, color: str = "black",
           display_mode: bool = False) -> bytes:
    """The formula as SVG or PNG bytes; FormulaError when it cannot be drawn."""
    errors, _ = check(latex)
    if errors:
        raise FormulaError(errors[0])
    if not _COLOR.match(color):
        raise FormulaError("'color' must be a #rrggbb value or a colour name.")
    from matplotlib.font_manager import FontProperties  # optional dependency, imported when used
    from matplotlib.mathtext import math_to_image

    size = min(max(font_size * (1.25 if display_mode else 1.0), FONT_SIZE_RANGE[0]), FONT_SIZE_RANGE[1])
    out = io.BytesIO()
    try:
        with _LOCK:
            math_to_image(_math(latex.replace("\\displaystyle", "")), out, prop=FontProperties(size=size),
                          dpi=144 if output == "png" else 72, format=output, color=color)
    except ValueError as exc:
        raise FormulaError(f"The formula cannot be drawn: {exc}") from None
    return out.getvalue()
