-- Accounts: logins and sessions, patient registration, role groups, rate limits, second factors, API keys, and whose patients a caller sees (src/db/accounts, src/auth).
--
-- The current definition of every function of this area and who may execute it, and every
-- policy and grant of its tables. `carego migrate` applies this file after the versioned
-- migrations, whenever it or the migrations changed (docs/database.md, "Schema as code").
-- Change a function here, not in a new migration. Each function is followed by its grants:
-- EXECUTE revoked from PUBLIC and every app role, then granted to exactly the roles that call
-- it.

-- carego.admit_api_key(uuid), since V36
CREATE OR REPLACE FUNCTION carego.admit_api_key(p_key uuid)
 RETURNS void
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
declare
    k record;
    v_now timestamptz := now();
    v_minute integer;
    v_day integer;
begin
    select a.facility_id, a.id, a.revoked_at, a.expires_at, a.rate_limit_per_minute, a.daily_quota,
           a.last_used_at
      into k from api_keys a where a.id = p_key;
    if not found or k.revoked_at is not null or k.expires_at <= v_now then
        raise exception 'api_key_invalid' using errcode = 'CGK01';
    end if;
    insert into api_key_usage as u (facility_id, api_key_id, window_kind, window_start, requests)
    values (k.facility_id, k.id, 'minute', date_trunc('minute', v_now), 1)
    on conflict (facility_id, api_key_id, window_kind, window_start)
        do update set requests = u.requests + 1
    returning requests into v_minute;
    if v_minute > k.rate_limit_per_minute then
        raise exception 'rate_limited' using errcode = 'CG429',
            detail = greatest(1, ceil(extract(epoch from date_trunc('minute', v_now) + interval '1 minute' - v_now)))::text;
    end if;
    insert into api_key_usage as u (facility_id, api_key_id, window_kind, window_start, requests)
    values (k.facility_id, k.id, 'day', date_trunc('day', v_now, 'UTC'), 1)
    on conflict (facility_id, api_key_id, window_kind, window_start)
        do update set requests = u.requests + 1
    returning requests into v_day;
    if v_day > k.daily_quota then
        raise exception 'quota_exhausted' using errcode = 'CG429',
            detail = greatest(1, ceil(extract(epoch from date_trunc('day', v_now, 'UTC') + interval '1 day' - v_now)))::text;
    end if;
    -- Once a minute per key: the first request of each new window prunes old
    -- windows and records the last use.
    if v_minute = 1 then
        delete from api_key_usage
         where facility_id = k.facility_id and api_key_id = k.id
           and ((window_kind = 'minute' and window_start < v_now - interval '10 minutes')
             or (window_kind = 'day' and window_start < v_now - interval '2 days'));
        update api_keys set last_used_at = v_now where facility_id = k.facility_id and id = k.id;
    end if;
end
$function$;
revoke all on function carego.admit_api_key(uuid) from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.admit_api_key(uuid) to carego_app;

-- carego.api_key_lookup(bytea), since V36
CREATE OR REPLACE FUNCTION carego.api_key_lookup(p_secret_hmac bytea)
 RETURNS TABLE(id uuid, facility_id uuid, integration_id uuid, scopes text[])
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
    select k.id, k.facility_id, k.integration_id, k.scopes
      from public.api_keys k
     where k.secret_hmac = p_secret_hmac and k.revoked_at is null and k.expires_at > now()
$function$;
revoke all on function carego.api_key_lookup(bytea) from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.api_key_lookup(bytea) to carego_public;

-- carego.apply_role_groups(), since V44
CREATE OR REPLACE FUNCTION carego.apply_role_groups()
 RETURNS integer
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'public'
AS $function$
declare
    p record;
    v_roles name[];
    v_done integer := 0;
begin
    for p in
        select pol.polname, pol.polrelid, c.relname, pol.polroles
          from pg_policy pol join pg_class c on c.oid = pol.polrelid
          join pg_namespace n on n.oid = c.relnamespace
         where n.nspname = 'public' and not pol.polpermissive and pol.polname like '%\_facility\_isolation'
    loop
        -- The tenant group, and whoever the policy named beyond it (the
        -- super admin on idempotency_keys, whose rows follow its facility).
        v_roles := array(
            select r from unnest(carego.role_group('tenant')) r
             where not exists (select 1 from pg_policy o
                                where o.polrelid = p.polrelid and not o.polpermissive
                                  and o.polname <> p.polname
                                  and (select oid from pg_roles where rolname = r) = any (o.polroles))
            union
            select ro.rolname from pg_roles ro where ro.oid = any (p.polroles));
        execute format('alter policy %I on public.%I to %s', p.polname, p.relname,
                       (select string_agg(quote_ident(r), ', ') from unnest(v_roles) r));
        v_done := v_done + 1;
    end loop;
    return v_done;
end
$function$;
revoke all on function carego.apply_role_groups() from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;

-- carego.assigned_patient_ids(), since V50
CREATE OR REPLACE FUNCTION carego.assigned_patient_ids()
 RETURNS uuid[]
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
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
$function$;
revoke all on function carego.assigned_patient_ids() from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.assigned_patient_ids() to carego_staff;

-- carego.auth_login_candidate(text,text), since V46
CREATE OR REPLACE FUNCTION carego.auth_login_candidate(p_email text, p_phone text)
 RETURNS TABLE(user_id uuid, password_params text)
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
    select u.id, substring(u.password_hash from '^(.*)\$[^$]*$')
      from public.users u
     where (p_email is not null and u.email = p_email)
        or (p_phone is not null and u.phone = p_phone)
     limit 1
$function$;
revoke all on function carego.auth_login_candidate(text,text) from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.auth_login_candidate(text,text) to carego_public;

-- carego.auth_open_session(uuid,text,bytea,interval,text,text), since V5
CREATE OR REPLACE FUNCTION carego.auth_open_session(p_user uuid, p_password_hash text, p_refresh_hash bytea, p_ttl interval, p_user_agent text, p_ip text)
 RETURNS TABLE(outcome text, session_id uuid, expires_at timestamp with time zone, role text, facility_id uuid)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
#variable_conflict use_column
declare
    v_user record;
    v_session uuid;
    v_expires timestamptz := now() + p_ttl;
begin
    select u.id, u.role, u.facility_id, u.status, u.password_hash, f.status as facility_status
      into v_user
      from public.users u
      left join public.facilities f on f.id = u.facility_id
     where u.id = p_user;
    if not found or v_user.password_hash is null or p_password_hash is null
       or v_user.password_hash <> p_password_hash then
        return query select 'invalid'::text, null::uuid, null::timestamptz, null::text, null::uuid;
        return;
    end if;
    if v_user.status <> 'active' then
        return query select v_user.status, null::uuid, null::timestamptz, v_user.role, v_user.facility_id;
        return;
    end if;
    if v_user.facility_id is not null and v_user.facility_status is distinct from 'active' then
        return query select 'facility_suspended'::text, null::uuid, null::timestamptz, v_user.role,
                            v_user.facility_id;
        return;
    end if;
    -- The audit trigger attributes the new session to the user logging in.
    perform set_config('carego.user_id', v_user.id::text, true);
    perform set_config('carego.role', v_user.role, true);
    insert into public.sessions (facility_id, user_id, expires_at, user_agent, ip)
    values (v_user.facility_id, v_user.id, v_expires, left(p_user_agent, 300), p_ip)
    returning id into v_session;
    perform set_config('carego.session_id', v_session::text, true);
    insert into public.refresh_tokens (token_hash, session_id) values (p_refresh_hash, v_session);
    return query select 'opened'::text, v_session, v_expires, v_user.role, v_user.facility_id;
end
$function$;
revoke all on function carego.auth_open_session(uuid,text,bytea,interval,text,text) from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.auth_open_session(uuid,text,bytea,interval,text,text) to carego_public;

-- carego.auth_register_patient(bytea,text,text,text), since V7
CREATE OR REPLACE FUNCTION carego.auth_register_patient(p_key_hash bytea, p_password_hash text, p_email text, p_phone text)
 RETURNS TABLE(outcome text, user_id uuid, facility_id uuid)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
#variable_conflict use_column
declare
    v record;
    v_user uuid;
begin
    select k.facility_id, k.id, k.patient_id, p.first_name, p.last_name, p.user_id as existing
      into v
      from public.registration_keys k
      join public.patients p on p.facility_id = k.facility_id and p.id = k.patient_id
     where k.key_hash = p_key_hash
       and k.used_at is null and k.revoked_at is null and k.expires_at > now()
       and p.deleted_at is null
       for update of k, p;
    if not found or v.existing is not null then
        return query select 'invalid'::text, null::uuid, null::uuid;
        return;
    end if;

    perform set_config('carego.facility_id', v.facility_id::text, true);
    perform set_config('carego.role', 'patient', true);
    insert into public.users (facility_id, email, phone, password_hash, password_changed_at,
                              role, status, first_name, last_name)
    values (v.facility_id, p_email, p_phone, p_password_hash, now(), 'patient', 'active',
            v.first_name, v.last_name)
    returning id into v_user;
    perform set_config('carego.user_id', v_user::text, true);
    update public.patients set user_id = v_user where facility_id = v.facility_id and id = v.patient_id;
    update public.registration_keys set used_at = now() where facility_id = v.facility_id and id = v.id;
    return query select 'registered'::text, v_user, v.facility_id;
end
$function$;
revoke all on function carego.auth_register_patient(bytea,text,text,text) from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.auth_register_patient(bytea,text,text,text) to carego_public;

-- carego.auth_rotate_refresh(bytea,bytea,interval), since V5
CREATE OR REPLACE FUNCTION carego.auth_rotate_refresh(p_old_hash bytea, p_new_hash bytea, p_grace interval)
 RETURNS TABLE(outcome text, session_id uuid, user_id uuid, role text, facility_id uuid)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
#variable_conflict use_column
declare
    v record;
begin
    select t.used_at, s.id as sid, s.revoked_at, s.expires_at, u.id as uid, u.role as urole,
           u.status as ustatus, u.facility_id as fid, f.status as fstatus
      into v
      from public.refresh_tokens t
      join public.sessions s on s.id = t.session_id
      join public.users u on u.id = s.user_id
      left join public.facilities f on f.id = u.facility_id
     where t.token_hash = p_old_hash
       for update of t, s;

    if not found or v.revoked_at is not null or v.expires_at <= now() then
        return query select 'invalid'::text, null::uuid, null::uuid, null::text, null::uuid;
        return;
    end if;

    perform set_config('carego.user_id', v.uid::text, true);
    perform set_config('carego.role', v.urole, true);
    perform set_config('carego.session_id', v.sid::text, true);

    if v.used_at is not null then
        if v.used_at > now() - p_grace then
            return query select 'superseded'::text, v.sid, v.uid, v.urole, v.fid;
            return;
        end if;
        perform set_config('carego.change_reason', 'refresh token reuse detected', true);
        update public.sessions
           set revoked_at = now(), revoked_reason = 'refresh_token_reuse'
         where id = v.sid;
        return query select 'reused'::text, v.sid, v.uid, v.urole, v.fid;
        return;
    end if;
    if v.ustatus <> 'active' then
        return query select 'inactive'::text, v.sid, v.uid, v.urole, v.fid;
        return;
    end if;
    if v.fid is not null and v.fstatus <> 'active' then
        return query select 'facility_suspended'::text, v.sid, v.uid, v.urole, v.fid;
        return;
    end if;

    update public.refresh_tokens set used_at = now() where token_hash = p_old_hash;
    insert into public.refresh_tokens (token_hash, session_id) values (p_new_hash, v.sid);
    return query select 'rotated'::text, v.sid, v.uid, v.urole, v.fid;
end
$function$;
revoke all on function carego.auth_rotate_refresh(bytea,bytea,interval) from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.auth_rotate_refresh(bytea,bytea,interval) to carego_public;

-- carego.client_patient_ids(), since V34
CREATE OR REPLACE FUNCTION carego.client_patient_ids()
 RETURNS uuid[]
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
declare
    v_ids uuid[];
begin
    if not carego.context_ok(current_user)
       or current_setting('carego.role', true) is distinct from 'client' then
        return '{}';
    end if;
    select coalesce(array_agg(l.patient_id), '{}') into v_ids
      from public.client_care_recipients l
     where l.facility_id = nullif(current_setting('carego.facility_id', true), '')::uuid
       and l.client_id = nullif(current_setting('carego.user_id', true), '')::uuid;
    return v_ids;
end
$function$;
revoke all on function carego.client_patient_ids() from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.client_patient_ids() to carego_client;

-- carego.grant_to_group(text,text), since V46
CREATE OR REPLACE FUNCTION carego.grant_to_group(p_privilege text, p_group text)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog'
AS $function$
declare
    r name;
begin
    foreach r in array carego.role_group(p_group) loop
        execute format('grant %s to %I', p_privilege, r);
    end loop;
end
$function$;
revoke all on function carego.grant_to_group(text,text) from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;

-- carego.hit_rate_limit(text,bytea,integer,integer), since V37
CREATE OR REPLACE FUNCTION carego.hit_rate_limit(p_bucket text, p_key bytea, p_limit integer, p_window_secs integer)
 RETURNS void
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
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
$function$;
revoke all on function carego.hit_rate_limit(text,bytea,integer,integer) from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.hit_rate_limit(text,bytea,integer,integer) to carego_app;

-- carego.mfa_attempt(bigint,bytea,bytea[]), since V47
CREATE OR REPLACE FUNCTION carego.mfa_attempt(p_step bigint, p_recovery_hash bytea, p_new_recovery_hashes bytea[])
 RETURNS text
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
declare
    v_user uuid := carego.current_user_id();
    v_session uuid := carego.current_session_id();
    v record;
    v_locked timestamptz;
begin
    if v_user is null or v_session is null then
        return 'rejected';
    end if;
    select m.confirmed_at, m.last_step, m.locked_at, m.recovery_hashes into v
      from mfa_factors m where m.user_id = v_user for update;
    if not found then
        return 'rejected';
    end if;
    if v.locked_at is not null and p_recovery_hash is null then
        return 'locked';
    end if;
    if p_step is not null and (v.last_step is null or v.last_step < p_step)
       -- Verifying takes a confirmed factor; confirming, a pending one.
       and (v.confirmed_at is not null) = (p_new_recovery_hashes is null) then
        update mfa_factors
           set last_step = p_step,
               confirmed_at = coalesce(confirmed_at, now()),
               recovery_hashes = case when confirmed_at is null then coalesce(p_new_recovery_hashes, '{}')
                                      else recovery_hashes end,
               failed_attempts = 0
         where user_id = v_user;
    elsif p_recovery_hash is not null and v.confirmed_at is not null
          and p_recovery_hash = any (v.recovery_hashes) then
        update mfa_factors
           set recovery_hashes = array_remove(recovery_hashes, p_recovery_hash),
               failed_attempts = 0,
               locked_at = null
         where user_id = v_user;
    else
        update mfa_factors
           set failed_attempts = failed_attempts + 1,
               locked_at = case when failed_attempts + 1 >= 100 then coalesce(locked_at, now()) end
         where user_id = v_user
        returning locked_at into v_locked;
        return case when v_locked is not null then 'locked' else 'rejected' end;
    end if;
    update sessions set mfa_verified_at = now() where id = v_session and user_id = v_user;
    return 'accepted';
end
$function$;
revoke all on function carego.mfa_attempt(bigint,bytea,bytea[]) from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.mfa_attempt(bigint,bytea,bytea[]) to carego_staff, carego_facility_admin, carego_super_admin;

-- carego.mfa_status(), since V39
CREATE OR REPLACE FUNCTION carego.mfa_status()
 RETURNS TABLE(enabled boolean, session_verified boolean, required_by_facility boolean, recovery_codes_left integer, locked boolean)
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
    select coalesce(m.confirmed_at is not null, false),
           s.mfa_verified_at is not null,
           coalesce(f.require_mfa and u.role in ('staff', 'facility_admin'), false),
           coalesce(case when m.confirmed_at is not null then cardinality(m.recovery_hashes) end, 0),
           m.locked_at is not null
      from sessions s
      join users u on u.id = s.user_id
      left join facilities f on f.id = u.facility_id
      left join mfa_factors m on m.user_id = u.id
     where s.id = carego.current_session_id() and s.user_id = carego.current_user_id()
$function$;
revoke all on function carego.mfa_status() from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.mfa_status() to carego_staff, carego_facility_admin, carego_super_admin;

-- carego.mfa_unlock(uuid), since V47
CREATE OR REPLACE FUNCTION carego.mfa_unlock(p_user uuid)
 RETURNS text
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
declare
    v_facility uuid;
begin
    select u.facility_id into v_facility from users u
     where u.id = p_user
       and (carego.is_super_admin()
            or (carego.current_app_role() = 'facility_admin' and u.facility_id = carego.current_facility_id()));
    if not found then
        return 'not_found';
    end if;
    perform set_config('carego.change_reason', 'second factor unlocked by an admin', true);
    update mfa_factors set locked_at = null, failed_attempts = 0 where user_id = p_user;
    return case when found then 'unlocked' else 'no_factor' end;
end
$function$;
revoke all on function carego.mfa_unlock(uuid) from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.mfa_unlock(uuid) to carego_facility_admin, carego_super_admin;

-- carego.own_password_matches(text), since V46
CREATE OR REPLACE FUNCTION carego.own_password_matches(p_hash text)
 RETURNS boolean
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
    select coalesce((select u.password_hash = p_hash from public.users u
                      where u.id = carego.current_user_id()), false)
$function$;
revoke all on function carego.own_password_matches(text) from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.own_password_matches(text) to carego_patient, carego_staff, carego_facility_admin, carego_client, carego_student, carego_teacher, carego_super_admin;

-- carego.own_password_params(), since V46
CREATE OR REPLACE FUNCTION carego.own_password_params()
 RETURNS text
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
    select substring(u.password_hash from '^(.*)\$[^$]*$')
      from public.users u where u.id = carego.current_user_id()
$function$;
revoke all on function carego.own_password_params() from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.own_password_params() to carego_patient, carego_staff, carego_facility_admin, carego_client, carego_student, carego_teacher, carego_super_admin;

-- carego.revoke_sessions_on_user_change(), since V5
CREATE OR REPLACE FUNCTION carego.revoke_sessions_on_user_change()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
begin
    if new.status <> 'active' or new.role <> old.role
       or new.facility_id is distinct from old.facility_id then
        update public.sessions
           set revoked_at = now(),
               revoked_reason = case when new.status <> 'active' then 'account_' || new.status
                                     else 'role_changed' end
         where user_id = new.id and revoked_at is null;
    end if;
    return null;
end
$function$;
revoke all on function carego.revoke_sessions_on_user_change() from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;

-- carego.role_group(text), since V44
CREATE OR REPLACE FUNCTION carego.role_group(p_group text)
 RETURNS name[]
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
AS $function$
    select case p_group
        when 'tenant' then array['carego_public', 'carego_patient', 'carego_staff', 'carego_facility_admin',
                                 'carego_integrator', 'carego_client', 'carego_student', 'carego_teacher',
                                 'carego_worker']::name[]
        when 'request' then array['carego_public', 'carego_patient', 'carego_staff', 'carego_facility_admin',
                                  'carego_integrator', 'carego_client', 'carego_student', 'carego_teacher',
                                  'carego_worker', 'carego_super_admin']::name[]
    end
$function$;
revoke all on function carego.role_group(text) from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;

-- Role memberships: which request roles each login role may switch into, and what the worker
-- inherits (V1, V29, V31, V41). Creating a role is history (a migration); who belongs to whom
-- is this list. A membership in a request role, or of one, that the list does not hold is
-- revoked (the owner's own are left alone: roles are cluster-wide, it created them), then
-- every one the list holds is granted. The pool's `carego_app` never reaches
-- `carego_super_admin` or `carego_worker` (V41); the platform's `carego_platform` never acts
-- as the public or a partner.
do $$
declare
    v_members constant jsonb := '{
        "carego_app":      ["carego_public", "carego_patient", "carego_staff", "carego_facility_admin", "carego_integrator", "carego_client", "carego_student", "carego_teacher"],
        "carego_platform": ["carego_patient", "carego_staff", "carego_facility_admin", "carego_client", "carego_student", "carego_teacher", "carego_worker", "carego_super_admin"],
        "carego_worker":   ["carego_facility_admin"]
    }';
    m record;
begin
    for m in
        select distinct g.rolname as role_name, u.rolname as member_name
          from pg_auth_members a
          join pg_roles g on g.oid = a.roleid
          join pg_roles u on u.oid = a.member
         where (g.rolname = any (carego.role_group('request')) or u.rolname = any (carego.role_group('request')))
           and u.rolname <> 'carego_owner'
           and not coalesce(v_members -> u.rolname::text ? g.rolname::text, false)
    loop
        execute format('revoke %I from %I', m.role_name, m.member_name);
    end loop;
    for m in
        select e.key as member_name, r.value as role_name
          from jsonb_each(v_members) e cross join jsonb_array_elements_text(e.value) r
         where not exists (select 1 from pg_auth_members a
                            where a.roleid = r.value::regrole and a.member = e.key::regrole)
    loop
        execute format('grant %I to %I', m.role_name, m.member_name);
    end loop;
end
$$;

-- Policies and grants, table by table. Each policy is dropped if it exists and created again.
-- A policy taken out of this file is not dropped by it (a wall must never vanish by omission):
-- drop it in a migration. After the files, `carego migrate` widens every facility wall to the
-- whole tenant group (`carego.apply_role_groups`, V44). A table's grants start from none:
-- every app role's privileges on it and its columns are revoked, then granted as written, so
-- a grant taken out of this file is gone after the next apply.

-- api_key_usage, since V36
drop policy if exists api_key_usage_facility_isolation on public.api_key_usage;
create policy api_key_usage_facility_isolation on public.api_key_usage as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_public, carego_staff, carego_student, carego_teacher, carego_worker
    using ((facility_id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists api_key_usage_super_admin_gate on public.api_key_usage;
create policy api_key_usage_super_admin_gate on public.api_key_usage as restrictive for all to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists api_key_usage_owner_all on public.api_key_usage;
create policy api_key_usage_owner_all on public.api_key_usage as permissive for all to carego_owner
    using (true)
    with check (true);
revoke all on table public.api_key_usage from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;

-- api_keys, since V36
drop policy if exists api_keys_facility_isolation on public.api_keys;
create policy api_keys_facility_isolation on public.api_keys as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_public, carego_staff, carego_student, carego_teacher, carego_worker
    using ((facility_id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists api_keys_super_admin_gate on public.api_keys;
create policy api_keys_super_admin_gate on public.api_keys as restrictive for all to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists api_keys_admin_insert on public.api_keys;
create policy api_keys_admin_insert on public.api_keys as permissive for insert to carego_facility_admin, carego_super_admin
    with check ((revoked_at IS NULL));
drop policy if exists api_keys_admin_select on public.api_keys;
create policy api_keys_admin_select on public.api_keys as permissive for select to carego_facility_admin, carego_super_admin
    using (true);
drop policy if exists api_keys_admin_update on public.api_keys;
create policy api_keys_admin_update on public.api_keys as permissive for update to carego_facility_admin, carego_super_admin
    using (true)
    with check (true);
drop policy if exists api_keys_owner_all on public.api_keys;
create policy api_keys_owner_all on public.api_keys as permissive for all to carego_owner
    using (true)
    with check (true);
revoke all on table public.api_keys from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant select (facility_id, id, integration_id, name, prefix, scopes, rate_limit_per_minute, daily_quota, expires_at, rotated_from, created_by, created_at, revoked_at, revoked_by, last_used_at),
      insert (facility_id, integration_id, name, prefix, secret_hmac, scopes, rate_limit_per_minute, daily_quota, expires_at, rotated_from, created_by),
      update (expires_at, revoked_at, revoked_by)
   on table public.api_keys to carego_facility_admin, carego_super_admin;

-- client_care_recipients, since V34
drop policy if exists client_care_recipients_facility_isolation on public.client_care_recipients;
create policy client_care_recipients_facility_isolation on public.client_care_recipients as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_public, carego_staff, carego_student, carego_teacher, carego_worker
    using ((facility_id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists client_care_recipients_super_admin_gate on public.client_care_recipients;
create policy client_care_recipients_super_admin_gate on public.client_care_recipients as restrictive for all to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists client_care_recipients_admin_insert on public.client_care_recipients;
create policy client_care_recipients_admin_insert on public.client_care_recipients as permissive for insert to carego_facility_admin
    with check (true);
drop policy if exists client_care_recipients_admin_select on public.client_care_recipients;
create policy client_care_recipients_admin_select on public.client_care_recipients as permissive for select to carego_facility_admin, carego_super_admin
    using (true);
drop policy if exists client_care_recipients_owner_select on public.client_care_recipients;
create policy client_care_recipients_owner_select on public.client_care_recipients as permissive for select to carego_owner
    using (true);
drop policy if exists client_care_recipients_self_select on public.client_care_recipients;
create policy client_care_recipients_self_select on public.client_care_recipients as permissive for select to carego_client
    using ((client_id = ( SELECT carego.current_user_id() AS current_user_id)));
revoke all on table public.client_care_recipients from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant select,
      insert (facility_id, client_id, patient_id)
   on table public.client_care_recipients to carego_facility_admin;
grant select on table public.client_care_recipients to carego_client, carego_super_admin;

-- client_profiles, since V29
drop policy if exists client_profiles_facility_isolation on public.client_profiles;
create policy client_profiles_facility_isolation on public.client_profiles as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_public, carego_staff, carego_student, carego_teacher, carego_worker
    using ((facility_id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists client_profiles_super_admin_gate on public.client_profiles;
create policy client_profiles_super_admin_gate on public.client_profiles as restrictive for all to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists client_profiles_admin_insert on public.client_profiles;
create policy client_profiles_admin_insert on public.client_profiles as permissive for insert to carego_facility_admin, carego_super_admin
    with check (true);
drop policy if exists client_profiles_admin_select on public.client_profiles;
create policy client_profiles_admin_select on public.client_profiles as permissive for select to carego_facility_admin, carego_super_admin
    using (true);
drop policy if exists client_profiles_admin_update on public.client_profiles;
create policy client_profiles_admin_update on public.client_profiles as permissive for update to carego_facility_admin, carego_super_admin
    using (true)
    with check (true);
drop policy if exists client_profiles_self_select on public.client_profiles;
create policy client_profiles_self_select on public.client_profiles as permissive for select to carego_client
    using ((user_id = ( SELECT carego.current_user_id() AS current_user_id)));
revoke all on table public.client_profiles from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant select,
      insert (facility_id, user_id, care_recipient_name, care_recipient_relation, care_recipient_born_on, care_needs, address, city_id, preferred_language),
      update (care_recipient_name, care_recipient_relation, care_recipient_born_on, care_needs, address, city_id, preferred_language)
   on table public.client_profiles to carego_facility_admin, carego_super_admin;
grant select on table public.client_profiles to carego_client;

-- facilities, since V3
drop policy if exists facilities_facility_isolation on public.facilities;
create policy facilities_facility_isolation on public.facilities as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_staff, carego_student, carego_teacher, carego_worker
    using ((id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists facilities_public_publishing on public.facilities;
create policy facilities_public_publishing on public.facilities as restrictive for all to carego_public
    using (((status = 'active'::text) AND ((EXISTS ( SELECT 1
   FROM services s
  WHERE (s.facility_id = facilities.id))) OR (EXISTS ( SELECT 1
   FROM courses c
  WHERE (c.facility_id = facilities.id))))));
drop policy if exists facilities_super_admin_gate on public.facilities;
create policy facilities_super_admin_gate on public.facilities as restrictive for all to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists facilities_admin_update on public.facilities;
create policy facilities_admin_update on public.facilities as permissive for update to carego_facility_admin
    using ((id = ( SELECT carego.current_facility_id() AS current_facility_id)))
    with check ((id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists facilities_member_select on public.facilities;
create policy facilities_member_select on public.facilities as permissive for select to carego_client, carego_facility_admin, carego_patient, carego_staff, carego_student, carego_super_admin, carego_teacher
    using (true);
drop policy if exists facilities_owner_select on public.facilities;
create policy facilities_owner_select on public.facilities as permissive for select to carego_owner
    using (true);
drop policy if exists facilities_public_select on public.facilities;
create policy facilities_public_select on public.facilities as permissive for select to carego_public
    using (true);
drop policy if exists facilities_super_admin_insert on public.facilities;
create policy facilities_super_admin_insert on public.facilities as permissive for insert to carego_super_admin
    with check (true);
drop policy if exists facilities_super_admin_update on public.facilities;
create policy facilities_super_admin_update on public.facilities as permissive for update to carego_super_admin
    using (true)
    with check (true);
revoke all on table public.facilities from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant select (id, slug, name, kind, phone, email)
   on table public.facilities to carego_public;
grant select on table public.facilities to carego_patient, carego_staff, carego_client, carego_student, carego_teacher;
grant select,
      update (require_mfa)
   on table public.facilities to carego_facility_admin;
grant select, insert, update on table public.facilities to carego_super_admin;

-- mfa_factors, since V39
drop policy if exists mfa_factors_facility_isolation on public.mfa_factors;
create policy mfa_factors_facility_isolation on public.mfa_factors as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_public, carego_staff, carego_student, carego_teacher, carego_worker
    using ((facility_id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists mfa_factors_super_admin_gate on public.mfa_factors;
create policy mfa_factors_super_admin_gate on public.mfa_factors as restrictive for all to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists mfa_factors_owner_all on public.mfa_factors;
create policy mfa_factors_owner_all on public.mfa_factors as permissive for all to carego_owner
    using (true)
    with check (true);
drop policy if exists mfa_factors_self_all on public.mfa_factors;
create policy mfa_factors_self_all on public.mfa_factors as permissive for all to carego_facility_admin, carego_staff, carego_super_admin
    using ((user_id = ( SELECT carego.current_user_id() AS current_user_id)))
    with check ((user_id = ( SELECT carego.current_user_id() AS current_user_id)));
revoke all on table public.mfa_factors from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant delete,
      select (facility_id, user_id, secret_sealed, confirmed_at, created_at),
      insert (facility_id, user_id, secret_sealed),
      update (secret_sealed, created_at)
   on table public.mfa_factors to carego_staff, carego_facility_admin, carego_super_admin;

-- rate_limit_hits, since V37
drop policy if exists rate_limit_hits_owner_all on public.rate_limit_hits;
create policy rate_limit_hits_owner_all on public.rate_limit_hits as permissive for all to carego_owner
    using (true)
    with check (true);
revoke all on table public.rate_limit_hits from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;

-- refresh_tokens, since V5
drop policy if exists refresh_tokens_owner_all on public.refresh_tokens;
create policy refresh_tokens_owner_all on public.refresh_tokens as permissive for all to carego_owner
    using (true)
    with check (true);
revoke all on table public.refresh_tokens from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;

-- registration_keys, since V7
drop policy if exists registration_keys_facility_isolation on public.registration_keys;
create policy registration_keys_facility_isolation on public.registration_keys as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_public, carego_staff, carego_student, carego_teacher, carego_worker
    using ((facility_id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists registration_keys_super_admin_gate on public.registration_keys;
create policy registration_keys_super_admin_gate on public.registration_keys as restrictive for all to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists registration_keys_admin_all on public.registration_keys;
create policy registration_keys_admin_all on public.registration_keys as permissive for all to carego_facility_admin, carego_super_admin
    using (true)
    with check (true);
drop policy if exists registration_keys_caseload_all on public.registration_keys;
create policy registration_keys_caseload_all on public.registration_keys as permissive for all to carego_staff
    using ((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])))
    with check ((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])));
drop policy if exists registration_keys_integrator_insert on public.registration_keys;
create policy registration_keys_integrator_insert on public.registration_keys as permissive for insert to carego_integrator
    with check (( SELECT carego.has_scope('patients:write'::text) AS has_scope));
drop policy if exists registration_keys_integrator_select on public.registration_keys;
create policy registration_keys_integrator_select on public.registration_keys as permissive for select to carego_integrator
    using (( SELECT carego.has_scope('patients:write'::text) AS has_scope));
drop policy if exists registration_keys_owner_all on public.registration_keys;
create policy registration_keys_owner_all on public.registration_keys as permissive for all to carego_owner
    using (true)
    with check (true);
revoke all on table public.registration_keys from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant select (facility_id, id, patient_id, expires_at, created_by, created_at, used_at, revoked_at),
      insert (facility_id, patient_id, key_hash, expires_at, created_by),
      update (revoked_at)
   on table public.registration_keys to carego_staff, carego_facility_admin, carego_super_admin;
grant select (facility_id, id, patient_id, expires_at, created_by, created_at, used_at, revoked_at),
      insert (facility_id, patient_id, key_hash, expires_at, created_by)
   on table public.registration_keys to carego_integrator;

-- sessions, since V5
drop policy if exists sessions_facility_isolation on public.sessions;
create policy sessions_facility_isolation on public.sessions as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_public, carego_staff, carego_student, carego_teacher, carego_worker
    using ((facility_id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists sessions_super_admin_gate on public.sessions;
create policy sessions_super_admin_gate on public.sessions as restrictive for all to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists sessions_owner_all on public.sessions;
create policy sessions_owner_all on public.sessions as permissive for all to carego_owner
    using (true)
    with check (true);
drop policy if exists sessions_self_select on public.sessions;
create policy sessions_self_select on public.sessions as permissive for select to carego_client, carego_facility_admin, carego_patient, carego_staff, carego_student, carego_super_admin, carego_teacher
    using ((user_id = ( SELECT carego.current_user_id() AS current_user_id)));
drop policy if exists sessions_self_update on public.sessions;
create policy sessions_self_update on public.sessions as permissive for update to carego_client, carego_facility_admin, carego_patient, carego_staff, carego_student, carego_super_admin, carego_teacher
    using ((user_id = ( SELECT carego.current_user_id() AS current_user_id)))
    with check ((user_id = ( SELECT carego.current_user_id() AS current_user_id)));
revoke all on table public.sessions from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant select,
      update (revoked_at, revoked_reason)
   on table public.sessions to carego_patient, carego_staff, carego_facility_admin, carego_client, carego_student, carego_teacher, carego_super_admin;

-- staff_profiles, since V35
drop policy if exists staff_profiles_facility_isolation on public.staff_profiles;
create policy staff_profiles_facility_isolation on public.staff_profiles as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_public, carego_staff, carego_student, carego_teacher, carego_worker
    using ((facility_id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists staff_profiles_super_admin_gate on public.staff_profiles;
create policy staff_profiles_super_admin_gate on public.staff_profiles as restrictive for all to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists staff_profiles_admin_all on public.staff_profiles;
create policy staff_profiles_admin_all on public.staff_profiles as permissive for all to carego_facility_admin, carego_super_admin
    using (true)
    with check (true);
drop policy if exists staff_profiles_self_select on public.staff_profiles;
create policy staff_profiles_self_select on public.staff_profiles as permissive for select to carego_staff
    using ((user_id = ( SELECT carego.current_user_id() AS current_user_id)));
revoke all on table public.staff_profiles from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant select on table public.staff_profiles to carego_staff;
grant select,
      insert (facility_id, user_id, skills, certifications, languages, availability),
      update (skills, certifications, languages, availability)
   on table public.staff_profiles to carego_facility_admin, carego_super_admin;

-- student_profiles, since V29
drop policy if exists student_profiles_facility_isolation on public.student_profiles;
create policy student_profiles_facility_isolation on public.student_profiles as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_public, carego_staff, carego_student, carego_teacher, carego_worker
    using ((facility_id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists student_profiles_super_admin_gate on public.student_profiles;
create policy student_profiles_super_admin_gate on public.student_profiles as restrictive for all to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists student_profiles_admin_insert on public.student_profiles;
create policy student_profiles_admin_insert on public.student_profiles as permissive for insert to carego_facility_admin, carego_super_admin
    with check (true);
drop policy if exists student_profiles_admin_select on public.student_profiles;
create policy student_profiles_admin_select on public.student_profiles as permissive for select to carego_facility_admin, carego_super_admin
    using (true);
drop policy if exists student_profiles_admin_update on public.student_profiles;
create policy student_profiles_admin_update on public.student_profiles as permissive for update to carego_facility_admin, carego_super_admin
    using (true)
    with check (true);
drop policy if exists student_profiles_self_select on public.student_profiles;
create policy student_profiles_self_select on public.student_profiles as permissive for select to carego_student
    using ((user_id = ( SELECT carego.current_user_id() AS current_user_id)));
drop policy if exists student_profiles_teacher_select on public.student_profiles;
create policy student_profiles_teacher_select on public.student_profiles as permissive for select to carego_teacher
    using ((EXISTS ( SELECT 1
   FROM enrollments e
  WHERE ((e.facility_id = student_profiles.facility_id) AND (e.student_id = student_profiles.user_id)))));
revoke all on table public.student_profiles from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant select,
      insert (facility_id, user_id, born_on, education, guardian_name, guardian_phone, city_id),
      update (born_on, education, guardian_name, guardian_phone, city_id)
   on table public.student_profiles to carego_facility_admin, carego_super_admin;
grant select on table public.student_profiles to carego_student, carego_teacher;

-- users, since V4
drop policy if exists users_facility_isolation on public.users;
create policy users_facility_isolation on public.users as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_public, carego_staff, carego_student, carego_teacher, carego_worker
    using ((facility_id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists users_super_admin_gate on public.users;
create policy users_super_admin_gate on public.users as restrictive for all to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists users_admin_insert on public.users;
create policy users_admin_insert on public.users as permissive for insert to carego_facility_admin
    with check ((role = ANY (ARRAY['facility_admin'::text, 'staff'::text, 'client'::text, 'student'::text, 'teacher'::text])));
drop policy if exists users_admin_insert_integration on public.users;
create policy users_admin_insert_integration on public.users as permissive for insert to carego_facility_admin
    with check ((role = 'integrator'::text));
drop policy if exists users_admin_select on public.users;
create policy users_admin_select on public.users as permissive for select to carego_facility_admin, carego_super_admin
    using (true);
drop policy if exists users_admin_update on public.users;
create policy users_admin_update on public.users as permissive for update to carego_facility_admin
    using ((role = ANY (ARRAY['facility_admin'::text, 'staff'::text, 'client'::text, 'student'::text, 'teacher'::text])))
    with check ((role = ANY (ARRAY['facility_admin'::text, 'staff'::text, 'client'::text, 'student'::text, 'teacher'::text])));
drop policy if exists users_owner_insert on public.users;
create policy users_owner_insert on public.users as permissive for insert to carego_owner
    with check ((role = 'patient'::text));
drop policy if exists users_owner_select on public.users;
create policy users_owner_select on public.users as permissive for select to carego_owner
    using (true);
drop policy if exists users_owner_update on public.users;
create policy users_owner_update on public.users as permissive for update to carego_owner
    using (true)
    with check (true);
drop policy if exists users_self_select on public.users;
create policy users_self_select on public.users as permissive for select to carego_client, carego_patient, carego_staff, carego_student, carego_teacher
    using ((id = ( SELECT carego.current_user_id() AS current_user_id)));
drop policy if exists users_self_update on public.users;
create policy users_self_update on public.users as permissive for update to carego_client, carego_patient, carego_staff, carego_student, carego_teacher
    using ((id = ( SELECT carego.current_user_id() AS current_user_id)))
    with check ((id = ( SELECT carego.current_user_id() AS current_user_id)));
drop policy if exists users_super_admin_insert on public.users;
create policy users_super_admin_insert on public.users as permissive for insert to carego_super_admin
    with check (true);
drop policy if exists users_super_admin_update on public.users;
create policy users_super_admin_update on public.users as permissive for update to carego_super_admin
    using (true)
    with check (true);
revoke all on table public.users from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant select (id, facility_id, email, phone, role, status, status_reason, first_name, last_name, job_title, password_changed_at, created_at, updated_at, on_call),
      update (password_hash, password_changed_at)
   on table public.users to carego_patient, carego_staff, carego_client, carego_student, carego_teacher;
grant insert,
      select (id, facility_id, email, phone, role, status, status_reason, first_name, last_name, job_title, password_changed_at, created_at, updated_at, on_call),
      update (email, phone, password_hash, role, status, status_reason, first_name, last_name, job_title, password_changed_at, on_call)
   on table public.users to carego_facility_admin, carego_super_admin;

-- carego.secret_columns, since V46: which columns are secret is not itself a secret, and every
-- request role reads it (carego.strip_secrets). V46 revoked it from PUBLIC.
revoke all on table carego.secret_columns from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant select on table carego.secret_columns to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin;

-- carego.secret_column_sets, since V52: the registry by table.
revoke all on table carego.secret_column_sets from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant select on table carego.secret_column_sets to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin;
