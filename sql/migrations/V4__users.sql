-- Users: staff, facility admins, super admins (and, later, patients).
--
-- Login is by email or phone without naming a facility, so both are unique
-- platform-wide. Super admins belong to no facility, which is why this table's
-- primary key is `id` alone; `users_facility_id_key (facility_id, id)` is the
-- target of every composite foreign key from tenant tables, so a row can never
-- point at a user of another facility.

create table users (
    id                  uuid        not null default gen_random_uuid(),
    facility_id         uuid,
    email               text,
    phone               text,
    password_hash       text,
    role                text        not null,
    status              text        not null default 'active',
    status_reason       text,
    first_name          text        not null,
    last_name           text        not null,
    job_title           text,
    password_changed_at timestamptz,
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now(),
    constraint users_pkey primary key (id),
    constraint users_facility_id_key unique (facility_id, id),
    constraint users_email_key unique (email),
    constraint users_phone_key unique (phone),
    constraint users_facility_fkey foreign key (facility_id) references facilities (id),
    constraint users_role_check
        check (role in ('super_admin', 'facility_admin', 'staff', 'patient')),
    constraint users_status_check
        check (status in ('active', 'suspended', 'terminated', 'pending')),
    constraint users_facility_role_check check ((role = 'super_admin') = (facility_id is null)),
    constraint users_login_check check (email is not null or phone is not null),
    constraint users_email_check check (email = lower(email) and email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$'),
    constraint users_phone_check check (phone ~ '^\+?[0-9]{10,15}$'),
    constraint users_first_name_check check (length(first_name) between 1 and 100),
    constraint users_last_name_check check (length(last_name) between 1 and 100),
    constraint users_job_title_check check (length(job_title) between 1 and 100)
);

alter table users enable row level security;
alter table users force row level security;

create policy users_facility_isolation on users as restrictive for all
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator
    using (facility_id = (select carego.current_facility_id()));
create policy users_super_admin_gate on users as restrictive for all to carego_super_admin
    using ((select carego.is_super_admin()));

-- Everyone sees their own row; facility admins see their facility; super admins all.
create policy users_self_select on users for select
    to carego_patient, carego_staff
    using (id = (select carego.current_user_id()));
create policy users_admin_select on users for select
    to carego_facility_admin, carego_super_admin
    using (true);

-- A facility admin creates and manages staff and admins, never a super admin.
create policy users_admin_insert on users for insert
    to carego_facility_admin
    with check (role in ('facility_admin', 'staff'));
create policy users_super_admin_insert on users for insert
    to carego_super_admin with check (true);
create policy users_admin_update on users for update
    to carego_facility_admin
    using (role in ('facility_admin', 'staff'))
    with check (role in ('facility_admin', 'staff'));
create policy users_super_admin_update on users for update
    to carego_super_admin using (true) with check (true);
-- Changing one's own password.
create policy users_self_update on users for update
    to carego_patient, carego_staff
    using (id = (select carego.current_user_id()))
    with check (id = (select carego.current_user_id()));

create policy users_owner_select on users for select to carego_owner using (true);
create policy users_owner_update on users for update to carego_owner using (true) with check (true);

-- Every column but password_hash: not even an admin's SQL can read a hash.
grant select (id, facility_id, email, phone, role, status, status_reason, first_name,
              last_name, job_title, password_changed_at, created_at, updated_at)
    on users to carego_patient, carego_staff, carego_facility_admin, carego_super_admin;
grant insert on users to carego_facility_admin, carego_super_admin;
grant update (email, phone, first_name, last_name, job_title, role, status, status_reason,
              password_hash, password_changed_at)
    on users to carego_facility_admin, carego_super_admin;
grant update (password_hash, password_changed_at) on users to carego_patient, carego_staff;

create trigger users_touch before update on users
    for each row execute function carego.touch_updated_at();
create trigger users_audit after insert or update or delete on users
    for each row execute function carego.audit_row('facility_id');

-- Changing one's password needs the current hash to verify against: this is
-- the only way a request role reaches it, and only its own.
create function carego.current_password_hash() returns text
    language sql
    stable
    security definer
    set search_path = pg_catalog, public
    as $$
    select u.password_hash from public.users u where u.id = carego.current_user_id()
$$;

grant execute on function carego.current_password_hash()
    to carego_patient, carego_staff, carego_facility_admin, carego_super_admin;
