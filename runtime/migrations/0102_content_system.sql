-- Writing shared system content (tenant_id NULL) from the Tier-2 admin API (super admins only; the
-- route checks the role before calling). SECURITY DEFINER: the functions run as the owner, whose own
-- RLS policy (0100, "to current_user") admits exactly the NULL-tenant rows, so even they cannot touch
-- a tenant's rows. The runtime role gets EXECUTE from `migrate`; PUBLIC does not.

create function content_system_curriculum_upsert(
    p_id text, p_title text, p_description text, p_version text, p_difficulty text, p_age_range text,
    p_duration text, p_keywords text[], p_topic_count integer, p_visual_asset_count integer, p_document jsonb)
returns void
language sql volatile security definer set search_path = public, pg_temp
as $$
    insert into curricula (tenant_id, id, title, description, version, difficulty, age_range, duration, keywords,
                           topic_count, visual_asset_count, document)
    values (null, p_id, p_title, p_description, p_version, p_difficulty, p_age_range, p_duration, p_keywords,
            p_topic_count, p_visual_asset_count, p_document)
    on conflict (coalesce(tenant_id, '00000000-0000-0000-0000-000000000000'::uuid), id) do update set
        title = excluded.title, description = excluded.description, version = excluded.version,
        difficulty = excluded.difficulty, age_range = excluded.age_range, duration = excluded.duration,
        keywords = excluded.keywords, topic_count = excluded.topic_count,
        visual_asset_count = excluded.visual_asset_count, document = excluded.document,
        archived_at = null, updated_at = now()
$$;

create function content_system_curriculum_delete(p_id text)
returns boolean
language sql volatile security definer set search_path = public, pg_temp
as $$
    with gone as (delete from curricula where tenant_id is null and id = p_id returning 1)
    select exists (select 1 from gone)
$$;

revoke all on function content_system_curriculum_upsert(text, text, text, text, text, text, text, text[], integer,
                                                        integer, jsonb) from public;
revoke all on function content_system_curriculum_delete(text) from public;
