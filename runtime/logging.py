"""Structured JSON logs with the request id, and redaction of secrets.

Every record leaves as one JSON line. Redaction runs in the formatter on the final message AND on
every extra field, so no code path can log a token by accident: beta tokens (``uma_beta_…``),
JWT-shaped strings, ``Bearer …`` values, ``token=``/``secret=``/``password=`` query and form
parameters, DSN passwords, and the values of keys that name a secret (authorization, token,
password, secret, cookie, api_key …) are replaced with ``[REDACTED]``.
"""
from __future__ import annotations

import contextvars
import datetime as _dt
import functools
import json
import logging
import re
import sys
import threading
import time
from typing import Any

import orjson

REDACTED = "[REDACTED]"

# The request being served (set by the request-id middleware; copied into every record).
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("unamentis_request_id", default=None)

_SECRET_KEY_RE = re.compile(
    r"(authorization|token|secret|password|passwd|cookie|api[_-]?key|credential|assertion|private[_-]?key|dsn)",
    re.IGNORECASE,
)
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # beta tokens
    (re.compile(r"uma_beta_[A-Za-z0-9_\-]+"), "uma_beta_" + REDACTED),
    # JWTs (three base64url parts, the first two start with '{"' encoded as eyJ)
    (re.compile(r"eyJ[A-Za-z0-9_\-]*\.[A-Za-z0-9_\-]*\.[A-Za-z0-9_\-]*"), REDACTED),
    # Authorization header values
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=\-]+"), r"\1 " + REDACTED),
    # key=value pairs in query strings, forms and free text
    (
        re.compile(
            r"(?i)\b([A-Za-z_\-]*(?:token|secret|password|passwd|api[_-]?key|assertion|signature)[A-Za-z_\-]*)"
            r"(['\"]?\s*[=:]\s*)(['\"]?)[^\s&\"',;}]+"
        ),
        r"\1\2\3" + REDACTED,
    ),
    # passwords inside URLs / DSNs: scheme://user:password@host
    (re.compile(r"(?i)([a-z][a-z0-9+.\-]*://[^\s:/@]+:)[^\s@/]+@"), r"\1" + REDACTED + "@"),
)


# One cheap search first: most log text (paths, ids, numbers) contains none of these, and then the
# five substitutions are skipped. Whatever a pattern above matches, this matches too (the secret
# words only when a ``=``/``:`` follows, as the key=value pattern needs: "beta_token" alone, a
# principal kind on every access line, is no secret). It runs on the lower-cased text: a
# case-sensitive search is 4-8x faster than ``(?i)`` (an access line runs it on every field).
_TRIGGER = re.compile(
    r"uma_beta_|eyj|bearer|basic|://"
    r"|(?:token|secret|passw|api[_-]?key|assertion|signature)[a-z_\-]*['\"]?\s*[=:]"
)


# Short texts already found free of secrets (paths, methods, addresses, tenant ids recur on every
# access line): a lookup instead of a search. Only clean texts are kept, so it never holds a secret.
_CLEAN: dict[str, None] = {}
_CLEAN_MAX_ENTRIES = 4096
_CLEAN_MAX_LENGTH = 256


def redact_text(text: str) -> str:
    """``text`` with every secret-looking substring replaced."""
    if text in _CLEAN:
        return text
    if not _TRIGGER.search(text.lower()):
        if len(text) <= _CLEAN_MAX_LENGTH:
            if len(_CLEAN) >= _CLEAN_MAX_ENTRIES:
                _CLEAN.clear()  # many distinct texts (ids in paths): start over rather than track age
            _CLEAN[text] = None
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


@functools.lru_cache(maxsize=4096)
def _is_secret_key(key: str) -> bool:
    # Field names are few and fixed (code, not data): remember each answer; bounded all the same.
    return bool(_SECRET_KEY_RE.search(key))


def redact(value: Any, key: str | None = None) -> Any:
    """A copy of ``value`` (str, mapping, sequence, scalar) with secrets replaced."""
    kind = type(value)
    if kind is int or kind is float or kind is bool or value is None:  # the common case first
        return value
    # A secret-named key hides any text value; numbers/bools (token_count, password_changed) stay.
    if key is not None and isinstance(value, (str, bytes)) and value and _is_secret_key(key):
        return REDACTED
    if kind is str or isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [redact(v) for v in value]
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    return redact_text(str(value))


# LogRecord attributes that are not "extra" fields.
_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("x", 0, "x", 0, "x", None, None)).keys()
    | {"message", "asctime", "taskName", "color_message"}  # color_message: uvicorn's ANSI duplicate
)


# The keys every line has before its extra fields (an extra field of the same name is left out).
_LINE_KEYS = frozenset({"ts", "level", "logger", "msg", "request_id", "service"})


@functools.lru_cache(maxsize=1024)
def _extras(names: tuple[str, ...]) -> tuple[tuple[tuple[str, bool], ...], bool]:
    """A record's attribute names, in order -> its extra fields (name, whether the name says
    secret), and whether any of them may be one of the line's own keys. Records come in few shapes
    (one per distinct ``extra=``), and an access record carries some twenty standard attributes:
    one lookup instead of testing each of them on every line."""
    pairs = tuple((name, _is_secret_key(name)) for name in names if name not in _STANDARD_ATTRS and not name.startswith("_"))
    return pairs, any(name in _LINE_KEYS for name, _ in pairs)


_MILLISECONDS = tuple(f".{ms:03d}+00:00" for ms in range(1000))  # a timestamp's tail, made once


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, request_id, extras, exc."""

    def __init__(self, service: str | None = None) -> None:
        super().__init__()
        self.service = service
        self._second: tuple[float, str] = (-1.0, "")

    def _timestamp(self, created: float) -> str:
        """``datetime.fromtimestamp(created, utc).isoformat(timespec="milliseconds")``, with the part
        up to the second built once per second (lines come many per second)."""
        second = created // 1  # the whole second, as a float: no call to int() per line
        micro = round((created - second) * 1e6)  # datetime rounds to the microsecond the same way
        if micro >= 1_000_000:
            second, micro = second + 1, micro - 1_000_000
        cached_second, prefix = self._second
        if cached_second != second:
            prefix = _dt.datetime.fromtimestamp(second, _dt.timezone.utc).isoformat()[:19]
            self._second = (second, prefix)
        return prefix + _MILLISECONDS[micro // 1000]

    def format(self, record: logging.LogRecord) -> str:
        entry = self._entry(record.created, record.levelname, record.name, record.getMessage(),
                            getattr(record, "request_id", None) or request_id_var.get(), record.__dict__)
        if record.exc_info:
            entry["exc"] = redact_text(self.formatException(record.exc_info))
        return encode_line(entry)

    def format_access(self, created: float, name: str, request_id: str | None, line: tuple) -> str:
        """The line ``format`` writes for an access line's record (``log_access_line``: logged at
        ``created``, its values as the record's extra fields), built for those fixed fields: their
        names say no secret and none is one of the line's own keys, so only the texts are checked,
        as ``_entry`` checks them."""
        method, path, status, duration_ms, client_ip, who = line
        entry = self._head(created, "INFO", name, f"{method} {path} {status}", request_id)
        # method, path and client_ip are texts (the scope's); a principal's values may be anything
        entry["method"] = method if method in _CLEAN else redact(method)
        entry["path"] = path if path in _CLEAN else redact(path)
        entry["status"] = status if type(status) is int else redact(status)
        entry["duration_ms"] = duration_ms
        entry["client_ip"] = client_ip if client_ip in _CLEAN else redact(client_ip)
        if who is not None:
            kind, tenant_id = who
            entry["principal"] = kind if type(kind) is str and kind in _CLEAN else redact(kind, "principal")
            entry["tenant_id"] = tenant_id if type(tenant_id) is str and tenant_id in _CLEAN else redact(tenant_id, "tenant_id")
        return encode_line(entry)

    def _head(self, created: float, level: str, name: str, message: str, request_id: str | None) -> dict[str, Any]:
        """The keys every line has, before its fields."""
        entry: dict[str, Any] = {
            "ts": self._timestamp(created),
            "level": level,
            "logger": name,
            "msg": message if message in _CLEAN else redact_text(message),
        }
        if request_id:
            entry["request_id"] = request_id
        if self.service:
            entry["service"] = self.service
        return entry

    def _entry(self, created: float, level: str, name: str, message: str, request_id: str | None,
               fields: dict[str, Any]) -> dict[str, Any]:
        entry = self._head(created, level, name, message, request_id)
        pairs, may_clash = _extras(tuple(fields))
        for key, secret in pairs:
            if may_clash and key in entry:
                continue
            value = fields[key]
            kind = type(value)
            # What ``redact`` would answer, without the calls, for the values most lines carry:
            # texts already found clean under a key that names no secret, and numbers.
            if kind is str:
                if not secret and value in _CLEAN:
                    entry[key] = value
                    continue
            elif kind is int or kind is float or value is None:
                entry[key] = value
                continue
            entry[key] = redact(value, key)
        return entry


# stateless; built once, not per line; compact like orjson's lines
_ENCODER = json.JSONEncoder(default=str, ensure_ascii=False, separators=(",", ":"))


def encode_line(entry: dict[str, Any]) -> str:
    """``entry`` as one line of JSON. orjson, because the access line is written on every request
    and the standard library's encoder was a third of its formatting; the standard encoder for what
    orjson refuses (integers beyond 64 bits, unpaired surrogates, keys that are not text: orjson's
    option for those made every line a third slower)."""
    try:
        return orjson.dumps(entry, default=str).decode()
    except orjson.JSONEncodeError:
        return _ENCODER.encode(entry)


class BufferedJsonHandler(logging.StreamHandler):
    """JSON lines into a block-buffered binary stream, flushed at least every ``interval`` seconds
    by a daemon thread, at once for WARNING and above, and at exit.

    The container writes one access line per request; with a line-buffered stderr each line is a
    write system call (a fifth of a request's CPU at load). Here lines leave in batches; an error
    never waits, and an idle server's last lines wait at most ``interval``.

    INFO and DEBUG records are also formatted in batches (``batch`` records, or at the next flush):
    formatted one at a time, right after a request's own work, a line cost about three times as
    much CPU as in a run of lines (the formatter's code and data had left the CPU's caches). What a
    line says is fixed when the record is logged: its message is rendered and the request id taken
    from the request's context then; lines keep their order, and a WARNING first writes the lines
    before it."""

    def __init__(self, fd: int = 2, interval: float = 0.5, buffer_bytes: int = 64 * 1024, batch: int = 32) -> None:
        stream = open(fd, "w", buffering=buffer_bytes, encoding="utf-8", errors="replace", closefd=False)
        super().__init__(stream)
        self.interval = interval
        self.batch = batch
        self._pending: list[Any] = []  # LogRecords, and the tuples of queue_access
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._flusher, name="log-flush", daemon=True)
        self._thread.start()

    def emit(self, record: logging.LogRecord) -> None:
        # Called under self.lock (logging.Handler.handle), as the flusher's writes are.
        if record.levelno < logging.WARNING and not record.exc_info and not record.stack_info:
            try:
                record.msg, record.args = record.getMessage(), None
            except Exception:
                self.handleError(record)
                return
            if not getattr(record, "request_id", None):
                request_id = request_id_var.get()
                if request_id:
                    record.request_id = request_id
            self._pending.append(record)
            if len(self._pending) >= self.batch:
                self._write_pending()
            return
        self._write_pending()
        super().emit(record)  # StreamHandler.emit flushes; our flush() below is a no-op
        self.force_flush()

    def queue_access(self, name: str, line: tuple) -> None:
        """Queue the access line of logger ``name`` whose record was never made (``log_access_line``;
        the handler's formatter is a JsonFormatter): what ``emit`` keeps of a record — when, the
        request id — with the line's values, formatted in the batch by ``format_access``."""
        item = (self.formatter, time.time(), name, request_id_var.get(), line)
        with self.lock:
            self._pending.append(item)
            if len(self._pending) >= self.batch:
                self._write_pending()

    def _write_pending(self) -> None:
        if not self._pending:
            return
        records, self._pending = self._pending, []
        lines = []
        for record in records:
            try:
                if type(record) is tuple:  # queue_access
                    lines.append(record[0].format_access(record[1], record[2], record[3], record[4]) + self.terminator)
                else:
                    lines.append(self.format(record) + self.terminator)
            except Exception:
                self.handleError(record if isinstance(record, logging.LogRecord)
                                 else logging.makeLogRecord({"name": record[2], "msg": str(record[4])}))
        try:
            self.stream.write("".join(lines))
        except (OSError, ValueError):
            pass  # stream closed at interpreter exit

    def flush(self) -> None:
        pass  # batched: see force_flush

    def force_flush(self) -> None:
        with self.lock:
            self._write_pending()
            try:
                self.stream.flush()
            except (OSError, ValueError):
                pass  # stream closed at interpreter exit

    def _flusher(self) -> None:
        while not self._stop.wait(self.interval):
            self.force_flush()

    def close(self) -> None:
        self._stop.set()
        self.force_flush()
        super().close()


def access_fields(line: tuple) -> dict[str, Any]:
    """An access line's values (``log_access_line``) as the record's extra fields."""
    method, path, status, duration_ms, client_ip, who = line
    fields = {"method": method, "path": path, "status": status, "duration_ms": duration_ms, "client_ip": client_ip}
    if who is not None:
        fields["principal"], fields["tenant_id"] = who
    return fields


def log_access_line(logger: logging.Logger, line: tuple) -> None:
    """``logger.info(f"{method} {path} {status}", extra=access_fields(line))`` for the access line,
    logged on every request, whose values come as the tuple ``(method, path, status, duration_ms,
    client_ip, who)``, ``who`` being ``(principal kind, tenant id)`` or None; the caller has checked
    ``logger.isEnabledFor(logging.INFO)``.

    When the line can reach no other code than the server's own handler — no filter on the logger
    or the handler, no other handler on the way up, the standard record class — the handler gets
    the tuple itself (``BufferedJsonHandler.queue_access``) and ``JsonFormatter.format_access``
    writes the same JSON line without a ``LogRecord`` being made and passed down the handler chain.
    Otherwise a record goes through ``logging`` as usual, so a handler or filter that an operator (or
    a test's log capture) adds sees every line."""
    handler = _only_handler(logger)
    if handler is not None:
        handler.queue_access(logger.name, line)
        return
    message = f"{line[0]} {line[1]} {line[2]}"
    logger.handle(logger.makeRecord(logger.name, logging.INFO, "(unknown file)", 0, message, (), None,
                                    "(unknown function)", access_fields(line)))


def _only_handler(logger: logging.Logger) -> BufferedJsonHandler | None:
    """The BufferedJsonHandler (with a JsonFormatter) that alone would handle ``logger``'s INFO
    records unchanged, else None. Looked up on every call: handlers and filters may change anytime."""
    if logger.disabled or logger.filters or logging.getLogRecordFactory() is not logging.LogRecord:
        return None
    found = None
    node: logging.Logger | None = logger
    while node is not None:
        for handler in node.handlers:
            if found is not None or type(handler) is not BufferedJsonHandler:
                return None
            found = handler
        node = node.parent if node.propagate else None
    if found is None or found.filters or found.level > logging.INFO or type(found.formatter) is not JsonFormatter:
        return None
    return found


_configured_handler: logging.Handler | None = None


def configure_logging(
    level: str = "INFO", service: str | None = None, stream: Any = None, *, buffered: bool = False
) -> None:
    """Route the root logger (and uvicorn's) through one JSON handler; idempotent.

    ``buffered``: batch writes (the long-running server); otherwise every line is written at once
    (Lambda, where the environment may freeze right after an invocation, CLI, tests)."""
    global _configured_handler  # the process has one root logger; replacing our handler keeps it single
    # Record fields the JSON line never prints; the logging HOWTO's "Optimization" switches. Skipping
    # the caller lookup (a stack walk) and thread/process lookups saves a quarter of an access line.
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    if hasattr(logging, "logAsyncioTasks"):
        logging.logAsyncioTasks = False
    root = logging.getLogger()
    if _configured_handler is not None:
        root.removeHandler(_configured_handler)
        _configured_handler.close()
    handler: logging.Handler
    if buffered and stream is None:
        handler = BufferedJsonHandler()
    else:
        handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root.addHandler(handler)
    root.setLevel(level)
    _configured_handler = handler
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True
    # Our own access log replaces uvicorn's (which prints raw query strings, i.e. ?token=…).
    logging.getLogger("uvicorn.access").disabled = True
