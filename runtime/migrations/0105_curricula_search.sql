-- Curriculum suggestions (POST /api/curricula/suggest): PostgreSQL full-text search over a curriculum's
-- title (weight A), keywords (B) and description (C), stored as a generated tsvector with a GIN index.
--
-- array_to_string is only STABLE (element output functions could depend on settings), so a generated
-- column cannot call it; keywords are text[], whose output never depends on settings, so this wrapper is
-- safely IMMUTABLE. Rows stay under the table's RLS policies: the search reads through the tenant's
-- transaction like every other curricula query.

create function curricula_keywords_text(keywords text[]) returns text
    language sql immutable parallel safe
    as $$ select coalesce(array_to_string(keywords, ' '), '') $$;

alter table curricula add column search_vector tsvector generated always as (
    setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A') ||
    setweight(to_tsvector('english'::regconfig, curricula_keywords_text(keywords)), 'B') ||
    setweight(to_tsvector('english'::regconfig, coalesce(description, '')), 'C')
) stored;

create index curricula_search on curricula using gin (search_vector);
