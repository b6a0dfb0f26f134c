-- Medications: prescriptions the care team manages, and the dose events
-- recorded against them.
--
-- A prescription changes (dose, schedule, end date) and every change is in
-- the audit log; it is never deleted: a stopped prescription keeps its row
-- with when and why it stopped. Staff manage their caseload's, facility
-- admins their facility's; a patient reads their own; super admins read.
create table prescriptions (
    facility_id   uuid        not null,
    id            uuid        not null default gen_random_uuid(),
    patient_id    uuid        not null,
    drug          text        not null,
    dose          text        not null,
    route         text        not null,
    schedule      text        not null,
    starts_on     date        not null,
    ends_on       date,
    prescriber    text        not null,
    notes         text,
    status        text        not null default 'active',
    stopped_at    timestamptz,
    stop_reason   text,
    created_by    uuid        not null default carego.current_user_id(),
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now(),
    constraint prescriptions_pkey primary key (facility_id, id),
    -- A dose event names its patient and prescription together (see below).
    constraint prescriptions_patient_id_key unique (facility_id, patient_id, id),
    constraint prescriptions_patient_fkey foreign key (facility_id, patient_id)
        references patients (facility_id, id),
    constraint prescriptions_created_by_fkey foreign key (facility_id, created_by)
        references users (facility_id, id),
    constraint prescriptions_drug_check check (length(drug) between 1 and 200),
    constraint prescriptions_dose_check check (length(dose) between 1 and 100),
    constraint prescriptions_route_check check (route in ('oral', 'sublingual', 'injection', 'topical',
        'inhaled', 'transdermal', 'other')),
    constraint prescriptions_schedule_check check (length(schedule) between 1 and 200),
    constraint prescriptions_prescriber_check check (length(prescriber) between 1 and 200),
    constraint prescriptions_notes_check check (length(notes) between 1 and 2000),
    constraint prescriptions_ends_on_check check (ends_on >= starts_on),
    constraint prescriptions_status_check check (status in ('active', 'stopped')),
    constraint prescriptions_stopped_check
        check ((status = 'stopped') = (stopped_at is not null and stop_reason is not null)),
    constraint prescriptions_stop_reason_check check (length(stop_reason) between 1 and 1000)
);
create index prescriptions_patient_idx on prescriptions (facility_id, patient_id, created_at desc, id desc);

alter table prescriptions enable row level security;
alter table prescriptions force row level security;

create policy prescriptions_facility_isolation on prescriptions as restrictive for all
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator
    using (facility_id = (select carego.current_facility_id()));
create policy prescriptions_super_admin_gate on prescriptions as restrictive for all to carego_super_admin
    using ((select carego.is_super_admin()));

create policy prescriptions_admin_select on prescriptions for select
    to carego_facility_admin, carego_super_admin using (true);
create policy prescriptions_caseload_select on prescriptions for select to carego_staff
    using (patient_id = any ((select carego.visible_patient_ids())::uuid[]));
create policy prescriptions_patient_select on prescriptions for select to carego_patient
    using (patient_id = any ((select carego.visible_patient_ids())::uuid[]));

create policy prescriptions_admin_insert on prescriptions for insert to carego_facility_admin
    with check (true);
create policy prescriptions_caseload_insert on prescriptions for insert to carego_staff
    with check (patient_id = any ((select carego.visible_patient_ids())::uuid[]));

create policy prescriptions_admin_update on prescriptions for update to carego_facility_admin
    using (true) with check (true);
create policy prescriptions_caseload_update on prescriptions for update to carego_staff
    using (patient_id = any ((select carego.visible_patient_ids())::uuid[]))
    with check (patient_id = any ((select carego.visible_patient_ids())::uuid[]));

grant select on prescriptions to carego_patient, carego_staff, carego_facility_admin, carego_super_admin;
grant insert (facility_id, patient_id, drug, dose, route, schedule, starts_on, ends_on, prescriber, notes)
    on prescriptions to carego_staff, carego_facility_admin;
-- Who wrote a prescription and when never change; a stop is one-way (below).
grant update (dose, route, schedule, ends_on, prescriber, notes, status, stopped_at, stop_reason)
    on prescriptions to carego_staff, carego_facility_admin;

-- A stopped prescription stays stopped: a new course is a new prescription.
create function carego.prescription_stays_stopped() returns trigger
    language plpgsql
    as $$
begin
    if old.status = 'stopped' then
        raise exception 'prescription % is stopped', old.id using errcode = 'CG409';
    end if;
    return new;
end
$$;

create trigger prescriptions_touch before update on prescriptions
    for each row execute function carego.touch_updated_at();
create trigger prescriptions_stays_stopped before update on prescriptions
    for each row execute function carego.prescription_stays_stopped();
create trigger prescriptions_audit after insert or update on prescriptions
    for each row execute function carego.audit_row('facility_id');

-- Dose events: taken, missed, refused or late, against a prescription, by the
-- patient or a nurse. Append-only; the id may come from the client.
create table dose_events (
    facility_id     uuid        not null,
    id              uuid        not null default gen_random_uuid(),
    patient_id      uuid        not null,
    prescription_id uuid        not null,
    status          text        not null,
    scheduled_at    timestamptz not null,
    taken_at        timestamptz,
    notes           text,
    recorded_by     uuid        not null, -- stamped by carego.stamp_record()
    recorded_at     timestamptz not null default now(),
    constraint dose_events_pkey primary key (facility_id, id),
    -- Composite: the prescription is this patient's, in this facility.
    constraint dose_events_prescription_fkey foreign key (facility_id, patient_id, prescription_id)
        references prescriptions (facility_id, patient_id, id),
    constraint dose_events_recorded_by_fkey foreign key (facility_id, recorded_by)
        references users (facility_id, id),
    constraint dose_events_status_check check (status in ('taken', 'missed', 'refused', 'late')),
    constraint dose_events_taken_at_check check ((status in ('taken', 'late')) = (taken_at is not null)),
    constraint dose_events_notes_check check (length(notes) between 1 and 2000),
    constraint dose_events_taken_at_past_check check (taken_at <= recorded_at + interval '1 minute')
);
create index dose_events_patient_idx on dose_events (facility_id, patient_id, scheduled_at desc, id desc);
create index dose_events_prescription_idx on dose_events (facility_id, prescription_id, scheduled_at desc);

alter table dose_events enable row level security;
alter table dose_events force row level security;

create policy dose_events_facility_isolation on dose_events as restrictive for all
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator
    using (facility_id = (select carego.current_facility_id()));
create policy dose_events_super_admin_gate on dose_events as restrictive for all to carego_super_admin
    using ((select carego.is_super_admin()));

create policy dose_events_admin_select on dose_events for select
    to carego_facility_admin, carego_super_admin using (true);
create policy dose_events_caseload_select on dose_events for select to carego_staff
    using (patient_id = any ((select carego.visible_patient_ids())::uuid[]));
create policy dose_events_patient_select on dose_events for select to carego_patient
    using (patient_id = any ((select carego.visible_patient_ids())::uuid[]));

create policy dose_events_admin_insert on dose_events for insert to carego_facility_admin
    with check (true);
create policy dose_events_caseload_insert on dose_events for insert to carego_staff
    with check (patient_id = any ((select carego.visible_patient_ids())::uuid[]));
create policy dose_events_patient_insert on dose_events for insert to carego_patient
    with check (patient_id = any ((select carego.visible_patient_ids())::uuid[]));

grant select, insert on dose_events to carego_patient, carego_staff, carego_facility_admin;
grant select on dose_events to carego_super_admin;

create trigger dose_events_stamp before insert on dose_events
    for each row execute function carego.stamp_record();
create trigger dose_events_append_only before update or delete or truncate on dose_events
    for each statement execute function carego.forbid_change();
create trigger dose_events_audit after insert on dose_events
    for each row execute function carego.audit_row('facility_id');
