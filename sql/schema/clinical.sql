-- Patients, caseloads and care records (src/db/clinical).
--
-- The current definition of every function of this area and who may execute it, and every
-- policy and grant of its tables. `carego migrate` applies this file after the versioned
-- migrations, whenever it or the migrations changed (docs/database.md, "Schema as code").
-- Change a function here, not in a new migration. Each function is followed by its grants:
-- EXECUTE revoked from PUBLIC and every app role, then granted to exactly the roles that call
-- it.

-- carego.check_assignee(), since V6
CREATE OR REPLACE FUNCTION carego.check_assignee()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
begin
    if not exists (select 1 from public.users u
                    where u.facility_id = new.facility_id and u.id = new.staff_id
                      and u.role in ('staff', 'facility_admin') and u.status = 'active') then
        raise exception 'assignee must be active staff of the facility'
            using errcode = '23503', constraint = 'assignments_staff_fkey';
    end if;
    return new;
end
$function$;
revoke all on function carego.check_assignee() from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;

-- carego.patient_status_transition(), since V6
CREATE OR REPLACE FUNCTION carego.patient_status_transition()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
begin
    if new.status is not distinct from old.status then
        return new;
    end if;
    if (old.status, new.status) not in (('pre_admission', 'active'), ('pre_admission', 'discharged'),
                                        ('active', 'discharged'), ('discharged', 'active')) then
        raise exception 'a patient cannot go from % to %', old.status, new.status
            using errcode = '23514', constraint = 'patients_status_check';
    end if;
    if new.status = 'active' then
        if old.status = 'discharged' then
            new.discharge_date := null;
        end if;
        if new.admission_date is null or (old.status = 'discharged'
                                           and new.admission_date is not distinct from old.admission_date) then
            new.admission_date := current_date;
        end if;
    elsif new.discharge_date is null then
        new.discharge_date := current_date;
    end if;
    return new;
end
$function$;
revoke all on function carego.patient_status_transition() from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;

-- carego.visible_patient_ids(), since V6
CREATE OR REPLACE FUNCTION carego.visible_patient_ids()
 RETURNS uuid[]
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
declare
    v_role text;
    v_facility uuid;
    v_user uuid;
    v_ids uuid[];
begin
    if not carego.context_ok(current_user) then
        return '{}';
    end if;
    v_role := current_setting('carego.role', true);
    v_facility := nullif(current_setting('carego.facility_id', true), '')::uuid;
    v_user := nullif(current_setting('carego.user_id', true), '')::uuid;
    if v_role = 'staff' then
        -- Two index lookups (counsellor, open assignments) rather than a scan
        -- of the facility's patients: a caseload costs what it holds.
        select coalesce(array_agg(v.id), '{}') into v_ids
          from (select p.id
                  from public.patients p
                 where p.facility_id = v_facility
                   and p.primary_counsellor_id = v_user
                   and p.deleted_at is null
                union
                select a.patient_id
                  from public.assignments a
                  join public.patients p on p.facility_id = a.facility_id and p.id = a.patient_id
                 where a.facility_id = v_facility
                   and a.staff_id = v_user
                   and a.ended_at is null
                   and p.deleted_at is null) v;
    elsif v_role = 'patient' then
        select coalesce(array_agg(p.id), '{}') into v_ids
          from public.patients p
         where p.facility_id = v_facility
           and p.user_id = v_user
           and p.deleted_at is null;
    else
        v_ids := '{}';
    end if;
    return v_ids;
end
$function$;
revoke all on function carego.visible_patient_ids() from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.visible_patient_ids() to carego_patient, carego_staff, carego_facility_admin, carego_super_admin;

-- Policies and grants, table by table. Each policy is dropped if it exists and created again.
-- A policy taken out of this file is not dropped by it (a wall must never vanish by omission):
-- drop it in a migration. After the files, `carego migrate` widens every facility wall to the
-- whole tenant group (`carego.apply_role_groups`, V44). A table's grants start from none:
-- every app role's privileges on it and its columns are revoked, then granted as written, so
-- a grant taken out of this file is gone after the next apply.

-- assignments, since V6
drop policy if exists assignments_facility_isolation on public.assignments;
create policy assignments_facility_isolation on public.assignments as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_public, carego_staff, carego_student, carego_teacher, carego_worker
    using ((facility_id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists assignments_super_admin_gate on public.assignments;
create policy assignments_super_admin_gate on public.assignments as restrictive for all to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists assignments_admin_all on public.assignments;
create policy assignments_admin_all on public.assignments as permissive for all to carego_facility_admin, carego_super_admin
    using (true)
    with check (true);
drop policy if exists assignments_caseload_select on public.assignments;
create policy assignments_caseload_select on public.assignments as permissive for select to carego_staff
    using ((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])));
drop policy if exists assignments_owner_select on public.assignments;
create policy assignments_owner_select on public.assignments as permissive for select to carego_owner
    using (true);
drop policy if exists assignments_patient_select on public.assignments;
create policy assignments_patient_select on public.assignments as permissive for select to carego_patient
    using ((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])));
revoke all on table public.assignments from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant select on table public.assignments to carego_patient, carego_staff;
grant select,
      insert (facility_id, patient_id, staff_id, role, starts_at, created_by),
      update (ended_at)
   on table public.assignments to carego_facility_admin, carego_super_admin;

-- attendance, since V8
drop policy if exists attendance_facility_isolation on public.attendance;
create policy attendance_facility_isolation on public.attendance as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_public, carego_staff, carego_student, carego_teacher, carego_worker
    using ((facility_id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists attendance_super_admin_gate on public.attendance;
create policy attendance_super_admin_gate on public.attendance as restrictive for all to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists attendance_admin_insert on public.attendance;
create policy attendance_admin_insert on public.attendance as permissive for insert to carego_facility_admin
    with check (true);
drop policy if exists attendance_admin_select on public.attendance;
create policy attendance_admin_select on public.attendance as permissive for select to carego_facility_admin, carego_super_admin
    using (true);
drop policy if exists attendance_client_select on public.attendance;
create policy attendance_client_select on public.attendance as permissive for select to carego_client
    using ((patient_id = ANY (( SELECT carego.client_patient_ids() AS client_patient_ids)::uuid[])));
drop policy if exists attendance_self_insert on public.attendance;
create policy attendance_self_insert on public.attendance as permissive for insert to carego_staff
    with check (((staff_id = ( SELECT carego.current_user_id() AS current_user_id)) AND ((patient_id IS NULL) OR (patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])))));
drop policy if exists attendance_self_select on public.attendance;
create policy attendance_self_select on public.attendance as permissive for select to carego_staff
    using ((staff_id = ( SELECT carego.current_user_id() AS current_user_id)));
revoke all on table public.attendance from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant select, insert on table public.attendance to carego_staff, carego_facility_admin;
grant select (facility_id, id, staff_id, patient_id, event, at, recorded_at, amends_id)
   on table public.attendance to carego_client;
grant select on table public.attendance to carego_super_admin;

-- care_logs, since V8
drop policy if exists care_logs_facility_isolation on public.care_logs;
create policy care_logs_facility_isolation on public.care_logs as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_public, carego_staff, carego_student, carego_teacher, carego_worker
    using ((facility_id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists care_logs_super_admin_gate on public.care_logs;
create policy care_logs_super_admin_gate on public.care_logs as restrictive for all to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists care_logs_admin_insert on public.care_logs;
create policy care_logs_admin_insert on public.care_logs as permissive for insert to carego_facility_admin
    with check (true);
drop policy if exists care_logs_admin_select on public.care_logs;
create policy care_logs_admin_select on public.care_logs as permissive for select to carego_facility_admin, carego_super_admin
    using (true);
drop policy if exists care_logs_caseload_insert on public.care_logs;
create policy care_logs_caseload_insert on public.care_logs as permissive for insert to carego_staff
    with check ((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])));
drop policy if exists care_logs_caseload_select on public.care_logs;
create policy care_logs_caseload_select on public.care_logs as permissive for select to carego_staff
    using ((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])));
drop policy if exists care_logs_client_select on public.care_logs;
create policy care_logs_client_select on public.care_logs as permissive for select to carego_client
    using ((visible_to_patient AND (patient_id = ANY (( SELECT carego.client_patient_ids() AS client_patient_ids)::uuid[]))));
drop policy if exists care_logs_integrator_insert on public.care_logs;
create policy care_logs_integrator_insert on public.care_logs as permissive for insert to carego_integrator
    with check ((( SELECT carego.has_scope('care-logs:write'::text) AS has_scope) AND (amends_id IS NULL)));
drop policy if exists care_logs_integrator_select on public.care_logs;
create policy care_logs_integrator_select on public.care_logs as permissive for select to carego_integrator
    using ((( SELECT carego.has_scope('care-logs:read'::text) AS has_scope) OR (( SELECT carego.has_scope('care-logs:write'::text) AS has_scope) AND (recorded_by = ( SELECT carego.current_user_id() AS current_user_id)))));
drop policy if exists care_logs_patient_select on public.care_logs;
create policy care_logs_patient_select on public.care_logs as permissive for select to carego_patient
    using ((visible_to_patient AND (patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[]))));
revoke all on table public.care_logs from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant select on table public.care_logs to carego_patient, carego_super_admin;
grant select, insert on table public.care_logs to carego_staff, carego_facility_admin, carego_integrator;
grant select (facility_id, id, patient_id, kind, body, occurred_at, visible_to_patient, recorded_at, amends_id, amendment_reason)
   on table public.care_logs to carego_client;

-- patients, since V6
drop policy if exists patients_facility_isolation on public.patients;
create policy patients_facility_isolation on public.patients as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_public, carego_staff, carego_student, carego_teacher, carego_worker
    using ((facility_id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists patients_super_admin_gate on public.patients;
create policy patients_super_admin_gate on public.patients as restrictive for all to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists patients_admin_insert on public.patients;
create policy patients_admin_insert on public.patients as permissive for insert to carego_facility_admin, carego_super_admin
    with check ((deleted_at IS NULL));
drop policy if exists patients_admin_select on public.patients;
create policy patients_admin_select on public.patients as permissive for select to carego_facility_admin, carego_super_admin
    using (true);
drop policy if exists patients_admin_update on public.patients;
create policy patients_admin_update on public.patients as permissive for update to carego_facility_admin, carego_super_admin
    using (true)
    with check (true);
drop policy if exists patients_caseload_select on public.patients;
create policy patients_caseload_select on public.patients as permissive for select to carego_staff
    using (((deleted_at IS NULL) AND ((primary_counsellor_id = ( SELECT carego.current_user_id() AS current_user_id)) OR (id = ANY (( SELECT carego.assigned_patient_ids() AS assigned_patient_ids)::uuid[])))));
drop policy if exists patients_caseload_update on public.patients;
create policy patients_caseload_update on public.patients as permissive for update to carego_staff
    using (((deleted_at IS NULL) AND ((primary_counsellor_id = ( SELECT carego.current_user_id() AS current_user_id)) OR (id = ANY (( SELECT carego.assigned_patient_ids() AS assigned_patient_ids)::uuid[])))))
    with check ((deleted_at IS NULL));
drop policy if exists patients_client_select on public.patients;
create policy patients_client_select on public.patients as permissive for select to carego_client
    using (((deleted_at IS NULL) AND (id = ANY (( SELECT carego.client_patient_ids() AS client_patient_ids)::uuid[]))));
drop policy if exists patients_integrator_insert on public.patients;
create policy patients_integrator_insert on public.patients as permissive for insert to carego_integrator
    with check ((( SELECT carego.has_scope('patients:write'::text) AS has_scope) AND (deleted_at IS NULL) AND (user_id IS NULL)));
drop policy if exists patients_integrator_select on public.patients;
create policy patients_integrator_select on public.patients as permissive for select to carego_integrator
    using ((( SELECT carego.has_scope('patients:read'::text) AS has_scope) AND (deleted_at IS NULL)));
drop policy if exists patients_owner_select on public.patients;
create policy patients_owner_select on public.patients as permissive for select to carego_owner
    using (true);
drop policy if exists patients_owner_update on public.patients;
create policy patients_owner_update on public.patients as permissive for update to carego_owner
    using (true)
    with check (true);
drop policy if exists patients_self_select on public.patients;
create policy patients_self_select on public.patients as permissive for select to carego_patient
    using (((deleted_at IS NULL) AND (user_id = ( SELECT carego.current_user_id() AS current_user_id))));
drop policy if exists patients_staff_insert on public.patients;
create policy patients_staff_insert on public.patients as permissive for insert to carego_staff
    with check (((deleted_at IS NULL) AND (user_id IS NULL)));
revoke all on table public.patients from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant select on table public.patients to carego_patient;
grant select,
      insert (facility_id, mrn, first_name, last_name, date_of_birth, status, admission_date, discharge_date, sobriety_date, primary_counsellor_id, room, emergency_contact, notes, created_by),
      update (mrn, first_name, last_name, date_of_birth, status, admission_date, discharge_date, sobriety_date, primary_counsellor_id, room, emergency_contact, notes)
   on table public.patients to carego_staff;
grant select,
      insert (facility_id, mrn, first_name, last_name, date_of_birth, status, admission_date, discharge_date, sobriety_date, primary_counsellor_id, room, emergency_contact, notes, created_by),
      update (mrn, first_name, last_name, date_of_birth, status, admission_date, discharge_date, sobriety_date, primary_counsellor_id, room, emergency_contact, notes, deleted_at)
   on table public.patients to carego_facility_admin, carego_super_admin;
grant select,
      insert (facility_id, mrn, first_name, last_name, date_of_birth, status, admission_date, discharge_date, sobriety_date, primary_counsellor_id, room, emergency_contact, notes, created_by)
   on table public.patients to carego_integrator;
grant select (facility_id, id, first_name, last_name, status, deleted_at)
   on table public.patients to carego_client;

-- vitals, since V8
drop policy if exists vitals_facility_isolation on public.vitals;
create policy vitals_facility_isolation on public.vitals as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_public, carego_staff, carego_student, carego_teacher, carego_worker
    using ((facility_id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists vitals_super_admin_gate on public.vitals;
create policy vitals_super_admin_gate on public.vitals as restrictive for all to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists vitals_admin_insert on public.vitals;
create policy vitals_admin_insert on public.vitals as permissive for insert to carego_facility_admin
    with check (true);
drop policy if exists vitals_admin_select on public.vitals;
create policy vitals_admin_select on public.vitals as permissive for select to carego_facility_admin, carego_super_admin
    using (true);
drop policy if exists vitals_caseload_insert on public.vitals;
create policy vitals_caseload_insert on public.vitals as permissive for insert to carego_staff
    with check ((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])));
drop policy if exists vitals_caseload_select on public.vitals;
create policy vitals_caseload_select on public.vitals as permissive for select to carego_staff
    using ((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])));
drop policy if exists vitals_patient_select on public.vitals;
create policy vitals_patient_select on public.vitals as permissive for select to carego_patient
    using ((visible_to_patient AND (patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[]))));
revoke all on table public.vitals from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant select on table public.vitals to carego_patient, carego_super_admin;
grant select, insert on table public.vitals to carego_staff, carego_facility_admin;
