-- Training (the LMS): teachers, batches of a course, students' enrollments,
-- class attendance (append-only) and completion.
--
-- Teachers sign in as their own Postgres role, `carego_teacher`: they see
-- the batches they teach, those batches' enrollments and students, and
-- record attendance in them; nothing clinical. Facility admins run
-- everything; a student sees their own enrollments and attendance.
--
-- A batch's capacity holds under concurrency: the enrollment trigger locks
-- the batch row, then counts (a fresh snapshot in READ COMMITTED, after the
-- lock), so of two enrollments racing for the last seat one gets it and the
-- other 409 `batch_full`.

do $$
begin
    if not exists (select from pg_roles where rolname = 'carego_teacher') then
        create role carego_teacher nologin noinherit nosuperuser nobypassrls;
    end if;
    if exists (select from pg_roles where rolname = 'carego_app') then
        grant carego_teacher to carego_app;
    end if;
end
$$;

grant usage on schema carego to carego_teacher;
grant execute on function carego.current_facility_id(), carego.current_user_id(),
    carego.current_session_id(), carego.current_app_role(), carego.is_super_admin(),
    carego.current_password_hash()
    to carego_teacher;

alter table users drop constraint users_role_check;
alter table users add constraint users_role_check
    check (role in ('super_admin', 'facility_admin', 'staff', 'patient', 'client', 'student', 'teacher'));

alter policy users_facility_isolation on users
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator,
       carego_client, carego_student, carego_teacher;
alter policy users_self_select on users
    to carego_patient, carego_staff, carego_client, carego_student, carego_teacher;
alter policy users_self_update on users
    to carego_patient, carego_staff, carego_client, carego_student, carego_teacher;
alter policy users_admin_insert on users
    with check (role in ('facility_admin', 'staff', 'client', 'student', 'teacher'));
alter policy users_admin_update on users
    using (role in ('facility_admin', 'staff', 'client', 'student', 'teacher'))
    with check (role in ('facility_admin', 'staff', 'client', 'student', 'teacher'));
grant select (id, facility_id, email, phone, role, status, status_reason, first_name,
              last_name, job_title, on_call, password_changed_at, created_at, updated_at)
    on users to carego_teacher;
grant update (password_hash, password_changed_at) on users to carego_teacher;

alter policy sessions_facility_isolation on sessions
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator,
       carego_client, carego_student, carego_teacher;
alter policy sessions_self_select on sessions
    to carego_patient, carego_staff, carego_facility_admin, carego_super_admin, carego_client,
       carego_student, carego_teacher;
alter policy sessions_self_update on sessions
    to carego_patient, carego_staff, carego_facility_admin, carego_super_admin, carego_client,
       carego_student, carego_teacher;
grant select, update (revoked_at, revoked_reason) on sessions to carego_teacher;

alter policy facilities_facility_isolation on facilities
    to carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client,
       carego_student, carego_teacher;
alter policy facilities_member_select on facilities
    to carego_patient, carego_staff, carego_facility_admin, carego_super_admin, carego_client,
       carego_student, carego_teacher;
grant select on facilities to carego_teacher;

alter policy idempotency_keys_facility_isolation on idempotency_keys
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_super_admin,
       carego_integrator, carego_client, carego_student, carego_teacher;
alter policy idempotency_keys_self_all on idempotency_keys
    to carego_patient, carego_staff, carego_facility_admin, carego_super_admin, carego_client,
       carego_student, carego_teacher;
grant select, insert, update (request_hash, status, response, created_at)
    on idempotency_keys to carego_teacher;

alter policy cities_active_select on cities
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator,
       carego_client, carego_student, carego_teacher;
grant select on cities to carego_teacher;

-- Teachers read their facility's courses.
alter policy courses_facility_isolation on courses
    to carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client,
       carego_student, carego_teacher;
alter policy courses_select on courses
    to carego_public, carego_staff, carego_facility_admin, carego_super_admin, carego_teacher,
       carego_student;
grant select on courses to carego_teacher, carego_student;

-- Every closed-by-default table of V29 gets the teacher in its wall too.
alter policy client_profiles_facility_isolation on client_profiles
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator,
       carego_client, carego_student, carego_teacher;
alter policy student_profiles_facility_isolation on student_profiles
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator,
       carego_client, carego_student, carego_teacher;

-- A teacher's profile.
create table teacher_profiles (
    facility_id uuid        not null,
    user_id     uuid        not null,
    subjects    text[]      not null default '{}',
    bio         text,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    constraint teacher_profiles_pkey primary key (facility_id, user_id),
    constraint teacher_profiles_user_fkey foreign key (facility_id, user_id)
        references users (facility_id, id),
    constraint teacher_profiles_subjects_check check (cardinality(subjects) <= 20),
    constraint teacher_profiles_bio_check check (length(bio) between 1 and 2000)
);

alter table teacher_profiles enable row level security;
alter table teacher_profiles force row level security;

create policy teacher_profiles_facility_isolation on teacher_profiles as restrictive for all
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator,
       carego_client, carego_student, carego_teacher
    using (facility_id = (select carego.current_facility_id()));
create policy teacher_profiles_super_admin_gate on teacher_profiles as restrictive for all
    to carego_super_admin using ((select carego.is_super_admin()));
create policy teacher_profiles_self_select on teacher_profiles for select to carego_teacher
    using (user_id = (select carego.current_user_id()));
create policy teacher_profiles_admin_select on teacher_profiles for select
    to carego_facility_admin, carego_super_admin using (true);
create policy teacher_profiles_admin_insert on teacher_profiles for insert
    to carego_facility_admin, carego_super_admin with check (true);

grant select on teacher_profiles to carego_teacher, carego_facility_admin, carego_super_admin;
grant insert (facility_id, user_id, subjects, bio) on teacher_profiles
    to carego_facility_admin, carego_super_admin;

create trigger teacher_profiles_touch before update on teacher_profiles
    for each row execute function carego.touch_updated_at();
create trigger teacher_profiles_audit after insert or update or delete on teacher_profiles
    for each row execute function carego.audit_row('facility_id');

-- A cohort of a course: when, who teaches, how many seats.
create table batches (
    facility_id uuid        not null,
    id          uuid        not null default gen_random_uuid(),
    course_id   uuid        not null,
    name        text        not null,
    teacher_id  uuid,
    starts_on   date        not null,
    ends_on     date        not null,
    schedule    text,
    capacity    integer     not null,
    status      text        not null default 'open',
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    constraint batches_pkey primary key (facility_id, id),
    constraint batches_course_fkey foreign key (facility_id, course_id)
        references courses (facility_id, id),
    constraint batches_teacher_fkey foreign key (facility_id, teacher_id)
        references users (facility_id, id),
    constraint batches_name_check check (length(name) between 1 and 200),
    constraint batches_dates_check check (ends_on >= starts_on),
    constraint batches_schedule_check check (length(schedule) between 1 and 500),
    constraint batches_capacity_check check (capacity between 1 and 1000),
    constraint batches_status_check check (status in ('open', 'running', 'completed', 'cancelled'))
);

alter table batches enable row level security;
alter table batches force row level security;

create policy batches_facility_isolation on batches as restrictive for all
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator,
       carego_client, carego_student, carego_teacher
    using (facility_id = (select carego.current_facility_id()));
create policy batches_super_admin_gate on batches as restrictive for all to carego_super_admin
    using ((select carego.is_super_admin()));
create policy batches_admin_all on batches for all
    to carego_facility_admin, carego_super_admin using (true) with check (true);
create policy batches_teacher_select on batches for select to carego_teacher
    using (teacher_id = (select carego.current_user_id()));
grant select on batches to carego_teacher, carego_student, carego_facility_admin, carego_super_admin;
grant insert (facility_id, course_id, name, teacher_id, starts_on, ends_on, schedule, capacity, status),
      update (name, teacher_id, starts_on, ends_on, schedule, capacity, status)
    on batches to carego_facility_admin, carego_super_admin;

create trigger batches_touch before update on batches
    for each row execute function carego.touch_updated_at();
create trigger batches_audit after insert or update or delete on batches
    for each row execute function carego.audit_row('facility_id');

-- A student in a batch. Withdrawn enrollments free their seat.
create table enrollments (
    facility_id  uuid        not null,
    id           uuid        not null default gen_random_uuid(),
    batch_id     uuid        not null,
    student_id   uuid        not null,
    status       text        not null default 'enrolled',
    enrolled_at  timestamptz not null default now(),
    completed_at timestamptz,
    withdrawn_at timestamptz,
    constraint enrollments_pkey primary key (facility_id, id),
    constraint enrollments_batch_student_key unique (facility_id, batch_id, student_id),
    constraint enrollments_batch_fkey foreign key (facility_id, batch_id)
        references batches (facility_id, id),
    constraint enrollments_student_fkey foreign key (facility_id, student_id)
        references student_profiles (facility_id, user_id),
    constraint enrollments_status_check check (status in ('enrolled', 'completed', 'withdrawn')),
    constraint enrollments_dates_check check (
        (status = 'completed') = (completed_at is not null)
        and (status = 'withdrawn') = (withdrawn_at is not null))
);
create index enrollments_batch_idx on enrollments (facility_id, batch_id) where status <> 'withdrawn';

-- A student sees the batches they are enrolled in (definer: no recursion
-- through enrollments' own policies).
create function carego.my_batch_ids() returns uuid[]
    language sql stable security definer
    set search_path = pg_catalog, public
    as $$
    select coalesce(array_agg(e.batch_id), '{}') from public.enrollments e
     where e.facility_id = carego.current_facility_id() and e.student_id = carego.current_user_id()
$$;
create policy batches_student_select on batches for select to carego_student
    using (id = any ((select carego.my_batch_ids())::uuid[]));

grant execute on function carego.my_batch_ids() to carego_student;

alter table enrollments enable row level security;
alter table enrollments force row level security;

create policy enrollments_facility_isolation on enrollments as restrictive for all
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator,
       carego_client, carego_student, carego_teacher
    using (facility_id = (select carego.current_facility_id()));
create policy enrollments_super_admin_gate on enrollments as restrictive for all to carego_super_admin
    using ((select carego.is_super_admin()));
create policy enrollments_admin_all on enrollments for all
    to carego_facility_admin, carego_super_admin using (true) with check (true);
create policy enrollments_teacher_select on enrollments for select to carego_teacher
    using (exists (select 1 from batches b where b.facility_id = enrollments.facility_id
                     and b.id = enrollments.batch_id));
create policy enrollments_student_select on enrollments for select to carego_student
    using (student_id = (select carego.current_user_id()));
-- The SECURITY DEFINER helper above reads as the owner.
create policy enrollments_owner_select on enrollments for select to carego_owner using (true);

grant select on enrollments to carego_teacher, carego_student, carego_facility_admin, carego_super_admin;
grant insert (facility_id, batch_id, student_id),
      update (status, completed_at, withdrawn_at)
    on enrollments to carego_facility_admin, carego_super_admin;

-- Teachers see their batches' students' profiles.
create policy student_profiles_teacher_select on student_profiles for select to carego_teacher
    using (exists (select 1 from enrollments e where e.facility_id = student_profiles.facility_id
                     and e.student_id = student_profiles.user_id));
grant select on student_profiles to carego_teacher;

-- The seat check, after the batch's row lock (see the header).
create function carego.enrollments_seat() returns trigger
    language plpgsql
    as $$
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
$$;

create trigger enrollments_seat before insert on enrollments
    for each row execute function carego.enrollments_seat();
create trigger enrollments_audit after insert or update or delete on enrollments
    for each row execute function carego.audit_row('facility_id');

-- Who came to which class: append-only. A correction is a later row for the
-- same student and date; the latest one counts.
create table class_attendance (
    facility_id uuid        not null,
    id          uuid        not null default gen_random_uuid(),
    batch_id    uuid        not null,
    student_id  uuid        not null,
    session_on  date        not null,
    status      text        not null,
    note        text,
    recorded_by uuid,
    recorded_at timestamptz not null default now(),
    constraint class_attendance_pkey primary key (facility_id, id),
    constraint class_attendance_enrollment_fkey foreign key (facility_id, batch_id, student_id)
        references enrollments (facility_id, batch_id, student_id),
    constraint class_attendance_status_check check (status in ('present', 'absent', 'late', 'excused')),
    constraint class_attendance_note_check check (length(note) between 1 and 500)
);
create index class_attendance_batch_idx on class_attendance (facility_id, batch_id, session_on desc);

alter table class_attendance enable row level security;
alter table class_attendance force row level security;

create policy class_attendance_facility_isolation on class_attendance as restrictive for all
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator,
       carego_client, carego_student, carego_teacher
    using (facility_id = (select carego.current_facility_id()));
create policy class_attendance_super_admin_gate on class_attendance as restrictive for all
    to carego_super_admin using ((select carego.is_super_admin()));
create policy class_attendance_admin_select on class_attendance for select
    to carego_facility_admin, carego_super_admin using (true);
create policy class_attendance_admin_insert on class_attendance for insert
    to carego_facility_admin with check (true);
create policy class_attendance_teacher_select on class_attendance for select to carego_teacher
    using (exists (select 1 from batches b where b.facility_id = class_attendance.facility_id
                     and b.id = class_attendance.batch_id));
create policy class_attendance_teacher_insert on class_attendance for insert to carego_teacher
    with check (exists (select 1 from batches b where b.facility_id = class_attendance.facility_id
                          and b.id = class_attendance.batch_id));
create policy class_attendance_student_select on class_attendance for select to carego_student
    using (student_id = (select carego.current_user_id()));

grant select on class_attendance to carego_teacher, carego_student, carego_facility_admin, carego_super_admin;
grant insert (facility_id, batch_id, student_id, session_on, status, note)
    on class_attendance to carego_teacher, carego_facility_admin;

create trigger class_attendance_stamp before insert on class_attendance
    for each row execute function carego.stamp_record();
create trigger class_attendance_append_only before update or delete or truncate on class_attendance
    for each statement execute function carego.forbid_change();
create trigger class_attendance_audit after insert on class_attendance
    for each row execute function carego.audit_row('facility_id');
