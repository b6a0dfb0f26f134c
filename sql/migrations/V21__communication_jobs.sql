-- Background jobs: a queue in PostgreSQL, so a job is enqueued in the same
-- transaction as the change that needs it (it exists exactly when that
-- change committed) and any number of servers share the work.
--
-- Servers claim due jobs with FOR UPDATE SKIP LOCKED and hold them under a
-- lease (`locked_until`); a server that dies mid-job loses its lease and the
-- job is claimed again. Failures are retried with exponential backoff up to
-- `max_attempts`. Each job then runs in its facility's tenant context (see
-- src/jobs): the job prologue sets the role and settings exactly as a
-- request's does and, when a user asked for the job, re-checks that the user
-- is still active.
--
-- No request role can read or write this table: requests enqueue through
-- carego.enqueue_job(), triggers through the same function, and the servers'
-- login role (carego_app) claims and settles jobs through the functions
-- below. It is not audited: a job is the consequence of an audited change,
-- and what it does is audited where it does it.
create table jobs (
    id            bigint      generated always as identity,
    facility_id   uuid,                 -- null: a platform job
    kind          text        not null,
    payload       jsonb       not null default '{}',
    requested_by  uuid,                 -- re-checked before the job runs
    -- Scheduled jobs: `kind:period`, so each period runs once across servers.
    dedupe_key    text,
    run_at        timestamptz not null default now(),
    attempts      integer     not null default 0,
    max_attempts  integer     not null default 8,
    locked_by     text,
    locked_until  timestamptz,
    last_error    text,
    finished_at   timestamptz,
    outcome       text,
    created_at    timestamptz not null default now(),
    constraint jobs_pkey primary key (id),
    constraint jobs_dedupe_key_key unique (dedupe_key),
    constraint jobs_facility_fkey foreign key (facility_id) references facilities (id),
    -- Composite, as every tenant reference (a platform job names no user).
    constraint jobs_requested_by_fkey foreign key (facility_id, requested_by) references users (facility_id, id),
    constraint jobs_kind_check check (kind ~ '^[a-z_]{1,64}$'),
    constraint jobs_outcome_check check (outcome in ('done', 'failed', 'skipped')),
    constraint jobs_finished_check check ((finished_at is null) = (outcome is null)),
    constraint jobs_payload_check check (jsonb_typeof(payload) = 'object')
);
-- What is due, oldest first; finished jobs drop out of the index.
create index jobs_due_idx on jobs (run_at, id) where finished_at is null;
create index jobs_finished_idx on jobs (finished_at) where finished_at is not null;

alter table jobs enable row level security;
alter table jobs force row level security;
-- The wall, as on every tenant table, though no request role holds a grant.
create policy jobs_facility_isolation on jobs as restrictive for all
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator
    using (facility_id = (select carego.current_facility_id()));
create policy jobs_super_admin_gate on jobs as restrictive for all to carego_super_admin
    using ((select carego.is_super_admin()));
create policy jobs_owner_all on jobs for all to carego_owner using (true) with check (true);

-- Enqueue a job for the caller's facility, in the caller's transaction; the
-- servers are woken when it commits. `p_as_requester`: the job runs as the
-- caller and only while they stay active; otherwise it runs as the system
-- within the facility. Returns the job's id (null when a job with the same
-- dedupe key exists).
create function carego.enqueue_job(p_kind text, p_payload jsonb, p_run_at timestamptz,
                                   p_as_requester boolean, p_dedupe_key text default null)
    returns bigint
    language plpgsql
    security definer
    set search_path = pg_catalog, public
    as $$
declare
    v_id bigint;
begin
    insert into jobs (facility_id, kind, payload, requested_by, run_at, dedupe_key)
    values (carego.current_facility_id(), p_kind, coalesce(p_payload, '{}'),
            case when p_as_requester then carego.current_user_id() end,
            coalesce(p_run_at, now()), p_dedupe_key)
    on conflict (dedupe_key) do nothing
    returning id into v_id;
    if v_id is not null then
        perform pg_notify('carego_jobs', '');
    end if;
    return v_id;
end
$$;
grant execute on function carego.enqueue_job(text, jsonb, timestamptz, boolean, text)
    to carego_patient, carego_staff, carego_facility_admin, carego_super_admin;

-- Claim up to p_limit due jobs for p_lease. A job whose lease ran out (its
-- server died) is due again. The attempt is counted at the claim, so a job
-- that kills its server still runs out of attempts.
create function carego.claim_jobs(p_worker text, p_limit integer, p_lease interval)
    returns table (id bigint, facility_id uuid, kind text, payload jsonb, requested_by uuid,
                   requester_role text, attempts integer, max_attempts integer)
    language sql
    security definer
    set search_path = pg_catalog, public
    as $$
    with due as (
        select j.id from jobs j
         where j.finished_at is null and j.run_at <= now()
           and (j.locked_until is null or j.locked_until < now())
         order by j.run_at, j.id
         limit p_limit
         for update skip locked
    )
    update jobs j
       set locked_by = p_worker, locked_until = now() + p_lease, attempts = j.attempts + 1
      from due
     where j.id = due.id
    returning j.id, j.facility_id, j.kind, j.payload, j.requested_by,
              (select u.role from users u where u.id = j.requested_by),
              j.attempts, j.max_attempts
$$;

-- Settle a claimed job: done, skipped (no longer applicable), or failed.
-- A failure with attempts left is retried after p_retry_in; otherwise the
-- job is finished as failed. Only the worker holding the lease may settle it.
create function carego.settle_job(p_id bigint, p_worker text, p_outcome text, p_error text,
                                  p_retry_in interval)
    returns boolean
    language sql
    security definer
    set search_path = pg_catalog, public
    as $$
    update jobs j
       set locked_by = null, locked_until = null,
           last_error = coalesce(left(p_error, 2000), j.last_error),
           run_at = case when p_outcome = 'failed' and j.attempts < j.max_attempts
                         then now() + p_retry_in else j.run_at end,
           finished_at = case when p_outcome = 'failed' and j.attempts < j.max_attempts
                              then null else now() end,
           outcome = case when p_outcome = 'failed' and j.attempts < j.max_attempts
                          then null else p_outcome end
     where j.id = p_id and j.locked_by = p_worker and j.finished_at is null
    returning true
$$;

-- The periodic jobs, enqueued once per period however many servers call
-- this: a daily cleanup, and an hourly weekly-metrics rollup per active
-- facility. Returns how many were new.
create function carego.schedule_periodic_jobs() returns integer
    language plpgsql
    security definer
    set search_path = pg_catalog, public
    as $$
declare
    v_day text := to_char(now() at time zone 'UTC', 'YYYY-MM-DD');
    v_hour text := to_char(now() at time zone 'UTC', 'YYYY-MM-DD"T"HH24');
    v_new integer;
    v_more integer;
begin
    insert into jobs (kind, dedupe_key) values ('cleanup', 'cleanup:' || v_day)
        on conflict (dedupe_key) do nothing;
    get diagnostics v_new = row_count;
    insert into jobs (facility_id, kind, dedupe_key)
    select f.id, 'weekly_metrics', 'weekly_metrics:' || f.id || ':' || v_hour
      from facilities f where f.status = 'active'
        on conflict (dedupe_key) do nothing;
    get diagnostics v_more = row_count;
    if v_new + v_more > 0 then
        perform pg_notify('carego_jobs', '');
    end if;
    return v_new + v_more;
end
$$;

-- The job prologue's check, after carego.begin_request has set the job's
-- context: the user who asked for the job must still be active in an active
-- facility (a suspended user's queued work does not run in their name).
create function carego.check_job_requester(p_user uuid) returns void
    language plpgsql
    stable
    security definer
    set search_path = pg_catalog, public
    as $$
begin
    if p_user is null then
        return;
    end if;
    if not exists (select from users u left join facilities f on f.id = u.facility_id
                    where u.id = p_user and u.status = 'active'
                      and (u.facility_id is null or f.status = 'active')) then
        raise exception 'requester_inactive' using errcode = 'CG403';
    end if;
end
$$;
grant execute on function carego.check_job_requester(uuid)
    to carego_patient, carego_staff, carego_facility_admin, carego_super_admin;

do $$
begin
    if exists (select from pg_roles where rolname = 'carego_app') then
        grant execute on function carego.claim_jobs(text, integer, interval),
            carego.settle_job(bigint, text, text, text, interval),
            carego.schedule_periodic_jobs() to carego_app;
    end if;
end
$$;
