-- Voice core: voice sessions, the TTS cache index, TTS profiles, KB audio index.
--
-- All tenant-owned (RLS enabled and forced). TTS cache objects of shared system content live under
-- the "system" scope of the object store and are not indexed here (the runtime role cannot write
-- tenant_id NULL rows); tenant entries are indexed for stats, TTL expiry and size eviction.

create table voice_sessions (
    tenant_id   uuid not null references tenants(id) on delete cascade,
    id          text not null check (id ~ '^[A-Za-z0-9_-]{1,100}$'),
    owner       text not null,               -- principal's budget subject (user:<id> / token:<id> / open)
    state       jsonb not null default '{}'::jsonb,  -- config, voice, topic, history, playback
    turn_count  integer not null default 0,
    status      text not null default 'active' check (status in ('active', 'ended')),
    instance    text,                        -- the task serving it now (NULL when disconnected)
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    primary key (tenant_id, id)
);

create table tts_cache_entries (
    tenant_id        uuid not null references tenants(id) on delete cascade,
    digest           text not null,
    object_key       text not null,
    provider         text not null,
    voice            text not null,
    speed            real not null,
    text_preview     text not null,
    size_bytes       integer not null,
    duration_seconds real not null,
    sample_rate      integer not null,
    created_at       timestamptz not null default now(),
    last_accessed_at timestamptz not null default now(),
    access_count     integer not null default 0,
    primary key (tenant_id, digest)
);
create index tts_cache_entries_lru on tts_cache_entries (tenant_id, last_accessed_at);

create table tts_profiles (
    tenant_id   uuid not null references tenants(id) on delete cascade,
    id          uuid not null default gen_random_uuid(),
    name        text not null check (length(name) between 1 and 100),
    provider    text not null,
    voice_id    text not null,
    settings    jsonb not null default '{}'::jsonb,
    description text,
    tags        jsonb not null default '[]'::jsonb,
    use_case    text,
    is_default  boolean not null default false,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    primary key (tenant_id, id),
    unique (tenant_id, name)
);
create unique index tts_profiles_one_default on tts_profiles (tenant_id) where is_default;

create table kb_audio_segments (
    tenant_id        uuid not null references tenants(id) on delete cascade,
    module_id        text not null,
    question_id      text not null,
    segment          text not null,          -- question | answer | explanation | hint_<i>
    object_key       text not null,
    size_bytes       integer not null,
    duration_seconds real not null,
    sample_rate      integer not null,
    voice            text not null,
    provider         text not null,
    created_at       timestamptz not null default now(),
    primary key (tenant_id, module_id, question_id, segment)
);

do $$
declare t text;
begin
    foreach t in array array['voice_sessions', 'tts_cache_entries', 'tts_profiles', 'kb_audio_segments'] loop
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
