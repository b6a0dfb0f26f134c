-- Rate limits of the unauthenticated doors (login per IP and per account,
-- patient registration per IP, the website's lead form per IP), kept here
-- so that every server behind a load balancer counts the same attempts.
--
-- One row per limit, key and fixed window. The key is a SHA-256 of what is
-- limited (an IP, a login name), never the value itself. Reached only
-- through carego.hit_rate_limit, called by the pool's role in its own
-- statement before the request's transaction; no request role has any
-- privilege on the table, and it is not audited (it is a counter).
create table rate_limit_hits (
    bucket       text        not null,
    key_hash     bytea       not null,
    window_start timestamptz not null,
    hits         integer     not null,
    constraint rate_limit_hits_pkey primary key (bucket, key_hash, window_start)
);
alter table rate_limit_hits enable row level security;
alter table rate_limit_hits force row level security;
create policy rate_limit_hits_owner_all on rate_limit_hits for all to carego_owner
    using (true) with check (true);

-- Counts one attempt in the current window of `p_window_secs` seconds
-- (aligned to the epoch). Beyond `p_limit` it raises, so a refused attempt
-- is not counted:
--   CG429 rate_limited -> 429, the detail is the Retry-After in seconds
create function carego.hit_rate_limit(p_bucket text, p_key bytea, p_limit integer, p_window_secs integer)
    returns void
    language plpgsql
    security definer
    set search_path = pg_catalog, public
    as $$
declare
    v_now timestamptz := clock_timestamp();
    v_start timestamptz := to_timestamp(floor(extract(epoch from v_now) / p_window_secs) * p_window_secs);
    v_hits integer;
begin
    insert into rate_limit_hits as h (bucket, key_hash, window_start, hits)
    values (p_bucket, p_key, v_start, 1)
    on conflict (bucket, key_hash, window_start) do update set hits = h.hits + 1
    returning hits into v_hits;
    if v_hits > p_limit then
        raise exception 'rate_limited' using errcode = 'CG429',
            detail = greatest(1, ceil(extract(epoch from v_start + make_interval(secs => p_window_secs) - v_now)))::text;
    end if;
    -- The first attempt of a window clears this key's older windows, and now
    -- and then everyone's that are a day old.
    if v_hits = 1 then
        delete from rate_limit_hits where bucket = p_bucket and key_hash = p_key and window_start < v_start;
        if random() < 0.01 then
            delete from rate_limit_hits where window_start < v_now - interval '1 day';
        end if;
    end if;
end
$$;

do $$
begin
    if exists (select from pg_roles where rolname = 'carego_app') then
        grant execute on function carego.hit_rate_limit(text, bytea, integer, integer) to carego_app;
    end if;
end
$$;
