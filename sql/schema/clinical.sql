-- Patients, caseloads and care records (src/db/clinical).
--
-- The current definition of every function of this area. `carego migrate` applies this file
-- after the versioned migrations, whenever it or the migrations changed (docs/database.md,
-- "Schema as code"). Change a function here, not in a new migration.

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
