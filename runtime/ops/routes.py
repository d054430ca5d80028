"""Routes of the Operations Console's system pages (and the same calls of the Android app's API layer).

Reads answer any caller of the tenant (counts are the tenant's own; host load is the platform's);
every call that changes something needs an admin (``Principal.is_admin``). Where the console and
Android read the same path with different classes, the answer carries both (their keys do not clash).
What each route reports and where it comes from: README, "Operations Console".
"""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import re
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from runtime.auth.principal import Principal, admin_principal, principal
from runtime.content.http import reply, tx
from runtime.context import AppContext, ctx
from runtime.errors import ApiError, Conflict, Forbidden, InvalidField, NotFound
from runtime.service import Service
from runtime.telemetry.routes import ONLINE_SECONDS, SUMMARY_KEYS
from runtime.telemetry.store import summary as telemetry_summary
from runtime.ttl_cache import MISSING, TtlCache
from runtime.validation import field_bool, field_enum, field_int, field_str, json_body, query_int
from runtime.voice.core import voice_core

from . import fleet as gpu
from . import idle, servers, store
from .host import HostProbe

log = logging.getLogger("unamentis.ops")

SAMPLE_SECONDS = 60.0
SAMPLE_KEEP = dt.timedelta(days=35)
PROFILE_ID = r"^[a-z0-9][a-z0-9_-]{0,63}$"


class OpsState:
    """Per-process: the host probe (it keeps the last CPU reading), the time of the last sample, a
    short cache of server probes (the dashboard polls), and the sampling task."""

    def __init__(self) -> None:
        self.host = HostProbe()
        self.sampled_at = 0.0
        self.probes = TtlCache(10.0, 1000)
        self.task: asyncio.Task | None = None


def ops_state(app: AppContext) -> OpsState:
    return app.extension("ops", OpsState)


_ADMIN_ONLY = "Only administrators can change the system's services, servers and power settings."


# ------------------------------------------------------------------ sampling
async def sample(app: AppContext) -> dict[str, Any]:
    """Read the core host's load and the GPU node agent's health; store a sample at most once a minute."""
    state = ops_state(app)
    load = state.host.read()
    fleet = voice_core(app).gpu
    node = await gpu.agent_health(fleet, app.http)
    if time.monotonic() - state.sampled_at >= SAMPLE_SECONDS:
        state.sampled_at = time.monotonic()
        node_state = str(node.get("state", "")).lower() or None if node else None
        async with app.db.unscoped() as conn:
            await store.add_sample(conn, "core", load.cpu_percent, load.memory_percent, load.memory_used_bytes,
                                   load.disk_percent, load.cpu_temp_c, None, None, node_state)
            if node:
                g = node.get("gpu") or {}
                util = [x.get("utilization_percent") for x in g.get("gpus") or [] if x.get("utilization_percent") is not None]
                await store.add_sample(conn, str(node.get("instance_id") or "gpu-node"), float(util[0]) if util else 0.0,
                                       0.0, 0, 0.0, None, g.get("memory_used_mib"), float(util[0]) if util else None,
                                       node_state)
            await store.purge_samples(conn, SAMPLE_KEEP)
    return {"load": load, "node": node}


async def _sampling_loop(app: AppContext) -> None:
    while True:
        try:
            await sample(app)
        except Exception as exc:  # a failed sample must never stop the loop (the database may be restarting)
            log.warning("ops sample failed: %s", exc)
        await asyncio.sleep(SAMPLE_SECONDS)


async def _startup(app: AppContext) -> None:
    state = ops_state(app)
    state.task = asyncio.create_task(_sampling_loop(app))


async def _shutdown(app: AppContext) -> None:
    task = ops_state(app).task
    if task:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


# ------------------------------------------------------------------ servers
async def _server_statuses(request: Request, who: Principal) -> list[dict[str, Any]]:
    """The tenant's added servers; for an admin also the platform's (their addresses are the
    deployment's internals, not a tester's business)."""
    app = ctx(request)
    core = voice_core(app)
    async with tx(request) as conn:
        rows = await store.servers(conn, who.tenant_id)
    platform: list[servers.Server] = []
    if who.is_admin:
        await core.gpu.is_warm()  # discovers the deployed node's address
        platform = servers.configured(core.gpu, core.vs)
    known = platform + servers.added(list(rows))
    tenant_id = who.tenant_id
    cache = ops_state(app).probes
    out: list[dict[str, Any]] = []
    fresh = [s for s in known if cache.get((tenant_id, s.id, s.url)) is MISSING]
    for server, status in zip(fresh, await servers.probe_all(fresh, app.http)):
        cache.put((tenant_id, server.id, server.url), status)
    for server in known:
        out.append(cache.get((tenant_id, server.id, server.url)))
    return out


async def list_servers(request: Request) -> Response:
    """The model servers the stack knows (admins) and the tenant's added ones, with their health."""
    who = principal(request)
    statuses = await _server_statuses(request, who)
    return reply({"servers": statuses, **servers.counts(statuses)})


async def add_server(request: Request) -> Response:
    """Add a model server (admin); its URL passes the SSRF guard."""
    who = admin_principal(request, _ADMIN_ONLY)
    body = await json_body(request, max_bytes=16 * 1024)
    name = field_str(body, "name", required=True, min_len=1, max_len=100)
    kind = field_enum(body, "type", servers.SERVER_TYPES, required=True)
    port = field_int(body, "port", default=0, min=0, max=65535) or 0
    url = servers.base_url(field_str(body, "url", required=True, max_len=2000) or "", port)
    port = int(url.rsplit(":", 1)[1])
    if port == 0:
        raise InvalidField("'port' (or a port in 'url') is required.")
    await servers.check_added(url)
    async with tx(request) as conn:
        row = await store.add_server(conn, who.tenant_id, name or "", kind or "custom", url, port)
    status = await servers.probe(servers.added([row])[0], ctx(request).http)
    return reply({"status": "ok", "server": status}, status=201)


# ------------------------------------------------------------------ stats
async def stats(request: Request) -> Response:
    """Dashboard counts: the tenant's logs, metrics, clients and sessions; the servers' health."""
    who = principal(request)
    app = ctx(request)
    async with tx(request) as conn:
        logs = await store.log_counts(conn, who.tenant_id)
        metrics = await store.metric_counts(conn, who.tenant_id)
        clients = await store.client_counts(conn, who.tenant_id, ONLINE_SECONDS)
        averages = await telemetry_summary(conn, who.tenant_id, 24, None, SUMMARY_KEYS)
        sessions = await store.session_counts(conn, who.tenant_id)
        audio = await store.audio_seconds(conn, who.tenant_id)
    statuses = await _server_statuses(request, who)
    core = voice_core(app)
    return reply({
        # the Operations Console's DashboardStats
        "uptime_seconds": round(time.time() - app.started_at, 1),
        "total_logs": logs["total"], "total_metrics": metrics["total"], "errors_count": logs["errors"],
        "warnings_count": logs["warnings"], "logs_last_hour": logs["last_hour"],
        "sessions_last_hour": metrics["sessions_last_hour"], "online_clients": clients["online"],
        "total_clients": clients["total"], "healthy_servers": sum(s["status"] == "healthy" for s in statuses),
        "total_servers": len(statuses), "avg_e2e_latency": round(averages["e2eLatencyMedian"] or 0.0, 1),
        "avg_llm_ttft": round(averages["llmTTFTMedian"] or 0.0, 1), "websocket_connections": len(core.sessions),
        # Android's AggregatedStats
        "total_sessions": sessions["total"], "active_sessions": sessions["active"], "total_turns": sessions["turns"],
        "avg_session_duration": round(float(sessions["avg_duration"]), 1), "total_audio_generated_seconds": round(audio, 1),
        # the web client's ServerStats (the same counts under its names)
        "total_logs_received": logs["total"], "total_metrics_received": metrics["total"],
        "registered_servers": len(statuses),
    })


# ------------------------------------------------------------------ metrics
def _pressure(temp: float | None) -> tuple[str, int]:
    if temp is None or temp < 70:
        return "nominal", 0
    if temp < 80:
        return "fair", 1
    return ("serious", 2) if temp < 90 else ("critical", 3)


async def _metrics(request: Request) -> dict[str, Any]:
    who = principal(request)
    app = ctx(request)
    core = voice_core(app)
    await core.gpu.is_warm()
    read = await sample(app)
    load, node = read["load"], read["node"]
    async with tx(request) as conn:
        usage = await store.usage_recent(conn, who.tenant_id, 300)
        last_minute = await store.usage_recent(conn, who.tenant_id, 60)
        sessions = await store.session_counts(conn, who.tenant_id)
        minutes = await store.sample_minutes(conn)
    calls_5m = sum(r["calls"] for r in usage)
    last_call = max((r["last_at"] for r in usage), default=None)
    services: dict[str, Any] = {"core": {
        "service_id": "core", "service_name": "UnaMentis core", "status": "running", "cpu_percent": load.cpu_percent,
        "memory_mb": round(load.memory_used_bytes / 2**20, 1), "gpu_memory_mb": 0, "last_request_time":
        last_call.timestamp() if last_call else None, "request_count_5m": calls_5m, "model_loaded": False,
        "estimated_power_w": 0}}
    by_service = {"core": load.cpu_percent}
    if node:
        g = node.get("gpu") or {}
        util = [x.get("utilization_percent") for x in g.get("gpus") or [] if x.get("utilization_percent") is not None]
        node_id = str(node.get("instance_id") or "gpu-node")
        gpu_calls = [r for r in usage if str(r["provider"]).startswith("gpu")]
        gpu_last = max((r["last_at"] for r in gpu_calls), default=None)
        services[node_id] = {
            "service_id": node_id, "service_name": "GPU node", "status": str(node.get("state", "")).lower() or "unknown",
            "cpu_percent": float(util[0]) if util else 0.0, "memory_mb": 0, "gpu_memory_mb": g.get("memory_used_mib") or 0,
            "last_request_time": gpu_last.timestamp() if gpu_last else None,
            "request_count_5m": sum(r["calls"] for r in gpu_calls), "model_loaded": bool(gpu.loaded_models(node)),
            "estimated_power_w": 0}
        by_service[node_id] = services[node_id]["cpu_percent"]
    pressure, level = _pressure(load.cpu_temp_c)
    return {
        # the Operations Console's SystemMetricsSummary. A server has no battery: it runs on mains.
        "timestamp": time.time(),
        "power": {"current_battery_draw_w": 0, "avg_battery_draw_w": 0, "battery_percent": 100, "battery_charging": True,
                  "estimated_service_power_w": sum(s["estimated_power_w"] for s in services.values())},
        "thermal": {"pressure": pressure, "pressure_level": level, "cpu_temp_c": load.cpu_temp_c or 0,
                    "gpu_temp_c": 0, "fan_speed_rpm": 0},
        "cpu": {"total_percent": load.cpu_percent, "by_service": by_service},
        "services": services,
        "history_minutes": minutes,
        # Android's SystemMetrics
        "cpu_percent": load.cpu_percent, "memory_percent": load.memory_percent,
        "memory_used_bytes": load.memory_used_bytes, "disk_percent": load.disk_percent,
        "active_sessions": sessions["active"], "requests_per_minute": sum(r["calls"] for r in last_minute),
        "_node": node,
    }


async def system_metrics(request: Request) -> Response:
    """The core host's load, the GPU node's, and the tenant's recent AI calls."""
    metrics = await _metrics(request)
    metrics.pop("_node")
    return reply(metrics)


async def _services(request: Request) -> list[dict[str, Any]]:
    app = ctx(request)
    core = voice_core(app)
    out = [gpu.core_info(app.started_at)]
    if core.vs.gpu_asg_name:
        warm = await core.gpu.is_warm()
        try:
            group = await gpu.describe_group(core.gpu)
            desired, error = group["desired"], None
        except gpu.FleetError as exc:
            desired, error = None, str(exc)
        for service_id in gpu.GPU_SERVICES:
            out.append(gpu.service_info(service_id, desired=desired, warm=warm, error=error, uptime=None))
    elif core.gpu.fixed:
        warm = await core.gpu.is_warm()
        for service_id, (_name, kind) in gpu.GPU_SERVICES.items():
            if kind in core.gpu.fixed:
                out.append(gpu.service_info(service_id, desired=None, warm=warm, error=None, uptime=None))
    return out


async def snapshot(request: Request) -> Response:
    """Health, metrics, services and models in one answer (Android's SystemSnapshot)."""
    app = ctx(request)
    metrics = await _metrics(request)
    node = metrics.pop("_node")
    kinds = {"ollama": "llm", "stt": "stt", "tts": "tts"}
    models = [{"id": m, "name": m, "type": kinds.get(server, server), "status": "loaded", "size_bytes": None,
               "loaded_at": None} for server, m in gpu.loaded_models(node)]
    return reply({"health": {"status": "healthy", "version": app.settings.version,
                             "uptime": int(time.time() - app.started_at)},
                  "metrics": metrics, "services": await _services(request), "models": models})


# ------------------------------------------------------------------ history
def _hourly(row: Any) -> dict[str, Any]:
    return {"hour": row["at"].isoformat(), "avg_battery_draw_w": 0, "max_battery_draw_w": 0, "min_battery_percent": 100,
            "max_battery_percent": 100, "avg_thermal_level": _pressure(row["avg_temp"])[1],
            "max_thermal_level": _pressure(row["max_temp"])[1], "avg_cpu_temp_c": round(row["avg_temp"] or 0, 1),
            "max_cpu_temp_c": round(row["max_temp"] or 0, 1), "avg_cpu_percent": round(row["avg_cpu"] or 0, 1),
            "max_cpu_percent": round(row["max_cpu"] or 0, 1), "service_cpu_avg": _floats(row["cpu_by_source"]),
            "service_cpu_max": _floats(row["cpu_by_source"]), "total_requests": row["requests"],
            "total_inferences": row["inferences"], "idle_state_seconds": {k: v * 60 for k, v in _floats(row["minutes_by_state"]).items()},
            "sample_count": row["samples"]}


def _daily(row: Any) -> dict[str, Any]:
    states = _floats(row["minutes_by_state"])
    return {"date": row["at"].date().isoformat(), "avg_battery_draw_w": 0, "max_battery_draw_w": 0,
            "min_battery_percent": 100, "battery_drain_percent": 0, "avg_thermal_level": _pressure(row["avg_temp"])[1],
            "max_thermal_level": _pressure(row["max_temp"])[1], "thermal_events_count": 0,
            "avg_cpu_temp_c": round(row["avg_temp"] or 0, 1), "max_cpu_temp_c": round(row["max_temp"] or 0, 1),
            "avg_cpu_percent": round(row["avg_cpu"] or 0, 1), "max_cpu_percent": round(row["max_cpu"] or 0, 1),
            "service_cpu_avg": _floats(row["cpu_by_source"]), "total_requests": row["requests"],
            "total_inferences": row["inferences"], "active_hours": round(states.get("active", 0) / 60, 2),
            "idle_state_hours": {k: round(v / 60, 2) for k, v in states.items()},
            "hours_aggregated": round(row["samples"] / 60, 2)}


def _floats(value: Any) -> dict[str, float]:
    data = json.loads(value) if isinstance(value, str) else (value or {})
    return {str(k): round(float(v), 1) for k, v in data.items() if isinstance(v, (int, float))}


def _point(row: Any) -> dict[str, Any]:
    return {"timestamp": row["at"].isoformat(), "cpu_percent": row["avg_cpu"], "memory_percent": row["avg_memory"],
            "requests": row["requests"], "errors": row["errors"]}


async def history(request: Request) -> Response:
    """Hourly or daily history of the hosts' load and the tenant's AI calls and errors."""
    who = principal(request)
    period = request.path_params["period"]
    if period not in ("hourly", "daily"):
        raise NotFound("use /api/system/history/hourly, /daily or /summary")
    days = query_int(request, "days", default=7 if period == "hourly" else 30, min=1, max=35) or 1
    async with tx(request) as conn:
        rows = await store.history(conn, who.tenant_id, "hour" if period == "hourly" else "day", days)
    items = [(_hourly if period == "hourly" else _daily)(r) for r in rows]
    return reply({"period": period, "data": [_point(r) for r in rows], "history": items, "count": len(items)})


async def history_summary(request: Request) -> Response:
    """Today, yesterday and this week from the daily history."""
    who = principal(request)
    async with tx(request) as conn:
        days = await store.history(conn, who.tenant_id, "day", 7)
        hours = await store.history(conn, who.tenant_id, "hour", 35)
        oldest = await store.oldest_sample(conn)
    today = dt.datetime.now(dt.timezone.utc).date()
    by_date = {r["at"].date(): r for r in days}
    week = [_daily(r) for r in days]
    return reply({
        "today": _daily(by_date[today]) if today in by_date else None,
        "yesterday": _daily(by_date[today - dt.timedelta(days=1)]) if today - dt.timedelta(days=1) in by_date else None,
        "this_week": {"days_recorded": len(week),
                      "avg_cpu_percent": round(sum(d["avg_cpu_percent"] for d in week) / len(week), 1),
                      "total_requests": sum(d["total_requests"] for d in week),
                      "max_thermal_level": max(d["max_thermal_level"] for d in week)} if week else None,
        "total_days_tracked": len({r["at"].date() for r in hours}), "total_hours_tracked": len(hours),
        "oldest_record": oldest.isoformat() if oldest else None})


# ------------------------------------------------------------------ idle and power modes
async def _modes(conn: Any, tenant_id: str) -> dict[str, idle.Mode]:
    modes = idle.builtin_modes()
    for r in await store.profiles(conn, tenant_id):
        thresholds = json.loads(r["thresholds"]) if isinstance(r["thresholds"], str) else r["thresholds"]
        modes[r["id"]] = idle.Mode(r["id"], r["name"], r["description"], thresholds, r["enabled"], False)
    return modes


async def _idle_status(request: Request, who: Principal) -> dict[str, Any]:
    app = ctx(request)
    core = voice_core(app)
    await core.gpu.is_warm()
    node = await gpu.agent_health(core.gpu, app.http)
    async with tx(request, who) as conn:
        modes = await _modes(conn, who.tenant_id)
        settings = await store.idle_settings(conn, who.tenant_id)
        last = await store.last_activity(conn, who.tenant_id)
    mode = modes.get(settings["mode"] if settings else idle.DEFAULT_MODE) or modes[idle.DEFAULT_MODE]
    now = dt.datetime.now(dt.timezone.utc)
    started = dt.datetime.fromtimestamp(app.started_at, dt.timezone.utc)
    return idle.status(
        mode=mode, last_activity=last["created_at"] if last else started,
        activity_type=f"{last['provider']} {last['operation']}" if last else "core start", now=now,
        keep_awake_until=settings["keep_awake_until"] if settings else None,
        forced_state=settings["forced_state"] if settings else None,
        forced_at=settings["forced_at"] if settings else None,
        timeout_seconds=settings["timeout_seconds"] if settings else None,
        models_loaded=len(gpu.loaded_models(node)), node=node)


async def idle_status(request: Request) -> Response:
    """The idle state of the GPU fleet (its node agent's, else computed from the last AI call)."""
    return reply(await _idle_status(request, principal(request)))


async def idle_modes(request: Request) -> Response:
    """The built-in power modes and the tenant's profiles; ``current`` is the tenant's mode."""
    who = principal(request)
    async with tx(request) as conn:
        modes = await _modes(conn, who.tenant_id)
        settings = await store.idle_settings(conn, who.tenant_id)
    current = settings["mode"] if settings and settings["mode"] in modes else idle.DEFAULT_MODE
    return reply({"modes": {k: m.as_console() for k, m in modes.items()}, "current": current})


async def idle_config(request: Request) -> Response:
    """Choose the power mode ({mode}) or the idle timeout ({timeout_seconds, unload_models_on_idle}) (admin)."""
    who = admin_principal(request, _ADMIN_ONLY)
    body = await json_body(request, max_bytes=16 * 1024)
    mode_id = field_str(body, "mode", max_len=64)
    timeout = field_int(body, "timeout_seconds", min=1, max=7 * 86400)
    unload = field_bool(body, "unload_models_on_idle")
    if mode_id is None and timeout is None and unload is None:
        raise InvalidField("Send 'mode', or 'timeout_seconds' / 'unload_models_on_idle'.")
    changes: dict[str, Any] = {}
    async with tx(request) as conn:
        modes = await _modes(conn, who.tenant_id)
        if mode_id is not None:
            if mode_id not in modes:
                raise NotFound(f"No power mode {mode_id!r}; GET /api/system/idle/modes lists them.")
            changes["mode"] = mode_id
        if timeout is not None:
            changes["timeout_seconds"] = timeout
        if unload is not None:
            changes["unload_models_on_idle"] = unload
        await store.set_idle(conn, who.tenant_id, **changes)
    if mode_id is not None:
        chosen = modes[mode_id]
        await gpu.push_idle(voice_core(ctx(request)).gpu, ctx(request).http,
                            {"mode": mode_id, "thresholds": chosen.thresholds if chosen.enabled else None})
    status = await _idle_status(request, who)
    return reply({"status": "ok", "config": status, **status})


async def keep_awake(request: Request) -> Response:
    """Hold the fleet awake for ``duration_seconds`` (default an hour) (admin)."""
    who = admin_principal(request, _ADMIN_ONLY)
    body = await json_body(request, max_bytes=4096, allow_empty=True)
    seconds = field_int(body, "duration_seconds", default=3600, min=1, max=86400) or 3600
    until = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=seconds)
    async with tx(request) as conn:
        await store.set_idle(conn, who.tenant_id, keep_awake_until=until, forced_state=None, forced_at=None)
    await gpu.push_idle(voice_core(ctx(request)).gpu, ctx(request).http, {"keep_awake_seconds": seconds})
    return reply({"status": "ok", "keep_awake_seconds": seconds, "until": until.isoformat()})


async def cancel_keep_awake(request: Request) -> Response:
    """End a keep-awake window (admin)."""
    who = admin_principal(request, _ADMIN_ONLY)
    async with tx(request) as conn:
        await store.set_idle(conn, who.tenant_id, keep_awake_until=None)
    await gpu.push_idle(voice_core(ctx(request)).gpu, ctx(request).http, {"keep_awake_seconds": 0})
    return reply({"status": "ok"})


async def force_state(request: Request) -> Response:
    """Put the fleet into an idle state now (admin); the next activity wakes it as usual."""
    who = admin_principal(request, _ADMIN_ONLY)
    body = await json_body(request, max_bytes=4096)
    state = field_enum(body, "state", idle.STATES, required=True)
    async with tx(request) as conn:
        await store.set_idle(conn, who.tenant_id, forced_state=state, forced_at=dt.datetime.now(dt.timezone.utc),
                             keep_awake_until=None)
    await gpu.push_idle(voice_core(ctx(request)).gpu, ctx(request).http, {"state": state})
    return reply({"status": "ok", "state": state})


# ------------------------------------------------------------------ power profiles
def _profile_id(request: Request) -> str:
    profile_id = request.path_params["id"]
    if not isinstance(profile_id, str) or not re.fullmatch(PROFILE_ID, profile_id):
        raise NotFound("No such power profile.")
    return profile_id


def _profile_answer(row: Any) -> dict[str, Any]:
    thresholds = json.loads(row["thresholds"]) if isinstance(row["thresholds"], str) else row["thresholds"]
    return idle.Mode(row["id"], row["name"], row["description"], thresholds, row["enabled"], False).as_console()


async def get_profile(request: Request) -> Response:
    """One power mode or profile."""
    who = principal(request)
    profile_id = _profile_id(request)
    async with tx(request) as conn:
        modes = await _modes(conn, who.tenant_id)
    if profile_id not in modes:
        raise NotFound("No such power profile.")
    return reply(modes[profile_id].as_console())


async def create_profile(request: Request) -> Response:
    """Create a power profile (admin)."""
    who = admin_principal(request, _ADMIN_ONLY)
    body = await json_body(request, max_bytes=16 * 1024)
    profile_id = field_str(body, "id", required=True, pattern=PROFILE_ID) or ""
    if profile_id in idle.BUILTIN_MODES:
        raise Conflict(f"{profile_id!r} is a built-in mode; choose another id.")
    thresholds = idle.checked_thresholds(body.get("thresholds"))
    async with tx(request) as conn:
        row = await store.put_profile(conn, who.tenant_id, profile_id, field_str(body, "name", required=True, max_len=100) or "",
                                      field_str(body, "description", default="", max_len=500) or "", thresholds,
                                      bool(field_bool(body, "enabled", default=True)), create=True)
    return reply({"status": "created", "profile": _profile_answer(row)}, status=201)


async def update_profile(request: Request) -> Response:
    """Change a power profile (admin); built-in modes are read-only."""
    who = admin_principal(request, _ADMIN_ONLY)
    profile_id = _profile_id(request)
    if profile_id in idle.BUILTIN_MODES:
        raise Forbidden("Built-in modes cannot be changed; duplicate one instead.")
    body = await json_body(request, max_bytes=16 * 1024)
    async with tx(request) as conn:
        row = await store.profile(conn, who.tenant_id, profile_id)
        if row is None:
            raise NotFound("No such power profile.")
        current = _profile_answer(row)
        thresholds = idle.checked_thresholds(body["thresholds"], current["thresholds"]) if "thresholds" in body \
            else current["thresholds"]
        row = await store.put_profile(
            conn, who.tenant_id, profile_id, field_str(body, "name", default=current["name"], max_len=100) or current["name"],
            field_str(body, "description", default=current["description"], max_len=500) or "", thresholds,
            bool(field_bool(body, "enabled", default=current["enabled"])), create=False)
    return reply({"status": "updated", "profile": _profile_answer(row)})


async def delete_profile(request: Request) -> Response:
    """Delete a power profile (admin); a tenant using it falls back to the default mode."""
    who = admin_principal(request, _ADMIN_ONLY)
    profile_id = _profile_id(request)
    if profile_id in idle.BUILTIN_MODES:
        raise Forbidden("Built-in modes cannot be deleted.")
    async with tx(request) as conn:
        if not await store.delete_profile(conn, who.tenant_id, profile_id):
            raise NotFound("No such power profile.")
    return reply({"status": "deleted", "profile_id": profile_id})


async def duplicate_profile(request: Request) -> Response:
    """Copy a mode or profile under a new id and name (admin)."""
    who = admin_principal(request, _ADMIN_ONLY)
    source_id = _profile_id(request)
    body = await json_body(request, max_bytes=16 * 1024)
    new_id = field_str(body, "new_id", required=True, pattern=PROFILE_ID) or ""
    if new_id in idle.BUILTIN_MODES:
        raise Conflict(f"{new_id!r} is a built-in mode; choose another id.")
    async with tx(request) as conn:
        modes = await _modes(conn, who.tenant_id)
        source = modes.get(source_id)
        if source is None:
            raise NotFound("No such power profile.")
        if source.thresholds is None:
            raise InvalidField(f"{source_id!r} has no idle thresholds to copy.")
        row = await store.put_profile(conn, who.tenant_id, new_id,
                                      field_str(body, "new_name", default=f"{source.name} (copy)", max_len=100) or new_id,
                                      source.description, source.thresholds, source.enabled, create=True)
    return reply({"status": "created", "profile": _profile_answer(row)}, status=201)


# ------------------------------------------------------------------ services
async def list_services(request: Request) -> Response:
    """The core and the GPU fleet's model servers."""
    principal(request)
    return reply(await _services(request))


async def service_action(request: Request) -> Response:
    """Start, stop or restart a service (admin): a GPU model server acts on the fleet (its servers run
    together on one node); the core cannot stop itself from its own API."""
    admin_principal(request, _ADMIN_ONLY)
    service_id, action = request.path_params["id"], request.path_params["action"]
    if action not in ("start", "stop", "restart"):
        raise NotFound("use /start, /stop or /restart")
    if service_id == "core":
        if action != "start":
            raise ApiError(409, "not_supported", "The core cannot stop itself; use the deployment (ECS, Kubernetes).")
        return reply(gpu.core_info(ctx(request).started_at))
    if service_id not in gpu.GPU_SERVICES:
        raise NotFound(f"No service {service_id!r}; GET /api/services lists them.")
    await _fleet_action(request, action)
    return reply(next(s for s in await _services(request) if s["id"] == service_id))


async def _fleet_action(request: Request, action: str) -> None:
    core = voice_core(ctx(request))
    if not core.vs.gpu_asg_name:
        raise ApiError(409, "gpu_not_configured", "UNAMENTIS_GPU_ASG_NAME is not set: there is no fleet to start or stop.")
    try:
        if action == "restart":
            group = await gpu.describe_group(core.gpu)
            if group["instances"]:
                await gpu.replace_nodes(core.gpu, group["instances"])
            else:
                await gpu.set_capacity(core.gpu, 1)
        else:
            await gpu.set_capacity(core.gpu, 1 if action == "start" else 0)
    except gpu.FleetError as exc:
        raise ApiError(502, "gpu_scaling_failed", str(exc)) from None
    await ctx(request).events.publish("idle_state_changed", {"gpu": action, **core.gpu.snapshot()})


async def all_services(request: Request) -> Response:
    """Start or stop every service that can be (admin): the GPU fleet."""
    admin_principal(request, _ADMIN_ONLY)
    action = request.path_params["action"]
    if action not in ("start-all", "stop-all"):
        raise NotFound("use /api/services/start-all or /stop-all")
    await _fleet_action(request, "start" if action == "start-all" else "stop")
    return reply(await _services(request))


ROUTES = [
    Route("/api/stats", stats, methods=["GET"]),
    Route("/api/servers", list_servers, methods=["GET"]),
    Route("/api/servers", add_server, methods=["POST"]),
    Route("/api/system/metrics", system_metrics, methods=["GET"]),
    Route("/api/system/snapshot", snapshot, methods=["GET"]),
    Route("/api/system/history/summary", history_summary, methods=["GET"]),
    Route("/api/system/history/{period}", history, methods=["GET"]),
    Route("/api/system/idle/status", idle_status, methods=["GET"]),
    Route("/api/system/idle/modes", idle_modes, methods=["GET"]),
    Route("/api/system/idle/config", idle_config, methods=["POST"]),
    Route("/api/system/idle/keep-awake", keep_awake, methods=["POST"]),
    Route("/api/system/idle/cancel-keep-awake", cancel_keep_awake, methods=["POST"]),
    Route("/api/system/idle/force-state", force_state, methods=["POST"]),
    Route("/api/system/profiles", create_profile, methods=["POST"]),
    Route("/api/system/profiles/{id}", get_profile, methods=["GET"]),
    Route("/api/system/profiles/{id}", update_profile, methods=["PUT"]),
    Route("/api/system/profiles/{id}", delete_profile, methods=["DELETE"]),
    Route("/api/system/profiles/{id}/duplicate", duplicate_profile, methods=["POST"]),
    Route("/api/services", list_services, methods=["GET"]),
    Route("/api/services/{action:str}", all_services, methods=["POST"]),
    Route("/api/services/{id}/{action}", service_action, methods=["POST"]),
]

SERVICE = Service(name="ops", routes=list(ROUTES), startup=_startup, shutdown=_shutdown)
