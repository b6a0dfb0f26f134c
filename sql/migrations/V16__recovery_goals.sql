-- Goals: what a patient works towards, assigned by their care team or
-- proposed by the patient, with a measurable target and a date; progress
-- entries are appended against them.
--
-- A goal's status and wording change (every change is in the audit log); who
-- proposed it never does. Patients propose and read their own and add
-- progress; staff manage their caseload's; facility admins their facility's;
-- super admins read.
create table goals (
    facility_id       uuid        not null,
    id                uuid        not null default gen_random_uuid(),
    patient_id        uuid        not null,
    category          text        not null,
    description       text        not null,
    measurable_target text,
    target_date       date,
    status            text        not null default 'active',
    -- Who set it: the patient (a proposal) or their care team.
    origin            text        not null default
        (case when carego.current_app_role() = 'patient' then 'patient' else 'staff' end),
    created_by        uuid        not null default carego.current_user_id(),
    created_at        timestamptz not null default now(),
    updated_at        timestamptz not null default now(),
    constraint goals_pkey primary key (facility_id, id),
    constraint goals_patient_id_key unique (facility_id, patient_id, id),
    constraint goals_patient_fkey foreign key (facility_id, patient_id) references patients (facility_id, id),
    constraint goals_created_by_fkey foreign key (facility_id, created_by) references users (facility_id, id),
    constraint goals_category_check check (category in ('sobriety', 'health', 'relationships', 'work',
        'education', 'housing', 'legal', 'financial', 'other')),
    constraint goals_description_check check (length(description) between 1 and 2000),
    constraint goals_measurable_target_check check (length(measurable_target) between 1 and 500),
    constraint goals_status_check check (status in ('active', 'achieved', 'abandoned')),
    constraint goals_origin_check check (origin in ('staff', 'patient'))
);
create index goals_patient_idx on goals (facility_id, patient_id, created_at desc, id desc);

alter table goals enable row level security;
alter table goals force row level security;

create policy goals_facility_isolation on goals as restrictive for all
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator
    using (facility_id = (select carego.current_facility_id()));
create policy goals_super_admin_gate on goals as restrictive for all to carego_super_admin
    using ((select carego.is_super_admin()));

create policy goals_admin_select on goals for select
    to carego_facility_admin, carego_super_admin using (true);
create policy goals_caseload_select on goals for select to carego_staff
    using (patient_id = any ((select carego.visible_patient_ids())::uuid[]));
create policy goals_patient_select on goals for select to carego_patient
    using (patient_id = any ((select carego.visible_patient_ids())::uuid[]));

create policy goals_admin_insert on goals for insert to carego_facility_admin
    with check (true);
create policy goals_caseload_insert on goals for insert to carego_staff
    with check (patient_id = any ((select carego.visible_patient_ids())::uuid[]));
create policy goals_patient_insert on goals for insert to carego_patient
    with check (patient_id = any ((select carego.visible_patient_ids())::uuid[]));

create policy goals_admin_update on goals for update to carego_facility_admin
    using (true) with check (true);
create policy goals_caseload_update on goals for update to carego_staff
    using (patient_id = any ((select carego.visible_patient_ids())::uuid[]))
    with check (patient_id = any ((select carego.visible_patient_ids())::uuid[]));

grant select on goals to carego_patient, carego_staff, carego_facility_admin, carego_super_admin;
-- origin, created_by and the times come from the context, never the request.
grant insert (id, facility_id, patient_id, category, description, measurable_target, target_date)
    on goals to carego_patient, carego_staff, carego_facility_admin;
grant update (category, description, measurable_target, target_date, status)
    on goals to carego_staff, carego_facility_admin;

create trigger goals_touch before update on goals
    for each row execute function carego.touch_updated_at();
create trigger goals_audit after insert or update on goals
    for each row execute function carego.audit_row('facility_id');

-- Progress entries: append-only notes against a goal, with an optional
-- percentage; by the patient or their care team; the id may come from the
-- client.
create table goal_progress (
    facility_id  uuid        not null,
    id           uuid        not null default gen_random_uuid(),
    patient_id   uuid        not null,
    goal_id      uuid        not null,
    note         text        not null,
    progress_pct smallint,
    recorded_by  uuid        not null, -- stamped by carego.stamp_record()
    recorded_at  timestamptz not null default now(),
    constraint goal_progress_pkey primary key (facility_id, id),
    -- Composite: the goal is this patient's, in this facility.
    constraint goal_progress_goal_fkey foreign key (facility_id, patient_id, goal_id)
        references goals (facility_id, patient_id, id),
    constraint goal_progress_recorded_by_fkey foreign key (facility_id, recorded_by)
        references users (facility_id, id),
    constraint goal_progress_note_check check (length(note) between 1 and 2000),
    constraint goal_progress_progress_pct_check check (progress_pct between 0 and 100)
);
create index goal_progress_patient_idx on goal_progress (facility_id, patient_id, recorded_at desc, id desc);
create index goal_progress_goal_idx on goal_progress (facility_id, goal_id, recorded_at desc);

alter table goal_progress enable row level security;
alter table goal_progress force row level security;

create policy goal_progress_facility_isolation on goal_progress as restrictive for all
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator
    using (facility_id = (select carego.current_facility_id()));
create policy goal_progress_super_admin_gate on goal_progress as restrictive for all to carego_super_admin
    using ((select carego.is_super_admin()));

create policy goal_progress_admin_select on goal_progress for select
    to carego_facility_admin, carego_super_admin using (true);
create policy goal_progress_caseload_select on goal_progress for select to carego_staff
    using (patient_id = any ((select carego.visible_patient_ids())::uuid[]));
create policy goal_progress_patient_select on goal_progress for select to carego_patient
    using (patient_id = any ((select carego.visible_patient_ids())::uuid[]));

create policy goal_progress_admin_insert on goal_progress for insert to carego_facility_admin
    with check (true);
create policy goal_progress_caseload_insert on goal_progress for insert to carego_staff
    with check (patient_id = any ((select carego.visible_patient_ids())::uuid[]));
create policy goal_progress_patient_insert on goal_progress for insert to carego_patient
    with check (patient_id = any ((select carego.visible_patient_ids())::uuid[]));

grant select, insert on goal_progress to carego_patient, carego_staff, carego_facility_admin;
grant select on goal_progress to carego_super_admin;

create trigger goal_progress_stamp before insert on goal_progress
    for each row execute function carego.stamp_record();
create trigger goal_progress_append_only before update or delete or truncate on goal_progress
    for each statement execute function carego.forbid_change();
create trigger goal_progress_audit after insert on goal_progress
    for each row execute function carego.audit_row('facility_id');
