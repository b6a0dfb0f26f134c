-- Meetings attended: mutual-help groups, group therapy and counselling
-- sessions a patient went to. Logged from the app or by the care team;
-- append-only; the id may come from the client (offline sync).
--
-- Patients record and read their own; staff their caseload's; facility
-- admins all of their facility's; super admins read.
create table meetings (
    facility_id uuid        not null,
    id          uuid        not null default gen_random_uuid(),
    patient_id  uuid        not null,
    kind        text        not null,
    attended_on date        not null,
    place       text,
    notes       text,
    recorded_by uuid        not null, -- stamped by carego.stamp_record()
    recorded_at timestamptz not null default now(),
    constraint meetings_pkey primary key (facility_id, id),
    constraint meetings_patient_fkey foreign key (facility_id, patient_id)
        references patients (facility_id, id),
    constraint meetings_recorded_by_fkey foreign key (facility_id, recorded_by)
        references users (facility_id, id),
    constraint meetings_kind_check check (kind in ('aa', 'na', 'smart', 'group_therapy',
        'individual_counselling', 'other')),
    constraint meetings_place_check check (length(place) between 1 and 200),
    constraint meetings_notes_check check (length(notes) between 1 and 2000),
    -- A day ahead of the server's date at most: the patient's own day may be ahead of UTC.
    constraint meetings_attended_on_check check (attended_on <= (recorded_at at time zone 'UTC')::date + 1)
);
create index meetings_patient_idx on meetings (facility_id, patient_id, attended_on desc, id desc);

alter table meetings enable row level security;
alter table meetings force row level security;

create policy meetings_facility_isolation on meetings as restrictive for all
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator
    using (facility_id = (select carego.current_facility_id()));
create policy meetings_super_admin_gate on meetings as restrictive for all to carego_super_admin
    using ((select carego.is_super_admin()));

create policy meetings_admin_select on meetings for select
    to carego_facility_admin, carego_super_admin using (true);
create policy meetings_caseload_select on meetings for select to carego_staff
    using (patient_id = any ((select carego.visible_patient_ids())::uuid[]));
create policy meetings_patient_select on meetings for select to carego_patient
    using (patient_id = any ((select carego.visible_patient_ids())::uuid[]));

create policy meetings_admin_insert on meetings for insert to carego_facility_admin
    with check (true);
create policy meetings_caseload_insert on meetings for insert to carego_staff
    with check (patient_id = any ((select carego.visible_patient_ids())::uuid[]));
create policy meetings_patient_insert on meetings for insert to carego_patient
    with check (patient_id = any ((select carego.visible_patient_ids())::uuid[]));

grant select, insert on meetings to carego_patient, carego_staff, carego_facility_admin;
grant select on meetings to carego_super_admin;

create trigger meetings_stamp before insert on meetings
    for each row execute function carego.stamp_record();
create trigger meetings_append_only before update or delete or truncate on meetings
    for each statement execute function carego.forbid_change();
create trigger meetings_audit after insert on meetings
    for each row execute function carego.audit_row('facility_id');
