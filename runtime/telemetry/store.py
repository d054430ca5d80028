"""Client telemetry in PostgreSQL (per tenant under RLS): ``telemetry_metrics`` (snapshots and
ingested records), ``telemetry_clients`` (last seen, device details) and ``telemetry_logs``."""
from __future__ import annotations

import datetime as dt
from typing import Any, Iterable, Sequence

import asyncpg

# Tables whose old rows are purged as new data arrives (fixed names, never input).
_PURGEABLE = ("telemetry_metrics", "telemetry_logs")


async def purge(conn: asyncpg.Connection, table: str, tenant_id: str, keep: dt.timedelta) -> None:
    """Delete the oldest rows older than ``keep``, about 1000 at a time (rows sharing the last one's
    time go too): bounded, so an ingest never pays for a huge backlog at once.

    Both scans are ranges of the (tenant, received_at) index, whatever plan PostgreSQL picks. The
    statement is prepared once per connection and soon runs a generic plan; written as
    ``id in (select ... limit 1000)``, a generic plan made while the table was nearly empty joined
    every row of the tenant to the subquery, so each upload got slower as the table grew."""
    if table not in _PURGEABLE:
        raise ValueError(f"not a telemetry table: {table!r}")
    await conn.execute(
        f"delete from {table} where tenant_id = $1 and received_at <= (select max(received_at) from "
        f"(select received_at from {table} where tenant_id = $1 and received_at < now() - $2::interval "
        "order by received_at limit 1000) oldest)", tenant_id, keep)


async def touch_client(conn: asyncpg.Connection, tenant_id: str, client_id: str, name: str | None,
                       platform: str | None, device_model: Any, os_version: Any, app_version: Any,
                       config_json: str | None, ip_address: str | None = None) -> None:
    """Record that a client was seen, keeping known details the call does not send."""
    await conn.execute(
        "insert into telemetry_clients (tenant_id, client_id, name, platform, device_model, os_version, app_version, "
        "config, ip_address) values ($1, $2, $3, $4, $5, $6, $7, coalesce($8::jsonb, '{}'), $9) "
        "on conflict (tenant_id, client_id) do update set last_seen = now(), "
        "name = coalesce(excluded.name, telemetry_clients.name), "
        "platform = coalesce(excluded.platform, telemetry_clients.platform), "
        "device_model = coalesce(excluded.device_model, telemetry_clients.device_model), "
        "os_version = coalesce(excluded.os_version, telemetry_clients.os_version), "
        "app_version = coalesce(excluded.app_version, telemetry_clients.app_version), "
        "config = case when $8::jsonb is null then telemetry_clients.config else excluded.config end, "
        "ip_address = coalesce(excluded.ip_address, telemetry_clients.ip_address)",
        tenant_id, client_id, name, platform, device_model, os_version, app_version, config_json, ip_address)


async def add_snapshot(conn: asyncpg.Connection, tenant_id: str, client_id: str | None, name: str | None,
                       kind: str | None, session_id: str | None, data_json: str) -> None:
    await conn.execute(
        "insert into telemetry_metrics (tenant_id, kind, client_id, client_name, client_type, session_id, data) "
        "values ($1, 'snapshot', $2, $3, $4, $5, $6::jsonb)",
        tenant_id, client_id, name, kind, session_id, data_json)


async def add_ingested(conn: asyncpg.Connection, tenant_id: str, records: Iterable[Sequence[Any]]) -> None:
    """Records of ``(client_id, client_name, client_type, session_id, recorded_at, data_json)``."""
    await conn.executemany(
        "insert into telemetry_metrics (tenant_id, kind, client_id, client_name, client_type, session_id, "
        "recorded_at, data) values ($1, 'ingest', $2, $3, $4, $5, $6, $7::jsonb)",
        [(tenant_id, *r) for r in records])


async def metrics_page(conn: asyncpg.Connection, tenant_id: str, kind: str | None, client_id: str | None,
                       session_id: str | None, limit: int, offset: int) -> tuple[list[asyncpg.Record], int]:
    where = ("tenant_id = $1 and ($2::text is null or kind = $2) and ($3::text is null or client_id = $3) "
             "and ($4::text is null or session_id = $4)")
    args = (tenant_id, kind, client_id, session_id)
    total = await conn.fetchval(f"select count(*) from telemetry_metrics where {where}", *args)
    rows = await conn.fetch(f"select * from telemetry_metrics where {where} order by received_at desc, id desc "
                            "limit $5 offset $6", *args, limit, offset)
    return rows, total


async def metric_sessions(conn: asyncpg.Connection, tenant_id: str, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        "select session_id, min(client_id) as client_id, min(client_name) as client_name, count(*) as records, "
        "min(recorded_at) as first_at, max(recorded_at) as last_at from telemetry_metrics "
        "where tenant_id = $1 and session_id is not null group by session_id order by max(recorded_at) desc "
        "limit $2", tenant_id, limit)


async def summary(conn: asyncpg.Connection, tenant_id: str, hours: int, client_id: str | None,
                  keys: Sequence[str]) -> asyncpg.Record:
    """Counts, total cost and the average of each numeric ``keys`` field (a column named after it).
    ``keys`` are the code's own constants, written into the SQL as JSON keys and column names."""
    averages = ", ".join(
        f"avg(nullif(data->>'{k}', '')::float) filter (where jsonb_typeof(data->'{k}') = 'number') as \"{k}\""
        for k in keys)
    return await conn.fetchrow(
        "select count(*) filter (where kind = 'snapshot') as snapshots, count(*) filter (where kind = 'ingest') as ingested, "
        "count(distinct client_id) as clients, count(distinct session_id) as sessions, "
        "sum((data->>'totalCost')::float) filter (where jsonb_typeof(data->'totalCost') = 'number') as total_cost, "
        f"{averages} from telemetry_metrics where tenant_id = $1 and received_at > now() - make_interval(hours => $2) "
        "and ($3::text is null or client_id = $3)", tenant_id, hours, client_id)


async def client(conn: asyncpg.Connection, tenant_id: str, client_id: str) -> tuple[asyncpg.Record | None, list]:
    """The client's row (or None) and its newest 50 metric records."""
    row = await conn.fetchrow("select * from telemetry_clients where tenant_id = $1 and client_id = $2",
                              tenant_id, client_id)
    rows = await conn.fetch("select * from telemetry_metrics where tenant_id = $1 and client_id = $2 "
                            "order by received_at desc, id desc limit 50", tenant_id, client_id)
    return row, rows


async def forget_silent_clients(conn: asyncpg.Connection, tenant_id: str, keep: dt.timedelta) -> None:
    await conn.execute("delete from telemetry_clients where tenant_id = $1 and last_seen < now() - $2::interval",
                       tenant_id, keep)


async def clients(conn: asyncpg.Connection, tenant_id: str) -> list[asyncpg.Record]:
    """The newest 1000 clients, each with its number of app sessions (distinct metric session ids) and of
    logs: one grouped pass over each table rather than a count per client."""
    return await conn.fetch(
        "with s as (select client_id, count(distinct session_id) as n from telemetry_metrics where tenant_id = $1 "
        "group by client_id), l as (select client_id, count(*) as n from telemetry_logs where tenant_id = $1 "
        "group by client_id) "
        "select c.*, coalesce(s.n, 0) as total_sessions, coalesce(l.n, 0) as total_logs from telemetry_clients c "
        "left join s on s.client_id = c.client_id left join l on l.client_id = c.client_id "
        "where c.tenant_id = $1 order by c.last_seen desc limit 1000", tenant_id)


async def add_logs(conn: asyncpg.Connection, rows: Iterable[Sequence[Any]]) -> None:
    """Rows of ``(tenant_id, client_id, client_name, logged_at, level, label, message, file, function, line,
    metadata_json)``."""
    await conn.executemany(
        "insert into telemetry_logs (tenant_id, client_id, client_name, logged_at, level, label, message, file, "
        "function, line, metadata) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb)", rows)


async def logs_page(conn: asyncpg.Connection, tenant_id: str, level: str | None, search: str | None,
                    client_id: str | None, label: str | None, since: dt.datetime | None, limit: int,
                    offset: int) -> tuple[list[asyncpg.Record], int]:
    where = ("tenant_id = $1 and ($2::text is null or level = $2) and ($3::text is null or strpos(lower(message), "
             "lower($3)) > 0) and ($4::text is null or client_id = $4) and ($5::text is null or label = $5) "
             "and ($6::timestamptz is null or logged_at >= $6)")
    args = (tenant_id, level, search, client_id, label, since)
    total = await conn.fetchval(f"select count(*) from telemetry_logs where {where}", *args)
    rows = await conn.fetch(f"select * from telemetry_logs where {where} order by logged_at desc, id desc "
                            "limit $7 offset $8", *args, limit, offset)
    return rows, total


async def clear_logs(conn: asyncpg.Connection, tenant_id: str) -> int:
    result = await conn.execute("delete from telemetry_logs where tenant_id = $1", tenant_id)
    return int(result.split()[-1])
