-- TTS pre-generation batch jobs (the Operations Console's /api/tts/pregen/*): a named list of texts
-- synthesised into the tenant's TTS cache by a queue job ("tts_pregen"), item by item, pausable and
-- resumable. The job row holds the counters the console shows; each item its text, status and result.
create table tts_pregen_jobs (
    tenant_id            uuid not null references tenants(id) on delete cascade,
    id                   uuid not null default gen_random_uuid(),
    name                 text not null check (length(name) between 1 and 200),
    job_type             text not null default 'batch' check (job_type in ('batch', 'comparison')),
    status               text not null default 'pending'
                         check (status in ('pending', 'running', 'paused', 'completed', 'failed', 'cancelled')),
    source_type          text not null check (source_type in ('knowledge-bowl', 'curriculum', 'custom')),
    source_id            text,
    profile_id           uuid,
    tts_config           jsonb not null default '{}'::jsonb,
    output_format        text not null default 'wav',
    normalize_volume     boolean not null default false,
    total_items          integer not null default 0,
    completed_items      integer not null default 0,
    failed_items         integer not null default 0,
    current_item_index   integer not null default 0,
    consecutive_failures integer not null default 0,
    last_error           text,
    run_job_id           uuid,
    created_at           timestamptz not null default now(),
    updated_at           timestamptz not null default now(),
    started_at           timestamptz,
    paused_at            timestamptz,
    completed_at         timestamptz,
    primary key (tenant_id, id)
);
create index tts_pregen_jobs_recent on tts_pregen_jobs (tenant_id, created_at desc);

create table tts_pregen_items (
    tenant_id               uuid not null,
    job_id                  uuid not null,
    item_index              integer not null,
    id                      uuid not null default gen_random_uuid(),
    text_content            text not null,
    text_hash               text not null,
    source_ref              text,
    status                  text not null default 'pending'
                            check (status in ('pending', 'processing', 'completed', 'failed', 'skipped')),
    attempt_count           integer not null default 0,
    output_file             text,
    duration_seconds        real,
    file_size_bytes         integer,
    sample_rate             integer,
    last_error              text,
    processing_started_at   timestamptz,
    processing_completed_at timestamptz,
    primary key (tenant_id, job_id, item_index),
    foreign key (tenant_id, job_id) references tts_pregen_jobs (tenant_id, id) on delete cascade
);

do $$
declare t text;
begin
    foreach t in array array['tts_pregen_jobs', 'tts_pregen_items'] loop
        execute format('alter table %I enable row level security', t);
        execute format('alter table %I force row level security', t);
        execute format(
            'create policy %I on %I for all '
            'using (tenant_id = (select nullif(current_setting(''app.tenant_id'', true), '''')::uuid)) '
            'with check (tenant_id = (select nullif(current_setting(''app.tenant_id'', true), '''')::uuid))',
            t || '_tenant_isolation', t);
        execute format('create policy %I on %I for all to current_user using (true) with check (true)',
                       t || '_owner', t);
    end loop;
end $$;
