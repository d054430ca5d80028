-- Background jobs: the PostgreSQL queue backend and the job status every backend keeps.
--
-- Rows are tenant-owned (RLS forced): enqueue, status, progress and results go through the tenant's
-- transaction. Workers serve every tenant, so claiming goes through SECURITY DEFINER functions that
-- lock with FOR UPDATE SKIP LOCKED and return only the claimed rows. A claim is a lease
-- (locked_until); a worker that dies loses it and another worker retries the job (at-least-once).

create table jobs (
    id              uuid primary key default gen_random_uuid(),
    tenant_id       uuid not null references tenants(id) on delete cascade,
    kind            text not null check (kind ~ '^[a-z][a-z0-9_]{0,62}$'),
    payload         jsonb not null default '{}'::jsonb,
    idempotency_key text,
    status          text not null default 'queued'
                    check (status in ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'dead')),
    attempts        integer not null default 0,
    max_attempts    integer not null default 5,
    progress        jsonb not null default '{}'::jsonb,
    result          jsonb,
    error           text,
    run_after       timestamptz not null default now(),
    locked_by       text,
    locked_until    timestamptz,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    finished_at     timestamptz
);
create index jobs_ready on jobs (run_after) where status = 'queued';
create index jobs_leased on jobs (locked_until) where status = 'running';
create unique index jobs_idempotency on jobs (tenant_id, kind, idempotency_key)
    where idempotency_key is not null and status not in ('failed', 'cancelled', 'dead');

alter table jobs enable row level security;
alter table jobs force row level security;
create policy jobs_tenant_isolation on jobs for all
    using (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid))
    with check (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid));
create policy jobs_owner on jobs for all to current_user using (true) with check (true);

-- Claim up to p_limit ready jobs (queued and due, or running with an expired lease).
create function jobs_claim(p_worker text, p_lease_seconds integer, p_limit integer)
returns table (id uuid, tenant_id uuid, kind text, payload jsonb, attempts integer, max_attempts integer)
language sql volatile security definer set search_path = public, pg_temp
as $$
    with picked as (
        select j.id from jobs j
        where (j.status = 'queued' and j.run_after <= now())
           or (j.status = 'running' and j.locked_until < now())
        order by j.run_after
        limit greatest(1, least(p_limit, 100))
        for update skip locked
    )
    update jobs j set status = 'running', attempts = j.attempts + 1, locked_by = p_worker,
                      locked_until = now() + make_interval(secs => p_lease_seconds), updated_at = now()
    from picked where j.id = picked.id
    returning j.id, j.tenant_id, j.kind, j.payload, j.attempts, j.max_attempts
$$;

-- Extend a lease this worker holds (visibility extension for long jobs); false if it lost the lease.
create function jobs_extend(p_id uuid, p_worker text, p_lease_seconds integer)
returns boolean
language sql volatile security definer set search_path = public, pg_temp
as $$
    with u as (
        update jobs set locked_until = now() + make_interval(secs => p_lease_seconds), updated_at = now()
        where id = p_id and locked_by = p_worker and status = 'running'
        returning 1
    ) select exists (select 1 from u)
$$;

revoke all on function jobs_claim(text, integer, integer), jobs_extend(uuid, text, integer) from public;
