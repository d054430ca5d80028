-- The seeded system curriculum, made decodable by the iOS app and the web client as well (additive:
-- fields are added and shapes widened to forms every app decodes; a key already present wins).
--
--   iOS (UMCFParser.swift)         misconceptions[].id required; assessments[].options are objects
--                                  {id, text, isCorrect?}, not strings.
--   web (types/curriculum.ts)      ids of topics, objectives and assessments are CatalogId
--                                  {catalog, value}; misconceptions need id (string), misconception,
--                                  correction; assessments need prompt (choices: {id, text, correct});
--                                  examples need id, title, content.
--   Android (UMCFModels.kt)        reads ids as a string or {catalog?, value}, options as objects,
--                                  misconceptions with an optional id: all of the above decodes.
--
-- The old keys stay (question, answer, trigger_phrase, remediation), so nothing that reads them breaks.

create function pg_temp.uma_catalog_id(id jsonb) returns jsonb language sql immutable as $$
    select case jsonb_typeof(id)
        when 'string' then jsonb_build_object('catalog', 'unamentis', 'value', id)
        when 'object' then jsonb_build_object('catalog', 'unamentis') || id
        else id end
$$;

create function pg_temp.uma_each(items jsonb, fn text, owner text) returns jsonb language plpgsql as $$
declare
    result jsonb := '[]'::jsonb;
    item jsonb;
    idx integer := 0;
begin
    if jsonb_typeof(items) is distinct from 'array' then
        return items;
    end if;
    for item in select value from jsonb_array_elements(items) loop
        idx := idx + 1;
        execute format('select pg_temp.%I($1, $2, $3)', fn) into item using item, owner, idx;
        result := result || jsonb_build_array(item);
    end loop;
    return result;
end
$$;

create function pg_temp.uma_objective(item jsonb, owner text, idx integer) returns jsonb language sql immutable as $$
    select item || jsonb_build_object('id', pg_temp.uma_catalog_id(item -> 'id'))
$$;

create function pg_temp.uma_misconception(item jsonb, owner text, idx integer) returns jsonb language sql immutable as $$
    select jsonb_strip_nulls(jsonb_build_object(
        'id', owner || '-misconception-' || idx,
        'correction', item -> 'remediation',
        'trigger', case when item ? 'trigger_phrase' then jsonb_build_array(item -> 'trigger_phrase') end,
        'triggerPhrases', case when item ? 'trigger_phrase' then jsonb_build_array(item -> 'trigger_phrase') end
    )) || item
$$;

create function pg_temp.uma_option(item jsonb, answer text, idx integer) returns jsonb language sql immutable as $$
    select case jsonb_typeof(item)
        when 'string' then jsonb_build_object('id', 'option-' || idx, 'text', item, 'isCorrect', (item #>> '{}') = answer)
        else item end
$$;

create function pg_temp.uma_assessment(item jsonb, owner text, idx integer) returns jsonb language sql as $$
    with options as (
        select pg_temp.uma_each(item -> 'options', 'uma_option', item ->> 'answer') as list
    )
    select jsonb_strip_nulls(jsonb_build_object(
        'prompt', item -> 'question',
        'correctAnswer', item -> 'answer',
        'choices', (select jsonb_agg(jsonb_build_object('id', o -> 'id', 'text', o -> 'text', 'correct', coalesce((o ->> 'isCorrect')::boolean, false)))
                    from jsonb_array_elements(case jsonb_typeof(options.list) when 'array' then options.list else '[]' end) as o)
    )) || item || jsonb_strip_nulls(jsonb_build_object(
        'id', pg_temp.uma_catalog_id(item -> 'id'),
        'options', options.list
    ))
    from options
$$;

create function pg_temp.uma_example(item jsonb, owner text, idx integer) returns jsonb language sql immutable as $$
    select jsonb_build_object('title', initcap(replace(regexp_replace(coalesce(item ->> 'id', 'example'), '^ex-', ''), '-', ' ')))
           || item
$$;

create function pg_temp.uma_node(node jsonb, owner text, idx integer) returns jsonb language plpgsql as $$
declare
    name text := coalesce(node #>> '{id,value}', node ->> 'id', owner || '-' || idx);
begin
    node := node || jsonb_build_object('id', pg_temp.uma_catalog_id(node -> 'id'));
    if node ? 'learningObjectives' then
        node := jsonb_set(node, '{learningObjectives}', pg_temp.uma_each(node -> 'learningObjectives', 'uma_objective', name));
    end if;
    if node ? 'misconceptions' then
        node := jsonb_set(node, '{misconceptions}', pg_temp.uma_each(node -> 'misconceptions', 'uma_misconception', name));
    end if;
    if node ? 'assessments' then
        node := jsonb_set(node, '{assessments}', pg_temp.uma_each(node -> 'assessments', 'uma_assessment', name));
    end if;
    if node ? 'examples' then
        node := jsonb_set(node, '{examples}', pg_temp.uma_each(node -> 'examples', 'uma_example', name));
    end if;
    if node ? 'children' then
        node := jsonb_set(node, '{children}', pg_temp.uma_each(node -> 'children', 'uma_node', name));
    end if;
    return node;
end
$$;

update curricula
   set document = jsonb_set(document, '{content}', pg_temp.uma_each(document -> 'content', 'uma_node', id)),
       updated_at = now()
 where tenant_id is null and id = 'solar-system-intro';
