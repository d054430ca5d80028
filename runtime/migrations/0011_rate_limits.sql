-- Rate limits: token buckets shared by every Lambda and container task.
--
-- Keys are not tenant data ("ip:203.0.113.9", "tok:<uuid>", "login:ip:…"), and the limiter runs
-- before the tenant is known, so the buckets live in the private schema (the runtime role cannot
-- read them) and are reached only through rate_limit_hit(). UNLOGGED: faster writes, emptied after
-- a crash, which for rate limits only means everyone starts with a full bucket.

create unlogged table unamentis_private.rate_limit_buckets (
    key        text primary key,
    tokens     double precision not null,
    updated_at timestamptz not null,
    allowed    boolean not null
);
create index rate_limit_buckets_updated on unamentis_private.rate_limit_buckets (updated_at);

-- One atomic statement: refill the bucket for the time since its last hit (capacity per
-- per_seconds), take p_cost tokens if there are enough, and report whether it did. A new key
-- starts full, so a new client's first request always passes (the old limiter started empty).
create function public.rate_limit_hit(p_key text, p_capacity integer, p_per_seconds double precision, p_cost double precision default 1)
returns table (allowed boolean, tokens double precision)
language plpgsql volatile security definer set search_path = pg_catalog, public as $$
#variable_conflict use_column
declare
    v_now timestamptz := clock_timestamp();
    v_rate double precision := p_capacity / p_per_seconds;
begin
    if p_capacity < 1 or p_per_seconds <= 0 or p_cost < 0 then
        raise exception 'rate_limit_hit: capacity must be >= 1, per_seconds > 0, cost >= 0';
    end if;
    return query
    insert into unamentis_private.rate_limit_buckets as b (key, tokens, updated_at, allowed)
    values (p_key, greatest(p_capacity - p_cost, 0), v_now, true)
    on conflict (key) do update set
        tokens = case
            when least(p_capacity, b.tokens + greatest(extract(epoch from v_now - b.updated_at), 0) * v_rate) >= p_cost
            then least(p_capacity, b.tokens + greatest(extract(epoch from v_now - b.updated_at), 0) * v_rate) - p_cost
            else least(p_capacity, b.tokens + greatest(extract(epoch from v_now - b.updated_at), 0) * v_rate)
        end,
        allowed = least(p_capacity, b.tokens + greatest(extract(epoch from v_now - b.updated_at), 0) * v_rate) >= p_cost,
        updated_at = v_now
    returning b.allowed, b.tokens;
end $$;

-- Forget buckets idle for longer than p_idle (a full bucket carries no information).
create function public.rate_limit_sweep(p_idle interval default interval '1 day') returns integer
language sql volatile security definer set search_path = pg_catalog, public as $$
    with gone as (
        delete from unamentis_private.rate_limit_buckets where updated_at < clock_timestamp() - p_idle returning 1
    )
    select count(*)::integer from gone
$$;
