"""The SQL of the import status (import jobs live in the job queue's ``jobs`` table, RLS-scoped)."""
from __future__ import annotations

import asyncpg


async def status_counts(conn: asyncpg.Connection) -> dict[str, int]:
    """Running, waiting and today's finished curriculum imports of the transaction's tenant."""
    row = await conn.fetchrow(
        """
        select count(*) filter (where status = 'running') as active_jobs,
               count(*) filter (where status = 'queued') as pending_jobs,
               count(*) filter (where status = 'succeeded' and finished_at >= date_trunc('day', now())) as completed_today
          from jobs
         where kind = 'curriculum_import'
        """)
    return {key: int(row[key]) for key in ("active_jobs", "pending_jobs", "completed_today")}
