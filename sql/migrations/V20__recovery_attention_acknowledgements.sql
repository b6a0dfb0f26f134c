-- Acknowledgements of a patient's "needs attention" prompt: a member of the
-- care team saw the factors that raised it (kept here as their codes) and
-- may say what they did. The prompt counts as acknowledged while the newest
-- acknowledgement of the last 7 days covers every factor present; a new
-- factor raises it again. Append-only.
create table attention_acknowledgements (
    facility_id uuid        not null,
    id          uuid        not null default gen_random_uuid(),
    patient_id  uuid        not null,
    factors     text[]      not null,
    note        text,
    recorded_by uuid        not null, -- stamped by carego.stamp_record()
    recorded_at timestamptz not null default now(),
    constraint attention_acknowledgements_pkey primary key (facility_id, id),
    constraint attention_acknowledgements_patient_fkey foreign key (facility_id, patient_id)
        references patients (facility_id, id),
    constraint attention_acknowledgements_recorded_by_fkey foreign key (facility_id, recorded_by)
        references users (facility_id, id),
    constraint attention_acknowledgements_factors_check check (cardinality(factors) between 1 and 10),
    constraint attention_acknowledgements_note_check check (length(note) between 1 and 2000)
);
create index attention_acknowledgements_patient_idx
    on attention_acknowledgements (facility_id, patient_id, recorded_at desc);

alter table attention_acknowledgements enable row level security;
alter table attention_acknowledgements force row level security;

create policy attention_acknowledgements_facility_isolation on attention_acknowledgements as restrictive
    for all to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator
    using (facility_id = (select carego.current_facility_id()));
create policy attention_acknowledgements_super_admin_gate on attention_acknowledgements as restrictive
    for all to carego_super_admin using ((select carego.is_super_admin()));

create policy attention_acknowledgements_admin_select on attention_acknowledgements for select
    to carego_facility_admin, carego_super_admin using (true);
create policy attention_acknowledgements_caseload_select on attention_acknowledgements for select
    to carego_staff using (patient_id = any ((select carego.visible_patient_ids())::uuid[]));
-- The patient sees that their care team looked.
create policy attention_acknowledgements_patient_select on attention_acknowledgements for select
    to carego_patient using (patient_id = any ((select carego.visible_patient_ids())::uuid[]));
create policy attention_acknowledgements_admin_insert on attention_acknowledgements for insert
    to carego_facility_admin with check (true);
create policy attention_acknowledgements_caseload_insert on attention_acknowledgements for insert
    to carego_staff with check (patient_id = any ((select carego.visible_patient_ids())::uuid[]));

grant select on attention_acknowledgements to carego_patient, carego_staff, carego_facility_admin,
    carego_super_admin;
grant insert (facility_id, patient_id, factors, note) on attention_acknowledgements
    to carego_staff, carego_facility_admin;

create trigger attention_acknowledgements_stamp before insert on attention_acknowledgements
    for each row execute function carego.stamp_record();
create trigger attention_acknowledgements_append_only before update or delete or truncate
    on attention_acknowledgements for each statement execute function carego.forbid_change();
create trigger attention_acknowledgements_audit after insert on attention_acknowledgements
    for each row execute function carego.audit_row('facility_id');
