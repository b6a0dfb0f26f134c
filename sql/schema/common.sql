-- Triggers every area uses: append-only rows, updated_at, the request's stamp on a record (src/db/amendments.rs and each area's tables).
--
-- The current definition of every function of this area and who may execute it, and every
-- policy and grant of its tables. `carego migrate` applies this file after the versioned
-- migrations, whenever it or the migrations changed (docs/database.md, "Schema as code").
-- Change a function here, not in a new migration. Each function is followed by its grants:
-- EXECUTE revoked from PUBLIC and every app role, then granted to exactly the roles that call
-- it.

-- carego.forbid_change(), since V1
CREATE OR REPLACE FUNCTION carego.forbid_change()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
begin
    raise exception '% is append-only: % is not allowed', tg_table_name, tg_op
        using errcode = 'CG409';
end
$function$;
revoke all on function carego.forbid_change() from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;

-- carego.stamp_link(), since V34
CREATE OR REPLACE FUNCTION carego.stamp_link()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
begin
    new.linked_by := carego.current_user_id();
    new.linked_at := now();
    return new;
end
$function$;
revoke all on function carego.stamp_link() from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;

-- carego.stamp_record(), since V8
CREATE OR REPLACE FUNCTION carego.stamp_record()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
begin
    new.recorded_by := carego.current_user_id();
    new.recorded_at := now();
    if new.recorded_by is null then
        raise exception '% needs a user in the request context', tg_table_name
            using errcode = '42501';
    end if;
    return new;
end
$function$;
revoke all on function carego.stamp_record() from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;

-- carego.touch_updated_at(), since V3
CREATE OR REPLACE FUNCTION carego.touch_updated_at()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
begin
    -- A no-op update stays a no-op: no new timestamp, so no audit row either.
    if new is not distinct from old then
        return new;
    end if;
    new.updated_at := now();
    return new;
end
$function$;
revoke all on function carego.touch_updated_at() from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;

-- Policies and grants, table by table. Each policy is dropped if it exists and created again.
-- A policy taken out of this file is not dropped by it (a wall must never vanish by omission):
-- drop it in a migration. After the files, `carego migrate` widens every facility wall to the
-- whole tenant group (`carego.apply_role_groups`, V44). A table's grants start from none:
-- every app role's privileges on it and its columns are revoked, then granted as written, so
-- a grant taken out of this file is gone after the next apply.

-- idempotency_keys, since V9
drop policy if exists idempotency_keys_facility_isolation on public.idempotency_keys;
create policy idempotency_keys_facility_isolation on public.idempotency_keys as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_public, carego_staff, carego_student, carego_super_admin, carego_teacher, carego_worker
    using ((NOT (facility_id IS DISTINCT FROM ( SELECT carego.current_facility_id() AS current_facility_id))));
drop policy if exists idempotency_keys_self_all on public.idempotency_keys;
create policy idempotency_keys_self_all on public.idempotency_keys as permissive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_staff, carego_student, carego_super_admin, carego_teacher
    using ((user_id = ( SELECT carego.current_user_id() AS current_user_id)))
    with check ((user_id = ( SELECT carego.current_user_id() AS current_user_id)));
revoke all on table public.idempotency_keys from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant select, insert,
      update (request_hash, status, response, created_at)
   on table public.idempotency_keys to carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_super_admin;

-- refinery_schema_history (refinery's) and carego.schema_files, since V54: what was applied
-- and when, the owner's alone (V54 revoked carego.schema_files from PUBLIC).
revoke all on table public.refinery_schema_history from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
revoke all on table carego.schema_files from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
