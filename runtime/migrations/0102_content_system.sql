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

-- Publish a tenant's Knowledge Bowl pack as a system pack: its own questions are copied as system
-- questions (new ids), system questions it references are reused. Runs in the tenant's transaction
-- (app.tenant_id set), which lets the owner read that tenant's rows and, through its own policy,
-- write the NULL-tenant copies. Returns the new pack id, or NULL when the tenant has no such pack.
create function content_system_kb_publish(p_pack text, p_name text)
returns text
language plpgsql volatile security definer set search_path = public, pg_temp
as $$
declare
    v_tenant uuid := nullif(current_setting('app.tenant_id', true), '')::uuid;
    v_pack text := 'pack-' || substr(md5(random()::text || clock_timestamp()::text), 1, 8);
    v_qid text;
    r record;
begin
    if v_tenant is null or not exists (select 1 from kb_packs where id = p_pack and tenant_id = v_tenant) then
        return null;
    end if;
    insert into kb_packs (id, tenant_id, name, description, type, difficulty_tier, competition_year, status)
    select v_pack, null, coalesce(nullif(p_name, ''), name), description, 'system', difficulty_tier,
           competition_year, 'active'
      from kb_packs where id = p_pack;
    for r in
        select pq.position, q.id, q.tenant_id, q.domain_id, q.subcategory, q.question_text, q.answer_text,
               q.acceptable_answers, q.difficulty, q.speed_target_seconds, q.question_type, q.hints, q.explanation,
               q.difficulty_tier, q.competition_year, q.question_source, q.buzzable
          from kb_pack_questions pq join kb_questions q on q.id = pq.question_id
         where pq.pack_id = p_pack order by pq.position, q.id
    loop
        if r.tenant_id is null then
            v_qid := r.id;
        else
            v_qid := 'sys-' || substr(md5(random()::text || clock_timestamp()::text || r.id), 1, 12);
            insert into kb_questions (id, tenant_id, domain_id, subcategory, question_text, answer_text,
                                      acceptable_answers, difficulty, speed_target_seconds, question_type, hints,
                                      explanation, difficulty_tier, competition_year, question_source, buzzable, status)
            values (v_qid, null, r.domain_id, r.subcategory, r.question_text, r.answer_text, r.acceptable_answers,
                    r.difficulty, r.speed_target_seconds, r.question_type, r.hints, r.explanation, r.difficulty_tier,
                    r.competition_year, r.question_source, r.buzzable, 'active');
        end if;
        insert into kb_pack_questions (tenant_id, pack_id, question_id, position) values (null, v_pack, v_qid, r.position);
    end loop;
    return v_pack;
end $$;

-- Remove a system pack (its questions stay: other packs and the module may use them).
create function content_system_kb_pack_delete(p_pack text)
returns boolean
language sql volatile security definer set search_path = public, pg_temp
as $$
    with gone as (delete from kb_packs where tenant_id is null and id = p_pack returning 1)
    select exists (select 1 from gone)
$$;

revoke all on function content_system_kb_publish(text, text), content_system_kb_pack_delete(text) from public;
