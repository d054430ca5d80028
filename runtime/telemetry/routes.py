"""Telemetry (``/api/metrics*``, ``/api/clients*``, ``/api/logs``, ``/log``): the ``telemetry`` Lambda service.

Session metric snapshots (iOS/Android ``POST /api/metrics``), unified latency telemetry
(``/api/metrics/ingest``, single or batch), a client registry (heartbeats) and remote logs — kept per
tenant in PostgreSQL (the old server kept them in memory). Sizes are bounded (body, batch, field
lengths) and rows older than ``UNAMENTIS_TELEMETRY_RETENTION_DAYS`` are purged as new ones arrive.
"""
from __future__ import annotations

import datetime as dt
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from runtime import client_shapes
from runtime.auth.principal import Principal, admin_principal, principal
from runtime.content.http import dumps, iso, reply, tx
from runtime.context import client_info, client_ip, ctx
from runtime.errors import ApiError, InvalidField, InvalidParameter, MissingField, NotFound
from runtime.content import schemas
from runtime.service import Service
from runtime.telemetry import store
from runtime.ttl_cache import TtlCache
from runtime.validation import (
    field_dict,
    field_str,
    json_body,
    parse_json,
    path_id,
    query_enum,
    query_int,
    query_str,
    read_body,
)

MAX_BATCH = 500
MAX_METRICS_BODY = 256 * 1024
LOG_LEVELS = ("debug", "info", "notice", "warning", "error", "critical")
_LEVEL_ALIASES = {"warn": "warning", "fatal": "critical", "trace": "debug", "verbose": "debug", "fault": "critical"}
ONLINE_SECONDS = 120
TOUCH_EVERY_SECONDS = 1.0
IDLE_SECONDS = 300  # seen within 5 minutes but not within ONLINE_SECONDS: idle (the old server's rule)
MAX_LOG_MESSAGE = 10_000
MAX_LOG_METADATA = 16 * 1024
# Numeric session-metric keys the summary averages (camelCase as the apps send them).
SUMMARY_KEYS = ("sttLatencyMedian", "llmTTFTMedian", "ttsTTFBMedian", "e2eLatencyMedian", "e2eLatencyP99")


def _ident(request: Request, body: dict | None = None) -> tuple[str | None, str | None, str | None]:
    info = client_info(request)
    body = body or {}
    client_id = body.get("clientId") or body.get("client_id") or info.get("id")
    name = body.get("clientName") or body.get("client_name") or info.get("name")
    kind = body.get("client") or request.headers.get("x-client-type") or info.get("platform")
    clip = lambda v: v[:200] if isinstance(v, str) and v else None  # noqa: E731
    return clip(client_id), clip(name), clip(kind)


def _retention(request: Request) -> dt.timedelta:
    return dt.timedelta(days=ctx(request).settings.telemetry_retention_days)


async def _touch_client(request: Request, conn, who: Principal, client_id: str | None, name: str | None,
                        platform: str | None, extra: dict | None = None, ip: str | None = None) -> None:
    """The client's row: last seen now, with the details this call sends.

    At most once per ``TOUCH_EVERY_SECONDS`` per client and details from this process: the row is
    locked until the commit, and one app uploading many times a second would otherwise queue every
    upload on it. Presence is judged in minutes (``ONLINE_SECONDS``); changed details touch at once."""
    if not client_id:
        return
    extra = extra or {}
    fields = (name, platform, extra.get("device_model"), extra.get("os_version"), extra.get("app_version"),
              dumps(extra["config"]) if extra.get("config") is not None else None,
              ip if ip and ip != "unknown" else None)
    recent = _recently_touched(request)
    key = (who.tenant_id, client_id)
    if recent.get(key) == fields:  # the same details, written less than a second ago
        return
    await store.touch_client(conn, who.tenant_id, client_id, *fields)
    recent.put(key, fields)


def _recently_touched(request: Request) -> TtlCache:
    return ctx(request).extension("telemetry_touched", lambda: TtlCache(TOUCH_EVERY_SECONDS, max_entries=10_000))


def _timestamp(value: Any) -> dt.datetime | None:
    """Client timestamps arrive as epoch seconds/milliseconds or ISO-8601; bad ones are ignored."""
    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            seconds = value / 1000.0 if value > 1e11 else float(value)
            return dt.datetime.fromtimestamp(seconds, dt.timezone.utc)
        if isinstance(value, str) and value:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)
    except (ValueError, OverflowError, OSError):
        return None
    return None


# -------------------------------------------------------------------------------------- metrics
async def post_metrics(request: Request) -> Response:
    """Store a session metrics snapshot (camelCase keys as the apps send them)."""
    who = principal(request)
    body = await json_body(request, max_bytes=MAX_METRICS_BODY)
    client_id, name, kind = _ident(request, body)
    async with tx(request, who) as conn:
        await store.add_snapshot(conn, who.tenant_id, client_id, name, kind,
                                 _str_or_none(body.get("sessionId") or body.get("session_id")), dumps(body))
        await store.purge(conn, "telemetry_metrics", who.tenant_id, _retention(request))
        # Last: the client's row is locked from here to the commit, and a busy app's uploads queue on it.
        await _touch_client(request, conn, who, client_id, name, kind, ip=client_ip(request))
    return reply({"status": "ok"})


def _str_or_none(value: Any) -> str | None:
    return value[:200] if isinstance(value, str) and value else None


async def ingest(request: Request) -> Response:
    """Unified telemetry: one record or ``{"metrics": [...]}`` (at most 500)."""
    who = principal(request)
    body = await json_body(request, max_bytes=MAX_METRICS_BODY)
    items = body["metrics"] if isinstance(body.get("metrics"), list) else [body]
    if len(items) > MAX_BATCH:
        raise ApiError(413, "payload_too_large", f"At most {MAX_BATCH} records per batch.", details={"field": "metrics"})
    records = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise InvalidField(f"'metrics[{index}]' must be an object.",
                           details={"field": "metrics", "index": index})
        for key in ("metrics", "providers", "resources"):
            if key in item and item[key] is not None and not isinstance(item[key], dict):
                raise InvalidField(f"'{key}' must be an object.", details={"field": key, "index": index})
        client_id, name, kind = _ident(request, item)
        records.append((client_id, name, kind, _str_or_none(item.get("sessionId") or item.get("session_id")),
                        _timestamp(item.get("timestamp")) or dt.datetime.now(dt.timezone.utc), dumps(item)))
    async with tx(request, who) as conn:
        await store.add_ingested(conn, who.tenant_id, records)
        await store.purge(conn, "telemetry_metrics", who.tenant_id, _retention(request))
        for client_id, name, kind in sorted({(r[0] or "", r[1] or "", r[2] or "") for r in records}):
            # last, in one order: client rows stay locked only until the commit, and never in a cycle
            await _touch_client(request, conn, who, client_id or None, name or None, kind or None, ip=client_ip(request))
    return reply({"status": "ok", "received": len(records)})


def _metric_row(r) -> dict:
    data = json.loads(r["data"]) if isinstance(r["data"], str) else r["data"]
    return {"id": r["id"], "kind": r["kind"], "client_id": r["client_id"], "client_name": r["client_name"],
            "client_type": r["client_type"], "session_id": r["session_id"], "recorded_at": iso(r["recorded_at"]),
            "received_at": iso(r["received_at"]), "data": data}


async def list_metrics(request: Request) -> Response:
    """Recent metric records (``?kind=snapshot|ingest&client_id&session_id&limit&offset``)."""
    who = principal(request)
    kind = query_enum(request, "kind", ("snapshot", "ingest"))
    client_id = query_str(request, "client_id", max_len=200)
    session_id = query_str(request, "session_id", max_len=200)
    limit = query_int(request, "limit", 100, 1, 1000)
    offset = query_int(request, "offset", 0, 0, 1_000_000)
    async with tx(request, who) as conn:
        rows, total = await store.metrics_page(conn, who.tenant_id, kind, client_id, session_id, limit, offset)
    return reply(client_shapes.metrics_answer(
        request, {"metrics": [_metric_row(r) for r in rows], "total": total, "limit": limit, "offset": offset}))


async def metric_sessions(request: Request) -> Response:
    """Telemetry grouped by app session."""
    who = principal(request)
    limit = query_int(request, "limit", 100, 1, 1000)
    async with tx(request, who) as conn:
        rows = await store.metric_sessions(conn, who.tenant_id, limit)
    sessions = [{"session_id": r["session_id"], "client_id": r["client_id"], "client_name": r["client_name"],
                 "records": r["records"], "first_at": iso(r["first_at"]), "last_at": iso(r["last_at"])} for r in rows]
    return reply({"sessions": sessions, "total": len(sessions)})


async def _summary(conn, tenant_id: str, hours: int, client_id: str | None = None) -> dict:
    row = await store.summary(conn, tenant_id, hours, client_id, SUMMARY_KEYS)
    return {
        "period_hours": hours, "total_snapshots": row["snapshots"], "total_ingested": row["ingested"],
        "clients": row["clients"], "sessions": row["sessions"], "total_cost": round(row["total_cost"] or 0.0, 6),
        "averages": {k: (round(row[k], 3) if row[k] is not None else None) for k in SUMMARY_KEYS},
    }


async def metric_summary(request: Request) -> Response:
    """Aggregates over the last ``hours`` (default 24): counts, average latencies, total cost."""
    who = principal(request)
    hours = query_int(request, "hours", 24, 1, 24 * 366)
    async with tx(request, who) as conn:
        summary = await _summary(conn, who.tenant_id, hours)
    return reply(summary)


async def metric_client(request: Request) -> Response:
    """One client's registry entry, recent records and summary."""
    who = principal(request)
    client_id = path_id(request, "client_id")
    async with tx(request, who) as conn:
        client, rows = await store.client(conn, who.tenant_id, client_id)
        summary = await _summary(conn, who.tenant_id, 24 * 30, client_id)
    if client is None and not rows:
        raise NotFound("Client not found.")
    return reply({"client_id": client_id, "client": _client_dict(client) if client else None,
                  "metrics": [_metric_row(r) for r in rows], "summary": summary})


# -------------------------------------------------------------------------------------- clients
def _client_dict(r, with_ip: bool = False) -> dict:
    """A registry row; the address it was last seen from only for admins (``with_ip``): a tenant's
    testers see which devices are active, not where they are."""
    config = json.loads(r["config"]) if isinstance(r["config"], str) else r["config"]
    silent = (dt.datetime.now(dt.timezone.utc) - r["last_seen"]).total_seconds()
    status = "online" if silent < ONLINE_SECONDS else "idle" if silent < IDLE_SECONDS else "offline"
    answer = {"client_id": r["client_id"], "id": r["client_id"], "name": r["name"], "platform": r["platform"],
              "device_model": r["device_model"], "os_version": r["os_version"], "app_version": r["app_version"],
              "version": r["app_version"], "connected_at": iso(r["first_seen"]),
              "config": config, "first_seen": iso(r["first_seen"]), "last_seen": iso(r["last_seen"]),
              "status": status}
    if "total_sessions" in r.keys():
        answer.update(total_sessions=r["total_sessions"], total_logs=r["total_logs"])
    if with_ip:
        answer["ip_address"] = r["ip_address"]
    return answer


async def heartbeat(request: Request) -> Response:
    """Register or refresh a client (falls back to the X-Client-ID header)."""
    who = principal(request)
    body = await json_body(request, allow_empty=True)
    info = client_info(request)
    client_id = field_str(body, "client_id", max_len=200) or info.get("id")
    if not client_id:
        raise MissingField("'client_id' (or the X-Client-ID header) is required.",
                       details={"field": "client_id"})
    extra = {
        "device_model": field_str(body, "device_model", max_len=200),
        "os_version": field_str(body, "os_version", max_len=100),
        "app_version": field_str(body, "app_version", max_len=100),
        "config": field_dict(body, "config"),
    }
    if extra["config"] is not None and len(dumps(extra["config"])) > 16 * 1024:
        raise ApiError(413, "payload_too_large", "'config' is larger than 16 KiB.", details={"field": "config"})
    name = field_str(body, "name", max_len=200) or info.get("name")
    async with tx(request, who) as conn:
        await _touch_client(request, conn, who, client_id[:200], name, info.get("platform"), extra, client_ip(request))
        await store.forget_silent_clients(conn, who.tenant_id, _retention(request))
    return reply({"status": "ok", "client_id": client_id, "server_time": dt.datetime.now(dt.timezone.utc).timestamp()})


async def latency_results(request: Request) -> Response:
    """``POST /api/latency-tests/runs/{run_id}/results``: not hosted. The iOS caller is the audio
    latency test harness (UnaMentis/Testing/LatencyHarness/LatencyTestCoordinator.swift), a development
    tool driven by the self-hosted management server's test runs (server/management), which reports
    fire-and-forget and only logs a non-2xx. The hosted runtime runs no latency tests and keeps no runs,
    so it answers a clear 410 instead of storing results nobody can read."""
    raise ApiError(410, "latency_tests_not_hosted",
                   "The latency test harness reports to the self-hosted management server; the hosted API keeps "
                   "no latency test runs. Point the harness at the management server.",
                   details={"run_id": request.path_params.get("run_id")})


schemas.declare_gone(latency_results, "Always: latency test runs are not hosted")


async def latency_harness(request: Request) -> Response:
    """Every other ``/api/latency-tests*`` call (the Operations Console's latency panel: suites, runs,
    clients, targets, analysis): the harness's test runs live on the self-hosted management server,
    which drives the devices; the hosted runtime has none, and says so with the same 410."""
    raise ApiError(410, "latency_tests_not_hosted",
                   "Latency test suites and runs live on the self-hosted management server; the hosted API runs "
                   "no latency tests. Use the management server's console for them.",
                   details={"path": request.url.path})


schemas.declare_gone(latency_harness, "Always: latency test runs are not hosted")


async def list_clients(request: Request) -> Response:
    """Known clients of the tenant, most recently seen first."""
    who = principal(request)
    async with tx(request, who) as conn:
        rows = await store.clients(conn, who.tenant_id)
    return reply(client_shapes.clients_answer(request, [_client_dict(r, who.is_admin) for r in rows]))


# ----------------------------------------------------------------------------------------- logs
def _level(value: Any, index: int) -> str:
    if value is None:
        return "info"
    if not isinstance(value, str):
        raise InvalidField(f"'level' of entry {index} must be a string.", details={"field": "level"})
    level = _LEVEL_ALIASES.get(value.strip().lower(), value.strip().lower())
    if level not in LOG_LEVELS:
        raise InvalidField(f"'level' must be one of {', '.join(LOG_LEVELS)}.",
                       details={"field": "level", "index": index})
    return level


async def post_logs(request: Request) -> Response:
    """Ingest one log entry or an array of them (at most 500)."""
    who = principal(request)
    raw = await read_body(request)
    payload = parse_json(raw, what="The request body")
    entries = payload if isinstance(payload, list) else [payload]
    if not entries or len(entries) > MAX_BATCH:
        raise InvalidField(f"Send 1 to {MAX_BATCH} log entries.", details={"field": "logs"})
    client_id, name, kind = _ident(request)
    rows = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise InvalidField(f"Log entry {index} must be an object.", details={"index": index})
        message = entry.get("message")
        if not isinstance(message, str) or not message:
            raise InvalidField(f"Log entry {index} needs a 'message' string.",
                           details={"field": "message", "index": index})
        if len(message) > MAX_LOG_MESSAGE:
            raise ApiError(413, "payload_too_large", f"Log entry {index}: 'message' is longer than {MAX_LOG_MESSAGE}.",
                           details={"field": "message", "index": index})
        metadata = entry.get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            raise InvalidField(f"Log entry {index}: 'metadata' must be an object.",
                           details={"field": "metadata", "index": index})
        metadata_json = dumps(metadata or {})
        if len(metadata_json) > MAX_LOG_METADATA:
            raise ApiError(413, "payload_too_large", f"Log entry {index}: 'metadata' is larger than {MAX_LOG_METADATA} bytes.",
                           details={"field": "metadata", "index": index})
        fields = {}
        for key in ("label", "file", "function"):
            value = entry.get(key)
            if value is not None and (not isinstance(value, str) or len(value) > 200):
                raise InvalidField(f"Log entry {index}: '{key}' must be a string of at most 200 characters.",
                               details={"field": key, "index": index})
            fields[key] = value or None
        line = entry.get("line")
        if line is not None and (isinstance(line, bool) or not isinstance(line, int) or not 0 <= line < 10_000_000):
            raise InvalidField(f"Log entry {index}: 'line' must be a line number.",
                           details={"field": "line", "index": index})
        rows.append((
            who.tenant_id, client_id, name, _timestamp(entry.get("timestamp")) or dt.datetime.now(dt.timezone.utc),
            _level(entry.get("level"), index), fields["label"], message, fields["file"], fields["function"], line,
            metadata_json,
        ))
    async with tx(request, who) as conn:
        await store.add_logs(conn, rows)
        await store.purge(conn, "telemetry_logs", who.tenant_id, _retention(request))
        await _touch_client(request, conn, who, client_id, name, kind, ip=client_ip(request))  # last: see post_metrics
    return reply({"status": "ok", "received": len(rows)})


async def get_logs(request: Request) -> Response:
    """Query logs (``limit, offset, level, search, client_id, label, since``)."""
    who = principal(request)
    level = query_enum(request, "level", LOG_LEVELS)
    search = query_str(request, "search", max_len=200)
    client_id = query_str(request, "client_id", max_len=200)
    label = query_str(request, "label", max_len=200)
    since_raw = query_str(request, "since", max_len=64)
    since = None
    if since_raw:
        since = _timestamp(float(since_raw)) if since_raw.replace(".", "", 1).isdigit() else _timestamp(since_raw)
        if since is None:
            raise InvalidParameter("'since' must be epoch seconds or ISO-8601.", details={"field": "since"})
    limit = query_int(request, "limit", 100, 1, 1000)
    offset = query_int(request, "offset", 0, 0, 1_000_000)
    async with tx(request, who) as conn:
        rows, total = await store.logs_page(conn, who.tenant_id, level, search, client_id, label, since, limit, offset)
    logs = [{"id": r["id"], "timestamp": iso(r["logged_at"]), "level": r["level"], "label": r["label"],
             "message": r["message"], "file": r["file"], "function": r["function"], "line": r["line"],
             "metadata": json.loads(r["metadata"]) if isinstance(r["metadata"], str) else r["metadata"],
             "client_id": r["client_id"], "client_name": r["client_name"], "received_at": iso(r["received_at"])}
            for r in rows]
    return reply({"logs": client_shapes.log_entries(request, logs), "total": total, "limit": limit, "offset": offset})


async def delete_logs(request: Request) -> Response:
    """Clear the tenant's logs (admins only)."""
    who = admin_principal(request, "Only administrators can clear logs.")
    async with tx(request, who) as conn:
        deleted = await store.clear_logs(conn, who.tenant_id)
    return reply({"status": "ok", "deleted": deleted})


schemas.declare(post_metrics, request=schemas.METRICS_SNAPSHOT, response=schemas.STATUS_OK)


SERVICE = Service(
    name="telemetry",
    routes=[
        Route("/api/metrics", post_metrics, methods=["POST"]),
        Route("/api/metrics", list_metrics, methods=["GET"]),
        Route("/api/metrics/ingest", ingest, methods=["POST"]),
        Route("/api/metrics/sessions", metric_sessions, methods=["GET"]),
        Route("/api/metrics/summary", metric_summary, methods=["GET"]),
        Route("/api/metrics/clients/{client_id}", metric_client, methods=["GET"]),
        Route("/api/clients/heartbeat", heartbeat, methods=["POST"]),
        Route("/api/clients", list_clients, methods=["GET"]),
        Route("/api/latency-tests/runs/{run_id}/results", latency_results, methods=["POST"]),
        Route("/api/latency-tests", latency_harness, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        Route("/api/latency-tests/{rest:path}", latency_harness, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        Route("/api/logs", post_logs, methods=["POST"]),
        # Android's ApiClient.sendLog posts to a log server's POST /log; pointing its log server URL at
        # this server stores the entries with everyone else's
        Route("/log", post_logs, methods=["POST"]),
        Route("/api/logs", get_logs, methods=["GET"]),
        Route("/api/logs", delete_logs, methods=["DELETE"]),
    ],
)
