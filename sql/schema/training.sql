-- Courses' batches, enrollments and certificates (src/db/training).
--
-- The current definition of every function of this area and who may execute it, and every
-- policy and grant of its tables. `carego migrate` applies this file after the versioned
-- migrations, whenever it or the migrations changed (docs/database.md, "Schema as code").
-- Change a function here, not in a new migration. Each function is followed by its grants:
-- EXECUTE revoked from PUBLIC and every app role, then granted to exactly the roles that call
-- it.

-- carego.certificates_guard(), since V32
CREATE OR REPLACE FUNCTION carego.certificates_guard()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
begin
    if old.revoked_at is not null then
        raise exception 'certificate % is revoked', old.id
            using errcode = '23514', constraint = 'certificates_revoked_check', table = 'certificates';
    end if;
    return new;
end
$function$;
revoke all on function carego.certificates_guard() from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;

-- carego.certificates_stamp(), since V32
CREATE OR REPLACE FUNCTION carego.certificates_stamp()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
begin
    new.issued_by := carego.current_user_id();
    new.issued_at := now();
    return new;
end
$function$;
revoke all on function carego.certificates_stamp() from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;

-- carego.enrollments_seat(), since V31
CREATE OR REPLACE FUNCTION carego.enrollments_seat()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
declare
    v_capacity integer;
    v_status text;
    v_taken integer;
begin
    select b.capacity, b.status into v_capacity, v_status
      from batches b where b.facility_id = new.facility_id and b.id = new.batch_id
       for update;
    if v_status is distinct from 'open' and v_status is distinct from 'running' then
        raise exception 'batch % does not take enrollments', new.batch_id
            using errcode = '23514', constraint = 'enrollments_batch_open_check', table = 'enrollments';
    end if;
    select count(*) into v_taken from enrollments e
     where e.facility_id = new.facility_id and e.batch_id = new.batch_id and e.status <> 'withdrawn';
    if v_taken >= v_capacity then
        raise exception 'batch % is full', new.batch_id
            using errcode = '23514', constraint = 'enrollments_capacity_check', table = 'enrollments';
    end if;
    return new;
end
$function$;
revoke all on function carego.enrollments_seat() from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;

-- carego.my_batch_ids(), since V31
CREATE OR REPLACE FUNCTION carego.my_batch_ids()
 RETURNS uuid[]
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
declare
    v_ids uuid[];
begin
    if not carego.context_ok(current_user) then
        return '{}';
    end if;
    select coalesce(array_agg(e.batch_id), '{}') into v_ids
      from public.enrollments e
     where e.facility_id = nullif(current_setting('carego.facility_id', true), '')::uuid
       and e.student_id = nullif(current_setting('carego.user_id', true), '')::uuid;
    return v_ids;
end
$function$;
revoke all on function carego.my_batch_ids() from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.my_batch_ids() to carego_student;

-- carego.verify_certificate(text), since V32
CREATE OR REPLACE FUNCTION carego.verify_certificate(p_code text)
 RETURNS TABLE(code text, student_name text, course_title text, facility_name text, issued_on date, revoked boolean, revoked_on date)
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
    select c.code, c.student_name, c.course_title, f.name, (c.issued_at at time zone 'UTC')::date,
           c.revoked_at is not null, (c.revoked_at at time zone 'UTC')::date
      from public.certificates c
      join public.facilities f on f.id = c.facility_id
     where c.code = p_code
$function$;
revoke all on function carego.verify_certificate(text) from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.verify_certificate(text) to carego_public;

-- Policies and grants, table by table. Each policy is dropped if it exists and created again.
-- A policy taken out of this file is not dropped by it (a wall must never vanish by omission):
-- drop it in a migration. After the files, `carego migrate` widens every facility wall to the
-- whole tenant group (`carego.apply_role_groups`, V44). A table's grants start from none:
-- every app role's privileges on it and its columns are revoked, then granted as written, so
-- a grant taken out of this file is gone after the next apply.

-- batches, since V31
drop policy if exists batches_facility_isolation on public.batches;
create policy batches_facility_isolation on public.batches as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_public, carego_staff, carego_student, carego_teacher, carego_worker
    using ((facility_id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists batches_super_admin_gate on public.batches;
create policy batches_super_admin_gate on public.batches as restrictive for all to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists batches_admin_all on public.batches;
create policy batches_admin_all on public.batches as permissive for all to carego_facility_admin, carego_super_admin
    using (true)
    with check (true);
drop policy if exists batches_student_select on public.batches;
create policy batches_student_select on public.batches as permissive for select to carego_student
    using ((id = ANY (( SELECT carego.my_batch_ids() AS my_batch_ids)::uuid[])));
drop policy if exists batches_teacher_select on public.batches;
create policy batches_teacher_select on public.batches as permissive for select to carego_teacher
    using ((teacher_id = ( SELECT carego.current_user_id() AS current_user_id)));
revoke all on table public.batches from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant select,
      insert (facility_id, course_id, name, teacher_id, starts_on, ends_on, schedule, capacity, status),
      update (name, teacher_id, starts_on, ends_on, schedule, capacity, status)
   on table public.batches to carego_facility_admin, carego_super_admin;
grant select on table public.batches to carego_student, carego_teacher;

-- certificates, since V32
drop policy if exists certificates_facility_isolation on public.certificates;
create policy certificates_facility_isolation on public.certificates as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_public, carego_staff, carego_student, carego_teacher, carego_worker
    using ((facility_id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists certificates_super_admin_gate on public.certificates;
create policy certificates_super_admin_gate on public.certificates as restrictive for all to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists certificates_admin_insert on public.certificates;
create policy certificates_admin_insert on public.certificates as permissive for insert to carego_facility_admin, carego_super_admin
    with check (true);
drop policy if exists certificates_admin_select on public.certificates;
create policy certificates_admin_select on public.certificates as permissive for select to carego_facility_admin, carego_super_admin
    using (true);
drop policy if exists certificates_admin_update on public.certificates;
create policy certificates_admin_update on public.certificates as permissive for update to carego_facility_admin, carego_super_admin
    using (true)
    with check (true);
drop policy if exists certificates_owner_select on public.certificates;
create policy certificates_owner_select on public.certificates as permissive for select to carego_owner
    using (true);
drop policy if exists certificates_student_select on public.certificates;
create policy certificates_student_select on public.certificates as permissive for select to carego_student
    using ((student_id = ( SELECT carego.current_user_id() AS current_user_id)));
revoke all on table public.certificates from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant select,
      insert (facility_id, enrollment_id, student_id, course_id, code, student_name, course_title),
      update (revoked_at, revocation_reason)
   on table public.certificates to carego_facility_admin, carego_super_admin;
grant select on table public.certificates to carego_student;

-- class_attendance, since V31
drop policy if exists class_attendance_facility_isolation on public.class_attendance;
create policy class_attendance_facility_isolation on public.class_attendance as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_public, carego_staff, carego_student, carego_teacher, carego_worker
    using ((facility_id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists class_attendance_super_admin_gate on public.class_attendance;
create policy class_attendance_super_admin_gate on public.class_attendance as restrictive for all to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists class_attendance_admin_insert on public.class_attendance;
create policy class_attendance_admin_insert on public.class_attendance as permissive for insert to carego_facility_admin
    with check (true);
drop policy if exists class_attendance_admin_select on public.class_attendance;
create policy class_attendance_admin_select on public.class_attendance as permissive for select to carego_facility_admin, carego_super_admin
    using (true);
drop policy if exists class_attendance_student_select on public.class_attendance;
create policy class_attendance_student_select on public.class_attendance as permissive for select to carego_student
    using ((student_id = ( SELECT carego.current_user_id() AS current_user_id)));
drop policy if exists class_attendance_teacher_insert on public.class_attendance;
create policy class_attendance_teacher_insert on public.class_attendance as permissive for insert to carego_teacher
    with check ((EXISTS ( SELECT 1
   FROM batches b
  WHERE ((b.facility_id = class_attendance.facility_id) AND (b.id = class_attendance.batch_id)))));
drop policy if exists class_attendance_teacher_select on public.class_attendance;
create policy class_attendance_teacher_select on public.class_attendance as permissive for select to carego_teacher
    using ((EXISTS ( SELECT 1
   FROM batches b
  WHERE ((b.facility_id = class_attendance.facility_id) AND (b.id = class_attendance.batch_id)))));
revoke all on table public.class_attendance from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant select,
      insert (facility_id, batch_id, student_id, session_on, status, note)
   on table public.class_attendance to carego_facility_admin, carego_teacher;
grant select on table public.class_attendance to carego_student, carego_super_admin;

-- enrollments, since V31
drop policy if exists enrollments_facility_isolation on public.enrollments;
create policy enrollments_facility_isolation on public.enrollments as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_public, carego_staff, carego_student, carego_teacher, carego_worker
    using ((facility_id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists enrollments_super_admin_gate on public.enrollments;
create policy enrollments_super_admin_gate on public.enrollments as restrictive for all to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists enrollments_admin_all on public.enrollments;
create policy enrollments_admin_all on public.enrollments as permissive for all to carego_facility_admin, carego_super_admin
    using (true)
    with check (true);
drop policy if exists enrollments_owner_select on public.enrollments;
create policy enrollments_owner_select on public.enrollments as permissive for select to carego_owner
    using (true);
drop policy if exists enrollments_student_select on public.enrollments;
create policy enrollments_student_select on public.enrollments as permissive for select to carego_student
    using ((student_id = ( SELECT carego.current_user_id() AS current_user_id)));
drop policy if exists enrollments_teacher_select on public.enrollments;
create policy enrollments_teacher_select on public.enrollments as permissive for select to carego_teacher
    using ((EXISTS ( SELECT 1
   FROM batches b
  WHERE ((b.facility_id = enrollments.facility_id) AND (b.id = enrollments.batch_id)))));
revoke all on table public.enrollments from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant select,
      insert (facility_id, batch_id, student_id),
      update (status, completed_at, withdrawn_at)
   on table public.enrollments to carego_facility_admin, carego_super_admin;
grant select on table public.enrollments to carego_student, carego_teacher;

-- teacher_profiles, since V31
drop policy if exists teacher_profiles_facility_isolation on public.teacher_profiles;
create policy teacher_profiles_facility_isolation on public.teacher_profiles as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_public, carego_staff, carego_student, carego_teacher, carego_worker
    using ((facility_id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists teacher_profiles_super_admin_gate on public.teacher_profiles;
create policy teacher_profiles_super_admin_gate on public.teacher_profiles as restrictive for all to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists teacher_profiles_admin_insert on public.teacher_profiles;
create policy teacher_profiles_admin_insert on public.teacher_profiles as permissive for insert to carego_facility_admin, carego_super_admin
    with check (true);
drop policy if exists teacher_profiles_admin_select on public.teacher_profiles;
create policy teacher_profiles_admin_select on public.teacher_profiles as permissive for select to carego_facility_admin, carego_super_admin
    using (true);
drop policy if exists teacher_profiles_self_select on public.teacher_profiles;
create policy teacher_profiles_self_select on public.teacher_profiles as permissive for select to carego_teacher
    using ((user_id = ( SELECT carego.current_user_id() AS current_user_id)));
revoke all on table public.teacher_profiles from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant select,
      insert (facility_id, user_id, subjects, bio)
   on table public.teacher_profiles to carego_facility_admin, carego_super_admin;
grant select on table public.teacher_profiles to carego_teacher;
