-- The job queue's depth for the metrics endpoint (src/server/metrics.rs):
-- counts by state, nothing about any job. Called by the servers' login role.
--   due        waiting for a worker (run_at passed, not leased)
--   running    leased by a worker
--   scheduled  run_at still ahead (retries backing off, periodic jobs)
create function carego.job_queue_depth() returns table (state text, jobs bigint)
    language sql
    stable
    security definer
    set search_path = pg_catalog, public
    as $$
    select s.state, count(j.id)
      from (values ('due'), ('running'), ('scheduled')) s(state)
      left join public.jobs j
        on j.finished_at is null
       and s.state = case when j.locked_until > now() then 'running'
                          when j.run_at > now() then 'scheduled'
                          else 'due' end
     group by s.state
     order by s.state
$$;

do $$
begin
    if exists (select from pg_roles where rolname = 'carego_app') then
        grant execute on function carego.job_queue_depth() to carego_app;
    end if;
end
$$;
