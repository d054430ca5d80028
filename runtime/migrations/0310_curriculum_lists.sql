-- Curriculum lists: named collections of catalog courses an operator gathers before importing
-- (the Operations Console's "add to list"). A list and its items belong to one tenant (RLS forced);
-- an item names a course of an import source by (source_id, course_id), once per list.
create table curriculum_lists (
    id          uuid primary key default gen_random_uuid(),
    tenant_id   uuid not null references tenants(id) on delete cascade,
    name        text not null check (length(name) between 1 and 200),
    description text not null default '' check (length(description) <= 2000),
    is_shared   boolean not null default false,
    created_by  uuid references users(id) on delete set null,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now()
);
create index curriculum_lists_tenant on curriculum_lists (tenant_id, updated_at desc);

create table curriculum_list_items (
    id            uuid primary key default gen_random_uuid(),
    tenant_id     uuid not null references tenants(id) on delete cascade,
    list_id       uuid not null references curriculum_lists(id) on delete cascade,
    source_id     text not null check (length(source_id) between 1 and 100),
    course_id     text not null check (length(course_id) between 1 and 100),
    course_title  text not null default '' check (length(course_title) <= 500),
    thumbnail_url text check (length(thumbnail_url) <= 2048),
    notes         text check (length(notes) <= 2000),
    order_index   integer not null default 0,
    added_at      timestamptz not null default now(),
    unique (list_id, source_id, course_id)
);
create index curriculum_list_items_course on curriculum_list_items (tenant_id, course_id);

alter table curriculum_lists enable row level security;
alter table curriculum_lists force row level security;
create policy curriculum_lists_tenant_isolation on curriculum_lists for all
    using (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid))
    with check (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid));
create policy curriculum_lists_owner on curriculum_lists for all to current_user using (true) with check (true);

alter table curriculum_list_items enable row level security;
alter table curriculum_list_items force row level security;
create policy curriculum_list_items_tenant_isolation on curriculum_list_items for all
    using (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid))
    with check (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid));
create policy curriculum_list_items_owner on curriculum_list_items for all to current_user using (true) with check (true);
