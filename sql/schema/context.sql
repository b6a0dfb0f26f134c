-- The request context: the prologues that open a transaction's context after verifying what vouches for it (session, API key, operator, job), its signature, and the accessors policies read (src/db/tx.rs, src/identity.rs; docs/security.md).
--
-- The current definition of every function of this area and who may execute it, and the grants
-- of the schema `carego` and of the signing key. `carego migrate` applies this file after the
-- versioned migrations, whenever it or the migrations changed (docs/database.md, "Schema as
-- code"). Change a function here, not in a new migration. Each function is followed by its
-- grants: EXECUTE revoked from PUBLIC and every app role, then granted to exactly the roles
-- that call it.

-- carego.begin_key_request(uuid,uuid,uuid,text,text,text,text,text), since V36
CREATE OR REPLACE FUNCTION carego.begin_key_request(p_key uuid, p_facility uuid, p_integration uuid, p_scopes text, p_request_id text, p_ip text, p_reason text, p_statement_timeout text)
 RETURNS void
 LANGUAGE plpgsql
AS $function$
begin
    perform pg_catalog.set_config('statement_timeout', p_statement_timeout, true),
            pg_catalog.set_config('plan_cache_mode', 'force_generic_plan', true);
    perform carego.open_key_context(p_key, p_facility, p_integration, p_scopes, p_request_id, p_ip, p_reason);
    perform pg_catalog.set_config('role', 'carego_integrator', true);
end
$function$;
revoke all on function carego.begin_key_request(uuid,uuid,uuid,text,text,text,text,text) from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.begin_key_request(uuid,uuid,uuid,text,text,text,text,text) to carego_app;

-- carego.begin_mfa_request(text,text,uuid,uuid,uuid,text,text,text,text), since V39
CREATE OR REPLACE FUNCTION carego.begin_mfa_request(p_db_role text, p_app_role text, p_facility uuid, p_user uuid, p_session uuid, p_request_id text, p_ip text, p_reason text, p_statement_timeout text)
 RETURNS void
 LANGUAGE plpgsql
AS $function$
begin
    perform pg_catalog.set_config('carego.mfa_step', 'on', true);
    perform carego.begin_request(p_db_role, p_app_role, p_facility, p_user, p_session,
                                 p_request_id, p_ip, p_reason, p_statement_timeout);
end
$function$;
revoke all on function carego.begin_mfa_request(text,text,uuid,uuid,uuid,text,text,text,text) from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.begin_mfa_request(text,text,uuid,uuid,uuid,text,text,text,text) to carego_app, carego_platform;

-- carego.begin_operator_request(uuid,text,text,text), since V41
CREATE OR REPLACE FUNCTION carego.begin_operator_request(p_user uuid, p_request_id text, p_reason text, p_statement_timeout text)
 RETURNS void
 LANGUAGE plpgsql
AS $function$
begin
    perform pg_catalog.set_config('statement_timeout', p_statement_timeout, true),
            pg_catalog.set_config('plan_cache_mode', 'force_generic_plan', true);
    perform pg_catalog.set_config('role', carego.open_operator_context(p_user, p_request_id, p_reason), true);
end
$function$;
revoke all on function carego.begin_operator_request(uuid,text,text,text) from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.begin_operator_request(uuid,text,text,text) to carego_platform;

-- carego.begin_request(text,text,uuid,uuid,uuid,text,text,text,text), since V5
CREATE OR REPLACE FUNCTION carego.begin_request(p_db_role text, p_app_role text, p_facility uuid, p_user uuid, p_session uuid, p_request_id text, p_ip text, p_reason text, p_statement_timeout text)
 RETURNS void
 LANGUAGE plpgsql
AS $function$
declare
    v_db_role text;
begin
    perform pg_catalog.set_config('statement_timeout', p_statement_timeout, true),
            pg_catalog.set_config('plan_cache_mode', 'force_generic_plan', true);
    v_db_role := carego.open_session_context(p_app_role, p_facility, p_user, p_session,
                                             p_request_id, p_ip, p_reason);
    if v_db_role is distinct from p_db_role then
        raise exception 'session_invalid' using errcode = 'CG401';
    end if;
    perform pg_catalog.set_config('role', v_db_role, true);
end
$function$;
revoke all on function carego.begin_request(text,text,uuid,uuid,uuid,text,text,text,text) from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.begin_request(text,text,uuid,uuid,uuid,text,text,text,text) to carego_app, carego_platform;

-- carego.check_api_key(uuid,uuid,uuid), since V36
CREATE OR REPLACE FUNCTION carego.check_api_key(p_key uuid, p_facility uuid, p_integration uuid)
 RETURNS void
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
declare
    v record;
begin
    select k.revoked_at, k.expires_at, u.status as user_status, f.status as facility_status
      into v
      from api_keys k
      join users u on u.facility_id = k.facility_id and u.id = k.integration_id
      join facilities f on f.id = k.facility_id
     where k.id = p_key and k.facility_id = p_facility and k.integration_id = p_integration;
    if not found or v.revoked_at is not null or v.expires_at <= now() then
        raise exception 'api_key_invalid' using errcode = 'CGK01';
    end if;
    if v.user_status <> 'active' then
        raise exception 'account_inactive' using errcode = 'CG403';
    end if;
    if v.facility_status <> 'active' then
        raise exception 'facility_suspended' using errcode = 'CGF03';
    end if;
end
$function$;
revoke all on function carego.check_api_key(uuid,uuid,uuid) from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.check_api_key(uuid,uuid,uuid) to carego_app;

-- carego.check_mfa(uuid,uuid), since V39
CREATE OR REPLACE FUNCTION carego.check_mfa(p_user uuid, p_session uuid)
 RETURNS void
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
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
        raise exception 'mfa_required' using errcode = 'CGM03';
    end if;
    if v.required then
        raise exception 'mfa_enrollment_required' using errcode = 'CGE03';
    end if;
end
$function$;
revoke all on function carego.check_mfa(uuid,uuid) from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.check_mfa(uuid,uuid) to carego_staff, carego_facility_admin, carego_super_admin;

-- carego.context_mac(bytea,bytea), since V41
CREATE OR REPLACE FUNCTION carego.context_mac(p_inner bytea, p_outer bytea)
 RETURNS bytea
 LANGUAGE sql
 STABLE PARALLEL RESTRICTED
AS $function$
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
$function$;
revoke all on function carego.context_mac(bytea,bytea) from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;

-- carego.context_ok(name), since V41
CREATE OR REPLACE FUNCTION carego.context_ok(p_role name)
 RETURNS boolean
 LANGUAGE plpgsql
 STABLE PARALLEL RESTRICTED SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$;
revoke all on function carego.context_ok(name) from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.context_ok(name) to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin;

-- carego.current_app_role(), since V1
CREATE OR REPLACE FUNCTION carego.current_app_role()
 RETURNS text
 LANGUAGE sql
 STABLE PARALLEL RESTRICTED
AS $function$ select case when carego.context_ok(current_user)
                      then nullif(pg_catalog.current_setting('carego.role', true), '') end $function$;
revoke all on function carego.current_app_role() from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.current_app_role() to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin;

-- carego.current_facility_id(), since V1
CREATE OR REPLACE FUNCTION carego.current_facility_id()
 RETURNS uuid
 LANGUAGE sql
 STABLE PARALLEL RESTRICTED
AS $function$ select case when carego.context_ok(current_user)
                      then nullif(pg_catalog.current_setting('carego.facility_id', true), '')::uuid end $function$;
revoke all on function carego.current_facility_id() from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.current_facility_id() to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin;

-- carego.current_session_id(), since V1
CREATE OR REPLACE FUNCTION carego.current_session_id()
 RETURNS uuid
 LANGUAGE sql
 STABLE PARALLEL RESTRICTED
AS $function$ select case when carego.context_ok(current_user)
                      then nullif(pg_catalog.current_setting('carego.session_id', true), '')::uuid end $function$;
revoke all on function carego.current_session_id() from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.current_session_id() to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin;

-- carego.current_user_id(), since V1
CREATE OR REPLACE FUNCTION carego.current_user_id()
 RETURNS uuid
 LANGUAGE sql
 STABLE PARALLEL RESTRICTED
AS $function$ select case when carego.context_ok(current_user)
                      then nullif(pg_catalog.current_setting('carego.user_id', true), '')::uuid end $function$;
revoke all on function carego.current_user_id() from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.current_user_id() to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin;

-- carego.db_role_of(text), since V41
CREATE OR REPLACE FUNCTION carego.db_role_of(p_app_role text)
 RETURNS text
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
AS $function$
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
$function$;
revoke all on function carego.db_role_of(text) from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;

-- carego.has_scope(text), since V36
CREATE OR REPLACE FUNCTION carego.has_scope(p_scope text)
 RETURNS boolean
 LANGUAGE sql
 STABLE PARALLEL RESTRICTED
AS $function$
    select coalesce(carego.context_ok(current_user) and p_scope = any (pg_catalog.string_to_array(
        nullif(pg_catalog.current_setting('carego.scopes', true), ''), ' ')), false)
$function$;
revoke all on function carego.has_scope(text) from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.has_scope(text) to carego_integrator;

-- carego.is_super_admin(), since V1
CREATE OR REPLACE FUNCTION carego.is_super_admin()
 RETURNS boolean
 LANGUAGE sql
 STABLE PARALLEL RESTRICTED
AS $function$ select coalesce(carego.context_ok(current_user)
                          and pg_catalog.current_setting('carego.role', true) in ('super_admin', 'operator'), false) $function$;
revoke all on function carego.is_super_admin() from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.is_super_admin() to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin;

-- carego.on_platform_login(), since V41
CREATE OR REPLACE FUNCTION carego.on_platform_login()
 RETURNS boolean
 LANGUAGE sql
 STABLE
AS $function$ select pg_catalog.pg_has_role(session_user, 'carego_platform', 'MEMBER') $function$;
revoke all on function carego.on_platform_login() from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;

-- carego.open_key_context(uuid,uuid,uuid,text,text,text,text), since V41
CREATE OR REPLACE FUNCTION carego.open_key_context(p_key uuid, p_facility uuid, p_integration uuid, p_scopes text, p_request_id text, p_ip text, p_reason text)
 RETURNS void
 LANGUAGE plpgsql
 SECURITY DEFINER
AS $function$
begin
    perform carego.check_api_key(p_key, p_facility, p_integration);
    perform carego.set_context('integrator', 'carego_integrator', p_facility, p_integration, p_key,
                               p_scopes, p_request_id, p_ip, p_reason);
end
$function$;
revoke all on function carego.open_key_context(uuid,uuid,uuid,text,text,text,text) from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.open_key_context(uuid,uuid,uuid,text,text,text,text) to carego_app;

-- carego.open_operator_context(uuid,text,text), since V41
CREATE OR REPLACE FUNCTION carego.open_operator_context(p_user uuid, p_request_id text, p_reason text)
 RETURNS text
 LANGUAGE plpgsql
 SECURITY DEFINER
AS $function$
declare
    v record;
begin
    if not carego.on_platform_login() then
        raise exception 'platform_login_required' using errcode = 'CGP03';
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
$function$;
revoke all on function carego.open_operator_context(uuid,text,text) from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.open_operator_context(uuid,text,text) to carego_platform;

-- carego.open_session_context(text,uuid,uuid,uuid,text,text,text), since V41
CREATE OR REPLACE FUNCTION carego.open_session_context(p_app_role text, p_facility uuid, p_user uuid, p_session uuid, p_request_id text, p_ip text, p_reason text)
 RETURNS text
 LANGUAGE plpgsql
 SECURITY DEFINER
AS $function$
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
        raise exception 'facility_suspended' using errcode = 'CGF03';
    end if;
    if p_app_role = 'super_admin' and not carego.on_platform_login() then
        raise exception 'platform_login_required' using errcode = 'CGP03';
    end if;
    -- The second factor (was carego.check_mfa): a session that has not
    -- passed it reaches only the operations that begin with
    -- carego.begin_mfa_request.
    if p_app_role in ('staff', 'facility_admin', 'super_admin')
       and pg_catalog.current_setting('carego.mfa_step', true) is distinct from 'on'
       and v.mfa_verified_at is null then
        if v.mfa_enabled then
            raise exception 'mfa_required' using errcode = 'CGM03';
        end if;
        if v.require_mfa and v.role in ('staff', 'facility_admin') then
            raise exception 'mfa_enrollment_required' using errcode = 'CGE03';
        end if;
    end if;
    perform carego.set_context(p_app_role, v_db_role, p_facility, p_user, p_session, null,
                               p_request_id, p_ip, p_reason);
    return v_db_role;
end
$function$;
revoke all on function carego.open_session_context(text,uuid,uuid,uuid,text,text,text) from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.open_session_context(text,uuid,uuid,uuid,text,text,text) to carego_app, carego_platform;

-- carego.rotate_context_key(), since V41
CREATE OR REPLACE FUNCTION carego.rotate_context_key()
 RETURNS void
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$;
revoke all on function carego.rotate_context_key() from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;

-- carego.set_context(text,text,uuid,uuid,uuid,text,text,text,text), since V41
CREATE OR REPLACE FUNCTION carego.set_context(p_app_role text, p_db_role text, p_facility uuid, p_user uuid, p_session uuid, p_scopes text, p_request_id text, p_ip text, p_reason text)
 RETURNS void
 LANGUAGE plpgsql
 SECURITY DEFINER
AS $function$
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
$function$;
revoke all on function carego.set_context(text,text,uuid,uuid,uuid,text,text,text,text) from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;

-- The schema's grants and the signing key's, each from none: every app role's privileges are
-- revoked, then granted as written, so a grant taken out of this file is gone after the next
-- apply.

-- schema carego, since V1: every request role and both login roles call its functions.
revoke all on schema carego from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant usage on schema carego to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;

-- carego.context_key, since V41: the signing key, the owner's alone (V41 revoked it from PUBLIC).
revoke all on table carego.context_key from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
