-- A tenant's own settings of a server-driven module (the Operations Console's module panel): switch
-- the module off, or switch off features the module supports (team mode, speed training, competition
-- simulation). The catalogue itself (content_modules) stays shared; a tenant without a row gets the
-- catalogue's values.
create table tenant_module_settings (
    tenant_id         uuid not null references tenants(id) on delete cascade,
    module_id         text not null references content_modules(id) on delete cascade,
    enabled           boolean,
    feature_overrides jsonb not null default '{}'::jsonb,
    updated_at        timestamptz not null default now(),
    primary key (tenant_id, module_id)
);
alter table tenant_module_settings enable row level security;
alter table tenant_module_settings force row level security;
create policy tenant_module_settings_tenant_isolation on tenant_module_settings for all
    using (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid))
    with check (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid));
create policy tenant_module_settings_owner on tenant_module_settings for all to current_user using (true) with check (true);
