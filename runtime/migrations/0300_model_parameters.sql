-- A tenant's generation parameters per model (the Operations Console's and iOS's parameter editors:
-- num_ctx, temperature, top_p, top_k, repeat_penalty, seed). A model without a row uses the defaults.
create table model_parameters (
    tenant_id  uuid not null references tenants(id) on delete cascade,
    model      text not null check (length(model) between 1 and 200),
    parameters jsonb not null default '{}'::jsonb check (jsonb_typeof(parameters) = 'object'),
    updated_at timestamptz not null default now(),
    primary key (tenant_id, model)
);
alter table model_parameters enable row level security;
alter table model_parameters force row level security;
create policy model_parameters_tenant_isolation on model_parameters for all
    using (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid))
    with check (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid));
create policy model_parameters_owner on model_parameters for all to current_user using (true) with check (true);
