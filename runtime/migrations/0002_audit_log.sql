-- Audit log: who did what to which object. Append-only for the runtime role (policies for SELECT and
-- INSERT only, so RLS refuses UPDATE and DELETE). Rows with tenant_id NULL are platform events
-- (tenant creation, role changes) written by the owner through the CLI.

create table audit_log (
    id          bigint generated always as identity primary key,
    tenant_id   uuid references tenants(id) on delete cascade,
    actor_kind  text not null check (actor_kind in ('beta_token', 'user', 'admin', 'open', 'system', 'cli')),
    actor_id    text,
    action      text not null check (length(action) between 1 and 100),
    target      text,
    details     jsonb not null default '{}'::jsonb,
    ip          text,
    request_id  text,
    created_at  timestamptz not null default now()
);
create index audit_log_tenant_time on audit_log (tenant_id, created_at desc);

alter table audit_log enable row level security;
alter table audit_log force row level security;
create policy audit_log_select on audit_log for select
    using (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
create policy audit_log_insert on audit_log for insert
    with check (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
create policy audit_log_owner on audit_log for all to current_user using (true) with check (true);
