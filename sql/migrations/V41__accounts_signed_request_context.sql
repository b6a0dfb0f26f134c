-- The request context, signed: nothing a database session can set for itself
-- grants anything (docs/security.md, "The request context").
--
-- Until now every policy trusted the `carego.*` settings and the current
-- role, and any connection can change both: `set_config` is open to every
-- role, and SET ROLE reaches every role the login role belongs to. SQL run
-- inside a request (one injection bug away) could name another facility or
-- become a super admin. Now:
--
--  * the prologue's SECURITY DEFINER half (carego.open_*_context) refuses to
--    set a context it did not verify — a live session, a valid API key, a
--    claimed job, the platform's own login — and signs what it verified:
--    HMAC-SHA256 under a key only the owner reads (carego.context_key) over
--    this backend and transaction (pid, transaction start), the facility,
--    user, application role, Postgres role, session and scopes;
--  * the accessors that policies call (carego.current_facility_id() and the
--    rest) yield NULL — so no rows — unless the signature matches the
--    settings as they are now and the current role is the one signed;
--  * super admins, the operator's CLI and the job worker reach PostgreSQL
--    through a login role of their own, `carego_platform`. The pool's
--    `carego_app` is no longer a member of `carego_super_admin`, so a tenant
--    connection cannot switch into it at all;
--  * the value 'system' is gone: background work runs as `carego_worker`,
--    inside one facility, with a context signed for that job; the CLI runs
--    as 'operator' on the platform login.

-- Roles. `carego_worker` inherits a facility admin's grants and policies,
-- the reach 'system' had inside a facility, and is never a super admin.
-- `carego_platform` is a login role (NOINHERIT, like carego_app): on an
-- existing server the DBA gives it a password (docs/database.md).
do $$
begin
    if not exists (select from pg_roles where rolname = 'carego_worker') then
        create role carego_worker nologin inherit nosuperuser nobypassrls;
    end if;
    if not exists (select from pg_roles where rolname = 'carego_platform') then
        create role carego_platform login noinherit nosuperuser nobypassrls nocreatedb nocreaterole;
    end if;
    if exists (select from pg_roles where rolname = 'carego_app') then
        revoke carego_super_admin from carego_app;
    end if;
end
$$;
grant carego_facility_admin to carego_worker;
grant carego_super_admin, carego_worker, carego_patient, carego_staff, carego_facility_admin,
      carego_client, carego_student, carego_teacher
   to carego_platform;
grant usage on schema carego to carego_worker, carego_platform;

-- No request role may create objects of its own, temporary ones included:
-- a temporary table would be searched before `public` by any function whose
-- search_path does not name pg_temp last.
do $$
begin
    execute format('revoke temporary on database %I from public', current_database());
end
$$;

-- The signing key: 64 random bytes, kept as HMAC's inner and outer pads.
-- Only the owner reads it. carego.rotate_context_key() replaces it; a
-- transaction in flight then sees no rows and is retried by its client.
create table carego.context_key (
    id          boolean not null default true,
    inner_pad   bytea   not null,
    outer_pad   bytea   not null,
    rotated_at  timestamptz not null default now(),
    constraint context_key_pkey primary key (id),
    constraint context_key_one_check check (id),
    constraint context_key_pads_check check (length(inner_pad) = 64 and length(outer_pad) = 64)
);
revoke all on carego.context_key from public;

create function carego.rotate_context_key() returns void
    language plpgsql
    security definer
    set search_path = pg_catalog, pg_temp
    as $$
declare
    -- gen_random_uuid() draws from the server's strong random source; four
    -- give 488 random bits.
    v_key bytea := decode(replace(gen_random_uuid()::text || gen_random_uuid()::text
                                  || gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex');
    v_inner bytea := v_key;
    v_outer bytea := v_key;
begin
    for i in 0..63 loop
        v_inner := set_byte(v_inner, i, get_byte(v_key, i) # 54);  -- 0x36
        v_outer := set_byte(v_outer, i, get_byte(v_key, i) # 92);  -- 0x5c
    end loop;
    insert into carego.context_key (id, inner_pad, outer_pad) values (true, v_inner, v_outer)
    on conflict (id) do update set inner_pad = excluded.inner_pad, outer_pad = excluded.outer_pad,
                                   rotated_at = now();
end
$$;
select carego.rotate_context_key();

-- HMAC-SHA256 of the context as the settings hold it now, bound to this
-- backend and this transaction. Plain SQL without FROM, so it is inlined
-- into its two callers; every field is coalesced (a NULL would void the
-- whole message) and separated by a byte no value of ours contains.
-- Operators are schema-qualified: its callers run without a SET clause.
create function carego.context_mac(p_inner bytea, p_outer bytea) returns bytea
    language sql
    stable
    parallel restricted
    as $$
    select pg_catalog.sha256(p_outer operator(pg_catalog.||) pg_catalog.sha256(p_inner
        operator(pg_catalog.||) pg_catalog.int4send(pg_catalog.pg_backend_pid())
        operator(pg_catalog.||) pg_catalog.timestamptz_send(pg_catalog.transaction_timestamp())
        operator(pg_catalog.||) pg_catalog.convert_to(pg_catalog.concat_ws(pg_catalog.chr(31),
            coalesce(pg_catalog.current_setting('carego.facility_id', true), ''),
            coalesce(pg_catalog.current_setting('carego.user_id', true), ''),
            coalesce(pg_catalog.current_setting('carego.role', true), ''),
            coalesce(pg_catalog.current_setting('carego.db_role', true), ''),
            coalesce(pg_catalog.current_setting('carego.session_id', true), ''),
            coalesce(pg_catalog.current_setting('carego.scopes', true), '')), 'UTF8')))
$$;

-- Whether the context is the one a prologue verified, and `p_role` (the
-- caller's current_user) the role it was verified for. Inside our own
-- SECURITY DEFINER functions the current user is the owner and the context
-- is their caller's: there only the signature is checked, and such a
-- function trusts the signed application role, never its EXECUTE grant
-- alone. No SET clause (it costs a GUC save and restore on every call,
-- half again the function's cost): every relation, type and operator is
-- schema-qualified instead, and no request role can create an object
-- anywhere (doctor: SEARCH_PATH_BY_DESIGN, temporary_objects_allowed).
create function carego.context_ok(p_role name) returns boolean
    language plpgsql
    stable
    security definer
    parallel restricted
    as $$
declare
    v_sig pg_catalog.text := pg_catalog.current_setting('carego.context', true);
    v_db_role pg_catalog.text := pg_catalog.current_setting('carego.db_role', true);
    k record;
begin
    if v_sig is null or v_db_role is null
       or (p_role operator(pg_catalog.<>) 'carego_owner'::pg_catalog.name
           and p_role::pg_catalog.text operator(pg_catalog.<>) v_db_role) then
        return false;
    end if;
    select c.inner_pad, c.outer_pad into k from carego.context_key c;
    return v_sig operator(pg_catalog.=) pg_catalog.encode(carego.context_mac(k.inner_pad, k.outer_pad), 'hex');
end
$$;

-- Sets and signs a context. Internal: only the verifying functions below
-- call it (no EXECUTE for anyone else). No SET clause, so the settings are
-- the transaction's, not the function's.
create function carego.set_context(
    p_app_role text, p_db_role text, p_facility uuid, p_user uuid, p_session uuid, p_scopes text,
    p_request_id text, p_ip text, p_reason text
) returns void
    language plpgsql
    security definer
    as $$
declare
    k record;
begin
    perform pg_catalog.set_config('carego.role', p_app_role, true);
    perform pg_catalog.set_config('carego.db_role', p_db_role, true);
    perform pg_catalog.set_config('carego.facility_id', coalesce(p_facility::text, ''), true);
    perform pg_catalog.set_config('carego.user_id', coalesce(p_user::text, ''), true);
    perform pg_catalog.set_config('carego.session_id', coalesce(p_session::text, ''), true);
    perform pg_catalog.set_config('carego.scopes', coalesce(p_scopes, ''), true);
    perform pg_catalog.set_config('carego.request_id', coalesce(p_request_id, ''), true);
    perform pg_catalog.set_config('carego.ip', coalesce(p_ip, ''), true);
    perform pg_catalog.set_config('carego.change_reason', coalesce(p_reason, ''), true);
    select c.inner_pad, c.outer_pad into k from carego.context_key c;
    perform pg_catalog.set_config('carego.context',
        pg_catalog.encode(carego.context_mac(k.inner_pad, k.outer_pad), 'hex'), true);
end
$$;

-- The Postgres role of each application role; NULL for anything else.
create function carego.db_role_of(p_app_role text) returns text
    language sql
    immutable
    parallel safe
    as $$
    select case p_app_role
        when 'public' then 'carego_public'
        when 'patient' then 'carego_patient'
        when 'staff' then 'carego_staff'
        when 'facility_admin' then 'carego_facility_admin'
        when 'super_admin' then 'carego_super_admin'
        when 'operator' then 'carego_super_admin'
        when 'client' then 'carego_client'
        when 'student' then 'carego_student'
        when 'teacher' then 'carego_teacher'
        when 'integrator' then 'carego_integrator'
        when 'worker' then 'carego_worker'
    end
$$;

-- Whether this connection logged in as the platform's role (session_user
-- cannot be changed without superuser, whatever SET ROLE does).
create function carego.on_platform_login() returns boolean
    language sql
    stable
    as $$ select pg_catalog.pg_has_role(session_user, 'carego_platform', 'MEMBER') $$;

-- The accessors, verified. Each stays a plain SQL expression the planner
-- inlines; policies still call them as `(select carego.f())`, once per
-- statement.
create or replace function carego.current_facility_id() returns uuid
    language sql stable parallel restricted
    as $$ select case when carego.context_ok(current_user)
                      then nullif(pg_catalog.current_setting('carego.facility_id', true), '')::uuid end $$;

create or replace function carego.current_user_id() returns uuid
    language sql stable parallel restricted
    as $$ select case when carego.context_ok(current_user)
                      then nullif(pg_catalog.current_setting('carego.user_id', true), '')::uuid end $$;

create or replace function carego.current_session_id() returns uuid
    language sql stable parallel restricted
    as $$ select case when carego.context_ok(current_user)
                      then nullif(pg_catalog.current_setting('carego.session_id', true), '')::uuid end $$;

create or replace function carego.current_app_role() returns text
    language sql stable parallel restricted
    as $$ select case when carego.context_ok(current_user)
                      then nullif(pg_catalog.current_setting('carego.role', true), '') end $$;

-- Super admins and the operator's CLI; never the worker.
create or replace function carego.is_super_admin() returns boolean
    language sql stable parallel restricted
    as $$ select coalesce(carego.context_ok(current_user)
                          and pg_catalog.current_setting('carego.role', true) in ('super_admin', 'operator'), false) $$;

create or replace function carego.has_scope(p_scope text) returns boolean
    language sql stable parallel restricted
    as $$
    select coalesce(carego.context_ok(current_user) and p_scope = any (pg_catalog.string_to_array(
        nullif(pg_catalog.current_setting('carego.scopes', true), ''), ' ')), false)
$$;

grant execute on function carego.context_ok(name), carego.current_facility_id(), carego.current_user_id(),
    carego.current_session_id(), carego.current_app_role(), carego.is_super_admin()
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_super_admin,
       carego_integrator, carego_client, carego_student, carego_teacher, carego_worker;

-- A session's context: the session must be live, its user active in an
-- active facility and of the role and facility claimed; for staff-side
-- roles the second factor too (unless the request is one of the few made
-- before it, carego.begin_mfa_request). Super admins only on the platform
-- login. Returns the Postgres role to switch into.
--   CG401 session_invalid / session_required -> 401
--   CG403 account_inactive / facility_suspended / platform_login_required -> 403
create function carego.open_session_context(
    p_app_role text, p_facility uuid, p_user uuid, p_session uuid,
    p_request_id text, p_ip text, p_reason text
) returns text
    language plpgsql
    security definer
    as $$
declare
    v record;
    v_db_role text := carego.db_role_of(p_app_role);
begin
    if p_app_role = 'public' then
        if p_facility is not null or p_user is not null or p_session is not null then
            raise exception 'session_invalid' using errcode = 'CG401';
        end if;
        perform carego.set_context('public', v_db_role, null, null, null, null, p_request_id, p_ip, p_reason);
        return v_db_role;
    end if;
    -- No session, no context.
    if p_session is null or p_user is null or v_db_role is null
       or p_app_role in ('integrator', 'worker', 'operator') then
        raise exception 'session_required' using errcode = 'CG401';
    end if;
    select s.revoked_at, s.expires_at, u.status as user_status, u.role,
           u.facility_id, f.status as facility_status
      into v
      from public.sessions s
      join public.users u on u.id = s.user_id
      left join public.facilities f on f.id = u.facility_id
     where s.id = p_session and s.user_id = p_user;
    if not found or v.revoked_at is not null or v.expires_at <= pg_catalog.now()
       or v.role <> p_app_role or v.facility_id is distinct from p_facility then
        raise exception 'session_invalid' using errcode = 'CG401';
    end if;
    if v.user_status <> 'active' then
        raise exception 'account_inactive' using errcode = 'CG403';
    end if;
    if v.facility_status is distinct from 'active' and v.facility_id is not null then
        raise exception 'facility_suspended' using errcode = 'CG403';
    end if;
    if p_app_role = 'super_admin' and not carego.on_platform_login() then
        raise exception 'platform_login_required' using errcode = 'CG403';
    end if;
    if p_app_role in ('staff', 'facility_admin', 'super_admin')
       and pg_catalog.current_setting('carego.mfa_step', true) is distinct from 'on' then
        perform carego.check_mfa(p_user, p_session);
    end if;
    perform carego.set_context(p_app_role, v_db_role, p_facility, p_user, p_session, null,
                               p_request_id, p_ip, p_reason);
    return v_db_role;
end
$$;

-- The request prologue (the statement src/db/tx.rs sends after BEGIN): the
-- verified, signed context, then the role. SET ROLE cannot happen inside a
-- SECURITY DEFINER function, hence the two halves; the role claimed by the
-- caller must be the one the verified application role maps to.
create or replace function carego.begin_request(
    p_db_role text, p_app_role text, p_facility uuid, p_user uuid, p_session uuid,
    p_request_id text, p_ip text, p_reason text, p_statement_timeout text
) returns void
    language plpgsql
    as $$
declare
    v_db_role text;
begin
    perform pg_catalog.set_config('statement_timeout', p_statement_timeout, true);
    v_db_role := carego.open_session_context(p_app_role, p_facility, p_user, p_session,
                                             p_request_id, p_ip, p_reason);
    if v_db_role is distinct from p_db_role then
        raise exception 'session_invalid' using errcode = 'CG401';
    end if;
    perform pg_catalog.set_config('role', v_db_role, true);
end
$$;

-- A request made with an API key: the key checked (carego.check_api_key),
-- its scopes signed with the rest of the context.
create function carego.open_key_context(
    p_key uuid, p_facility uuid, p_integration uuid, p_scopes text,
    p_request_id text, p_ip text, p_reason text
) returns void
    language plpgsql
    security definer
    as $$
begin
    perform carego.check_api_key(p_key, p_facility, p_integration);
    perform carego.set_context('integrator', 'carego_integrator', p_facility, p_integration, p_key,
                               p_scopes, p_request_id, p_ip, p_reason);
end
$$;

create or replace function carego.begin_key_request(
    p_key uuid, p_facility uuid, p_integration uuid, p_scopes text,
    p_request_id text, p_ip text, p_reason text, p_statement_timeout text
) returns void
    language plpgsql
    as $$
begin
    perform pg_catalog.set_config('statement_timeout', p_statement_timeout, true);
    perform carego.open_key_context(p_key, p_facility, p_integration, p_scopes, p_request_id, p_ip, p_reason);
    perform pg_catalog.set_config('role', 'carego_integrator', true);
end
$$;

-- The operator's CLI, on the platform login only: with no user, the
-- platform-wide 'operator'; with a user (a manifest's care log written in a
-- staff member's name), that user's own role and facility, re-read here.
create function carego.open_operator_context(p_user uuid, p_request_id text, p_reason text) returns text
    language plpgsql
    security definer
    as $$
declare
    v record;
begin
    if not carego.on_platform_login() then
        raise exception 'platform_login_required' using errcode = 'CG403';
    end if;
    if p_user is null then
        perform carego.set_context('operator', 'carego_super_admin', null, null, null, null,
                                   p_request_id, null, p_reason);
        return 'carego_super_admin';
    end if;
    select u.role, u.facility_id into v from public.users u where u.id = p_user and u.status = 'active';
    if not found or carego.db_role_of(v.role) is null or v.role in ('super_admin', 'integrator') then
        raise exception 'account_inactive' using errcode = 'CG403';
    end if;
    perform carego.set_context(v.role, carego.db_role_of(v.role), v.facility_id, p_user, null, null,
                               p_request_id, null, p_reason);
    return carego.db_role_of(v.role);
end
$$;

create function carego.begin_operator_request(p_user uuid, p_request_id text, p_reason text,
                                              p_statement_timeout text)
    returns void
    language plpgsql
    as $$
begin
    perform pg_catalog.set_config('statement_timeout', p_statement_timeout, true);
    perform pg_catalog.set_config('role', carego.open_operator_context(p_user, p_request_id, p_reason), true);
end
$$;

-- A job's context, on the platform login only, for a job this worker holds
-- under a live lease: the job's facility (a platform job, which has none,
-- names the facility it works on now: the document sweep goes facility by
-- facility), as its requester — re-checked: active, in an active facility —
-- or, with `p_as_worker` or when nobody asked for it, as `carego_worker`.
--   CG403 job_not_held / requester_inactive -> the job is skipped
create function carego.open_job_context(p_job bigint, p_worker text, p_facility uuid, p_as_worker boolean,
                                        p_request_id text)
    returns text
    language plpgsql
    security definer
    as $$
declare
    j record;
    u record;
    v_facility uuid;
begin
    if not carego.on_platform_login() then
        raise exception 'platform_login_required' using errcode = 'CG403';
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
$$;

create function carego.begin_job(p_job bigint, p_worker text, p_facility uuid, p_as_worker boolean,
                                 p_request_id text, p_statement_timeout text)
    returns void
    language plpgsql
    as $$
begin
    perform pg_catalog.set_config('statement_timeout', p_statement_timeout, true);
    perform pg_catalog.set_config('role',
        carego.open_job_context(p_job, p_worker, p_facility, p_as_worker, p_request_id), true);
end
$$;

-- The job prologue's old check is part of open_job_context now.
drop function carego.check_job_requester(uuid);

-- Who may call what. The pool's role opens sessions and keys; the platform
-- login opens sessions (super admins), jobs and the operator's CLI, and is
-- alone in driving the queue and the cleanup.
grant execute on function carego.open_session_context(text, uuid, uuid, uuid, text, text, text),
    carego.begin_request(text, text, uuid, uuid, uuid, text, text, text, text),
    carego.begin_mfa_request(text, text, uuid, uuid, uuid, text, text, text, text)
    to carego_platform;
grant execute on function carego.open_operator_context(uuid, text, text),
    carego.begin_operator_request(uuid, text, text, text),
    carego.open_job_context(bigint, text, uuid, boolean, text),
    carego.begin_job(bigint, text, uuid, boolean, text, text),
    carego.claim_jobs(text, integer, interval),
    carego.settle_job(bigint, text, text, text, interval),
    carego.schedule_periodic_jobs(),
    carego.cleanup_expired()
    to carego_platform;
do $$
begin
    if exists (select from pg_roles where rolname = 'carego_app') then
        grant execute on function carego.open_session_context(text, uuid, uuid, uuid, text, text, text),
            carego.open_key_context(uuid, uuid, uuid, text, text, text, text)
            to carego_app;
        revoke execute on function carego.claim_jobs(text, integer, interval),
            carego.settle_job(bigint, text, text, text, interval),
            carego.schedule_periodic_jobs(),
            carego.cleanup_expired()
            from carego_app;
    end if;
end
$$;

-- 'system' becomes 'worker' wherever it was trusted.

-- Escalated only by the worker (the escalation job).
create or replace function carego.crisis_alert_step() returns trigger
    language plpgsql
    as $$
begin
    if (new.facility_id, new.id, new.patient_id, new.raised_by, new.severity, new.location, new.note,
        new.raised_at) is distinct from
       (old.facility_id, old.id, old.patient_id, old.raised_by, old.severity, old.location, old.note,
        old.raised_at)
       or (old.acknowledged_at is not null
           and (new.acknowledged_at, new.acknowledged_by) is distinct from (old.acknowledged_at, old.acknowledged_by))
       or (old.escalated_at is not null and new.escalated_at is distinct from old.escalated_at)
       or (old.resolved_at is not null
           and (new.resolved_at, new.resolved_by, new.resolution)
               is distinct from (old.resolved_at, old.resolved_by, old.resolution))
       or (old.acknowledged_at is null and new.acknowledged_at is not null
           and new.acknowledged_by is distinct from carego.current_user_id())
       or (old.resolved_at is null and new.resolved_by is distinct from carego.current_user_id()
           and new.resolved_at is not null)
       or (old.escalated_at is null and new.escalated_at is not null
           and carego.current_app_role() is distinct from 'worker') then
        raise exception 'a crisis alert''s steps are set once, by the one taking them'
            using errcode = 'CG409';
    end if;
    return new;
end
$$;

-- A pending document fails, and a removed object is marked, only by the worker.
create or replace function carego.document_step() returns trigger
    language plpgsql
    as $$
begin
    if (new.facility_id, new.id, new.patient_id, new.kind, new.title, new.visible_to_patient,
        new.created_by, new.created_at) is distinct from
       (old.facility_id, old.id, old.patient_id, old.kind, old.title, old.visible_to_patient,
        old.created_by, old.created_at)
       or (old.ready_at is not null
           and (new.ready_at, new.object_key, new.content_type, new.size_bytes, new.sha256)
               is distinct from (old.ready_at, old.object_key, old.content_type, old.size_bytes, old.sha256))
       or (old.status = 'deleted'
           and (new.status, new.deleted_at, new.deleted_by) is distinct from (old.status, old.deleted_at, old.deleted_by))
       or (new.status = 'ready' and old.status <> 'pending' and old.status <> 'ready')
       or (new.status = 'pending' and old.status <> 'pending')
       or (old.status = 'failed' and new.status not in ('failed', 'deleted'))
       or (new.status = 'failed' and old.status <> 'failed'
           and (old.status <> 'pending' or carego.current_app_role() is distinct from 'worker'))
       or (old.object_removed_at is not null and new.object_removed_at is distinct from old.object_removed_at)
       or (old.object_removed_at is null and new.object_removed_at is not null
           and carego.current_app_role() is distinct from 'worker') then
        raise exception 'a document''s content is set once and it is deleted once' using errcode = 'CG409';
    end if;
    if old.status <> 'deleted' and new.status = 'deleted' then
        if new.deleted_by is distinct from carego.current_user_id() then
            raise exception 'a document is deleted by the one deleting it' using errcode = 'CG409';
        end if;
        if carego.current_app_role() = 'staff' and old.created_by <> carego.current_user_id() then
            raise exception 'only a facility admin or its creator deletes a document' using errcode = '42501';
        end if;
    end if;
    return new;
end
$$;

-- What the worker needs to send a delivery, and its record of the attempt:
-- only in a worker's context, of the delivery's own facility.
create or replace function carego.webhook_delivery_target(p_delivery uuid)
    returns table (url text, secret_sealed bytea, subscription_id uuid, payload jsonb, status text,
                   active boolean)
    language plpgsql
    stable
    security definer
    set search_path = pg_catalog, public
    as $$
begin
    if carego.current_app_role() is distinct from 'worker' then
        raise exception 'webhook targets are for the job worker' using errcode = '42501';
    end if;
    return query
        select s.url, s.secret_sealed, s.id, d.payload, d.status, s.active
          from webhook_deliveries d
          join webhook_subscriptions s on s.facility_id = d.facility_id and s.id = d.subscription_id
         where d.id = p_delivery and d.facility_id = carego.current_facility_id();
end
$$;

create or replace function carego.webhook_record_attempt(p_delivery uuid, p_status_code integer, p_error text,
                                                         p_outcome text)
    returns void
    language plpgsql
    security definer
    set search_path = pg_catalog, public
    as $$
begin
    if carego.current_app_role() is distinct from 'worker' then
        raise exception 'webhook attempts are recorded by the job worker' using errcode = '42501';
    end if;
    update webhook_deliveries
       set attempts = attempts + case when p_outcome = 'failed' and p_status_code is null and p_error is null
                                      then 0 else 1 end,
           last_status_code = coalesce(p_status_code, last_status_code),
           last_error = case when p_outcome = 'delivered' then null else left(coalesce(p_error, last_error), 500) end,
           last_attempt_at = case when p_status_code is null and p_error is null then last_attempt_at else now() end,
           status = p_outcome,
           delivered_at = case when p_outcome = 'delivered' then now() end
     where id = p_delivery and facility_id = carego.current_facility_id() and status = 'pending';
end
$$;
revoke execute on function carego.webhook_delivery_target(uuid),
    carego.webhook_record_attempt(uuid, integer, text, text)
    from carego_facility_admin, carego_super_admin;
grant execute on function carego.webhook_delivery_target(uuid),
    carego.webhook_record_attempt(uuid, integer, text, text)
    to carego_worker;

-- The daily cleanup, as the worker of the platform (its deletions are
-- audited under that name).
create or replace function carego.cleanup_expired()
    returns table (sessions bigint, registration_keys bigint, jobs bigint, events bigint)
    language plpgsql
    security definer
    set search_path = pg_catalog, public
    as $$
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
$$;
