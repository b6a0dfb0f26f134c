-- The audit log: the trigger that writes every change, the per-facility hash chain, audited reads, and stripping secrets from what is recorded (src/db/audit.rs).
--
-- The current definition of every function of this area and who may execute it, and every
-- policy and grant of its tables. `carego migrate` applies this file after the versioned
-- migrations, whenever it or the migrations changed (docs/database.md, "Schema as code").
-- Change a function here, not in a new migration. Each function is followed by its grants:
-- EXECUTE revoked from PUBLIC and every app role, then granted to exactly the roles that call
-- it.

-- carego.audit_canonical(jsonb), since V55
-- The row as jsonb, not as `audit_log`: on a Citus shard the chain trigger's row is of the
-- shard's type. The text is the one V2 defined from the row itself.
CREATE OR REPLACE FUNCTION carego.audit_canonical(a jsonb)
 RETURNS text
 LANGUAGE plpgsql
 STABLE PARALLEL SAFE
 SET search_path TO 'pg_catalog', 'public'
AS $function$
declare
    v jsonb := jsonb_build_array(a -> 'id', a -> 'facility_id', a -> 'chain_seq', a -> 'actor_id',
                                 a -> 'actor_role', a -> 'session_id', a -> 'action', a -> 'entity_type',
                                 a -> 'entity_id', a -> 'old_values', a -> 'new_values', a -> 'reason',
                                 a -> 'request_id', a -> 'ip',
                                 (extract(epoch from (a ->> 'created_at')::timestamptz) * 1000000)::bigint);
begin
    if (a ->> 'chain_lane')::smallint <> 0 then
        v := v || (a -> 'chain_lane');
    end if;
    return v::text;
end
$function$;
revoke all on function carego.audit_canonical(jsonb) from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.audit_canonical(jsonb) to carego_facility_admin, carego_super_admin;

-- carego.audit_chain(), since V2
CREATE OR REPLACE FUNCTION carego.audit_chain()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'public'
AS $function$
declare
    v_prev record;
    v_lane smallint := case when new.action = 'read' then 1 + pg_backend_pid() % 64 else 0 end;
begin
    new.chain_lane := v_lane;
    perform pg_advisory_xact_lock(hashtextextended(
        'carego.audit:' || coalesce(new.facility_id::text, 'platform')
        || case when v_lane = 0 then '' else ':' || v_lane end, 0));
    select a.chain_seq, a.hash into v_prev
      from public.audit_log a
     where coalesce(a.facility_id, '00000000-0000-0000-0000-000000000000'::uuid)
           = coalesce(new.facility_id, '00000000-0000-0000-0000-000000000000'::uuid)
       and a.chain_lane = v_lane
     order by coalesce(a.facility_id, '00000000-0000-0000-0000-000000000000'::uuid) desc,
              a.chain_lane desc, a.chain_seq desc
     limit 1;
    new.chain_seq := coalesce(v_prev.chain_seq, 0) + 1;
    new.prev_hash := coalesce(v_prev.hash, '\x'::bytea);
    new.hash := sha256(new.prev_hash || convert_to(carego.audit_canonical(to_jsonb(new)), 'UTF8'));
    return new;
end
$function$;
revoke all on function carego.audit_chain() from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;

-- carego.audit_download(uuid,uuid), since V26
CREATE OR REPLACE FUNCTION carego.audit_download(p_document uuid, p_facility uuid)
 RETURNS boolean
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
begin
    if p_facility is distinct from carego.current_facility_id() and not carego.is_super_admin() then
        raise exception 'audit_download: not your facility' using errcode = '42501';
    end if;
    insert into public.audit_log (facility_id, actor_id, actor_role, session_id, action,
                                  entity_type, entity_id, request_id, ip)
    values (p_facility, carego.current_user_id(), carego.current_app_role(),
            carego.current_session_id(), 'read', 'documents', p_document,
            nullif(current_setting('carego.request_id', true), ''),
            nullif(current_setting('carego.ip', true), ''));
    return true;
end
$function$;
revoke all on function carego.audit_download(uuid,uuid) from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.audit_download(uuid,uuid) to carego_patient, carego_staff, carego_facility_admin, carego_super_admin;

-- carego.audit_read(text,uuid,uuid), since V6
CREATE OR REPLACE FUNCTION carego.audit_read(p_entity_type text, p_entity_id uuid, p_facility uuid)
 RETURNS boolean
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
declare
    v_ok boolean := carego.context_ok(current_user);
    v_role text := case when v_ok then current_setting('carego.role', true) end;
    v_facility uuid := case when v_ok then nullif(current_setting('carego.facility_id', true), '')::uuid end;
begin
    if p_facility is distinct from v_facility and v_role is distinct from 'super_admin'
       and v_role is distinct from 'operator' then
        raise exception 'audit_read: not your facility' using errcode = '42501';
    end if;
    if v_role in ('staff', 'facility_admin', 'super_admin', 'integrator') then
        insert into public.audit_log (facility_id, actor_id, actor_role, session_id, action,
                                      entity_type, entity_id, request_id, ip)
        values (p_facility, nullif(current_setting('carego.user_id', true), '')::uuid, v_role,
                nullif(current_setting('carego.session_id', true), '')::uuid, 'read', p_entity_type,
                p_entity_id, nullif(current_setting('carego.request_id', true), ''),
                nullif(current_setting('carego.ip', true), ''));
    end if;
    return true;
end
$function$;
revoke all on function carego.audit_read(text,uuid,uuid) from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.audit_read(text,uuid,uuid) to carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_super_admin;

-- carego.audit_reads(text,uuid[]), since V45
CREATE OR REPLACE FUNCTION carego.audit_reads(p_entity_type text, p_ids uuid[])
 RETURNS boolean
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
declare
    v_role text;
begin
    if cardinality(p_ids) > 0 and carego.context_ok(current_user) then
        v_role := current_setting('carego.role', true);
        if v_role in ('staff', 'facility_admin', 'super_admin', 'integrator', 'teacher') then
            insert into public.audit_log (facility_id, actor_id, actor_role, session_id, action,
                                          entity_type, entity_id, new_values, request_id, ip)
            values (nullif(current_setting('carego.facility_id', true), '')::uuid,
                    nullif(current_setting('carego.user_id', true), '')::uuid, v_role,
                    nullif(current_setting('carego.session_id', true), '')::uuid, 'read', p_entity_type,
                    case when cardinality(p_ids) = 1 then p_ids[1] end,
                    jsonb_build_object('ids', to_jsonb(p_ids)),
                    nullif(current_setting('carego.request_id', true), ''),
                    nullif(current_setting('carego.ip', true), ''));
        end if;
    end if;
    return true;
end
$function$;
revoke all on function carego.audit_reads(text,uuid[]) from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.audit_reads(text,uuid[]) to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin;

-- carego.audit_row(), since V2
-- Attached as `carego.audit_row('<column holding the facility id>', '<the table>')` (V55): the
-- entry names, and the secrets registry is read for, the table the trigger was created on. On a
-- Citus shard `tg_table_name` is the shard's name, which the registry does not know.
CREATE OR REPLACE FUNCTION carego.audit_row()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
declare
    v_table text := tg_argv[1];
    v_old jsonb;
    v_new jsonb;
    v_facility text;
    v_actor uuid;
    v_role text;
    v_session uuid;
begin
    if v_table is null then
        raise exception 'the audit trigger on % needs the table''s name as its second argument', tg_table_name;
    end if;
    if tg_op in ('UPDATE', 'DELETE') then
        v_old := carego.strip_secrets(v_table, to_jsonb(old));
    end if;
    if tg_op in ('INSERT', 'UPDATE') then
        v_new := carego.strip_secrets(v_table, to_jsonb(new));
    end if;
    if tg_op = 'UPDATE' and v_old = v_new then
        return null;
    end if;
    v_facility := coalesce(v_new ->> tg_argv[0], v_old ->> tg_argv[0]);

    -- Verified once: the signature covers these very settings as they are now.
    if carego.context_ok(current_user)
       or coalesce(current_setting('carego.context', true), '') = '' then
        v_actor := nullif(current_setting('carego.user_id', true), '')::uuid;
        v_role := nullif(current_setting('carego.role', true), '');
        v_session := nullif(current_setting('carego.session_id', true), '')::uuid;
    end if;

    -- chain_seq, prev_hash and hash are filled by the audit_log_chain trigger.
    insert into public.audit_log (facility_id, actor_id, actor_role, session_id, action,
                                  entity_type, entity_id, old_values, new_values, reason,
                                  request_id, ip)
    values (v_facility::uuid, v_actor, v_role, v_session,
            -- Searched, not `case tg_op when`: Citus deparsed that form wrongly on a shard.
            case when tg_op = 'INSERT' then 'create' when tg_op = 'UPDATE' then 'update' else 'delete' end,
            v_table,
            coalesce(v_new ->> 'id', v_old ->> 'id', v_new ->> 'user_id', v_old ->> 'user_id')::uuid,
            v_old,
            v_new,
            nullif(current_setting('carego.change_reason', true), ''),
            nullif(current_setting('carego.request_id', true), ''),
            nullif(current_setting('carego.ip', true), ''));
    return null;
end
$function$;
revoke all on function carego.audit_row() from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;

-- carego.audit_subject(text,uuid,jsonb,jsonb), since V14
CREATE OR REPLACE FUNCTION carego.audit_subject(p_entity_type text, p_entity_id uuid, p_new jsonb, p_old jsonb)
 RETURNS uuid
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
 SET search_path TO 'pg_catalog', 'public'
AS $function$
    select case when p_entity_type = 'patients' then p_entity_id
                else (coalesce(p_new, p_old) ->> 'patient_id')::uuid end
$function$;
revoke all on function carego.audit_subject(text,uuid,jsonb,jsonb) from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.audit_subject(text,uuid,jsonb,jsonb) to carego_patient, carego_staff, carego_facility_admin;

-- carego.audit_verify(uuid), since V2
CREATE OR REPLACE FUNCTION carego.audit_verify(p_facility uuid)
 RETURNS TABLE(ok boolean, checked bigint, first_broken_id uuid)
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'public'
AS $function$
declare
    r public.audit_log;
    v_lane smallint := -1;
    v_prev bytea;
    v_expected_seq bigint;
    v_checked bigint := 0;
begin
    for r in
        select * from public.audit_log a
         where a.facility_id is not distinct from p_facility
         order by a.chain_lane, a.chain_seq
    loop
        if r.chain_lane <> v_lane then
            v_lane := r.chain_lane;
            v_prev := '\x'::bytea;
            v_expected_seq := 1;
        end if;
        v_checked := v_checked + 1;
        if r.chain_seq <> v_expected_seq or r.prev_hash <> v_prev
           or r.hash <> sha256(r.prev_hash || convert_to(carego.audit_canonical(to_jsonb(r)), 'UTF8')) then
            return query select false, v_checked, r.id;
            return;
        end if;
        v_prev := r.hash;
        v_expected_seq := v_expected_seq + 1;
    end loop;
    return query select true, v_checked, null::uuid;
end
$function$;
revoke all on function carego.audit_verify(uuid) from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.audit_verify(uuid) to carego_facility_admin, carego_super_admin;

-- carego.strip_secrets(text,jsonb), since V46
CREATE OR REPLACE FUNCTION carego.strip_secrets(p_table text, p_values jsonb)
 RETURNS jsonb
 LANGUAGE plpgsql
 STABLE PARALLEL SAFE
 SET search_path TO 'pg_catalog', 'public'
AS $function$
begin
    return p_values - coalesce((select s.columns from carego.secret_column_sets s where s.table_name = p_table),
                               '{}'::text[]);
end
$function$;
revoke all on function carego.strip_secrets(text,jsonb) from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.strip_secrets(text,jsonb) to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin;

-- Policies and grants, table by table. Each policy is dropped if it exists and created again.
-- A policy taken out of this file is not dropped by it (a wall must never vanish by omission):
-- drop it in a migration. After the files, `carego migrate` widens every facility wall to the
-- whole tenant group (`carego.apply_role_groups`, V44). A table's grants start from none:
-- every app role's privileges on it and its columns are revoked, then granted as written, so
-- a grant taken out of this file is gone after the next apply.

-- audit_log, since V2
drop policy if exists audit_log_facility_isolation on public.audit_log;
create policy audit_log_facility_isolation on public.audit_log as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_public, carego_staff, carego_student, carego_teacher, carego_worker
    using ((facility_id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists audit_log_super_admin_gate on public.audit_log;
create policy audit_log_super_admin_gate on public.audit_log as restrictive for all to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists audit_log_admin_select on public.audit_log;
create policy audit_log_admin_select on public.audit_log as permissive for select to carego_facility_admin, carego_super_admin
    using (true);
drop policy if exists audit_log_owner_insert on public.audit_log;
create policy audit_log_owner_insert on public.audit_log as permissive for insert to carego_owner
    with check (true);
drop policy if exists audit_log_owner_select on public.audit_log;
create policy audit_log_owner_select on public.audit_log as permissive for select to carego_owner
    using (true);
revoke all on table public.audit_log from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant select on table public.audit_log to carego_facility_admin, carego_super_admin;
revoke all on sequence public.audit_log_seq_seq from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
