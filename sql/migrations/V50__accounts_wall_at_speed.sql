-- The wall at speed (issue 21): the causes of the trust model's cost, each
-- found with pg_stat_statements (track = all, track_planning = on) and
-- EXPLAIN on the benchmark's data; docs/performance.md has the figures.

-- 1. The audit chain's head in four buffers, not the facility's history.
--
-- Under forced row security the trigger's `where coalesce(facility_id, …) = …
-- order by chain_seq desc limit 1` could not use the ordered index: the
-- planner does not treat a COALESCE qual under a security barrier as fixing
-- the index's first column, so it read every row of the facility's chain
-- and sorted them (900 buffers, 5-10 ms at 4 000 rows, growing forever).
-- Ordering by the index's whole key lets it walk the index backwards. The
-- same statement also decides how long the chain lock is held.
create or replace function carego.audit_chain() returns trigger
    language plpgsql
    set search_path = pg_catalog, public
    as $$
declare
    v_prev record;
begin
    perform pg_advisory_xact_lock(hashtextextended(
        'carego.audit:' || coalesce(new.facility_id::text, 'platform'), 0));
    select a.chain_seq, a.hash into v_prev
      from public.audit_log a
     where coalesce(a.facility_id, '00000000-0000-0000-0000-000000000000'::uuid)
           = coalesce(new.facility_id, '00000000-0000-0000-0000-000000000000'::uuid)
     order by coalesce(a.facility_id, '00000000-0000-0000-0000-000000000000'::uuid) desc,
              a.chain_seq desc
     limit 1;
    new.chain_seq := coalesce(v_prev.chain_seq, 0) + 1;
    new.prev_hash := coalesce(v_prev.hash, '\x'::bytea);
    new.hash := sha256(new.prev_hash || convert_to(carego.audit_canonical(new), 'UTF8'));
    return new;
end
$$;

-- The canonical text of a row was a SQL function with a SET clause, which
-- PostgreSQL never inlines: its body was parsed and planned again for every
-- audit row (0.2 ms). As PL/pgSQL its expression is planned once per
-- connection. Same text, same hashes: audit_verify agrees with old rows.
create or replace function carego.audit_canonical(a audit_log) returns text
    language plpgsql immutable parallel safe
    set search_path = pg_catalog, public
    as $$
begin
    return jsonb_build_array(a.id, a.facility_id, a.chain_seq, a.actor_id, a.actor_role,
                             a.session_id, a.action, a.entity_type, a.entity_id, a.old_values,
                             a.new_values, a.reason, a.request_id, a.ip,
                             (extract(epoch from a.created_at) * 1000000)::bigint)::text;
end
$$;

-- 2. The signature check is planned once per connection, not once per call.
--
-- context_ok had no SET clause (to save a setting's save and restore), so
-- its two statements were planned under its caller's search_path. A cached
-- plan is re-analysed and re-planned whenever the search_path differs from
-- the one it was made under, and context_ok is called both from statements
-- (the default path) and from SECURITY DEFINER functions that set
-- `pg_catalog, public`: every request re-planned it twice (0.16 ms each),
-- which is what made "the first verification of a statement" cost ten
-- times the rest. Its own path costs about 20 µs a call (docs/performance.md),
-- far less than the two re-plans.
alter function carego.context_ok(name) set search_path = pg_catalog, pg_temp;

-- 3. The patients policy asks only what it needs.
--
-- A staff member sees a patient they counsel or are assigned to. The policy
-- tested the counsellor itself and then called visible_patient_ids(), which
-- finds the counselled patients again and joins every assignment back to
-- patients to drop deleted ones (about 100 buffers for a caseload of 26).
-- On patients the row's own `deleted_at is null` does that, so this policy
-- needs only the open assignments: one index-only range scan.
-- visible_patient_ids() stays for the tables that hang off a patient.
create function carego.assigned_patient_ids() returns uuid[]
    language plpgsql
    stable
    security definer
    set search_path = pg_catalog, public
    as $$
declare
    v_ids uuid[];
begin
    if not carego.context_ok(current_user)
       or current_setting('carego.role', true) is distinct from 'staff' then
        return '{}';
    end if;
    select coalesce(array_agg(a.patient_id), '{}') into v_ids
      from public.assignments a
     where a.facility_id = nullif(current_setting('carego.facility_id', true), '')::uuid
       and a.staff_id = nullif(current_setting('carego.user_id', true), '')::uuid
       and a.ended_at is null;
    return v_ids;
end
$$;
grant execute on function carego.assigned_patient_ids() to carego_staff;

drop policy patients_caseload_select on patients;
create policy patients_caseload_select on patients for select
    to carego_staff
    using (deleted_at is null
           and (primary_counsellor_id = (select carego.current_user_id())
                or id = any ((select carego.assigned_patient_ids())::uuid[])));
drop policy patients_caseload_update on patients;
create policy patients_caseload_update on patients for update
    to carego_staff
    using (deleted_at is null
           and (primary_counsellor_id = (select carego.current_user_id())
                or id = any ((select carego.assigned_patient_ids())::uuid[])))
    with check (deleted_at is null);

-- 4. One query opens a session's context.
--
-- The prologue read the session, account and facility, then called
-- carego.check_mfa, a second SECURITY DEFINER function that joined the same
-- three rows again with the second factor; and set_context ran eleven
-- statements. Now the second factor comes with the first read, and the
-- settings are made in one statement and signed in a second. The checks
-- and their order are unchanged.
create or replace function carego.set_context(
    p_app_role text, p_db_role text, p_facility uuid, p_user uuid, p_session uuid, p_scopes text,
    p_request_id text, p_ip text, p_reason text
) returns void
    language plpgsql
    security definer
    as $$
declare
    k record;
begin
    perform pg_catalog.set_config('carego.role', p_app_role, true),
            pg_catalog.set_config('carego.db_role', p_db_role, true),
            pg_catalog.set_config('carego.facility_id', coalesce(p_facility::text, ''), true),
            pg_catalog.set_config('carego.user_id', coalesce(p_user::text, ''), true),
            pg_catalog.set_config('carego.session_id', coalesce(p_session::text, ''), true),
            pg_catalog.set_config('carego.scopes', coalesce(p_scopes, ''), true),
            pg_catalog.set_config('carego.request_id', coalesce(p_request_id, ''), true),
            pg_catalog.set_config('carego.ip', coalesce(p_ip, ''), true),
            pg_catalog.set_config('carego.change_reason', coalesce(p_reason, ''), true);
    -- A statement of its own: the signature covers the settings just made.
    select c.inner_pad, c.outer_pad into k from carego.context_key c;
    perform pg_catalog.set_config('carego.context',
        pg_catalog.encode(carego.context_mac(k.inner_pad, k.outer_pad), 'hex'), true);
end
$$;

create or replace function carego.open_session_context(
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
    select s.revoked_at, s.expires_at, s.mfa_verified_at, u.status as user_status, u.role,
           u.facility_id, f.status as facility_status, coalesce(f.require_mfa, false) as require_mfa,
           m.confirmed_at is not null as mfa_enabled
      into v
      from public.sessions s
      join public.users u on u.id = s.user_id
      left join public.facilities f on f.id = u.facility_id
      left join public.mfa_factors m on m.user_id = u.id
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
    -- The second factor (was carego.check_mfa): a session that has not
    -- passed it reaches only the operations that begin with
    -- carego.begin_mfa_request.
    if p_app_role in ('staff', 'facility_admin', 'super_admin')
       and pg_catalog.current_setting('carego.mfa_step', true) is distinct from 'on'
       and v.mfa_verified_at is null then
        if v.mfa_enabled then
            raise exception 'mfa_required' using errcode = 'CG403';
        end if;
        if v.require_mfa and v.role in ('staff', 'facility_admin') then
            raise exception 'mfa_enrollment_required' using errcode = 'CG403';
        end if;
    end if;
    perform carego.set_context(p_app_role, v_db_role, p_facility, p_user, p_session, null,
                               p_request_id, p_ip, p_reason);
    return v_db_role;
end
$$;
