-- The job queue: enqueueing, claiming and settling typed jobs, the periodic schedule, and the worker's context (src/db/jobs.rs, src/jobs.rs).
--
-- The current definition of every function of this area and who may execute it, and every
-- policy and grant of its tables. `carego migrate` applies this file after the versioned
-- migrations, whenever it or the migrations changed (docs/database.md, "Schema as code").
-- Change a function here, not in a new migration. Each function is followed by its grants:
-- EXECUTE revoked from PUBLIC and every app role, then granted to exactly the roles that call
-- it.

-- carego.begin_job(bigint,text,uuid,boolean,text,text), since V41
CREATE OR REPLACE FUNCTION carego.begin_job(p_job bigint, p_worker text, p_facility uuid, p_as_worker boolean, p_request_id text, p_statement_timeout text)
 RETURNS void
 LANGUAGE plpgsql
AS $function$
begin
    perform pg_catalog.set_config('statement_timeout', p_statement_timeout, true),
            pg_catalog.set_config('plan_cache_mode', 'force_generic_plan', true);
    perform pg_catalog.set_config('role',
        carego.open_job_context(p_job, p_worker, p_facility, p_as_worker, p_request_id), true);
end
$function$;
revoke all on function carego.begin_job(bigint,text,uuid,boolean,text,text) from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.begin_job(bigint,text,uuid,boolean,text,text) to carego_platform;

-- carego.claim_jobs(text,integer,interval), since V21
CREATE OR REPLACE FUNCTION carego.claim_jobs(p_worker text, p_limit integer, p_lease interval)
 RETURNS TABLE(id bigint, facility_id uuid, kind text, payload jsonb, requested_by uuid, requester_role text, attempts integer, max_attempts integer)
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
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
$function$;
revoke all on function carego.claim_jobs(text,integer,interval) from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.claim_jobs(text,integer,interval) to carego_platform;

-- carego.cleanup_expired(), since V22
CREATE OR REPLACE FUNCTION carego.cleanup_expired()
 RETURNS TABLE(sessions bigint, registration_keys bigint, jobs bigint, events bigint)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
declare
    v_cutoff timestamptz := now() - interval '30 days';
begin
    perform carego.set_context('worker', 'carego_worker', null, null, null, null,
        nullif(current_setting('carego.request_id', true), ''), null, 'daily cleanup');
    delete from public.refresh_tokens t
     using public.sessions s
     where t.session_id = s.id and (s.expires_at < v_cutoff or s.revoked_at < v_cutoff);
    delete from public.sessions s where s.expires_at < v_cutoff or s.revoked_at < v_cutoff;
    get diagnostics sessions = row_count;
    delete from public.registration_keys k
     where k.expires_at < v_cutoff or k.used_at < v_cutoff or k.revoked_at < v_cutoff;
    get diagnostics registration_keys = row_count;
    delete from public.jobs j where j.finished_at < v_cutoff;
    get diagnostics jobs = row_count;
    delete from public.events e where e.created_at < v_cutoff;
    get diagnostics events = row_count;
    delete from public.stream_tickets t where t.expires_at < now() - interval '1 hour';
    return next;
end
$function$;
revoke all on function carego.cleanup_expired() from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.cleanup_expired() to carego_platform;

-- carego.enqueue_progress_report(uuid,uuid,date,date), since V43
CREATE OR REPLACE FUNCTION carego.enqueue_progress_report(p_document uuid, p_patient uuid, p_from date, p_to date)
 RETURNS bigint
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
declare
    v_facility uuid;
    v_id bigint;
begin
    select d.facility_id into v_facility
      from documents d
     where d.id = p_document and d.patient_id = p_patient and d.kind = 'progress_report'
       and d.status = 'pending' and d.created_by = carego.current_user_id()
       and d.facility_id = carego.current_facility_id();
    if v_facility is null or p_from is null or p_to is null or p_from > p_to then
        raise exception 'not the caller''s pending progress report' using errcode = 'CG404';
    end if;
    insert into jobs (facility_id, kind, payload, requested_by)
    values (v_facility, 'progress_report',
            jsonb_build_object('documentId', p_document, 'patientId', p_patient, 'from', p_from, 'to', p_to),
            carego.current_user_id())
    returning id into v_id;
    perform pg_notify('carego_jobs', '');
    return v_id;
end
$function$;
revoke all on function carego.enqueue_progress_report(uuid,uuid,date,date) from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.enqueue_progress_report(uuid,uuid,date,date) to carego_staff, carego_facility_admin;

-- carego.job_queue_depth(), since V38
CREATE OR REPLACE FUNCTION carego.job_queue_depth()
 RETURNS TABLE(state text, jobs bigint)
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
    select s.state, count(j.id)
      from (values ('due'), ('running'), ('scheduled')) s(state)
      left join public.jobs j
        on j.finished_at is null
       and s.state = case when j.locked_until > now() then 'running'
                          when j.run_at > now() then 'scheduled'
                          else 'due' end
     group by s.state
     order by s.state
$function$;
revoke all on function carego.job_queue_depth() from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.job_queue_depth() to carego_app;

-- carego.open_job_context(bigint,text,uuid,boolean,text), since V41
CREATE OR REPLACE FUNCTION carego.open_job_context(p_job bigint, p_worker text, p_facility uuid, p_as_worker boolean, p_request_id text)
 RETURNS text
 LANGUAGE plpgsql
 SECURITY DEFINER
AS $function$
declare
    j record;
    u record;
    v_facility uuid;
begin
    if not carego.on_platform_login() then
        raise exception 'platform_login_required' using errcode = 'CGP03';
    end if;
    select jb.id, jb.kind, jb.facility_id, jb.requested_by into j
      from public.jobs jb
     where jb.id = p_job and jb.locked_by = p_worker and jb.locked_until > pg_catalog.now()
       and jb.finished_at is null;
    if not found then
        raise exception 'job_not_held' using errcode = 'CG403';
    end if;
    v_facility := coalesce(j.facility_id, p_facility);
    if j.facility_id is not null and p_facility is distinct from j.facility_id and p_facility is not null then
        raise exception 'job_not_held' using errcode = 'CG403';
    end if;
    if j.requested_by is null or p_as_worker then
        perform carego.set_context('worker', 'carego_worker', v_facility, null, null, null,
                                   p_request_id, null, 'job ' || j.id || ' (' || j.kind || ')');
        return 'carego_worker';
    end if;
    select us.role into u
      from public.users us left join public.facilities f on f.id = us.facility_id
     where us.id = j.requested_by and us.status = 'active'
       and (us.facility_id is null or f.status = 'active');
    if not found or carego.db_role_of(u.role) is null or u.role = 'super_admin' then
        raise exception 'requester_inactive' using errcode = 'CG403';
    end if;
    perform carego.set_context(u.role, carego.db_role_of(u.role), v_facility, j.requested_by, null, null,
                               p_request_id, null, 'job ' || j.id || ' (' || j.kind || ')');
    return carego.db_role_of(u.role);
end
$function$;
revoke all on function carego.open_job_context(bigint,text,uuid,boolean,text) from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.open_job_context(bigint,text,uuid,boolean,text) to carego_platform;

-- carego.schedule_periodic_jobs(), since V21
CREATE OR REPLACE FUNCTION carego.schedule_periodic_jobs()
 RETURNS integer
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
declare
    v_day text := to_char(now() at time zone 'UTC', 'YYYY-MM-DD');
    v_hour text := to_char(now() at time zone 'UTC', 'YYYY-MM-DD"T"HH24');
    v_new integer;
    v_more integer;
    v_sweep integer;
begin
    insert into jobs (kind, dedupe_key) values ('cleanup', 'cleanup:' || v_day)
        on conflict (dedupe_key) do nothing;
    get diagnostics v_new = row_count;
    insert into jobs (kind, dedupe_key) values ('document_sweep', 'document_sweep:' || v_day)
        on conflict (dedupe_key) do nothing;
    get diagnostics v_sweep = row_count;
    insert into jobs (facility_id, kind, dedupe_key)
    select f.id, 'weekly_metrics', 'weekly_metrics:' || f.id || ':' || v_hour
      from facilities f where f.status = 'active'
        on conflict (dedupe_key) do nothing;
    get diagnostics v_more = row_count;
    if v_new + v_sweep + v_more > 0 then
        perform pg_notify('carego_jobs', '');
    end if;
    return v_new + v_sweep + v_more;
end
$function$;
revoke all on function carego.schedule_periodic_jobs() from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.schedule_periodic_jobs() to carego_platform;

-- carego.settle_job(bigint,text,text,text,interval), since V21
CREATE OR REPLACE FUNCTION carego.settle_job(p_id bigint, p_worker text, p_outcome text, p_error text, p_retry_in interval)
 RETURNS boolean
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
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
$function$;
revoke all on function carego.settle_job(bigint,text,text,text,interval) from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.settle_job(bigint,text,text,text,interval) to carego_platform;

-- Policies and grants, table by table. Each policy is dropped if it exists and created again.
-- A policy taken out of this file is not dropped by it (a wall must never vanish by omission):
-- drop it in a migration. After the files, `carego migrate` widens every facility wall to the
-- whole tenant group (`carego.apply_role_groups`, V44). A table's grants start from none:
-- every app role's privileges on it and its columns are revoked, then granted as written, so
-- a grant taken out of this file is gone after the next apply.

-- jobs, since V21
drop policy if exists jobs_facility_isolation on public.jobs;
create policy jobs_facility_isolation on public.jobs as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_public, carego_staff, carego_student, carego_teacher, carego_worker
    using ((facility_id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists jobs_super_admin_gate on public.jobs;
create policy jobs_super_admin_gate on public.jobs as restrictive for all to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists jobs_owner_all on public.jobs;
create policy jobs_owner_all on public.jobs as permissive for all to carego_owner
    using (true)
    with check (true);
revoke all on table public.jobs from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
revoke all on sequence public.jobs_id_seq from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
