-- Sobriety: each patient's start date lives in patients.sobriety_date (days
-- sober are computed from it). A reset — a relapse, or a start date set
-- again — is an append-only event with its reason; inserting one moves the
-- patient's date, and the event keeps the date it replaced.
--
-- Patients record and read their own; staff their caseload's; facility
-- admins all of their facility's; super admins read.
create table sobriety_resets (
    facility_id    uuid        not null,
    id             uuid        not null default gen_random_uuid(),
    patient_id     uuid        not null,
    since          date        not null,
    previous_since date,                  -- set by the trigger below
    reason         text        not null,
    recorded_by    uuid        not null,  -- stamped by carego.stamp_record()
    recorded_at    timestamptz not null default now(),
    constraint sobriety_resets_pkey primary key (facility_id, id),
    constraint sobriety_resets_patient_fkey foreign key (facility_id, patient_id)
        references patients (facility_id, id),
    constraint sobriety_resets_recorded_by_fkey foreign key (facility_id, recorded_by)
        references users (facility_id, id),
    constraint sobriety_resets_reason_check check (length(reason) between 1 and 1000),
    -- A day ahead of the server's date at most: the patient's own day may be ahead of UTC.
    constraint sobriety_resets_since_check check (since <= (recorded_at at time zone 'UTC')::date + 1)
);
create index sobriety_resets_patient_idx on sobriety_resets (facility_id, patient_id, recorded_at desc, id desc);

alter table sobriety_resets enable row level security;
alter table sobriety_resets force row level security;

create policy sobriety_resets_facility_isolation on sobriety_resets as restrictive for all
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator
    using (facility_id = (select carego.current_facility_id()));
create policy sobriety_resets_super_admin_gate on sobriety_resets as restrictive for all to carego_super_admin
    using ((select carego.is_super_admin()));

create policy sobriety_resets_admin_select on sobriety_resets for select
    to carego_facility_admin, carego_super_admin using (true);
create policy sobriety_resets_caseload_select on sobriety_resets for select to carego_staff
    using (patient_id = any ((select carego.visible_patient_ids())::uuid[]));
create policy sobriety_resets_patient_select on sobriety_resets for select to carego_patient
    using (patient_id = any ((select carego.visible_patient_ids())::uuid[]));

create policy sobriety_resets_admin_insert on sobriety_resets for insert to carego_facility_admin
    with check (true);
create policy sobriety_resets_caseload_insert on sobriety_resets for insert to carego_staff
    with check (patient_id = any ((select carego.visible_patient_ids())::uuid[]));
create policy sobriety_resets_patient_insert on sobriety_resets for insert to carego_patient
    with check (patient_id = any ((select carego.visible_patient_ids())::uuid[]));

grant select, insert on sobriety_resets to carego_patient, carego_staff, carego_facility_admin;
grant select on sobriety_resets to carego_super_admin;

-- Keeps the date a reset replaces, locking the patient's row so two resets
-- at once each see the other's date. Runs before the insert's policy check:
-- a row the check refuses changes nothing.
create function carego.sobriety_reset_previous() returns trigger
    language plpgsql
    security definer
    set search_path = pg_catalog, public
    as $$
begin
    select p.sobriety_date into new.previous_since
      from public.patients p
     where p.facility_id = new.facility_id and p.id = new.patient_id
       for update;
    return new;
end
$$;

-- Moves the patient's start date; the patients audit trigger records the
-- change with the caller as its actor.
create function carego.sobriety_reset_apply() returns trigger
    language plpgsql
    security definer
    set search_path = pg_catalog, public
    as $$
begin
    update public.patients p set sobriety_date = new.since
     where p.facility_id = new.facility_id and p.id = new.patient_id;
    return null;
end
$$;

create trigger sobriety_resets_stamp before insert on sobriety_resets
    for each row execute function carego.stamp_record();
create trigger sobriety_resets_previous before insert on sobriety_resets
    for each row execute function carego.sobriety_reset_previous();
create trigger sobriety_resets_append_only before update or delete or truncate on sobriety_resets
    for each statement execute function carego.forbid_change();
create trigger sobriety_resets_audit after insert on sobriety_resets
    for each row execute function carego.audit_row('facility_id');
create trigger sobriety_resets_apply after insert on sobriety_resets
    for each row execute function carego.sobriety_reset_apply();
