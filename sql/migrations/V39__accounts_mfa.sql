-- Staff second factor (TOTP) and the session's assurance level.
--
-- One factor per user: the TOTP secret sealed by the server (the key is not
-- in the database), when it was confirmed, the last time step accepted (a
-- code is never accepted twice), and the HMACs of the unused recovery codes.
-- A session records when its second factor was verified
-- (`sessions.mfa_verified_at`); the request prologue refuses a session
-- that needs one and has not (CG403 mfa_required), and, in a facility that
-- requires a second factor of its admins and staff, one whose user has none
-- (CG403 mfa_enrollment_required). The few operations that get a session
-- there (enrolment, verification, the status, logout) begin with
-- carego.begin_mfa_request instead.

alter table sessions add column mfa_verified_at timestamptz;

alter table facilities add column require_mfa boolean not null default false;
-- Facility admins set it for their own facility (super admins for any).
create policy facilities_admin_update on facilities for update to carego_facility_admin
    using (id = (select carego.current_facility_id()))
    with check (id = (select carego.current_facility_id()));
grant update (require_mfa) on facilities to carego_facility_admin;

create table mfa_factors (
    facility_id     uuid,                -- null for a super admin
    user_id         uuid        not null,
    secret_sealed   bytea       not null,
    confirmed_at    timestamptz,
    last_step       bigint,
    recovery_hashes bytea[]     not null default '{}',
    created_at      timestamptz not null default now(),
    constraint mfa_factors_pkey primary key (user_id),
    constraint mfa_factors_facility_user_key unique (facility_id, user_id),
    constraint mfa_factors_user_fkey foreign key (user_id) references users (id),
    constraint mfa_factors_facility_user_fkey foreign key (facility_id, user_id)
        references users (facility_id, id),
    constraint mfa_factors_recovery_hashes_check check (cardinality(recovery_hashes) <= 10)
);

alter table mfa_factors enable row level security;
alter table mfa_factors force row level security;

create policy mfa_factors_facility_isolation on mfa_factors as restrictive for all
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator,
       carego_client, carego_student, carego_teacher
    using (facility_id = (select carego.current_facility_id()));
create policy mfa_factors_super_admin_gate on mfa_factors as restrictive for all to carego_super_admin
    using ((select carego.is_super_admin()));
-- Each user reaches their own factor only; nobody else's, not even an admin.
create policy mfa_factors_self_all on mfa_factors for all
    to carego_staff, carego_facility_admin, carego_super_admin
    using (user_id = (select carego.current_user_id()))
    with check (user_id = (select carego.current_user_id()));
create policy mfa_factors_owner_all on mfa_factors for all to carego_owner using (true) with check (true);

grant select (facility_id, user_id, secret_sealed, confirmed_at, created_at) on mfa_factors
    to carego_staff, carego_facility_admin, carego_super_admin;
grant insert (facility_id, user_id, secret_sealed) on mfa_factors
    to carego_staff, carego_facility_admin, carego_super_admin;
grant update (secret_sealed, created_at) on mfa_factors
    to carego_staff, carego_facility_admin, carego_super_admin;
grant delete on mfa_factors to carego_staff, carego_facility_admin, carego_super_admin;

create trigger mfa_factors_audit after insert or update or delete on mfa_factors
    for each row execute function carego.audit_row('facility_id');

-- The audit trigger strips the sealed secret and the codes' hashes too.
create or replace function carego.audit_row() returns trigger
    language plpgsql
    security definer
    set search_path = pg_catalog, public
    as $$
declare
    v_old jsonb;
    v_new jsonb;
    v_facility text;
begin
    if tg_op in ('UPDATE', 'DELETE') then
        v_old := to_jsonb(old) - 'password_hash' - 'secret_hmac' - 'secret_sealed' - 'recovery_hashes';
    end if;
    if tg_op in ('INSERT', 'UPDATE') then
        v_new := to_jsonb(new) - 'password_hash' - 'secret_hmac' - 'secret_sealed' - 'recovery_hashes';
    end if;
    if tg_op = 'UPDATE' and v_old = v_new then
        return null;
    end if;
    v_facility := coalesce(v_new ->> tg_argv[0], v_old ->> tg_argv[0]);

    -- chain_seq, prev_hash and hash are filled by the audit_log_chain trigger.
    insert into public.audit_log (facility_id, actor_id, actor_role, session_id, action,
                                  entity_type, entity_id, old_values, new_values, reason,
                                  request_id, ip)
    values (v_facility::uuid,
            nullif(current_setting('carego.user_id', true), '')::uuid,
            nullif(current_setting('carego.role', true), ''),
            nullif(current_setting('carego.session_id', true), '')::uuid,
            case tg_op when 'INSERT' then 'create' when 'UPDATE' then 'update' else 'delete' end,
            tg_table_name,
            coalesce(v_new ->> 'id', v_old ->> 'id', v_new ->> 'user_id', v_old ->> 'user_id')::uuid,
            v_old,
            v_new,
            nullif(current_setting('carego.change_reason', true), ''),
            nullif(current_setting('carego.request_id', true), ''),
            nullif(current_setting('carego.ip', true), ''));
    return null;
end
$$;

-- Accepts a second factor for the caller's session, once: a TOTP time step
-- later than the last accepted (confirming the factor if it was pending,
-- with its recovery codes), or an unused recovery code (consumed). Whether
-- it was accepted. The server has checked the code against the secret; this
-- makes acceptance atomic, so two servers cannot both accept one code.
create function carego.mfa_accept(p_step bigint, p_recovery_hash bytea, p_new_recovery_hashes bytea[])
    returns boolean
    language plpgsql
    security definer
    set search_path = pg_catalog, public
    as $$
declare
    v_user uuid := carego.current_user_id();
    v_session uuid := carego.current_session_id();
begin
    if v_user is null or v_session is null then
        return false;
    end if;
    if p_step is not null then
        update mfa_factors
           set last_step = p_step,
               confirmed_at = coalesce(confirmed_at, now()),
               recovery_hashes = case when confirmed_at is null then coalesce(p_new_recovery_hashes, '{}')
                                      else recovery_hashes end
         where user_id = v_user and (last_step is null or last_step < p_step)
           -- Verifying takes a confirmed factor; confirming, a pending one.
           and (confirmed_at is not null) = (p_new_recovery_hashes is null);
    else
        update mfa_factors
           set recovery_hashes = array_remove(recovery_hashes, p_recovery_hash)
         where user_id = v_user and confirmed_at is not null and p_recovery_hash = any (recovery_hashes);
    end if;
    if not found then
        return false;
    end if;
    update sessions set mfa_verified_at = now() where id = v_session and user_id = v_user;
    return true;
end
$$;
grant execute on function carego.mfa_accept(bigint, bytea, bytea[])
    to carego_staff, carego_facility_admin, carego_super_admin;

-- Where the caller's second factor stands.
create function carego.mfa_status()
    returns table (enabled boolean, session_verified boolean, required_by_facility boolean,
                   recovery_codes_left integer)
    language sql
    stable
    security definer
    set search_path = pg_catalog, public
    as $$
    select coalesce(m.confirmed_at is not null, false),
           s.mfa_verified_at is not null,
           coalesce(f.require_mfa and u.role in ('staff', 'facility_admin'), false),
           coalesce(case when m.confirmed_at is not null then cardinality(m.recovery_hashes) end, 0)
      from sessions s
      join users u on u.id = s.user_id
      left join facilities f on f.id = u.facility_id
      left join mfa_factors m on m.user_id = u.id
     where s.id = carego.current_session_id() and s.user_id = carego.current_user_id()
$$;
grant execute on function carego.mfa_status() to carego_staff, carego_facility_admin, carego_super_admin;

-- The prologue's second-factor check (after carego.begin_request's own).
create function carego.check_mfa(p_user uuid, p_session uuid) returns void
    language plpgsql
    stable
    security definer
    set search_path = pg_catalog, public
    as $$
declare
    v record;
begin
    select m.confirmed_at is not null as enabled, s.mfa_verified_at,
           coalesce(f.require_mfa, false) and u.role in ('staff', 'facility_admin') as required
      into v
      from sessions s
      join users u on u.id = s.user_id
      left join facilities f on f.id = u.facility_id
      left join mfa_factors m on m.user_id = u.id
     where s.id = p_session and s.user_id = p_user;
    if not found or v.mfa_verified_at is not null then
        return;
    end if;
    if v.enabled then
        raise exception 'mfa_required' using errcode = 'CG403';
    end if;
    if v.required then
        raise exception 'mfa_enrollment_required' using errcode = 'CG403';
    end if;
end
$$;
grant execute on function carego.check_mfa(uuid, uuid)
    to carego_staff, carego_facility_admin, carego_super_admin;

-- carego.begin_request, and then, for staff, facility admins and super
-- admins, the second factor, unless the request began with
-- carego.begin_mfa_request.
create or replace function carego.begin_request(
    p_db_role text, p_app_role text, p_facility uuid, p_user uuid, p_session uuid,
    p_request_id text, p_ip text, p_reason text, p_statement_timeout text
) returns void
    language plpgsql
    as $$
declare
    v record;
begin
    perform pg_catalog.set_config('statement_timeout', p_statement_timeout, true);
    perform pg_catalog.set_config('carego.role', coalesce(p_app_role, ''), true);
    perform pg_catalog.set_config('carego.facility_id', coalesce(p_facility::text, ''), true);
    perform pg_catalog.set_config('carego.user_id', coalesce(p_user::text, ''), true);
    perform pg_catalog.set_config('carego.session_id', coalesce(p_session::text, ''), true);
    perform pg_catalog.set_config('carego.request_id', coalesce(p_request_id, ''), true);
    perform pg_catalog.set_config('carego.ip', coalesce(p_ip, ''), true);
    perform pg_catalog.set_config('carego.change_reason', coalesce(p_reason, ''), true);
    perform pg_catalog.set_config('role', p_db_role, true);

    if p_session is null then
        return;
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
    if p_app_role in ('staff', 'facility_admin', 'super_admin')
       and pg_catalog.current_setting('carego.mfa_step', true) is distinct from 'on' then
        perform carego.check_mfa(p_user, p_session);
    end if;
end
$$;

-- The prologue of the operations a session reaches before its second
-- factor: the same checks, but not the second factor's.
create function carego.begin_mfa_request(
    p_db_role text, p_app_role text, p_facility uuid, p_user uuid, p_session uuid,
    p_request_id text, p_ip text, p_reason text, p_statement_timeout text
) returns void
    language plpgsql
    as $$
begin
    perform pg_catalog.set_config('carego.mfa_step', 'on', true);
    perform carego.begin_request(p_db_role, p_app_role, p_facility, p_user, p_session,
                                 p_request_id, p_ip, p_reason, p_statement_timeout);
end
$$;

do $$
begin
    if exists (select from pg_roles where rolname = 'carego_app') then
        grant execute on function carego.begin_mfa_request(text, text, uuid, uuid, uuid, text, text, text, text)
            to carego_app;
    end if;
end
$$;
