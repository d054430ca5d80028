"""A tenant's model settings and per-model parameters in PostgreSQL (``model_configs``: one JSON
object per tenant; ``model_parameters``: one JSON object per tenant and model; both under RLS)."""
from __future__ import annotations

import json
from typing import Any

import asyncpg


def _decoded(raw: Any) -> dict:
    return json.loads(raw) if isinstance(raw, str) else (raw or {})


async def config(conn: asyncpg.Connection) -> dict:
    """The transaction tenant's stored settings ({} when it has none)."""
    return _decoded(await conn.fetchval("select config from model_configs"))


async def merge_config(conn: asyncpg.Connection, tenant_id: str, changes_json: str) -> tuple[dict, Any]:
    """Merge ``changes_json`` (a JSON object) into the tenant's settings; returns them and ``updated_at``."""
    await conn.execute(
        "insert into model_configs (tenant_id, config) values ($1, $2::jsonb) on conflict (tenant_id) do update "
        "set config = model_configs.config || excluded.config, updated_at = now()",
        tenant_id, changes_json)
    row = await conn.fetchrow("select config, updated_at from model_configs where tenant_id = $1", tenant_id)
    return _decoded(row["config"]), row["updated_at"]


async def parameters(conn: asyncpg.Connection, model: str) -> dict:
    """The transaction tenant's stored parameters of ``model`` ({} when it has none)."""
    return _decoded(await conn.fetchval("select parameters from model_parameters where model = $1", model))


async def merge_parameters(conn: asyncpg.Connection, tenant_id: str, model: str, changes_json: str) -> dict:
    """Merge ``changes_json`` into the tenant's parameters of ``model``; returns them all."""
    raw = await conn.fetchval(
        "insert into model_parameters (tenant_id, model, parameters) values ($1, $2, $3::jsonb) "
        "on conflict (tenant_id, model) do update "
        "set parameters = model_parameters.parameters || excluded.parameters, updated_at = now() "
        "returning parameters",
        tenant_id, model, changes_json)
    return _decoded(raw)
