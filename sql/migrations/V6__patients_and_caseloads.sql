-- Patients and caseloads.
--
-- Who sees which patient is decided here, not in handlers:
--   facility admins: every patient of their facility (deleted ones too, to restore);
--   staff: their caseload (an active assignment) and patients whose primary
--          counsellor they are, never deleted ones;
--   a patient: only their own record;
--   super admins: every facility.
-- carego.visible_patient_ids() computes a staff member's or patient's set once
-- per statement (an InitPlan); records about patients reuse it.

create table patients (
    facility_id           uuid        not null,
    id                    uuid        not null default gen_random_uuid(),
    mrn                   text,
    user_id               uuid,
    first_name            text        not null,
    last_name             text        not null,
    date_of_birth         date        not null,
    status                text        not null default 'pre_admission',
    admission_date        date,
    discharge_date        date,
    sobriety_date         date,
    primary_counsellor_id uuid,
    room                  text,
    emergency_contact     jsonb,
    notes                 text,
    deleted_at            timestamptz,
    created_by            uuid,
    created_at            timestamptz not null default now(),
    updated_at            timestamptz not null default now(),
    constraint patients_pkey primary key (facility_id, id),
    constraint patients_facility_mrn_key unique (facility_id, mrn),
    constraint patients_facility_user_key unique (facility_id, user_id),
    constraint patients_facility_fkey foreign key (facility_id) references facilities (id),
    constraint patients_user_fkey foreign key (facility_id, user_id) references users (facility_id, id),
    constraint patients_primary_counsellor_fkey foreign key (facility_id, primary_counsellor_id)
        references users (facility_id, id),
    constraint patients_status_check check (status in ('pre_admission', 'active', 'discharged')),
    constraint patients_first_name_check check (length(first_name) between 1 and 100),
    constraint patients_last_name_check check (length(last_name) between 1 and 100),
    constraint patients_mrn_check check (length(mrn) between 1 and 64),
    constraint patients_room_check check (length(room) between 1 and 50),
    constraint patients_notes_check check (length(notes) <= 10000),
    constraint patients_date_of_birth_check check (date_of_birth between '1900-01-01' and current_date),
    constraint patients_discharge_date_check check (discharge_date >= admission_date),
    constraint patients_admission_date_check check ((status = 'pre_admission') or admission_date is not null),
    constraint patients_emergency_contact_check check (jsonb_typeof(emergency_contact) = 'object')
);

-- Lookups by id alone (the API's /patients/{id}) and the staff branches.
create index patients_id_idx on patients (id, facility_id);
create index patients_created_idx on patients (facility_id, created_at, id);
create index patients_counsellor_idx on patients (facility_id, primary_counsellor_id) where deleted_at is null;

create table assignments (
    facility_id uuid        not null,
    id          uuid        not null default gen_random_uuid(),
    patient_id  uuid        not null,
    staff_id    uuid        not null,
    role        text        not null,
    starts_at   timestamptz not null default now(),
    ended_at    timestamptz,
    created_by  uuid,
    created_at  timestamptz not null default now(),
    constraint assignments_pkey primary key (facility_id, id),
    constraint assignments_patient_fkey foreign key (facility_id, patient_id) references patients (facility_id, id),
    -- Composite: a facility's patient can only be assigned that facility's staff.
    constraint assignments_staff_fkey foreign key (facility_id, staff_id) references users (facility_id, id),
    constraint assignments_role_check
        check (role in ('counsellor', 'nurse', 'caregiver', 'therapist', 'doctor', 'teacher', 'other')),
    constraint assignments_ended_at_check check (ended_at >= starts_at)
);

create index assignments_id_idx on assignments (id, facility_id);
create index assignments_staff_idx on assignments (facility_id, staff_id, patient_id) where ended_at is null;
create index assignments_patient_idx on assignments (facility_id, patient_id, created_at, id);
create unique index assignments_open_key on assignments (facility_id, patient_id, staff_id) where ended_at is null;

-- The patients the caller may see through a caseload or as the patient: for
-- staff, patients with an open assignment to them or whom they counsel; for a
-- patient, their own record; empty for everyone else. Runs as the owner so it
-- can read assignments without recursing into their policies, and filters by
-- the caller's facility itself.
create function carego.visible_patient_ids() returns uuid[]
    language sql
    stable
    security definer
    set search_path = pg_catalog, public
    as $$
    -- Three index lookups (counsellor, open assignments, own record) rather
    -- than a scan of the facility's patients: a caseload costs what it holds.
    select coalesce(array_agg(v.id), '{}')
      from (select p.id
              from public.patients p
             where carego.current_app_role() = 'staff'
               and p.facility_id = carego.current_facility_id()
               and p.primary_counsellor_id = carego.current_user_id()
               and p.deleted_at is null
            union
            select a.patient_id
              from public.assignments a
              join public.patients p on p.facility_id = a.facility_id and p.id = a.patient_id
             where carego.current_app_role() = 'staff'
               and a.facility_id = carego.current_facility_id()
               and a.staff_id = carego.current_user_id()
               and a.ended_at is null
               and p.deleted_at is null
            union
            select p.id
              from public.patients p
             where carego.current_app_role() = 'patient'
               and p.facility_id = carego.current_facility_id()
               and p.user_id = carego.current_user_id()
               and p.deleted_at is null) v
$$;

grant execute on function carego.visible_patient_ids()
    to carego_patient, carego_staff, carego_facility_admin, carego_super_admin;

alter table patients enable row level security;
alter table patients force row level security;

create policy patients_facility_isolation on patients as restrictive for all
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator
    using (facility_id = (select carego.current_facility_id()));
create policy patients_super_admin_gate on patients as restrictive for all to carego_super_admin
    using ((select carego.is_super_admin()));

create policy patients_admin_select on patients for select
    to carego_facility_admin, carego_super_admin using (true);
-- The direct counsellor branch lets a staff member see a patient they have
-- just created (INSERT ... RETURNING), before any assignment exists.
create policy patients_caseload_select on patients for select
    to carego_staff
    using (deleted_at is null
           and (primary_counsellor_id = (select carego.current_user_id())
                or id = any ((select carego.visible_patient_ids())::uuid[])));
create policy patients_self_select on patients for select
    to carego_patient
    using (deleted_at is null and user_id = (select carego.current_user_id()));

create policy patients_admin_insert on patients for insert
    to carego_facility_admin, carego_super_admin with check (deleted_at is null);
create policy patients_staff_insert on patients for insert
    to carego_staff with check (deleted_at is null and user_id is null);

create policy patients_admin_update on patients for update
    to carego_facility_admin, carego_super_admin using (true) with check (true);
create policy patients_caseload_update on patients for update
    to carego_staff
    using (deleted_at is null
           and (primary_counsellor_id = (select carego.current_user_id())
                or id = any ((select carego.visible_patient_ids())::uuid[])))
    with check (deleted_at is null);

create policy patients_owner_select on patients for select to carego_owner using (true);
create policy patients_owner_update on patients for update to carego_owner using (true) with check (true);

grant select on patients to carego_patient, carego_staff, carego_facility_admin, carego_super_admin;
grant insert (facility_id, mrn, first_name, last_name, date_of_birth, status, admission_date,
              discharge_date, sobriety_date, primary_counsellor_id, room, emergency_contact,
              notes, created_by)
    on patients to carego_staff, carego_facility_admin, carego_super_admin;
grant update (mrn, first_name, last_name, date_of_birth, status, admission_date, discharge_date,
              sobriety_date, primary_counsellor_id, room, emergency_contact, notes)
    on patients to carego_staff, carego_facility_admin, carego_super_admin;
-- Soft delete and restore: admins only.
grant update (deleted_at) on patients to carego_facility_admin, carego_super_admin;

create trigger patients_touch before update on patients
    for each row execute function carego.touch_updated_at();

-- A stay moves pre_admission -> active -> discharged (discharged -> active is
-- a readmission); the dates follow unless the update sets them itself.
create function carego.patient_status_transition() returns trigger
    language plpgsql
    as $$
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
$$;

create trigger patients_status_transition before update of status on patients
    for each row execute function carego.patient_status_transition();
create trigger patients_audit after insert or update or delete on patients
    for each row execute function carego.audit_row('facility_id');

alter table assignments enable row level security;
alter table assignments force row level security;

create policy assignments_facility_isolation on assignments as restrictive for all
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator
    using (facility_id = (select carego.current_facility_id()));
create policy assignments_super_admin_gate on assignments as restrictive for all to carego_super_admin
    using ((select carego.is_super_admin()));

create policy assignments_admin_all on assignments for all
    to carego_facility_admin, carego_super_admin using (true) with check (true);
-- Staff see the care team of every patient they can see.
create policy assignments_caseload_select on assignments for select
    to carego_staff
    using (patient_id = any ((select carego.visible_patient_ids())::uuid[]));
-- A patient sees their own care team.
create policy assignments_patient_select on assignments for select
    to carego_patient
    using (patient_id = any ((select carego.visible_patient_ids())::uuid[]));
create policy assignments_owner_select on assignments for select to carego_owner using (true);

grant select on assignments to carego_patient, carego_staff, carego_facility_admin, carego_super_admin;
grant insert (facility_id, patient_id, staff_id, role, starts_at, created_by)
    on assignments to carego_facility_admin, carego_super_admin;
grant update (ended_at) on assignments to carego_facility_admin, carego_super_admin;

create trigger assignments_audit after insert or update or delete on assignments
    for each row execute function carego.audit_row('facility_id');

-- Only staff and facility admins of the facility can be assigned.
create function carego.check_assignee() returns trigger
    language plpgsql
    security definer
    set search_path = pg_catalog, public
    as $$
begin
    if not exists (select 1 from public.users u
                    where u.facility_id = new.facility_id and u.id = new.staff_id
                      and u.role in ('staff', 'facility_admin') and u.status = 'active') then
        raise exception 'assignee must be active staff of the facility'
            using errcode = '23503', constraint = 'assignments_staff_fkey';
    end if;
    return new;
end
$$;

create trigger assignments_check_assignee before insert on assignments
    for each row execute function carego.check_assignee();

-- Reads of a patient's record by staff-side roles are audited: one row per
-- request, written by the query that reads (SELECT has no triggers).
create function carego.audit_read(p_entity_type text, p_entity_id uuid, p_facility uuid) returns boolean
    language plpgsql
    volatile
    security definer
    set search_path = pg_catalog, public
    as $$
begin
    if p_facility is distinct from carego.current_facility_id() and not carego.is_super_admin() then
        raise exception 'audit_read: not your facility' using errcode = '42501';
    end if;
    if carego.current_app_role() in ('staff', 'facility_admin', 'super_admin') then
        insert into public.audit_log (facility_id, actor_id, actor_role, session_id, action,
                                      entity_type, entity_id, request_id, ip)
        values (p_facility, carego.current_user_id(), carego.current_app_role(),
                carego.current_session_id(), 'read', p_entity_type, p_entity_id,
                nullif(current_setting('carego.request_id', true), ''),
                nullif(current_setting('carego.ip', true), ''));
    end if;
    return true;
end
$$;

grant execute on function carego.audit_read(text, uuid, uuid)
    to carego_patient, carego_staff, carego_facility_admin, carego_super_admin;
