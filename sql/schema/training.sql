-- Courses' batches, enrollments and certificates (src/db/training).
--
-- The current definition of every function of this area. `carego migrate` applies this file
-- after the versioned migrations, whenever it or the migrations changed (docs/database.md,
-- "Schema as code"). Change a function here, not in a new migration.

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
