"""The one way to read request input.

``body = await json_body(request)`` then typed field readers. Every failure is an ``ApiError``
(400 ``invalid_json``, 413 ``payload_too_large``, 400 ``missing_field``, 422 ``invalid_field``)
with ``details: {"field": name}``, so bad input can never become a 500.

Each failure is a typed error (``MissingField``, ``InvalidField``, ``InvalidParameter``,
``PayloadTooLarge``); the app decides per route group whether the answer carries the old
``"success": false`` envelope.
"""
from __future__ import annotations

import json
import math
import re
import uuid
from typing import Any, Iterable, Mapping, Sequence, TypeVar

from starlette.requests import HTTPConnection, Request

from runtime.errors import (ApiError, BadRequest, InvalidField, InvalidParameter, MissingField,
                            PayloadTooLarge)

DEFAULT_MAX_BODY = 1024 * 1024
# No client document nests deeper than a few levels; UMCF curricula are the deepest (~20).
MAX_JSON_DEPTH = 64
# Scope key holding this request's body limit (set by the middleware from settings, raised by routes).
BODY_LIMIT_KEY = "unamentis.max_body_bytes"
ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
_MISSING = object()
T = TypeVar("T")


def _missing(name: str) -> ApiError:
    return MissingField(f"'{name}' is required.", details={"field": name})


def _invalid(name: str, message: str, **details: Any) -> ApiError:
    return InvalidField(message, details={"field": name, **details})


def parse_bool(text: str) -> bool | None:
    """``True``/``False`` for the usual spellings (1/0, true/false, yes/no, on/off, any case), else None."""
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    return None


def _bad_query(name: str, message: str, **details: Any) -> ApiError:
    return InvalidParameter(message, details={"field": name, **details})


async def read_body(request: Request, max_bytes: int | None = None) -> bytes:
    """The raw body, refusing more than ``max_bytes`` (default: the app's body limit, 1 MiB)."""
    if max_bytes is not None:
        set_body_limit(request, max_bytes)
    limit = _app_limit(request)
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise _too_large(limit)
        except ValueError:
            raise BadRequest("Content-Length is not a number.") from None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> ApiError:
    return PayloadTooLarge(f"The request body is larger than {limit} bytes.", details={"max_bytes": limit})


def _app_limit(request: Request) -> int:
    limit = request.scope.get(BODY_LIMIT_KEY)
    return int(limit) if limit else DEFAULT_MAX_BODY


def set_body_limit(request: HTTPConnection, max_bytes: int) -> None:
    """Let this request's body be up to ``max_bytes`` (e.g. asset upload 10 MiB) before reading it
    (``request.form()`` included); the body-limit middleware reads the limit from the scope."""
    request.scope[BODY_LIMIT_KEY] = max_bytes


async def multipart_file(
    request: Request, *, max_bytes: int, max_fields: int, field: str = "file"
) -> tuple[Any, Any]:
    """``(form, upload)`` of a ``multipart/form-data`` body whose ``field`` is a file, up to
    ``max_bytes`` (the body-limit middleware enforces it while the form streams in).
    400 ``invalid_multipart`` for a body that does not parse, 400 ``missing_field`` without the file."""
    set_body_limit(request, max_bytes)
    try:
        form = await request.form(max_files=1, max_fields=max_fields)
    except ApiError:
        raise
    except Exception as exc:  # malformed multipart is the client's error  # noqa: BLE001
        raise BadRequest(f"The multipart body could not be parsed: {type(exc).__name__}.", error="invalid_multipart") from None
    upload = form.get(field)
    if upload is None or isinstance(upload, str):
        raise _missing(field)
    return form, upload


class InvalidJson(BadRequest):
    """400 ``invalid_json``: not JSON, nested too deep, or carrying NaN/Infinity."""

    def __init__(self, message: str) -> None:
        super().__init__(message, error="invalid_json")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400 overflows to infinity
        raise ValueError(f"{text} is out of range")
    return value


def parse_json(raw: str | bytes, *, what: str = "The document", max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``raw`` parsed, or ``InvalidJson``: the one JSON reader for anything a client sent.

    Refuses NaN/Infinity (also a number like 1e400 that only fits as infinity) (Python's json accepts them, PostgreSQL and the apps do not) and nesting
    deeper than ``max_depth``: a deep document would otherwise exhaust the recursion limit here or
    in whatever walks it later, which is a 500 instead of the client's error."""
    try:
        value = json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise InvalidJson(f"{what} nests deeper than {max_depth} levels.") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidJson(f"{what} is not valid JSON: {exc}") from None
    if _depth_exceeds(value, max_depth):
        raise InvalidJson(f"{what} nests deeper than {max_depth} levels.")
    return value


def _depth_exceeds(value: Any, limit: int) -> bool:
    # Iterative, so the check itself cannot hit the recursion limit.
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Iterable[Any] = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


async def json_body(
    request: Request,
    *,
    max_bytes: int | None = None,
    allow_empty: bool = False,
) -> dict[str, Any]:
    """The body as a JSON object. 400 ``invalid_json`` for bad JSON or a non-object."""
    raw = await read_body(request, max_bytes)
    if not raw.strip():
        if allow_empty:
            return {}
        raise BadRequest("The request body must be a JSON object.", error="invalid_json")
    value = parse_json(raw, what="The request body")
    if not isinstance(value, dict):
        raise BadRequest("The request body must be a JSON object.", error="invalid_json")
    return value


def field_str(
    body: Mapping[str, Any],
    name: str,
    *,
    required: bool = False,
    default: str | None = None,
    min_len: int = 0,
    max_len: int = 10_000,
    pattern: str | re.Pattern[str] | None = None,
    strip: bool = True,
) -> str | None:
    value = body.get(name, _MISSING)
    if value is _MISSING or value is None:
        if required:
            raise _missing(name)
        return default
    if not isinstance(value, str):
        raise _invalid(name, f"'{name}' must be a string.")
    if "\x00" in value:  # PostgreSQL text cannot hold NUL: refuse it here, not as a database error
        raise _invalid(name, f"'{name}' must not contain NUL characters.")
    if strip:
        value = value.strip()
    if required and not value and min_len == 0:
        raise _missing(name)
    if len(value) < min_len:
        raise _invalid(name, f"'{name}' must be at least {min_len} characters.")
    if len(value) > max_len:
        raise _invalid(name, f"'{name}' must be at most {max_len} characters.")
    if pattern is not None and not re.fullmatch(pattern, value):
        raise _invalid(name, f"'{name}' has an invalid format.")
    return value


def field_int(
    body: Mapping[str, Any],
    name: str,
    *,
    required: bool = False,
    default: int | None = None,
    min: int | None = None,
    max: int | None = None,
) -> int | None:
    value = body.get(name, _MISSING)
    if value is _MISSING or value is None:
        if required:
            raise _missing(name)
        return default
    # bool is an int subclass; 3.0 is accepted as 3 because JSON encoders differ.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _invalid(name, f"'{name}' must be an integer.")
    if isinstance(value, float):
        if not value.is_integer():
            raise _invalid(name, f"'{name}' must be an integer.")
        value = int(value)
    _check_range(name, value, min, max)
    return value


def field_float(
    body: Mapping[str, Any],
    name: str,
    *,
    required: bool = False,
    default: float | None = None,
    min: float | None = None,
    max: float | None = None,
) -> float | None:
    value = body.get(name, _MISSING)
    if value is _MISSING or value is None:
        if required:
            raise _missing(name)
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _invalid(name, f"'{name}' must be a number.")
    _check_range(name, value, min, max)
    return float(value)


def _check_range(name: str, value: float, lo: float | None, hi: float | None) -> None:
    if lo is not None and value < lo:
        raise _invalid(name, f"'{name}' must be at least {lo}.")
    if hi is not None and value > hi:
        raise _invalid(name, f"'{name}' must be at most {hi}.")


def field_bool(
    body: Mapping[str, Any],
    name: str,
    *,
    required: bool = False,
    default: bool | None = None,
) -> bool | None:
    value = body.get(name, _MISSING)
    if value is _MISSING or value is None:
        if required:
            raise _missing(name)
        return default
    if not isinstance(value, bool):
        raise _invalid(name, f"'{name}' must be true or false.")
    return value


def field_enum(
    body: Mapping[str, Any],
    name: str,
    choices: Iterable[str],
    *,
    required: bool = False,
    default: str | None = None,
    case_insensitive: bool = True,
) -> str | None:
    allowed = tuple(choices)
    value = body.get(name, _MISSING)
    if value is _MISSING or value is None:
        if required:
            raise _missing(name)
        return default
    if not isinstance(value, str):
        raise _invalid(name, f"'{name}' must be one of: {', '.join(allowed)}.", allowed=list(allowed))
    candidate = value.strip()
    for choice in allowed:
        if candidate == choice or (case_insensitive and candidate.lower() == choice.lower()):
            return choice
    raise _invalid(name, f"'{name}' must be one of: {', '.join(allowed)}.", allowed=list(allowed))


def field_list(
    body: Mapping[str, Any],
    name: str,
    *,
    required: bool = False,
    default: list[Any] | None = None,
    item_type: type | tuple[type, ...] | None = None,
    min_items: int = 0,
    max_items: int = 1000,
) -> list[Any] | None:
    value = body.get(name, _MISSING)
    if value is _MISSING or value is None:
        if required:
            raise _missing(name)
        return default
    if not isinstance(value, list):
        raise _invalid(name, f"'{name}' must be a list.")
    if len(value) < min_items:
        raise _invalid(name, f"'{name}' must have at least {min_items} items.")
    if len(value) > max_items:
        raise _invalid(name, f"'{name}' must have at most {max_items} items.")
    if item_type is not None:
        for index, item in enumerate(value):
            # bool is not accepted where int is asked for
            if not isinstance(item, item_type) or (isinstance(item, bool) and item_type in (int, float, (int, float))):
                raise _invalid(name, f"'{name}[{index}]' has the wrong type.", index=index)
    return value


def field_dict(
    body: Mapping[str, Any],
    name: str,
    *,
    required: bool = False,
    default: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    value = body.get(name, _MISSING)
    if value is _MISSING or value is None:
        if required:
            raise _missing(name)
        return default
    if not isinstance(value, dict):
        raise _invalid(name, f"'{name}' must be an object.")
    return value


def field_id(
    body: Mapping[str, Any],
    name: str,
    *,
    required: bool = False,
    default: str | None = None,
) -> str | None:
    value = field_str(body, name, required=required, default=default, max_len=100)
    if value is not None and not ID_RE.match(value):
        raise _invalid(name, f"'{name}' must match [A-Za-z0-9_-]{{1,100}}.")
    return value


def query_str(
    request: HTTPConnection,
    name: str,
    default: str | None = None,
    *,
    max_len: int = 1000,
) -> str | None:
    value = request.query_params.get(name)
    if value is None:
        return default
    if len(value) > max_len:
        raise _bad_query(name, f"Query parameter '{name}' must be at most {max_len} characters.")
    return value


def query_int(
    request: HTTPConnection,
    name: str,
    default: int | None = None,
    min: int | None = None,
    max: int | None = None,
) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _bad_query(name, f"Query parameter '{name}' must be an integer.") from None
    if (min is not None and value < min) or (max is not None and value > max):
        bounds = f"between {min if min is not None else '-inf'} and {max if max is not None else 'inf'}"
        raise _bad_query(name, f"Query parameter '{name}' must be {bounds}.")
    return value


def query_bool(request: HTTPConnection, name: str, default: bool = False) -> bool:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    value = parse_bool(raw)
    if value is not None:
        return value
    raise _bad_query(name, f"Query parameter '{name}' must be true or false.")


def query_enum(
    request: HTTPConnection,
    name: str,
    choices: Sequence[str],
    default: str | None = None,
) -> str | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    for choice in choices:
        if raw.strip().lower() == choice.lower():
            return choice
    raise _bad_query(name, f"Query parameter '{name}' must be one of: {', '.join(choices)}.", allowed=list(choices))


def path_id(request: HTTPConnection, name: str = "id") -> str:
    """A path parameter matching ``^[A-Za-z0-9_-]{1,100}$`` (CONTRACT's id rule), else 400."""
    value = request.path_params.get(name)
    if not isinstance(value, str) or not ID_RE.match(value):
        raise BadRequest(f"'{name}' must match [A-Za-z0-9_-]{{1,100}}.", error="invalid_id", details={"field": name})
    return value


def path_uuid(request: HTTPConnection, name: str = "id") -> str:
    """A path parameter that must be a UUID, else 400 (routes that say UUID)."""
    value = request.path_params.get(name)
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise BadRequest(f"'{name}' must be a UUID.", error="invalid_id", details={"field": name}) from None
