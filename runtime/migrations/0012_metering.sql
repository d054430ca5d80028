-- Metering and budgets.
--
-- budgets          per-tenant limits (NULL column = the runtime's configured default)
-- subject_budgets  per-user (or per-beta-token tester) daily limit overrides
-- budget_counters  spent + reserved per (tenant, subject, period): subject 'tenant' counts the
--                  tenant's month (period = first day of the month, UTC), 'user:<id>' or
--                  'token:<id>' counts that caller's day (UTC)
-- budget_reservations  one row per reserve(); settle/release close it exactly once
-- usage_events     immutable record of every settled paid call (provider, units, dollars)
--
-- reserve() moves an estimate into "reserved" with a conditional UPDATE
-- (spent + reserved + estimate <= limit), whose row lock serialises concurrent reservations, so two
-- callers can never both pass the last dollar. All tables are tenant-owned (RLS forced).

create table budgets (
    tenant_id            uuid primary key references tenants(id) on delete cascade,
    monthly_limit_usd    numeric(14, 6) check (monthly_limit_usd is null or monthly_limit_usd >= 0),
    user_daily_limit_usd numeric(14, 6) check (user_daily_limit_usd is null or user_daily_limit_usd >= 0),
    updated_at           timestamptz not null default now()
);

create table subject_budgets (
    tenant_id       uuid not null references tenants(id) on delete cascade,
    subject         text not null check (subject ~ '^(user|token):'),
    daily_limit_usd numeric(14, 6) not null check (daily_limit_usd >= 0),
    updated_at      timestamptz not null default now(),
    primary key (tenant_id, subject)
);

create table budget_counters (
    tenant_id    uuid not null references tenants(id) on delete cascade,
    subject      text not null,
    period_start date not null,
    spent_usd    numeric(14, 6) not null default 0,
    reserved_usd numeric(14, 6) not null default 0 check (reserved_usd >= 0),
    primary key (tenant_id, subject, period_start)
);

create table budget_reservations (
    id             uuid primary key default gen_random_uuid(),
    tenant_id      uuid not null references tenants(id) on delete cascade,
    subject        text not null,
    user_id        uuid,
    provider       text not null,
    operation      text not null,
    estimate_usd   numeric(14, 6) not null check (estimate_usd >= 0),
    tenant_period  date not null,
    subject_period date not null,
    state          text not null default 'reserved' check (state in ('reserved', 'settled', 'released', 'expired')),
    created_at     timestamptz not null default now(),
    finished_at    timestamptz
);
create index budget_reservations_open on budget_reservations (tenant_id, created_at) where state = 'reserved';

create table usage_events (
    id             bigserial primary key,
    tenant_id      uuid not null references tenants(id) on delete cascade,
    subject        text not null,
    user_id        uuid,
    provider       text not null,
    operation      text not null,
    units          jsonb not null default '{}',
    cost_usd       numeric(14, 6) not null,
    reservation_id uuid,
    created_at     timestamptz not null default now()
);
create index usage_events_tenant_time on usage_events (tenant_id, created_at);

do $$
declare t text;
begin
    foreach t in array array['budgets', 'subject_budgets', 'budget_counters', 'budget_reservations', 'usage_events'] loop
        execute format('alter table %I enable row level security', t);
        execute format('alter table %I force row level security', t);
        execute format(
            'create policy %I on %I for all '
            'using (tenant_id = (select nullif(current_setting(''app.tenant_id'', true), '''')::uuid)) '
            'with check (tenant_id = (select nullif(current_setting(''app.tenant_id'', true), '''')::uuid))',
            t || '_tenant_isolation', t);
    end loop;
end $$;

-- Spend of every tenant per day and provider for the operators' /api/admin/usage (super admins).
-- A trigger keeps an aggregate in the private schema, so the cross-tenant report reads totals only
-- and never needs to bypass the row-level security of usage_events.
create table unamentis_private.usage_daily (
    tenant_id uuid not null references public.tenants(id) on delete cascade,
    day       date not null,
    provider  text not null,
    events    bigint not null default 0,
    cost_usd  numeric(16, 6) not null default 0,
    primary key (tenant_id, day, provider)
);

create function unamentis_private.add_usage_daily() returns trigger
language plpgsql security definer set search_path = pg_catalog, public as $$
begin
    insert into unamentis_private.usage_daily as u (tenant_id, day, provider, events, cost_usd)
    values (new.tenant_id, (new.created_at at time zone 'UTC')::date, new.provider, 1, new.cost_usd)
    on conflict (tenant_id, day, provider)
    do update set events = u.events + 1, cost_usd = u.cost_usd + excluded.cost_usd;
    return null;
end $$;
create trigger usage_events_daily after insert on usage_events
    for each row execute function unamentis_private.add_usage_daily();

create function public.usage_by_tenant(p_from date, p_to date)
returns table (tenant_id uuid, day date, provider text, events bigint, cost_usd numeric)
language sql stable security definer set search_path = pg_catalog, public as $$
    select u.tenant_id, u.day, u.provider, u.events, u.cost_usd
      from unamentis_private.usage_daily u
     where u.day between p_from and p_to
     order by u.day, u.tenant_id, u.provider
$$;
