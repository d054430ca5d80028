-- The Operations Console's system pages: model servers an admin added, power profiles and the idle
-- settings of a tenant, and samples of the hosts' load (the core and the GPU nodes).

-- Model servers an admin added by hand (the configured providers and GPU nodes come from settings).
create table ops_servers (
    id         uuid primary key,
    tenant_id  uuid not null references tenants(id) on delete cascade,
    name       text not null check (length(name) between 1 and 100),
    type       text not null check (type in ('ollama', 'whisper', 'piper', 'vibevoice', 'custom')),
    url        text not null,
    port       integer not null check (port between 1 and 65535),
    created_at timestamptz not null default now(),
    unique (tenant_id, url, port)
);

-- A tenant's own power profiles (the built-in modes live in the code).
create table ops_power_profiles (
    tenant_id   uuid not null references tenants(id) on delete cascade,
    id          text not null check (id ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
    name        text not null,
    description text not null default '',
    thresholds  jsonb not null,
    enabled     boolean not null default true,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    primary key (tenant_id, id)
);

-- The idle policy an admin chose: the power mode, a keep-awake window, a forced state.
create table ops_idle_settings (
    tenant_id             uuid primary key references tenants(id) on delete cascade,
    mode                  text not null default 'balanced',
    timeout_seconds       integer check (timeout_seconds is null or timeout_seconds > 0),
    unload_models_on_idle boolean not null default true,
    keep_awake_until      timestamptz,
    forced_state          text check (forced_state in ('active', 'warm', 'cool', 'cold', 'dormant')),
    forced_at             timestamptz,
    updated_at            timestamptz not null default now()
);

do $$
declare t text;
begin
    foreach t in array array['ops_servers', 'ops_power_profiles', 'ops_idle_settings'] loop
        execute format('alter table %I enable row level security', t);
        execute format('alter table %I force row level security', t);
        execute format($p$create policy %I on %I
            using (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
            with check (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)$p$,
            t || '_tenant', t);
    end loop;
end $$;

-- Load samples of the platform's hosts (not tenant data: the core and the shared GPU fleet), taken
-- about once a minute by each core task; ``source`` is 'core' or the GPU node's instance id.
create table ops_metric_samples (
    id                bigserial primary key,
    source            text not null,
    recorded_at       timestamptz not null default now(),
    cpu_percent       real not null,
    memory_percent    real not null,
    memory_used_bytes bigint not null,
    disk_percent      real not null,
    cpu_temp_c        real,
    gpu_memory_mb     real,
    gpu_percent       real,
    idle_state        text
);
create index ops_metric_samples_time on ops_metric_samples (recorded_at);
alter table ops_metric_samples enable row level security;
alter table ops_metric_samples force row level security;
create policy ops_metric_samples_shared on ops_metric_samples for all using (true) with check (true);
