-- Daily check-ins: how a patient is doing, from their app or recorded by
-- their care team. One or more a day; append-only (a later check-in
-- supersedes an earlier one, nothing is changed). The id may come from the
-- client (offline sync): a second create with the same id is a replay.
--
-- Patients record and read their own; staff record and read their
-- caseload's; facility admins all of their facility's; super admins read.
create table check_ins (
    facility_id       uuid         not null,
    id                uuid         not null default gen_random_uuid(),
    patient_id        uuid         not null,
    checked_in_at     timestamptz  not null,
    mood              smallint     not null,
    hungry            boolean      not null default false,
    angry             boolean      not null default false,
    lonely            boolean      not null default false,
    tired             boolean      not null default false,
    sleep_hours       numeric(3,1),
    craving_intensity smallint,
    notes             text,
    recorded_by       uuid         not null, -- stamped by carego.stamp_record()
    recorded_at       timestamptz  not null default now(),
    constraint check_ins_pkey primary key (facility_id, id),
    -- Composite: a row can never point into another facility.
    constraint check_ins_patient_fkey foreign key (facility_id, patient_id)
        references patients (facility_id, id),
    constraint check_ins_recorded_by_fkey foreign key (facility_id, recorded_by)
        references users (facility_id, id),
    constraint check_ins_mood_check check (mood between 1 and 10),
    constraint check_ins_sleep_hours_check check (sleep_hours between 0 and 24),
    constraint check_ins_craving_intensity_check check (craving_intensity between 0 and 10),
    constraint check_ins_notes_check check (length(notes) between 1 and 2000),
    constraint check_ins_checked_in_at_check check (checked_in_at <= recorded_at + interval '1 minute')
);
create index check_ins_patient_idx on check_ins (facility_id, patient_id, checked_in_at desc, id desc);

alter table check_ins enable row level security;
alter table check_ins force row level security;

create policy check_ins_facility_isolation on check_ins as restrictive for all
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator
    using (facility_id = (select carego.current_facility_id()));
create policy check_ins_super_admin_gate on check_ins as restrictive for all to carego_super_admin
    using ((select carego.is_super_admin()));

create policy check_ins_admin_select on check_ins for select
    to carego_facility_admin, carego_super_admin using (true);
create policy check_ins_caseload_select on check_ins for select to carego_staff
    using (patient_id = any ((select carego.visible_patient_ids())::uuid[]));
create policy check_ins_patient_select on check_ins for select to carego_patient
    using (patient_id = any ((select carego.visible_patient_ids())::uuid[]));

-- Super admins read care records but never author them.
create policy check_ins_admin_insert on check_ins for insert to carego_facility_admin
    with check (true);
create policy check_ins_caseload_insert on check_ins for insert to carego_staff
    with check (patient_id = any ((select carego.visible_patient_ids())::uuid[]));
create policy check_ins_patient_insert on check_ins for insert to carego_patient
    with check (patient_id = any ((select carego.visible_patient_ids())::uuid[]));

grant select, insert on check_ins to carego_patient, carego_staff, carego_facility_admin;
grant select on check_ins to carego_super_admin;

create trigger check_ins_stamp before insert on check_ins
    for each row execute function carego.stamp_record();
create trigger check_ins_append_only before update or delete or truncate on check_ins
    for each statement execute function carego.forbid_change();
create trigger check_ins_audit after insert on check_ins
    for each row execute function carego.audit_row('facility_id');
