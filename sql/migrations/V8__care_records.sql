-- Append-only care records: care logs, vitals and attendance.
--
-- Nothing here is ever changed or removed. No request role has UPDATE,
-- DELETE or TRUNCATE, no such policy exists, and a statement-level trigger
-- refuses them even for the owner and superusers (it also fires for
-- INSERT ... ON CONFLICT DO UPDATE). A correction is a new row that `amends`
-- the original (always the original, never another amendment), with a reason.
-- Who recorded a row and when is stamped by a trigger from the transaction's
-- context, never taken from the request.

create function carego.stamp_record() returns trigger
    language plpgsql
    as $$
begin
    new.recorded_by := carego.current_user_id();
    new.recorded_at := now();
    if new.recorded_by is null then
        raise exception '% needs a user in the request context', tg_table_name
            using errcode = '42501';
    end if;
    return new;
end
$$;

create table care_logs (
    facility_id        uuid        not null,
    id                 uuid        not null default gen_random_uuid(),
    patient_id         uuid        not null,
    kind               text        not null,
    body               text        not null,
    occurred_at        timestamptz not null,
    visible_to_patient boolean     not null default false,
    recorded_by        uuid        not null,
    recorded_at        timestamptz not null default now(),
    amends_id          uuid,
    amendment_reason   text,
    constraint care_logs_pkey primary key (facility_id, id),
    constraint care_logs_patient_fkey foreign key (facility_id, patient_id) references patients (facility_id, id),
    constraint care_logs_recorded_by_fkey foreign key (facility_id, recorded_by) references users (facility_id, id),
    constraint care_logs_amends_fkey foreign key (facility_id, amends_id) references care_logs (facility_id, id),
    constraint care_logs_kind_check check (kind in ('note', 'observation', 'incident',
        'medication_administered', 'progress', 'therapy_session', 'other')),
    constraint care_logs_body_check check (length(body) between 1 and 20000),
    constraint care_logs_occurred_at_check check (occurred_at <= recorded_at + interval '1 minute'),
    constraint care_logs_amendment_reason_check
        check ((amends_id is null) = (amendment_reason is null) and length(amendment_reason) between 1 and 1000)
);

create index care_logs_id_idx on care_logs (id, facility_id);
create index care_logs_patient_idx on care_logs (facility_id, patient_id, occurred_at desc, id desc)
    where amends_id is null;
create index care_logs_amends_idx on care_logs (facility_id, amends_id) where amends_id is not null;

create table vitals (
    facility_id        uuid        not null,
    id                 uuid        not null default gen_random_uuid(),
    patient_id         uuid        not null,
    measured_at        timestamptz not null,
    systolic           smallint,
    diastolic          smallint,
    pulse              smallint,
    temperature_c      numeric(4, 1),
    spo2               smallint,
    glucose_mg_dl      smallint,
    weight_kg          numeric(5, 1),
    respiration        smallint,
    note               text,
    visible_to_patient boolean     not null default false,
    recorded_by        uuid        not null,
    recorded_at        timestamptz not null default now(),
    amends_id          uuid,
    amendment_reason   text,
    constraint vitals_pkey primary key (facility_id, id),
    constraint vitals_patient_fkey foreign key (facility_id, patient_id) references patients (facility_id, id),
    constraint vitals_recorded_by_fkey foreign key (facility_id, recorded_by) references users (facility_id, id),
    constraint vitals_amends_fkey foreign key (facility_id, amends_id) references vitals (facility_id, id),
    constraint vitals_systolic_check check (systolic between 50 and 300),
    constraint vitals_diastolic_check check (diastolic between 20 and 200 and diastolic < systolic),
    constraint vitals_blood_pressure_check check ((systolic is null) = (diastolic is null)),
    constraint vitals_pulse_check check (pulse between 20 and 250),
    constraint vitals_temperature_c_check check (temperature_c between 30 and 45),
    constraint vitals_spo2_check check (spo2 between 50 and 100),
    constraint vitals_glucose_mg_dl_check check (glucose_mg_dl between 10 and 1000),
    constraint vitals_weight_kg_check check (weight_kg between 0.5 and 500),
    constraint vitals_respiration_check check (respiration between 4 and 80),
    constraint vitals_note_check check (length(note) between 1 and 2000),
    constraint vitals_measurement_check check (coalesce(systolic, pulse, spo2, glucose_mg_dl, respiration) is not null
        or coalesce(temperature_c, weight_kg) is not null),
    constraint vitals_measured_at_check check (measured_at <= recorded_at + interval '1 minute'),
    constraint vitals_amendment_reason_check
        check ((amends_id is null) = (amendment_reason is null) and length(amendment_reason) between 1 and 1000)
);

create index vitals_id_idx on vitals (id, facility_id);
create index vitals_patient_idx on vitals (facility_id, patient_id, measured_at desc, id desc)
    where amends_id is null;
create index vitals_amends_idx on vitals (facility_id, amends_id) where amends_id is not null;

create table attendance (
    facility_id      uuid        not null,
    id               uuid        not null default gen_random_uuid(),
    staff_id         uuid        not null,
    patient_id       uuid,
    event            text        not null,
    at               timestamptz not null,
    note             text,
    recorded_by      uuid        not null,
    recorded_at      timestamptz not null default now(),
    amends_id        uuid,
    amendment_reason text,
    constraint attendance_pkey primary key (facility_id, id),
    constraint attendance_staff_fkey foreign key (facility_id, staff_id) references users (facility_id, id),
    constraint attendance_patient_fkey foreign key (facility_id, patient_id) references patients (facility_id, id),
    constraint attendance_recorded_by_fkey foreign key (facility_id, recorded_by) references users (facility_id, id),
    constraint attendance_amends_fkey foreign key (facility_id, amends_id) references attendance (facility_id, id),
    constraint attendance_event_check check (event in ('check_in', 'check_out')),
    constraint attendance_note_check check (length(note) between 1 and 2000),
    constraint attendance_at_check check (at <= recorded_at + interval '1 minute'),
    constraint attendance_amendment_reason_check
        check ((amends_id is null) = (amendment_reason is null) and length(amendment_reason) between 1 and 1000)
);

create index attendance_id_idx on attendance (id, facility_id);
create index attendance_staff_idx on attendance (facility_id, staff_id, at desc, id desc) where amends_id is null;
create index attendance_facility_idx on attendance (facility_id, at desc, id desc) where amends_id is null;
create index attendance_amends_idx on attendance (facility_id, amends_id) where amends_id is not null;

do $$
declare
    t text;
begin
    foreach t in array array['care_logs', 'vitals', 'attendance'] loop
        execute format('alter table %I enable row level security', t);
        execute format('alter table %I force row level security', t);
        execute format($f$
            create policy %1$s_facility_isolation on %1$I as restrictive for all
                to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator
                using (facility_id = (select carego.current_facility_id()))
        $f$, t);
        execute format($f$
            create policy %1$s_super_admin_gate on %1$I as restrictive for all to carego_super_admin
                using ((select carego.is_super_admin()))
        $f$, t);
        execute format('create policy %1$s_admin_select on %1$I for select to carego_facility_admin, carego_super_admin using (true)', t);
        -- Super admins read care records but never author them: a record's
        -- author is a member of the patient's facility (composite FK).
        execute format('create policy %1$s_admin_insert on %1$I for insert to carego_facility_admin with check (true)', t);
        execute format('grant select on %I to carego_facility_admin, carego_super_admin', t);
        execute format('grant insert on %I to carego_facility_admin', t);
        execute format('create trigger %1$s_stamp before insert on %1$I for each row execute function carego.stamp_record()', t);
        execute format('create trigger %1$s_append_only before update or delete or truncate on %1$I for each statement execute function carego.forbid_change()', t);
        execute format('create trigger %1$s_audit after insert on %1$I for each row execute function carego.audit_row(%L)', t, 'facility_id');
    end loop;
end
$$;

-- Staff record and read care logs and vitals of the patients they can see;
-- a patient reads the ones marked visible to them.
create policy care_logs_caseload_select on care_logs for select to carego_staff
    using (patient_id = any ((select carego.visible_patient_ids())::uuid[]));
create policy care_logs_caseload_insert on care_logs for insert to carego_staff
    with check (patient_id = any ((select carego.visible_patient_ids())::uuid[]));
create policy care_logs_patient_select on care_logs for select to carego_patient
    using (visible_to_patient and patient_id = any ((select carego.visible_patient_ids())::uuid[]));
grant select, insert on care_logs to carego_staff;
grant select on care_logs to carego_patient;

create policy vitals_caseload_select on vitals for select to carego_staff
    using (patient_id = any ((select carego.visible_patient_ids())::uuid[]));
create policy vitals_caseload_insert on vitals for insert to carego_staff
    with check (patient_id = any ((select carego.visible_patient_ids())::uuid[]));
create policy vitals_patient_select on vitals for select to carego_patient
    using (visible_to_patient and patient_id = any ((select carego.visible_patient_ids())::uuid[]));
grant select, insert on vitals to carego_staff;
grant select on vitals to carego_patient;

-- Staff see and record only their own attendance (a visit must be to a
-- patient they can see); admins see and correct everyone's.
create policy attendance_self_select on attendance for select to carego_staff
    using (staff_id = (select carego.current_user_id()));
create policy attendance_self_insert on attendance for insert to carego_staff
    with check (staff_id = (select carego.current_user_id())
                and (patient_id is null or patient_id = any ((select carego.visible_patient_ids())::uuid[])));
grant select, insert on attendance to carego_staff;
