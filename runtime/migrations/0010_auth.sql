-- Auth: users, devices, login sessions, refresh-token families, beta tokens.
--
-- Every table here is tenant-owned: tenant_id NOT NULL, RLS enabled AND forced, one policy that
-- returns no rows when app.tenant_id is unset (fail closed). The policy reads the setting through a
-- scalar subquery so PostgreSQL evaluates it once per statement.
--
-- Lookups the runtime must make before it knows the tenant (a user by e-mail at login, a beta token
-- or refresh token by hash) go through public.auth_tenant_for(kind, key): a SECURITY DEFINER
-- function that answers only "which tenant owns this credential" from an index in the private
-- schema unamentis_private, which the runtime role cannot read. Triggers keep that index in step.
-- The runtime then reads the row itself in a transaction scoped to that tenant, under RLS.

create schema if not exists unamentis_private;
revoke all on schema unamentis_private from public;

create table unamentis_private.credential_keys (
    kind      text not null check (kind in ('email', 'beta_token', 'beta_token_id', 'refresh_token')),
    key       text not null,
    tenant_id uuid not null references public.tenants(id) on delete cascade,
    primary key (kind, key)
);
create index credential_keys_tenant on unamentis_private.credential_keys (tenant_id);

-- ---------------------------------------------------------------- users
create table users (
    id                  uuid primary key default gen_random_uuid(),
    tenant_id           uuid not null references tenants(id) on delete cascade,
    email               text not null check (email = lower(email) and length(email) between 3 and 254),
    password_hash       text,
    display_name        text,
    avatar_url          text,
    locale              text,
    timezone            text,
    role                text not null default 'user' check (role in ('user', 'admin', 'org_admin', 'super_admin')),
    is_active           boolean not null default true,
    email_verified      boolean not null default false,
    mfa_enabled         boolean not null default false,
    failed_logins       integer not null default 0,
    locked_until        timestamptz,
    password_changed_at timestamptz,
    last_login_at       timestamptz,
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now()
);
-- One account per e-mail across the whole database (the old schema's UNIQUE(org, email) let NULL
-- orgs duplicate): login finds the tenant from the e-mail.
create unique index users_email_unique on users (email);
create index users_tenant on users (tenant_id);

-- ---------------------------------------------------------------- devices
create table devices (
    id           uuid primary key default gen_random_uuid(),
    tenant_id    uuid not null references tenants(id) on delete cascade,
    user_id      uuid not null references users(id) on delete cascade,
    fingerprint  text not null check (length(fingerprint) between 1 and 256),
    name         text,
    type         text not null check (type in ('ios', 'android', 'web', 'desktop')),
    model        text,
    os_version   text,
    app_version  text,
    is_trusted   boolean not null default false,
    is_active    boolean not null default true,
    last_seen_at timestamptz not null default now(),
    created_at   timestamptz not null default now(),
    unique (user_id, fingerprint)
);
create index devices_tenant_user on devices (tenant_id, user_id);

-- ---------------------------------------------------------------- login sessions
-- One row per login (or register with a device). Access JWTs carry its id as "sid"; ending the
-- session is what makes a live access token stop working (checked with a short cache).
create table login_sessions (
    id               uuid primary key default gen_random_uuid(),
    tenant_id        uuid not null references tenants(id) on delete cascade,
    user_id          uuid not null references users(id) on delete cascade,
    device_id        uuid references devices(id) on delete set null,
    ip_address       inet,
    user_agent       text,
    country          text,
    city             text,
    created_at       timestamptz not null default now(),
    last_activity_at timestamptz not null default now(),
    ended_at         timestamptz,
    end_reason       text
);
create index login_sessions_user on login_sessions (tenant_id, user_id) where ended_at is null;
create index login_sessions_device on login_sessions (device_id) where ended_at is null;

-- ---------------------------------------------------------------- refresh tokens
-- Rotating families: each login starts a family; each refresh revokes the presented row
-- ('rotated') and inserts generation + 1. Presenting a rotated token again revokes the family.
create table refresh_tokens (
    id             uuid primary key default gen_random_uuid(),
    tenant_id      uuid not null references tenants(id) on delete cascade,
    user_id        uuid not null references users(id) on delete cascade,
    device_id      uuid references devices(id) on delete cascade,
    session_id     uuid not null references login_sessions(id) on delete cascade,
    family_id      uuid not null,
    generation     integer not null default 1,
    parent_id      uuid references refresh_tokens(id) on delete set null,
    token_hash     text not null unique,
    expires_at     timestamptz not null,
    created_at     timestamptz not null default now(),
    revoked_at     timestamptz,
    revoked_reason text,
    ip_address     inet,
    user_agent     text
);
create index refresh_tokens_family on refresh_tokens (tenant_id, family_id);
create index refresh_tokens_user on refresh_tokens (tenant_id, user_id) where revoked_at is null;
create index refresh_tokens_session on refresh_tokens (session_id);

-- ---------------------------------------------------------------- beta tokens
-- Only the SHA-256 of the token is stored; token_prefix (the first characters) lets an admin
-- recognise a token in a list. device_id binds the token to one device (X-Device-ID); with
-- bind_on_first_use the first device that uses it is bound.
create table beta_tokens (
    id                uuid primary key default gen_random_uuid(),
    tenant_id         uuid not null references tenants(id) on delete cascade,
    name              text not null check (length(name) between 1 and 200),
    token_hash        text not null unique,
    token_prefix      text not null,
    device_id         text,
    bind_on_first_use boolean not null default false,
    rate_capacity     integer check (rate_capacity is null or rate_capacity > 0),
    rate_per_seconds  double precision check (rate_per_seconds is null or rate_per_seconds > 0),
    created_by        text,
    created_at        timestamptz not null default now(),
    expires_at        timestamptz,
    revoked_at        timestamptz,
    revoked_reason    text,
    last_used_at      timestamptz,
    check ((rate_capacity is null) = (rate_per_seconds is null))
);
create index beta_tokens_tenant on beta_tokens (tenant_id, created_at);

-- ---------------------------------------------------------------- row-level security
do $$
declare t text;
begin
    foreach t in array array['users', 'devices', 'login_sessions', 'refresh_tokens', 'beta_tokens'] loop
        execute format('alter table %I enable row level security', t);
        execute format('alter table %I force row level security', t);
        execute format(
            'create policy %I on %I for all '
            'using (tenant_id = (select nullif(current_setting(''app.tenant_id'', true), '''')::uuid)) '
            'with check (tenant_id = (select nullif(current_setting(''app.tenant_id'', true), '''')::uuid))',
            t || '_tenant_isolation', t);
    end loop;
end $$;

-- ---------------------------------------------------------------- credential index
create function unamentis_private.sync_credential_key() returns trigger
language plpgsql security definer set search_path = pg_catalog, public as $$
begin
    -- tg_argv[0] = kind, tg_argv[1] = the column holding the key
    if tg_op in ('UPDATE', 'DELETE') then
        delete from unamentis_private.credential_keys
         where kind = tg_argv[0] and key = to_jsonb(old) ->> tg_argv[1];
    end if;
    if tg_op in ('INSERT', 'UPDATE') then
        insert into unamentis_private.credential_keys (kind, key, tenant_id)
        values (tg_argv[0], to_jsonb(new) ->> tg_argv[1], new.tenant_id);
    end if;
    return null;
end $$;

create trigger users_credential_key after insert or delete or update of email, tenant_id on users
    for each row execute function unamentis_private.sync_credential_key('email', 'email');
create trigger beta_tokens_credential_key after insert or delete or update of token_hash, tenant_id on beta_tokens
    for each row execute function unamentis_private.sync_credential_key('beta_token', 'token_hash');
create trigger beta_tokens_id_key after insert or delete or update of id, tenant_id on beta_tokens
    for each row execute function unamentis_private.sync_credential_key('beta_token_id', 'id');
create trigger refresh_tokens_credential_key after insert or delete or update of token_hash, tenant_id on refresh_tokens
    for each row execute function unamentis_private.sync_credential_key('refresh_token', 'token_hash');

-- Which tenant owns a credential (NULL if none). Nothing else crosses tenants.
create function public.auth_tenant_for(p_kind text, p_key text) returns uuid
language sql stable security definer set search_path = pg_catalog, public as $$
    select tenant_id from unamentis_private.credential_keys where kind = p_kind and key = p_key
$$;
