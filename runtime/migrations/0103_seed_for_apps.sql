-- Seeded content in the shapes the apps decode (additive: nothing another client reads is removed).
--
-- Android (UMCFModels.kt, UMCFAssessment.options: List<UMCFAssessmentOption>) and iOS
-- (UMCFParser.swift, UMCFAssessment.options: [UMCFAssessmentOption]) decode an assessment's options
-- as objects {id, text, isCorrect?}; the seed of 0101 wrote them as bare strings, so neither app can
-- decode the seeded curriculum's full document. Each string option becomes {id, text, isCorrect}
-- (ids a, b, c … in order; isCorrect when it equals the assessment's "answer"), objects are kept as
-- they are, "answer" stays, and "correctAnswer" (the key both apps read) is added when missing.
-- Idempotent; only the seeded system curriculum is touched.

create function pg_temp.uma_app_assessment(a jsonb) returns jsonb
language sql immutable
as $$
    select case
        when jsonb_typeof(a) <> 'object' then a
        else a
            || case when jsonb_typeof(a -> 'options') = 'array' then jsonb_build_object('options', (
                   select coalesce(jsonb_agg(
                       case when jsonb_typeof(o.value) = 'string' then jsonb_build_object(
                                'id', chr(96 + o.ordinality::int),
                                'text', o.value #>> '{}',
                                'isCorrect', (o.value #>> '{}') = (a ->> 'answer'))
                            else o.value end
                       order by o.ordinality), '[]'::jsonb)
                   from jsonb_array_elements(a -> 'options') with ordinality as o(value, ordinality)))
               else '{}'::jsonb end
            || case when a ? 'correctAnswer' or jsonb_typeof(a -> 'answer') <> 'string' then '{}'::jsonb
                    else jsonb_build_object('correctAnswer', a -> 'answer') end
    end
$$;

-- A content node and its children, at any depth.
create function pg_temp.uma_app_node(n jsonb) returns jsonb
language plpgsql immutable
as $$
declare
    result jsonb := n;
begin
    if jsonb_typeof(n) <> 'object' then
        return n;
    end if;
    if jsonb_typeof(n -> 'assessments') = 'array' then
        result := result || jsonb_build_object('assessments', (
            select coalesce(jsonb_agg(pg_temp.uma_app_assessment(x.value) order by x.ordinality), '[]'::jsonb)
            from jsonb_array_elements(n -> 'assessments') with ordinality as x(value, ordinality)));
    end if;
    if jsonb_typeof(n -> 'children') = 'array' then
        result := result || jsonb_build_object('children', (
            select coalesce(jsonb_agg(pg_temp.uma_app_node(x.value) order by x.ordinality), '[]'::jsonb)
            from jsonb_array_elements(n -> 'children') with ordinality as x(value, ordinality)));
    end if;
    return result;
end
$$;

update curricula
   set document = document || jsonb_build_object('content', (
           select coalesce(jsonb_agg(pg_temp.uma_app_node(x.value) order by x.ordinality), '[]'::jsonb)
           from jsonb_array_elements(document -> 'content') with ordinality as x(value, ordinality)))
 where tenant_id is null
   and id = 'solar-system-intro'
   and jsonb_typeof(document -> 'content') = 'array';
