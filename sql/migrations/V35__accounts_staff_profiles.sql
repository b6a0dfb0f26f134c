-- What a staff member brings: skills, certifications, languages and when
-- they are available, kept by facility admins (rostering matches caregivers
-- to clients by them); the staff member reads their own.

create table staff_profiles (
    facility_id    uuid        not null,
    user_id        uuid        not null,
    skills         text[]      not null default '{}',
    certifications text[]      not null default '{}',
    languages      text[]      not null default '{}',
    availability   text,
    updated_at     timestamptz not null default now(),
    constraint staff_profiles_pkey primary key (facility_id, user_id),
    constraint staff_profiles_user_fkey foreign key (facility_id, user_id) references users (facility_id, id),
    constraint staff_profiles_lists_check
        check (cardinality(skills) <= 50 and cardinality(certifications) <= 50 and cardinality(languages) <= 20),
    constraint staff_profiles_availability_check check (length(availability) between 1 and 1000)
);

alter table staff_profiles enable row level security;
alter table staff_profiles force row level security;

create policy staff_profiles_facility_isolation on staff_profiles as restrictive for all
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator,
       carego_client, carego_student, carego_teacher
    using (facility_id = (select carego.current_facility_id()));
create policy staff_profiles_super_admin_gate on staff_profiles as restrictive for all
    to carego_super_admin using ((select carego.is_super_admin()));
create policy staff_profiles_admin_all on staff_profiles for all
    to carego_facility_admin, carego_super_admin using (true) with check (true);
create policy staff_profiles_self_select on staff_profiles for select to carego_staff
    using (user_id = (select carego.current_user_id()));

grant select on staff_profiles to carego_staff, carego_facility_admin, carego_super_admin;
grant insert (facility_id, user_id, skills, certifications, languages, availability),
      update (skills, certifications, languages, availability)
    on staff_profiles to carego_facility_admin, carego_super_admin;

create trigger staff_profiles_touch before update on staff_profiles
    for each row execute function carego.touch_updated_at();
create trigger staff_profiles_audit after insert or update or delete on staff_profiles
    for each row execute function carego.audit_row('facility_id');
