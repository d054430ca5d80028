-- Tenants: the unit of isolation. Every tenant-owned table references tenants(id).
--
-- The runtime role sees only the tenant of its transaction (RLS below). Lookups it must make
-- before it knows the tenant (a slug from config or the CLI) and the Tier-2 admin listing go through
-- SECURITY DEFINER functions owned by the owner, which return only the few columns needed.

create table tenants (
    id          uuid primary key default gen_random_uuid(),
    slug        text not null unique check (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    name        text not null check (length(name) between 1 and 200),
    status      text not null default 'active' check (status in ('active', 'suspended')),
    settings    jsonb not null default '{}'::jsonb,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now()
);

alter table tenants enable row level security;
alter table tenants force row level security;
-- The runtime role: its own tenant only; it cannot create, rename or delete tenants.
create policy tenants_self on tenants for select
    using (id = nullif(current_setting('app.tenant_id', true), '')::uuid);
-- RLS is forced, so the owner (migrate, admin CLI) needs its own policy.
create policy tenants_owner on tenants for all to current_user using (true) with check (true);

-- Cross-tenant lookups for the runtime (SECURITY DEFINER: they run as the owner).
create function tenant_by_slug(p_slug text)
returns table (id uuid, slug text, name text, status text)
language sql stable security definer set search_path = public, pg_temp
as $$ select t.id, t.slug, t.name, t.status from tenants t where t.slug = lower(p_slug) $$;

create function tenant_by_id(p_id uuid)
returns table (id uuid, slug text, name text, status text)
language sql stable security definer set search_path = public, pg_temp
as $$ select t.id, t.slug, t.name, t.status from tenants t where t.id = p_id $$;

-- The Tier-2 admin API's listing (the route checks the admin principal before calling it).
create function tenant_list()
returns table (id uuid, slug text, name text, status text, created_at timestamptz)
language sql stable security definer set search_path = public, pg_temp
as $$ select t.id, t.slug, t.name, t.status, t.created_at from tenants t order by t.created_at, t.slug $$;

-- Creation from the Tier-2 admin API; returns the new id, or raises unique_violation on a taken slug.
create function tenant_create(p_slug text, p_name text)
returns uuid
language sql volatile security definer set search_path = public, pg_temp
as $$ insert into tenants (slug, name) values (lower(p_slug), p_name) returning id $$;

revoke all on function tenant_by_slug(text), tenant_by_id(uuid), tenant_list(), tenant_create(text, text) from public;
