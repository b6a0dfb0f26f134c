-- Certificates: issued when an enrollment is completed, in the same
-- transaction; each with a random verification code, unique platform-wide,
-- that anyone may check on the public website. The student's name and the
-- course's title are copied in at issue, so a certificate reads the same
-- for ever. A certificate is never deleted or changed, only revoked (once,
-- with a reason).

create table certificates (
    facility_id       uuid        not null,
    id                uuid        not null default gen_random_uuid(),
    enrollment_id     uuid        not null,
    student_id        uuid        not null,
    course_id         uuid        not null,
    code              text        not null,
    student_name      text        not null,
    course_title      text        not null,
    issued_at         timestamptz not null default now(),
    issued_by         uuid,
    revoked_at        timestamptz,
    revocation_reason text,
    constraint certificates_pkey primary key (facility_id, id),
    -- The public looks a code up without naming a facility.
    constraint certificates_code_key unique (code),
    constraint certificates_enrollment_key unique (facility_id, enrollment_id),
    constraint certificates_enrollment_fkey foreign key (facility_id, enrollment_id)
        references enrollments (facility_id, id),
    constraint certificates_student_fkey foreign key (facility_id, student_id)
        references student_profiles (facility_id, user_id),
    constraint certificates_course_fkey foreign key (facility_id, course_id)
        references courses (facility_id, id),
    constraint certificates_code_check check (code ~ '^CERT(-[0-9A-Z]{4}){3}$'),
    constraint certificates_revocation_check
        check ((revoked_at is null) = (revocation_reason is null)
               and length(revocation_reason) between 1 and 500)
);

alter table certificates enable row level security;
alter table certificates force row level security;

create policy certificates_facility_isolation on certificates as restrictive for all
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator,
       carego_client, carego_student, carego_teacher
    using (facility_id = (select carego.current_facility_id()));
create policy certificates_super_admin_gate on certificates as restrictive for all
    to carego_super_admin using ((select carego.is_super_admin()));
create policy certificates_admin_select on certificates for select
    to carego_facility_admin, carego_super_admin using (true);
create policy certificates_admin_insert on certificates for insert
    to carego_facility_admin, carego_super_admin with check (true);
create policy certificates_admin_update on certificates for update
    to carego_facility_admin, carego_super_admin using (true) with check (true);
create policy certificates_student_select on certificates for select to carego_student
    using (student_id = (select carego.current_user_id()));
-- carego.verify_certificate reads as the owner.
create policy certificates_owner_select on certificates for select to carego_owner using (true);

grant select on certificates to carego_student, carego_facility_admin, carego_super_admin;
grant insert (facility_id, enrollment_id, student_id, course_id, code, student_name, course_title)
    on certificates to carego_facility_admin, carego_super_admin;
grant update (revoked_at, revocation_reason) on certificates to carego_facility_admin, carego_super_admin;

-- Revoked once; nothing else about a certificate changes.
create function carego.certificates_guard() returns trigger
    language plpgsql
    as $$
begin
    if old.revoked_at is not null then
        raise exception 'certificate % is revoked', old.id
            using errcode = '23514', constraint = 'certificates_revoked_check', table = 'certificates';
    end if;
    return new;
end
$$;

create function carego.certificates_stamp() returns trigger
    language plpgsql
    as $$
begin
    new.issued_by := carego.current_user_id();
    new.issued_at := now();
    return new;
end
$$;

create trigger certificates_stamp before insert on certificates
    for each row execute function carego.certificates_stamp();
create trigger certificates_guard before update on certificates
    for each row execute function carego.certificates_guard();
create trigger certificates_no_delete before delete or truncate on certificates
    for each statement execute function carego.forbid_change();
create trigger certificates_audit after insert or update on certificates
    for each row execute function carego.audit_row('facility_id');

-- What a verifier may know, by code: whose, of what, from where, when, and
-- whether it still stands. Nothing else (no ids, no contact details).
create function carego.verify_certificate(p_code text)
    returns table (code text, student_name text, course_title text, facility_name text,
                   issued_on date, revoked boolean, revoked_on date)
    language sql
    stable
    security definer
    set search_path = pg_catalog, public
    as $$
    select c.code, c.student_name, c.course_title, f.name, (c.issued_at at time zone 'UTC')::date,
           c.revoked_at is not null, (c.revoked_at at time zone 'UTC')::date
      from public.certificates c
      join public.facilities f on f.id = c.facility_id
     where c.code = p_code
$$;

grant execute on function carego.verify_certificate(text) to carego_public;
