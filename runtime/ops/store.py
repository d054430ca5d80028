"""SQL of the Operations Console's system pages: counts over the tenant's telemetry, sessions and
usage; added model servers; power profiles and idle settings; host load samples."""
from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import asyncpg

# ------------------------------------------------------------------ dashboard counts


async def log_counts(conn: asyncpg.Connection, tenant_id: str) -> asyncpg.Record:
    return await conn.fetchrow(
        "select count(*) as total, "
        "count(*) filter (where lower(level) in ('error', 'critical', 'fault')) as errors, "
        "count(*) filter (where lower(level) in ('warning', 'warn')) as warnings, "
        "count(*) filter (where received_at > now() - interval '1 hour') as last_hour "
        "from telemetry_logs where tenant_id = $1", tenant_id)


async def metric_counts(conn: asyncpg.Connection, tenant_id: str) -> asyncpg.Record:
    return await conn.fetchrow(
        "select count(*) as total, "
        "count(distinct session_id) filter (where received_at > now() - interval '1 hour') as sessions_last_hour "
        "from telemetry_metrics where tenant_id = $1", tenant_id)


async def client_counts(conn: asyncpg.Connection, tenant_id: str, online_seconds: int) -> asyncpg.Record:
    return await conn.fetchrow(
        "select count(*) as total, count(*) filter (where last_seen > now() - make_interval(secs => $2)) as online "
        "from telemetry_clients where tenant_id = $1", tenant_id, online_seconds)


async def session_counts(conn: asyncpg.Connection, tenant_id: str) -> asyncpg.Record:
    """Tutoring and voice sessions: totals, the ones in progress, turns, average length of ended ones."""
    return await conn.fetchrow(
        "select (select count(*) from tutoring_sessions where tenant_id = $1) "
        "     + (select count(*) from voice_sessions where tenant_id = $1) as total, "
        "(select count(*) from tutoring_sessions where tenant_id = $1 and state not in ('idle', 'ended')) "
        "     + (select count(*) from voice_sessions where tenant_id = $1 and status = 'active' and instance is not null) "
        "     as active, "
        "(select coalesce(sum(turn_count), 0) from tutoring_sessions where tenant_id = $1) "
        "     + (select coalesce(sum(turn_count), 0) from voice_sessions where tenant_id = $1) as turns, "
        "(select coalesce(avg(extract(epoch from ended_at - started_at)), 0) from tutoring_sessions "
        "     where tenant_id = $1 and ended_at is not null and started_at is not null) as avg_duration", tenant_id)


async def audio_seconds(conn: asyncpg.Connection, tenant_id: str) -> float:
    """Seconds of speech generated for the tenant (its TTS cache and Knowledge Bowl audio)."""
    return float(await conn.fetchval(
        "select (select coalesce(sum(duration_seconds), 0) from tts_cache_entries where tenant_id = $1) "
        "     + (select coalesce(sum(duration_seconds), 0) from kb_audio_segments where tenant_id = $1)", tenant_id))


async def usage_recent(conn: asyncpg.Connection, tenant_id: str, seconds: int) -> list[asyncpg.Record]:
    """Paid AI calls in the last ``seconds`` by provider: count and newest time."""
    return await conn.fetch(
        "select provider, count(*) as calls, max(created_at) as last_at from usage_events "
        "where tenant_id = $1 and created_at > now() - make_interval(secs => $2) group by provider",
        tenant_id, seconds)


async def last_activity(conn: asyncpg.Connection, tenant_id: str) -> asyncpg.Record | None:
    """The tenant's newest paid AI call (what keeps a GPU node busy)."""
    return await conn.fetchrow(
        "select provider, operation, created_at from usage_events where tenant_id = $1 "
        "order by created_at desc limit 1", tenant_id)


# ------------------------------------------------------------------ added servers
async def servers(conn: asyncpg.Connection, tenant_id: str) -> list[asyncpg.Record]:
    return await conn.fetch("select * from ops_servers where tenant_id = $1 order by created_at, id", tenant_id)


async def add_server(conn: asyncpg.Connection, tenant_id: str, name: str, type_: str, url: str,
                     port: int) -> asyncpg.Record:
    return await conn.fetchrow(
        "insert into ops_servers (id, tenant_id, name, type, url, port) values ($1, $2, $3, $4, $5, $6) returning *",
        uuid.uuid4(), tenant_id, name, type_, url, port)


# ------------------------------------------------------------------ power profiles, idle settings
async def profiles(conn: asyncpg.Connection, tenant_id: str) -> list[asyncpg.Record]:
    return await conn.fetch("select * from ops_power_profiles where tenant_id = $1 order by created_at, id", tenant_id)


async def profile(conn: asyncpg.Connection, tenant_id: str, profile_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("select * from ops_power_profiles where tenant_id = $1 and id = $2", tenant_id, profile_id)


async def put_profile(conn: asyncpg.Connection, tenant_id: str, profile_id: str, name: str, description: str,
                      thresholds: dict[str, float], enabled: bool, *, create: bool) -> asyncpg.Record | None:
    """Insert (``create``: a clash raises UniqueViolation) or update; None when updating a missing one."""
    if create:
        return await conn.fetchrow(
            "insert into ops_power_profiles (tenant_id, id, name, description, thresholds, enabled) "
            "values ($1, $2, $3, $4, $5::jsonb, $6) returning *",
            tenant_id, profile_id, name, description, json.dumps(thresholds), enabled)
    return await conn.fetchrow(
        "update ops_power_profiles set name = $3, description = $4, thresholds = $5::jsonb, enabled = $6, "
        "updated_at = now() where tenant_id = $1 and id = $2 returning *",
        tenant_id, profile_id, name, description, json.dumps(thresholds), enabled)


async def delete_profile(conn: asyncpg.Connection, tenant_id: str, profile_id: str) -> bool:
    return await conn.fetchval("delete from ops_power_profiles where tenant_id = $1 and id = $2 returning true",
                               tenant_id, profile_id) is not None


async def idle_settings(conn: asyncpg.Connection, tenant_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("select * from ops_idle_settings where tenant_id = $1", tenant_id)


# Columns an idle change may set (fixed names, never input).
_IDLE_COLUMNS = ("mode", "timeout_seconds", "unload_models_on_idle", "keep_awake_until", "forced_state", "forced_at")


async def set_idle(conn: asyncpg.Connection, tenant_id: str, **changes: Any) -> None:
    names = [n for n in _IDLE_COLUMNS if n in changes]
    if set(changes) - set(names):
        raise ValueError(f"not idle settings: {sorted(set(changes) - set(names))}")
    columns = ", ".join(names)
    values = ", ".join(f"${i + 2}" for i in range(len(names)))
    updates = ", ".join(f"{n} = excluded.{n}" for n in names)
    await conn.execute(
        f"insert into ops_idle_settings (tenant_id, {columns}) values ($1, {values}) "
        f"on conflict (tenant_id) do update set {updates}, updated_at = now()",
        tenant_id, *(changes[n] for n in names))


# ------------------------------------------------------------------ host load samples
async def add_sample(conn: asyncpg.Connection, source: str, cpu: float, memory: float, memory_used: int, disk: float,
                     cpu_temp: float | None, gpu_memory_mb: float | None, gpu_percent: float | None,
                     idle_state: str | None) -> None:
    await conn.execute(
        "insert into ops_metric_samples (source, cpu_percent, memory_percent, memory_used_bytes, disk_percent, "
        "cpu_temp_c, gpu_memory_mb, gpu_percent, idle_state) values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        source, cpu, memory, memory_used, disk, cpu_temp, gpu_memory_mb, gpu_percent, idle_state)


async def purge_samples(conn: asyncpg.Connection, keep: dt.timedelta) -> None:
    """Delete the oldest samples older than ``keep``, about 5000 at a time; a range of the time index
    whatever plan PostgreSQL picks (see ``runtime.telemetry.store.purge``)."""
    await conn.execute("delete from ops_metric_samples where recorded_at <= (select max(recorded_at) from "
                       "(select recorded_at from ops_metric_samples where recorded_at < now() - $1::interval "
                       "order by recorded_at limit 5000) oldest)", keep)


async def sample_minutes(conn: asyncpg.Connection) -> int:
    """Minutes of the last hour that have a sample."""
    return int(await conn.fetchval(
        "select count(distinct date_trunc('minute', recorded_at)) from ops_metric_samples "
        "where recorded_at > now() - interval '1 hour'"))


async def history(conn: asyncpg.Connection, tenant_id: str, unit: str, days: int) -> list[asyncpg.Record]:
    """Per hour or day (``unit``: 'hour' | 'day', the code's own constant) of the last ``days``: the hosts'
    load from the samples, the tenant's paid AI calls and error logs, and how long each idle state lasted
    (each sample stands for a minute)."""
    if unit not in ("hour", "day"):
        raise ValueError(unit)
    return await conn.fetch(
        "with s as (select date_trunc($3, recorded_at) as at, avg(cpu_percent) filter (where source = 'core') as avg_cpu, "
        "  max(cpu_percent) filter (where source = 'core') as max_cpu, "
        "  avg(memory_percent) filter (where source = 'core') as avg_memory, "
        "  avg(cpu_temp_c) as avg_temp, max(cpu_temp_c) as max_temp, count(*) as samples "
        "  from ops_metric_samples where recorded_at > now() - make_interval(days => $2) group by 1), "
        "st as (select date_trunc($3, recorded_at) as at, idle_state, count(*) as minutes from ops_metric_samples "
        "  where recorded_at > now() - make_interval(days => $2) and idle_state is not null group by 1, 2), "
        "stj as (select at, jsonb_object_agg(idle_state, minutes) as minutes_by_state from st group by at), "
        "svc as (select at, jsonb_object_agg(source, cpu) as cpu_by_source from (select date_trunc($3, recorded_at) as at, "
        "  source, avg(cpu_percent) as cpu from ops_metric_samples where recorded_at > now() - make_interval(days => $2) "
        "  group by 1, 2) x group by at), "
        "u as (select date_trunc($3, created_at) as at, count(*) as requests, "
        "  count(*) filter (where operation = 'llm') as inferences "
        "  from usage_events where tenant_id = $1 and created_at > now() - make_interval(days => $2) group by 1), "
        "e as (select date_trunc($3, received_at) as at, count(*) as errors from telemetry_logs "
        "  where tenant_id = $1 and lower(level) in ('error', 'critical', 'fault') "
        "  and received_at > now() - make_interval(days => $2) group by 1), "
        "t as (select at from s union select at from u union select at from e) "
        "select t.at, s.avg_cpu, s.max_cpu, s.avg_memory, s.avg_temp, s.max_temp, coalesce(s.samples, 0) as samples, "
        "  coalesce(stj.minutes_by_state, '{}'::jsonb) as minutes_by_state, "
        "  coalesce(svc.cpu_by_source, '{}'::jsonb) as cpu_by_source, "
        "  coalesce(u.requests, 0) as requests, coalesce(u.inferences, 0) as inferences, coalesce(e.errors, 0) as errors "
        "from t left join s using (at) left join stj using (at) left join svc using (at) left join u using (at) "
        "left join e using (at) order by t.at", tenant_id, days, unit)


async def oldest_sample(conn: asyncpg.Connection) -> dt.datetime | None:
    return await conn.fetchval("select min(recorded_at) from ops_metric_samples")
