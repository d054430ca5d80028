-- Content families: curricula + assets, Knowledge Bowl, modules, tutoring sessions,
-- telemetry, model configuration (import jobs use the job queue's table, 0210).
--
-- Tenancy: every tenant-owned row carries tenant_id; RLS is enabled AND forced. Shared system content
-- (curricula, KB questions/packs) has tenant_id NULL: every tenant may SELECT it, no tenant may write
-- it (write policies require tenant_id = the current tenant, which is never NULL). Admins write system
-- content through the owner connection: RLS is forced, so the owner (current_user while migrating)
-- gets its own policy limited to the NULL rows.

-- ---------------------------------------------------------------- curricula
create table curricula (
    pk                 bigserial primary key,
    tenant_id          uuid references tenants(id) on delete cascade,
    id                 text not null check (id ~ '^[A-Za-z0-9_-]{1,100}$'),
    title              text not null,
    description        text not null default '',
    version            text not null default '1.0.0',
    difficulty         text,
    age_range          text,
    duration           text,
    keywords           text[] not null default '{}',
    topic_count        integer not null default 0,
    visual_asset_count integer not null default 0,
    document           jsonb not null,
    source_url         text,
    archived_at        timestamptz,
    created_at         timestamptz not null default now(),
    updated_at         timestamptz not null default now()
);
-- one row per (tenant or system, id); a tenant's own copy shadows a system curriculum of the same id
create unique index curricula_owner_id on curricula (coalesce(tenant_id, '00000000-0000-0000-0000-000000000000'::uuid), id);
create index curricula_tenant on curricula (tenant_id, archived_at);

alter table curricula enable row level security;
alter table curricula force row level security;
create policy curricula_select on curricula for select
    using (tenant_id is null or tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
create policy curricula_insert on curricula for insert
    with check (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
create policy curricula_update on curricula for update
    using (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    with check (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
create policy curricula_delete on curricula for delete
    using (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
-- RLS is forced, so even the owner needs a policy to write system rows (seeds, admin CLI)
create policy curricula_system on curricula for all to current_user
    using (tenant_id is null) with check (tenant_id is null);

create table curriculum_assets (
    tenant_id     uuid not null references tenants(id) on delete cascade,
    curriculum_pk bigint not null references curricula(pk) on delete cascade,
    topic_id      text not null,
    asset_id      text not null,
    storage_key   text not null,
    mime_type     text not null,
    size_bytes    integer not null,
    metadata      jsonb not null default '{}',
    created_at    timestamptz not null default now(),
    primary key (curriculum_pk, asset_id)
);
alter table curriculum_assets enable row level security;
alter table curriculum_assets force row level security;
create policy curriculum_assets_tenant on curriculum_assets
    using (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    with check (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);

-- ---------------------------------------------------------------- knowledge bowl
-- Domains are global reference data (seeded as in the old database); readable by all, written by migrations.
create table kb_domains (
    id            text primary key,
    name          text not null,
    icon_name     text not null,
    weight        double precision not null,
    subcategories text[] not null default '{}',
    sort_order    integer not null default 0
);
alter table kb_domains enable row level security;
alter table kb_domains force row level security;
create policy kb_domains_read on kb_domains for select using (true);
create policy kb_domains_owner on kb_domains for all to current_user using (true) with check (true);

create table kb_questions (
    id                   text primary key check (id ~ '^[A-Za-z0-9_-]{1,100}$'),
    tenant_id            uuid references tenants(id) on delete cascade,
    domain_id            text not null references kb_domains(id),
    subcategory          text not null default '',
    question_text        text not null,
    answer_text          text not null,
    acceptable_answers   text[] not null default '{}',
    difficulty           integer not null default 2 check (difficulty between 1 and 5),
    speed_target_seconds double precision not null default 5.0,
    question_type        text not null default 'toss_up' check (question_type in ('toss_up','bonus','pyramid','lightning')),
    hints                text[] not null default '{}',
    explanation          text not null default '',
    difficulty_tier      text check (difficulty_tier in ('elementary','middle_school','jv','varsity','championship','college')),
    competition_year     integer,
    question_source      text not null default 'custom' check (question_source in ('naqt','nsb','qb_packets','custom','ai_generated')),
    buzzable             boolean not null default true,
    status               text not null default 'active' check (status in ('active','draft','archived')),
    has_audio            boolean not null default false,
    created_at           timestamptz not null default now(),
    updated_at           timestamptz not null default now(),
    search               tsvector generated always as (
        setweight(to_tsvector('english', coalesce(question_text, '')), 'A') ||
        setweight(to_tsvector('english', coalesce(answer_text, '')), 'B') ||
        setweight(to_tsvector('english', coalesce(explanation, '')), 'C')
    ) stored
);
create index kb_questions_tenant on kb_questions (tenant_id, domain_id);
create index kb_questions_search on kb_questions using gin (search);

create table kb_packs (
    id                  text primary key check (id ~ '^[A-Za-z0-9_-]{1,100}$'),
    tenant_id           uuid references tenants(id) on delete cascade,
    name                text not null,
    description         text not null default '',
    type                text not null default 'custom' check (type in ('system','custom','bundle')),
    difficulty_tier     text check (difficulty_tier in ('elementary','middle_school','jv','varsity','championship','college')),
    competition_year    integer,
    source_pack_ids     text[] not null default '{}',
    is_reference_bundle boolean not null default false,
    status              text not null default 'draft' check (status in ('active','draft','archived')),
    created_by          text,
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now()
);
create index kb_packs_tenant on kb_packs (tenant_id, type, status);

create table kb_pack_questions (
    tenant_id   uuid references tenants(id) on delete cascade,
    pack_id     text not null references kb_packs(id) on delete cascade,
    question_id text not null references kb_questions(id) on delete cascade,
    position    integer not null,
    added_at    timestamptz not null default now(),
    primary key (pack_id, question_id)
);
create index kb_pack_questions_question on kb_pack_questions (question_id);

do $$
declare t text;
begin
    foreach t in array array['kb_questions', 'kb_packs', 'kb_pack_questions'] loop
        execute format('alter table %I enable row level security', t);
        execute format('alter table %I force row level security', t);
        execute format($p$create policy %I on %I for select
            using (tenant_id is null or tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)$p$,
            t || '_select', t);
        execute format($p$create policy %I on %I for insert
            with check (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)$p$,
            t || '_insert', t);
        execute format($p$create policy %I on %I for update
            using (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
            with check (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)$p$,
            t || '_update', t);
        execute format($p$create policy %I on %I for delete
            using (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)$p$,
            t || '_delete', t);
        execute format($p$create policy %I on %I for all to current_user
            using (tenant_id is null) with check (tenant_id is null)$p$, t || '_system', t);
    end loop;
end $$;

-- ---------------------------------------------------------------- modules (system catalogue)
create table content_modules (
    id                       text primary key,
    name                     text not null,
    description              text not null,
    long_description         text not null default '',
    icon_name                text not null,
    theme_color_hex          text not null,
    version                  text not null,
    enabled                  boolean not null default true,
    supports_team_mode       boolean not null default false,
    supports_speed_training  boolean not null default false,
    supports_competition_sim boolean not null default false,
    -- where the module's questions come from: 'kb' = the Knowledge Bowl questions the tenant sees
    content_kind             text not null default 'kb' check (content_kind in ('kb')),
    study_modes              jsonb not null default '[]',
    settings                 jsonb not null default '{}',
    sort_order               integer not null default 0
);
alter table content_modules enable row level security;
alter table content_modules force row level security;
create policy content_modules_read on content_modules for select using (true);
create policy content_modules_owner on content_modules for all to current_user using (true) with check (true);

-- ---------------------------------------------------------------- tutoring sessions
create table tutoring_sessions (
    id                   uuid primary key,
    tenant_id            uuid not null references tenants(id) on delete cascade,
    -- whose session inside the tenant: 'user:<uuid>', 'token:<beta token uuid>' or 'open'
    owner                text not null,
    curriculum_id        text not null,
    model_name           text not null,
    model_context_window integer not null,
    system_prompt        text,
    auto_expand_context  boolean not null default true,
    state                text not null default 'idle'
        check (state in ('idle','playing','user_speaking','ai_thinking','ai_speaking','paused','ended')),
    topic                jsonb,
    position             jsonb,
    segment              jsonb,
    turn_count           integer not null default 0,
    barge_in_count       integer not null default 0,
    expansion_count      integer not null default 0,
    created_at           timestamptz not null default now(),
    started_at           timestamptz,
    ended_at             timestamptz,
    updated_at           timestamptz not null default now()
);
create index tutoring_sessions_owner on tutoring_sessions (tenant_id, owner, created_at desc);

create table tutoring_turns (
    session_id  uuid not null references tutoring_sessions(id) on delete cascade,
    tenant_id   uuid not null references tenants(id) on delete cascade,
    seq         integer not null,
    id          text not null,
    role        text not null check (role in ('user','assistant')),
    content     text not null,
    created_at  timestamptz not null default now(),
    primary key (session_id, seq)
);

create table tutoring_events (
    id          bigserial primary key,
    session_id  uuid not null references tutoring_sessions(id) on delete cascade,
    tenant_id   uuid not null references tenants(id) on delete cascade,
    type        text not null,
    data        jsonb not null default '{}',
    created_at  timestamptz not null default now()
);
create index tutoring_events_session on tutoring_events (session_id, id);

-- ---------------------------------------------------------------- telemetry
create table telemetry_metrics (
    id          bigserial primary key,
    tenant_id   uuid not null references tenants(id) on delete cascade,
    kind        text not null check (kind in ('snapshot','ingest')),
    client_id   text,
    client_name text,
    client_type text,
    session_id  text,
    recorded_at timestamptz not null default now(),
    received_at timestamptz not null default now(),
    data        jsonb not null
);
create index telemetry_metrics_tenant on telemetry_metrics (tenant_id, received_at desc);

create table telemetry_clients (
    tenant_id    uuid not null references tenants(id) on delete cascade,
    client_id    text not null,
    name         text,
    platform     text,
    device_model text,
    os_version   text,
    app_version  text,
    config       jsonb not null default '{}',
    first_seen   timestamptz not null default now(),
    last_seen    timestamptz not null default now(),
    primary key (tenant_id, client_id)
);

create table telemetry_logs (
    id          bigserial primary key,
    tenant_id   uuid not null references tenants(id) on delete cascade,
    client_id   text,
    client_name text,
    logged_at   timestamptz not null default now(),
    level       text not null,
    label       text,
    message     text not null,
    file        text,
    function    text,
    line        integer,
    metadata    jsonb not null default '{}',
    received_at timestamptz not null default now()
);
create index telemetry_logs_tenant on telemetry_logs (tenant_id, received_at desc);

create table model_configs (
    tenant_id  uuid primary key references tenants(id) on delete cascade,
    config     jsonb not null,
    updated_at timestamptz not null default now()
);


do $$
declare t text;
begin
    foreach t in array array['tutoring_sessions', 'tutoring_turns', 'tutoring_events', 'telemetry_metrics',
                             'telemetry_clients', 'telemetry_logs', 'model_configs'] loop
        execute format('alter table %I enable row level security', t);
        execute format('alter table %I force row level security', t);
        execute format($p$create policy %I on %I
            using (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
            with check (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)$p$,
            t || '_tenant', t);
    end loop;
end $$;
