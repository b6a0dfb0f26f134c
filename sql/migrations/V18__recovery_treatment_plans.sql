-- Treatment plans: problems, goals and interventions with a review date,
-- written by the care team, signed off by a clinician and acknowledged by
-- the patient. A plan is a series of versions: at most one draft, which the
-- care team edits; signing makes a version immutable (only the patient's
-- acknowledgement is added to it, once); a change after that is a new
-- draft version. Facilities keep templates to start plans from.

create table treatment_plan_templates (
    facility_id          uuid        not null,
    id                   uuid        not null default gen_random_uuid(),
    name                 text        not null,
    problems             text[]      not null default '{}',
    goals                text[]      not null default '{}',
    interventions        text[]      not null default '{}',
    review_interval_days integer     not null default 30,
    created_by           uuid        not null default carego.current_user_id(),
    created_at           timestamptz not null default now(),
    constraint treatment_plan_templates_pkey primary key (facility_id, id),
    constraint treatment_plan_templates_facility_name_key unique (facility_id, name),
    constraint treatment_plan_templates_facility_fkey foreign key (facility_id) references facilities (id),
    constraint treatment_plan_templates_created_by_fkey foreign key (facility_id, created_by)
        references users (facility_id, id),
    constraint treatment_plan_templates_name_check check (length(name) between 1 and 200),
    constraint treatment_plan_templates_review_interval_days_check check (review_interval_days between 1 and 366)
);

alter table treatment_plan_templates enable row level security;
alter table treatment_plan_templates force row level security;

create policy treatment_plan_templates_facility_isolation on treatment_plan_templates as restrictive for all
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator
    using (facility_id = (select carego.current_facility_id()));
create policy treatment_plan_templates_super_admin_gate on treatment_plan_templates as restrictive for all
    to carego_super_admin using ((select carego.is_super_admin()));

-- The facility's staff read its templates; its admins write them.
create policy treatment_plan_templates_member_select on treatment_plan_templates for select
    to carego_staff, carego_facility_admin, carego_super_admin using (true);
create policy treatment_plan_templates_admin_insert on treatment_plan_templates for insert
    to carego_facility_admin with check (true);

grant select on treatment_plan_templates to carego_staff, carego_facility_admin, carego_super_admin;
grant insert (facility_id, name, problems, goals, interventions, review_interval_days)
    on treatment_plan_templates to carego_facility_admin;

create trigger treatment_plan_templates_audit after insert on treatment_plan_templates
    for each row execute function carego.audit_row('facility_id');

create table treatment_plans (
    facility_id uuid        not null,
    id          uuid        not null default gen_random_uuid(),
    patient_id  uuid        not null,
    title       text        not null,
    created_by  uuid        not null default carego.current_user_id(),
    created_at  timestamptz not null default now(),
    constraint treatment_plans_pkey primary key (facility_id, id),
    constraint treatment_plans_patient_id_key unique (facility_id, patient_id, id),
    constraint treatment_plans_patient_fkey foreign key (facility_id, patient_id)
        references patients (facility_id, id),
    constraint treatment_plans_created_by_fkey foreign key (facility_id, created_by)
        references users (facility_id, id),
    constraint treatment_plans_title_check check (length(title) between 1 and 200)
);
create index treatment_plans_patient_idx on treatment_plans (facility_id, patient_id, created_at desc, id desc);

alter table treatment_plans enable row level security;
alter table treatment_plans force row level security;

create policy treatment_plans_facility_isolation on treatment_plans as restrictive for all
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator
    using (facility_id = (select carego.current_facility_id()));
create policy treatment_plans_super_admin_gate on treatment_plans as restrictive for all to carego_super_admin
    using ((select carego.is_super_admin()));

create policy treatment_plans_admin_select on treatment_plans for select
    to carego_facility_admin, carego_super_admin using (true);
create policy treatment_plans_caseload_select on treatment_plans for select to carego_staff
    using (patient_id = any ((select carego.visible_patient_ids())::uuid[]));
create policy treatment_plans_patient_select on treatment_plans for select to carego_patient
    using (patient_id = any ((select carego.visible_patient_ids())::uuid[]));
create policy treatment_plans_admin_insert on treatment_plans for insert to carego_facility_admin
    with check (true);
create policy treatment_plans_caseload_insert on treatment_plans for insert to carego_staff
    with check (patient_id = any ((select carego.visible_patient_ids())::uuid[]));

grant select on treatment_plans to carego_patient, carego_staff, carego_facility_admin, carego_super_admin;
grant insert (facility_id, patient_id, title) on treatment_plans to carego_staff, carego_facility_admin;

create trigger treatment_plans_audit after insert on treatment_plans
    for each row execute function carego.audit_row('facility_id');

create table treatment_plan_versions (
    facility_id     uuid        not null,
    id              uuid        not null default gen_random_uuid(),
    plan_id         uuid        not null,
    patient_id      uuid        not null,
    version         integer     not null,
    problems        text[]      not null,
    goals           text[]      not null,
    interventions   text[]      not null,
    review_date     date        not null,
    template_id     uuid,
    status          text        not null default 'draft',
    created_by      uuid        not null default carego.current_user_id(),
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    signed_by       uuid,
    signed_at       timestamptz,
    acknowledged_by uuid,
    acknowledged_at timestamptz,
    constraint treatment_plan_versions_pkey primary key (facility_id, id),
    constraint treatment_plan_versions_plan_version_key unique (facility_id, plan_id, version),
    -- Composite: the plan is this patient's, in this facility.
    constraint treatment_plan_versions_plan_fkey foreign key (facility_id, patient_id, plan_id)
        references treatment_plans (facility_id, patient_id, id),
    constraint treatment_plan_versions_template_fkey foreign key (facility_id, template_id)
        references treatment_plan_templates (facility_id, id),
    constraint treatment_plan_versions_created_by_fkey foreign key (facility_id, created_by)
        references users (facility_id, id),
    constraint treatment_plan_versions_signed_by_fkey foreign key (facility_id, signed_by)
        references users (facility_id, id),
    constraint treatment_plan_versions_acknowledged_by_fkey foreign key (facility_id, acknowledged_by)
        references users (facility_id, id),
    constraint treatment_plan_versions_status_check check (status in ('draft', 'signed')),
    constraint treatment_plan_versions_signed_check
        check ((status = 'signed') = (signed_by is not null and signed_at is not null)),
    constraint treatment_plan_versions_acknowledged_check
        check ((acknowledged_at is null or status = 'signed') and (acknowledged_by is null) = (acknowledged_at is null)),
    constraint treatment_plan_versions_items_check
        check (cardinality(problems) <= 50 and cardinality(goals) <= 50 and cardinality(interventions) <= 50)
);
-- At most one draft per plan.
create unique index treatment_plan_versions_draft_key on treatment_plan_versions (facility_id, plan_id)
    where status = 'draft';
create index treatment_plan_versions_review_idx on treatment_plan_versions (facility_id, review_date)
    where status = 'signed';

alter table treatment_plan_versions enable row level security;
alter table treatment_plan_versions force row level security;

create policy treatment_plan_versions_facility_isolation on treatment_plan_versions as restrictive for all
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator
    using (facility_id = (select carego.current_facility_id()));
create policy treatment_plan_versions_super_admin_gate on treatment_plan_versions as restrictive for all
    to carego_super_admin using ((select carego.is_super_admin()));

create policy treatment_plan_versions_admin_select on treatment_plan_versions for select
    to carego_facility_admin, carego_super_admin using (true);
create policy treatment_plan_versions_caseload_select on treatment_plan_versions for select to carego_staff
    using (patient_id = any ((select carego.visible_patient_ids())::uuid[]));
-- A patient sees the signed versions of their plan, not the drafts.
create policy treatment_plan_versions_patient_select on treatment_plan_versions for select to carego_patient
    using (status = 'signed' and patient_id = any ((select carego.visible_patient_ids())::uuid[]));

create policy treatment_plan_versions_admin_insert on treatment_plan_versions for insert
    to carego_facility_admin with check (status = 'draft');
create policy treatment_plan_versions_caseload_insert on treatment_plan_versions for insert to carego_staff
    with check (status = 'draft' and patient_id = any ((select carego.visible_patient_ids())::uuid[]));

create policy treatment_plan_versions_admin_update on treatment_plan_versions for update
    to carego_facility_admin using (true) with check (true);
create policy treatment_plan_versions_caseload_update on treatment_plan_versions for update to carego_staff
    using (patient_id = any ((select carego.visible_patient_ids())::uuid[]))
    with check (patient_id = any ((select carego.visible_patient_ids())::uuid[]));
-- The patient's acknowledgement of a signed version (the trigger below lets
-- them add only that).
create policy treatment_plan_versions_patient_update on treatment_plan_versions for update to carego_patient
    using (status = 'signed' and acknowledged_at is null
           and patient_id = any ((select carego.visible_patient_ids())::uuid[]))
    with check (acknowledged_by = (select carego.current_user_id()));

grant select on treatment_plan_versions to carego_patient, carego_staff, carego_facility_admin, carego_super_admin;
grant insert (facility_id, plan_id, patient_id, version, problems, goals, interventions, review_date, template_id)
    on treatment_plan_versions to carego_staff, carego_facility_admin;
grant update (problems, goals, interventions, review_date, status, signed_by, signed_at)
    on treatment_plan_versions to carego_staff, carego_facility_admin;
grant update (acknowledged_by, acknowledged_at) on treatment_plan_versions to carego_patient;

-- A signed version never changes; the patient's acknowledgement is added once.
create function carego.treatment_plan_version_guard() returns trigger
    language plpgsql
    as $$
begin
    if old.status = 'signed' then
        if (new.problems, new.goals, new.interventions, new.review_date, new.status, new.signed_by,
            new.signed_at, new.version, new.plan_id, new.patient_id)
           is distinct from
           (old.problems, old.goals, old.interventions, old.review_date, old.status, old.signed_by,
            old.signed_at, old.version, old.plan_id, old.patient_id)
           or old.acknowledged_at is not null then
            raise exception 'treatment plan version % is signed and cannot change', old.id
                using errcode = 'CG409';
        end if;
    end if;
    new.updated_at := now();
    return new;
end
$$;

create trigger treatment_plan_versions_guard before update on treatment_plan_versions
    for each row execute function carego.treatment_plan_version_guard();
create trigger treatment_plan_versions_no_delete before delete or truncate on treatment_plan_versions
    for each statement execute function carego.forbid_change();
create trigger treatment_plan_versions_audit after insert or update on treatment_plan_versions
    for each row execute function carego.audit_row('facility_id');
