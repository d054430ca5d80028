"""JSON logs carry the request id and never a token or secret."""
from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import sys
import threading
from pathlib import Path
from typing import Iterator

from core.probe import probe_service
from tests.runtime.conftest import make_client
from runtime.logging import (BufferedJsonHandler, JsonFormatter, _only_handler, log_access_line, redact, redact_text,
                             request_id_var)


def test_redaction_of_known_secret_shapes():
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
    samples = {
        "token uma_beta_AbC123-_xyz used": "uma_beta_AbC123-_xyz",
        f"Authorization: Bearer {jwt}": jwt,
        f"jwt {jwt} in text": jwt,
        "GET /ws/audio?session=s1&token=abcdef123": "abcdef123",
        "postgresql://app:hunter2@db:5432/x": "hunter2",
        '{"refresh_token": "rt_secret_value"}': "rt_secret_value",
        "password=Sup3rS3cret&x=1": "Sup3rS3cret",
        "X-Origin-Secret: abcdefabcdefabcdef": "abcdefabcdefabcdef",
        "api_key=sk-live-123": "sk-live-123",
        # the cheap trigger search runs on lower-cased text: upper and mixed case must still redact
        f"AUTHORIZATION: BEARER {jwt}": jwt,
        "GET /x?Access_TOKEN=QwErTy987": "QwErTy987",
        "PASSWORD: Hunter22": "Hunter22",
        "POSTGRESQL://APP:Hunter33@DB/x": "Hunter33",
    }
    for text, secret in samples.items():
        assert secret not in redact_text(text), text
    assert redact({"authorization": "Bearer x", "token_count": 3, "n": {"api_key": "k", "ok": "fine"}}) == {
        "authorization": "[REDACTED]", "token_count": 3, "n": {"api_key": "[REDACTED]", "ok": "fine"}
    }


def test_json_formatter_shape():
    record = logging.LogRecord("unamentis.x", logging.WARNING, __file__, 1, "hello %s", ("uma_beta_zzz",), None)
    record.token = "uma_beta_zzz"
    record.request_id = "rid-12345678"
    line = json.loads(JsonFormatter(service="auth").format(record))
    assert line["level"] == "WARNING" and line["logger"] == "unamentis.x" and line["service"] == "auth"
    assert line["request_id"] == "rid-12345678"
    assert "zzz" not in json.dumps(line)



def test_records_of_one_shape_are_read_field_by_field_each_time():
    """Extras are found once per shape of record, but every record's own values are printed, a text
    already seen clean is still hidden under a key that names a secret, and a field a filter adds
    later (a new shape) appears."""
    formatter = JsonFormatter()

    def line(**extra):
        record = logging.LogRecord("unamentis.x", logging.INFO, __file__, 1, "m", None, None)
        record.__dict__.update(extra)
        return json.loads(formatter.format(record))

    assert line(path="/a", status=200)["path"] == "/a"
    assert line(path="/b", status=404) | {"ts": None} == {"ts": None, "level": "INFO", "logger": "unamentis.x",
                                                          "msg": "m", "path": "/b", "status": 404}
    assert line(api_key="/a")["api_key"] == "[REDACTED]"
    assert line(path="/a", status=200, _private=1, added="x")["added"] == "x"
    assert "_private" not in line(path="/a", _private=1)


def test_a_line_s_fields_are_what_redact_makes_of_each_whatever_their_mix():
    """Whether a field takes the formatter's shortcut (a number, a text already found clean) or goes
    through ``redact``, the line holds what ``redact`` answers for each field, after the line's own
    keys, in order."""
    formatter = JsonFormatter(service="api")
    clean = redact_text("/api/seen-before")  # now a text known to be clean
    assert clean == "/api/seen-before"
    cases = [
        {"path": clean, "status": 200, "took": 1.5, "ok": True, "none": None},
        {"path": clean, "token": clean},  # a clean text under a secret-named key
        {"path": "/api/x?token=abc123456"},  # never seen: searched, and redacted
        {"path": "Bearer abcdefabcdef", "n": 1},
        {"note": clean, "tags": ["a", "uma_beta_xyz"], "n": 2},  # unhashable values
        {"nested": {"password": "p"}, "path": clean},
        {"logger": clean, "ts": clean, "path": clean},  # fields named like the line's own keys
        {"service": clean, "status": 500},
        {"count": 10**30, "ratio": float("nan"), "flag": False, "text": clean},
    ]
    for fields in cases:
        record = logging.LogRecord("unamentis.access", logging.INFO, __file__, 1, "m", None, None)
        record.created, record.request_id = 1_700_000_000.25, "rid-00000001"
        record.__dict__.update(fields)
        line = json.loads(formatter.format(record))
        expected = {"ts": line["ts"], "level": "INFO", "logger": "unamentis.access", "msg": "m",
                    "request_id": "rid-00000001", "service": "api"}
        for key, value in fields.items():
            if key not in expected:
                expected[key] = redact(value, key)
        assert json.dumps(line) == json.dumps(json.loads(json.dumps(expected))), fields


def test_every_record_becomes_one_line_of_json_whatever_its_values():
    """Values the fast encoder refuses (integers beyond 64 bits, an unpaired surrogate) still make a
    line; keys that are not text, nested values and non-finite numbers too."""
    class Odd:
        def __str__(self):
            return "odd uma_beta_secret"

    record = logging.LogRecord("unamentis.x", logging.INFO, __file__, 1, "m", None, None)
    record.big = 10**30
    record.nested = {1: [1.5, None, True], "k": Odd()}
    record.ratio = float("inf")
    line = JsonFormatter().format(record)
    assert "\n" not in line and "secret" not in line
    parsed = json.loads(line)
    assert parsed["big"] == 10**30 and parsed["nested"]["1"] == [1.5, None, True]
    record.broken = "\ud800"
    assert json.loads(JsonFormatter().format(record).encode("utf-8", "surrogatepass"))["msg"] == "m"


async def test_no_token_in_any_log_line_of_a_request(make_app, tenant):
    _tenant_id, token = await tenant()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        app = make_app([probe_service()])
        async with make_client(app) as client:
            await client.get(f"/api/probe/whoami?token={token}", headers={"Authorization": f"Bearer {token}"})
            await client.get("/api/probe/boom", headers={"Authorization": f"Bearer {token}", "X-Request-ID": "edge-req-000123"})
            await client.get("/api/probe/whoami", headers={"Authorization": "Bearer uma_beta_wrongwrongwrong"})
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    output = stream.getvalue()
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]
    assert lines, "nothing was logged"
    assert token not in output and token[9:] not in output
    assert "wrongwrongwrong" not in output and "SHOULDNOTLEAK" not in output
    access = [line for line in lines if line["logger"] == "unamentis.access"]
    assert {line["status"] for line in access} >= {200, 500, 401}
    assert all(line["request_id"] and "?" not in line["path"] for line in access)
    # the edge's request id is kept and appears on the error log line of that request
    assert any(line["logger"] == "unamentis.error" and line["request_id"] == "edge-req-000123" for line in lines)


def test_the_cheap_trigger_fires_whenever_a_redaction_pattern_would_change_the_text():
    import random

    from runtime.logging import _PATTERNS, _TRIGGER

    fragments = ["token", "Token", "_TOKEN", "secret", "Secret-Key", "passwd", "password", "api_key", "API-KEY",
                 "assertion", "signature", "Bearer ", "basic ", "uma_beta_", "eyJ", "://", "x:y@", "=", ": ",
                 '"', "'", " ", "abc", "Q9", ".", "-", "_", "&", "/", "eyJhbGciOi.eyJzdWIi.c2ln", "beta_token"]
    rng = random.Random(1234)
    for _ in range(20_000):
        text = "".join(rng.choice(fragments) for _ in range(rng.randint(1, 8)))
        changed = any(pattern.sub(replacement, text) != text for pattern, replacement in _PATTERNS)
        if changed:
            assert _TRIGGER.search(text.lower()), text
    # a principal kind on every access line is not a secret and costs no substitutions
    assert not _TRIGGER.search("beta_token")


@contextlib.contextmanager
def _buffered_logger(path: Path, name: str, *, batch: int, service: str | None = None) -> Iterator[tuple[logging.Logger, BufferedJsonHandler]]:
    """A logger whose only handler is the server's BufferedJsonHandler writing to ``path`` (flushed
    only when asked); the handler is closed, so the rest is written, on leaving."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    handler = BufferedJsonHandler(fd=fd, interval=3600, batch=batch)
    handler.setFormatter(JsonFormatter(service=service))
    logger = logging.getLogger(name)
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield logger, handler
    finally:
        logger.removeHandler(handler)
        handler.close()
        os.close(fd)


def test_buffered_handler_keeps_order_request_ids_and_messages(tmp_path):
    """The server's handler formats INFO lines in batches: each line still says what was true when
    it was logged (message, request id), lines keep their order, a WARNING writes what came before
    it at once, and closing writes the rest."""
    path = tmp_path / "log.jsonl"

    def lines() -> list[dict]:
        return [json.loads(line) for line in path.read_text().splitlines()]

    with _buffered_logger(path, "unamentis.test.buffered", batch=4) as (logger, handler):
        values = {"n": 1}
        token = request_id_var.set("req-aaaaaaaa")
        logger.info("first %s", values)
        values["n"] = 2  # changed after logging: the line keeps what was logged
        request_id_var.reset(token)
        token = request_id_var.set("req-bbbbbbbb")
        logger.info("second uma_beta_secretsecret")
        request_id_var.reset(token)
        assert path.read_text() == ""  # kept for the batch
        logger.warning("third")
        written = lines()
        assert [line["msg"] for line in written] == ["first {'n': 1}", "second uma_beta_[REDACTED]", "third"]
        assert [line.get("request_id") for line in written] == ["req-aaaaaaaa", "req-bbbbbbbb", None]
        for index in range(4):
            logger.info("batch %d", index)
        handler.force_flush()  # what the flusher thread does every interval
        assert [line["msg"] for line in lines()][3:] == [f"batch {index}" for index in range(4)]
        logger.info("last")
    assert lines()[-1]["msg"] == "last"


def test_an_access_line_is_the_line_of_its_record_and_any_added_filter_sees_the_record(tmp_path):
    """``log_access_line`` queues the access line's values where only the server's handler would
    see them, and ``format_access`` writes the very line the record would have given."""
    path = tmp_path / "log.jsonl"
    seen: list[logging.LogRecord] = []

    class Someone:  # a principal that is not a Principal: its values may be anything
        kind = ["odd", "uma_beta_abcdefgh"]
        tenant_id = 7

    cases = [
        ("GET", "/api/curricula", 200, 1.25, "198.51.100.10", ("beta_token", "t-1")),
        ("GET", "/x/uma_beta_abcdefgh", 401, 0.5, "::1", None),
        ("POST", "/y?token=hunter2", 500, 3.0, "token=hunter2", (None, None)),
        ("WS", "/ws/audio", 101, 12.5, None, (Someone.kind, Someone.tenant_id)),
    ]
    with _buffered_logger(path, "unamentis.test.access", batch=1000, service="api") as (logger, handler):
        token = request_id_var.set("req-access-1")
        assert _only_handler(logger) is handler
        for line in cases:  # the access line's own way
            log_access_line(logger, line)
        handler.addFilter(lambda record: seen.append(record) or True)  # someone else looks: records again
        assert _only_handler(logger) is None
        for line in cases:
            log_access_line(logger, line)
        request_id_var.reset(token)
    lines = [json.loads(text) for text in path.read_text().splitlines()]
    assert len(lines) == 8
    for line in lines:
        assert line.pop("ts")
    assert lines[:4] == lines[4:]
    assert lines[0] == {"level": "INFO", "logger": "unamentis.test.access", "msg": "GET /api/curricula 200",
                        "request_id": "req-access-1", "service": "api", "method": "GET", "path": "/api/curricula",
                        "status": 200, "duration_ms": 1.25, "client_ip": "198.51.100.10", "principal": "beta_token",
                        "tenant_id": "t-1"}
    assert "principal" not in lines[1] and lines[2]["principal"] is None
    assert "abcdefgh" not in json.dumps(lines) and "hunter2" not in json.dumps(lines)
    assert [record.getMessage() for record in seen] == [f"{line[0]} {line[1]} {line[2]}" for line in cases]
    assert seen[0].status == 200 and seen[0].tenant_id == "t-1" and not hasattr(seen[1], "principal")


def test_lines_queued_while_another_thread_writes_are_neither_lost_nor_reordered(tmp_path):
    """The flusher thread writes while requests queue lines: every line comes out once, in order."""
    path = tmp_path / "log.jsonl"
    done = threading.Event()
    switching = sys.getswitchinterval()
    with _buffered_logger(path, "unamentis.test.threads", batch=7) as (logger, handler):

        def flusher() -> None:  # what the handler's own thread does, as fast as it can
            while not done.is_set():
                handler.force_flush()

        thread = threading.Thread(target=flusher)
        sys.setswitchinterval(1e-6)  # the threads take turns as often as the interpreter allows
        thread.start()
        try:
            for n in range(60_000):
                log_access_line(logger, ("GET", "/line", n, 0.5, "::1", None))
        finally:
            done.set()
            thread.join()
            sys.setswitchinterval(switching)
    assert [json.loads(line)["status"] for line in path.read_text().splitlines()] == list(range(60_000))


def test_timestamps_are_what_datetime_would_print():
    import datetime as dt
    import random

    formatter = JsonFormatter()
    generator = random.Random(7)
    moments = [1_733_300_000 + generator.random() * 86_400 for _ in range(2000)]
    moments += [1_733_300_000.0, 1_733_300_000.0005, 1_733_300_000.9994999, 1_733_300_000.9999996, 1_733_300_001.0009999]
    for moment in moments:
        expected = dt.datetime.fromtimestamp(moment, dt.timezone.utc).isoformat(timespec="milliseconds")
        assert formatter._timestamp(moment) == expected, moment
