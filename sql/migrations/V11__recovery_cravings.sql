-- Cravings: when one struck, how strong, what set it off, what the patient
-- did about it and whether they resisted. Logged from the app or by the care
-- team; append-only; the id may come from the client (offline sync).
--
-- Patients record and read their own; staff their caseload's; facility
-- admins all of their facility's; super admins read.
create table cravings (
    facility_id     uuid        not null,
    id              uuid        not null default gen_random_uuid(),
    patient_id      uuid        not null,
    occurred_at     timestamptz not null,
    intensity       smallint    not null,
    trigger         text,
    coping_strategy text,
    outcome         text        not null,
    notes           text,
    recorded_by     uuid        not null, -- stamped by carego.stamp_record()
    recorded_at     timestamptz not null default now(),
    constraint cravings_pkey primary key (facility_id, id),
    constraint cravings_patient_fkey foreign key (facility_id, patient_id)
        references patients (facility_id, id),
    constraint cravings_recorded_by_fkey foreign key (facility_id, recorded_by)
        references users (facility_id, id),
    constraint cravings_intensity_check check (intensity between 1 and 10),
    constraint cravings_outcome_check check (outcome in ('resisted', 'used')),
    constraint cravings_trigger_check check (length(trigger) between 1 and 500),
    constraint cravings_coping_strategy_check check (length(coping_strategy) between 1 and 500),
    constraint cravings_notes_check check (length(notes) between 1 and 2000),
    constraint cravings_occurred_at_check check (occurred_at <= recorded_at + interval '1 minute')
);
create index cravings_patient_idx on cravings (facility_id, patient_id, occurred_at desc, id desc);

alter table cravings enable row level security;
alter table cravings force row level security;

create policy cravings_facility_isolation on cravings as restrictive for all
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator
    using (facility_id = (select carego.current_facility_id()));
create policy cravings_super_admin_gate on cravings as restrictive for all to carego_super_admin
    using ((select carego.is_super_admin()));

create policy cravings_admin_select on cravings for select
    to carego_facility_admin, carego_super_admin using (true);
create policy cravings_caseload_select on cravings for select to carego_staff
    using (patient_id = any ((select carego.visible_patient_ids())::uuid[]));
create policy cravings_patient_select on cravings for select to carego_patient
    using (patient_id = any ((select carego.visible_patient_ids())::uuid[]));

create policy cravings_admin_insert on cravings for insert to carego_facility_admin
    with check (true);
create policy cravings_caseload_insert on cravings for insert to carego_staff
    with check (patient_id = any ((select carego.visible_patient_ids())::uuid[]));
create policy cravings_patient_insert on cravings for insert to carego_patient
    with check (patient_id = any ((select carego.visible_patient_ids())::uuid[]));

grant select, insert on cravings to carego_patient, carego_staff, carego_facility_admin;
grant select on cravings to carego_super_admin;

create trigger cravings_stamp before insert on cravings
    for each row execute function carego.stamp_record();
create trigger cravings_append_only before update or delete or truncate on cravings
    for each statement execute function carego.forbid_change();
create trigger cravings_audit after insert on cravings
    for each row execute function carego.audit_row('facility_id');
