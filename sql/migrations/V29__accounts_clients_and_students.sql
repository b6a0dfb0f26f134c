-- Two more kinds of user beside staff and patients: clients (who book home
-- care for someone, often a parent) and students (of a training centre).
-- Each signs in to their own app as their own Postgres role, so every grant
-- below is one they were given on purpose: a table not named here is closed
-- to them (permission denied, the API's 403) and, having no policy for them,
-- would show them no row even if it were granted.
--
-- Accounts are made by facility admins, most often by converting a lead
-- (V30), each with its profile in the same transaction.

do $$
declare
    r text;
begin
    foreach r in array array['carego_client', 'carego_student']
    loop
        if not exists (select from pg_roles where rolname = r) then
            execute format('create role %I nologin noinherit nosuperuser nobypassrls', r);
        end if;
        if exists (select from pg_roles where rolname = 'carego_app') then
            execute format('grant %I to carego_app', r);
        end if;
    end loop;
end
$$;

grant usage on schema carego to carego_client, carego_student;
grant execute on function carego.current_facility_id(), carego.current_user_id(),
    carego.current_session_id(), carego.current_app_role(), carego.is_super_admin(),
    carego.current_password_hash()
    to carego_client, carego_student;

alter table users drop constraint users_role_check;
alter table users add constraint users_role_check
    check (role in ('super_admin', 'facility_admin', 'staff', 'patient', 'client', 'student'));

-- Their own account, sessions and facility, as a patient has.
alter policy users_facility_isolation on users
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator,
       carego_client, carego_student;
alter policy users_self_select on users to carego_patient, carego_staff, carego_client, carego_student;
alter policy users_self_update on users to carego_patient, carego_staff, carego_client, carego_student;
-- Facility admins make and manage clients' and students' accounts too.
alter policy users_admin_insert on users
    with check (role in ('facility_admin', 'staff', 'client', 'student'));
alter policy users_admin_update on users
    using (role in ('facility_admin', 'staff', 'client', 'student'))
    with check (role in ('facility_admin', 'staff', 'client', 'student'));
grant select (id, facility_id, email, phone, role, status, status_reason, first_name,
              last_name, job_title, on_call, password_changed_at, created_at, updated_at)
    on users to carego_client, carego_student;
grant update (password_hash, password_changed_at) on users to carego_client, carego_student;

alter policy sessions_facility_isolation on sessions
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator,
       carego_client, carego_student;
alter policy sessions_self_select on sessions
    to carego_patient, carego_staff, carego_facility_admin, carego_super_admin, carego_client,
       carego_student;
alter policy sessions_self_update on sessions
    to carego_patient, carego_staff, carego_facility_admin, carego_super_admin, carego_client,
       carego_student;
grant select, update (revoked_at, revoked_reason) on sessions to carego_client, carego_student;

alter policy facilities_facility_isolation on facilities
    to carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client,
       carego_student;
alter policy facilities_member_select on facilities
    to carego_patient, carego_staff, carego_facility_admin, carego_super_admin, carego_client,
       carego_student;
grant select on facilities to carego_client, carego_student;

alter policy idempotency_keys_facility_isolation on idempotency_keys
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_super_admin,
       carego_integrator, carego_client, carego_student;
alter policy idempotency_keys_self_all on idempotency_keys
    to carego_patient, carego_staff, carego_facility_admin, carego_super_admin, carego_client,
       carego_student;
grant select, insert, update (request_hash, status, response, created_at)
    on idempotency_keys to carego_client, carego_student;

alter policy cities_active_select on cities
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator,
       carego_client, carego_student;
grant select on cities to carego_client, carego_student;

-- A client's profile: who the care is for and where.
create table client_profiles (
    facility_id             uuid        not null,
    user_id                 uuid        not null,
    care_recipient_name     text        not null,
    care_recipient_relation text,
    care_recipient_born_on  date,
    care_needs              text,
    address                 text,
    city_id                 uuid,
    preferred_language      text,
    created_at              timestamptz not null default now(),
    updated_at              timestamptz not null default now(),
    constraint client_profiles_pkey primary key (facility_id, user_id),
    constraint client_profiles_user_fkey foreign key (facility_id, user_id)
        references users (facility_id, id),
    constraint client_profiles_city_fkey foreign key (city_id) references cities (id),
    constraint client_profiles_care_recipient_name_check
        check (length(care_recipient_name) between 1 and 200),
    constraint client_profiles_care_recipient_relation_check
        check (length(care_recipient_relation) between 1 and 100),
    constraint client_profiles_care_needs_check check (length(care_needs) between 1 and 5000),
    constraint client_profiles_address_check check (length(address) between 1 and 500),
    constraint client_profiles_preferred_language_check
        check (preferred_language ~ '^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$')
);

alter table client_profiles enable row level security;
alter table client_profiles force row level security;

create policy client_profiles_facility_isolation on client_profiles as restrictive for all
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator,
       carego_client, carego_student
    using (facility_id = (select carego.current_facility_id()));
create policy client_profiles_super_admin_gate on client_profiles as restrictive for all
    to carego_super_admin using ((select carego.is_super_admin()));

-- The client reads their own; facility admins every client's, and write
-- them. (Caregivers will read the clients whose visits they make, with the
-- visits; until then staff see none.)
create policy client_profiles_self_select on client_profiles for select to carego_client
    using (user_id = (select carego.current_user_id()));
create policy client_profiles_admin_select on client_profiles for select
    to carego_facility_admin, carego_super_admin using (true);
create policy client_profiles_admin_insert on client_profiles for insert
    to carego_facility_admin, carego_super_admin with check (true);
create policy client_profiles_admin_update on client_profiles for update
    to carego_facility_admin, carego_super_admin using (true) with check (true);

grant select on client_profiles to carego_client, carego_facility_admin, carego_super_admin;
grant insert (facility_id, user_id, care_recipient_name, care_recipient_relation,
              care_recipient_born_on, care_needs, address, city_id, preferred_language),
      update (care_recipient_name, care_recipient_relation, care_recipient_born_on, care_needs,
              address, city_id, preferred_language)
    on client_profiles to carego_facility_admin, carego_super_admin;

create trigger client_profiles_touch before update on client_profiles
    for each row execute function carego.touch_updated_at();
create trigger client_profiles_audit after insert or update or delete on client_profiles
    for each row execute function carego.audit_row('facility_id');

-- A student's profile.
create table student_profiles (
    facility_id    uuid        not null,
    user_id        uuid        not null,
    born_on        date,
    education      text,
    guardian_name  text,
    guardian_phone text,
    city_id        uuid,
    created_at     timestamptz not null default now(),
    updated_at     timestamptz not null default now(),
    constraint student_profiles_pkey primary key (facility_id, user_id),
    constraint student_profiles_user_fkey foreign key (facility_id, user_id)
        references users (facility_id, id),
    constraint student_profiles_city_fkey foreign key (city_id) references cities (id),
    constraint student_profiles_education_check check (length(education) between 1 and 500),
    constraint student_profiles_guardian_name_check check (length(guardian_name) between 1 and 200),
    constraint student_profiles_guardian_phone_check check (guardian_phone ~ '^\+?[0-9]{10,15}$')
);

alter table student_profiles enable row level security;
alter table student_profiles force row level security;

create policy student_profiles_facility_isolation on student_profiles as restrictive for all
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator,
       carego_client, carego_student
    using (facility_id = (select carego.current_facility_id()));
create policy student_profiles_super_admin_gate on student_profiles as restrictive for all
    to carego_super_admin using ((select carego.is_super_admin()));

-- The student reads their own; facility admins all of them (teachers, when
-- they come, their batches' students).
create policy student_profiles_self_select on student_profiles for select to carego_student
    using (user_id = (select carego.current_user_id()));
create policy student_profiles_admin_select on student_profiles for select
    to carego_facility_admin, carego_super_admin using (true);
create policy student_profiles_admin_insert on student_profiles for insert
    to carego_facility_admin, carego_super_admin with check (true);
create policy student_profiles_admin_update on student_profiles for update
    to carego_facility_admin, carego_super_admin using (true) with check (true);

grant select on student_profiles to carego_student, carego_facility_admin, carego_super_admin;
grant insert (facility_id, user_id, born_on, education, guardian_name, guardian_phone, city_id),
      update (born_on, education, guardian_name, guardian_phone, city_id)
    on student_profiles to carego_facility_admin, carego_super_admin;

create trigger student_profiles_touch before update on student_profiles
    for each row execute function carego.touch_updated_at();
create trigger student_profiles_audit after insert or update or delete on student_profiles
    for each row execute function carego.audit_row('facility_id');
