-- Leads from the website's form, and how a facility works them: notes
-- (append-only), assignment to a staff member, a status history written by
-- a trigger, and the end of each lead: converted into a client or student
-- account (V29), or rejected with a reason.
--
-- A lead about a published service or course belongs to the facility that
-- published it. A lead that names neither belongs to the platform
-- (`facility_id` null): super admins see those, and route each one to a
-- facility, whose admins then work it. Like `users`, this is a table whose
-- facility can be empty, so its primary key is `id` alone and
-- `leads_facility_id_key (facility_id, id)` is what composite foreign keys
-- point at; a platform lead has no service, course, assignee or account, so
-- no reference of it can cross facilities.
--
-- The website inserts as `carego_public` under a WITH CHECK policy: the
-- service or course it names must be one the public can see (published), of
-- the facility the lead is filed under. So routing is decided by RLS, and a
-- lead cannot be filed under a facility that did not publish what it names.
-- The public cannot read a lead back, not even its own.

create table leads (
    id                uuid        not null,
    facility_id       uuid,
    lead_type         text        not null,
    name              text        not null,
    phone             text        not null,
    email             text,
    city_id           uuid,
    service_id        uuid,
    course_id         uuid,
    message           text,
    status            text        not null default 'new',
    assigned_to       uuid,
    rejection_reason  text,
    converted_user_id uuid,
    converted_at      timestamptz,
    created_at        timestamptz not null default now(),
    updated_at        timestamptz not null default now(),
    constraint leads_pkey primary key (id),
    constraint leads_facility_id_key unique (facility_id, id),
    constraint leads_facility_fkey foreign key (facility_id) references facilities (id),
    constraint leads_city_fkey foreign key (city_id) references cities (id),
    constraint leads_service_fkey foreign key (facility_id, service_id)
        references services (facility_id, id),
    constraint leads_course_fkey foreign key (facility_id, course_id)
        references courses (facility_id, id),
    constraint leads_assignee_fkey foreign key (facility_id, assigned_to)
        references users (facility_id, id),
    constraint leads_converted_user_fkey foreign key (facility_id, converted_user_id)
        references users (facility_id, id),
    constraint leads_type_check check (lead_type in ('service', 'training')),
    constraint leads_status_check
        check (status in ('new', 'contacted', 'qualified', 'converted', 'rejected')),
    constraint leads_name_check check (length(name) between 1 and 200),
    constraint leads_phone_check check (phone ~ '^\+?[0-9]{10,15}$'),
    constraint leads_email_check check (email = lower(email) and email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$'),
    constraint leads_message_check check (length(message) between 1 and 2000),
    constraint leads_rejection_reason_check check (length(rejection_reason) between 1 and 500),
    -- What a lead names fits its type: a service for service leads, a course for training.
    constraint leads_target_check check (
        (service_id is null or lead_type = 'service') and (course_id is null or lead_type = 'training')),
    -- Only a facility's lead names its offer, an assignee or an account.
    constraint leads_platform_check check (
        facility_id is not null
        or (service_id is null and course_id is null and assigned_to is null and converted_user_id is null)),
    constraint leads_outcome_check check (
        (status = 'rejected') = (rejection_reason is not null)
        and (status = 'converted') = (converted_user_id is not null and converted_at is not null))
);
create index leads_facility_created_idx on leads (facility_id, created_at desc, id desc);
create index leads_platform_created_idx on leads (created_at desc, id desc) where facility_id is null;

alter table leads enable row level security;
alter table leads force row level security;

create policy leads_facility_isolation on leads as restrictive for all
    to carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client,
       carego_student
    using (facility_id = (select carego.current_facility_id()));
create policy leads_super_admin_gate on leads as restrictive for all to carego_super_admin
    using ((select carego.is_super_admin()));

-- The website files new leads and reads none.
create policy leads_public_insert on leads for insert to carego_public
    with check (
        status = 'new' and assigned_to is null and converted_user_id is null
        and (service_id is null
             or exists (select 1 from services s where s.facility_id = leads.facility_id and s.id = leads.service_id))
        and (course_id is null
             or exists (select 1 from courses c where c.facility_id = leads.facility_id and c.id = leads.course_id))
        and (facility_id is null) = (service_id is null and course_id is null));
-- Admins work their facility's leads (super admins every lead); a staff
-- member reads the leads assigned to them.
create policy leads_admin_select on leads for select
    to carego_facility_admin, carego_super_admin using (true);
create policy leads_assignee_select on leads for select to carego_staff
    using (assigned_to = (select carego.current_user_id()));
create policy leads_admin_update on leads for update
    to carego_facility_admin, carego_super_admin using (true) with check (true);

grant insert (id, facility_id, lead_type, name, phone, email, city_id, service_id, course_id, message)
    on leads to carego_public;
grant select on leads to carego_staff, carego_facility_admin, carego_super_admin;
grant update (status, assigned_to, rejection_reason, converted_user_id, converted_at)
    on leads to carego_facility_admin, carego_super_admin;
-- Routing a platform lead to a facility is the super admins' alone.
grant update (facility_id) on leads to carego_super_admin;

-- The life of a lead: new → contacted → qualified, and from any of them to
-- converted or rejected, which are final. A platform lead is routed once
-- and only while it is open. Raised as named constraints, so the SQL that
-- runs the update translates them like any other.
create function carego.leads_guard() returns trigger
    language plpgsql
    as $$
begin
    if old.status in ('converted', 'rejected') then
        raise exception 'lead % is closed', old.id
            using errcode = '23514', constraint = 'leads_closed_check', table = 'leads';
    end if;
    if new.facility_id is distinct from old.facility_id and old.facility_id is not null then
        raise exception 'lead % is already routed', old.id
            using errcode = '23514', constraint = 'leads_routed_check', table = 'leads';
    end if;
    if new.status = 'converted' and new.facility_id is null then
        raise exception 'lead % has no facility', old.id
            using errcode = '23514', constraint = 'leads_routed_check', table = 'leads';
    end if;
    return new;
end
$$;

create trigger leads_guard before update on leads
    for each row execute function carego.leads_guard();
create trigger leads_touch before update on leads
    for each row execute function carego.touch_updated_at();
create trigger leads_audit after insert or update or delete on leads
    for each row execute function carego.audit_row('facility_id');

-- Notes on a lead: append-only; whoever may read the lead may add one.
create table lead_notes (
    id          uuid        not null default gen_random_uuid(),
    facility_id uuid,
    lead_id     uuid        not null,
    body        text        not null,
    recorded_by uuid,
    recorded_at timestamptz not null default now(),
    constraint lead_notes_pkey primary key (id),
    constraint lead_notes_lead_fkey foreign key (facility_id, lead_id)
        references leads (facility_id, id) on update cascade,
    constraint lead_notes_body_check check (length(body) between 1 and 5000)
);
create index lead_notes_lead_idx on lead_notes (lead_id, recorded_at desc, id desc);

alter table lead_notes enable row level security;
alter table lead_notes force row level security;

create policy lead_notes_facility_isolation on lead_notes as restrictive for all
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator,
       carego_client, carego_student
    using (facility_id = (select carego.current_facility_id()));
create policy lead_notes_super_admin_gate on lead_notes as restrictive for all to carego_super_admin
    using ((select carego.is_super_admin()));
create policy lead_notes_reader_select on lead_notes for select
    to carego_staff, carego_facility_admin, carego_super_admin
    using (exists (select 1 from leads l where l.id = lead_notes.lead_id));
create policy lead_notes_reader_insert on lead_notes for insert
    to carego_staff, carego_facility_admin, carego_super_admin
    with check (exists (select 1 from leads l where l.id = lead_notes.lead_id
                          and l.facility_id is not distinct from lead_notes.facility_id));
-- Routing a lead carries its notes along (the cascade runs as the owner).
create policy lead_notes_owner_update on lead_notes for update to carego_owner
    using (true) with check (true);

grant select, insert (facility_id, lead_id, body) on lead_notes
    to carego_staff, carego_facility_admin, carego_super_admin;

create trigger lead_notes_stamp before insert on lead_notes
    for each row execute function carego.stamp_record();
create trigger lead_notes_audit after insert on lead_notes
    for each row execute function carego.audit_row('facility_id');

-- Each lead's status history: one row when it arrives and one for each
-- change of status, assignee or facility, with who and why. Written by the
-- trigger below, never by a request (append-only).
create table lead_events (
    id          uuid        not null default gen_random_uuid(),
    facility_id uuid,
    lead_id     uuid        not null,
    status      text        not null,
    assigned_to uuid,
    reason      text,
    actor_id    uuid,
    actor_role  text        not null,
    -- The clock, not the transaction's start: one transaction can write two.
    at          timestamptz not null default clock_timestamp(),
    constraint lead_events_pkey primary key (id),
    constraint lead_events_lead_fkey foreign key (facility_id, lead_id)
        references leads (facility_id, id) on update cascade
);
create index lead_events_lead_idx on lead_events (lead_id, at, id);

alter table lead_events enable row level security;
alter table lead_events force row level security;

create policy lead_events_facility_isolation on lead_events as restrictive for all
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator,
       carego_client, carego_student
    using (facility_id = (select carego.current_facility_id()));
create policy lead_events_super_admin_gate on lead_events as restrictive for all to carego_super_admin
    using ((select carego.is_super_admin()));
create policy lead_events_reader_select on lead_events for select
    to carego_staff, carego_facility_admin, carego_super_admin
    using (exists (select 1 from leads l where l.id = lead_events.lead_id));
create policy lead_events_owner_insert on lead_events for insert to carego_owner with check (true);
create policy lead_events_owner_update on lead_events for update to carego_owner
    using (true) with check (true);

grant select on lead_events to carego_staff, carego_facility_admin, carego_super_admin;

-- Runs as the owner: the website, which cannot read leads, files the first
-- event of its own lead.
create function carego.lead_history() returns trigger
    language plpgsql
    security definer
    set search_path = pg_catalog, public
    as $$
begin
    if tg_op = 'UPDATE' and new.status = old.status and new.assigned_to is not distinct from old.assigned_to
       and new.facility_id is not distinct from old.facility_id then
        return null;
    end if;
    insert into public.lead_events (facility_id, lead_id, status, assigned_to, reason, actor_id, actor_role)
    values (new.facility_id, new.id, new.status, new.assigned_to,
            coalesce(new.rejection_reason, nullif(pg_catalog.current_setting('carego.change_reason', true), '')),
            carego.current_user_id(), coalesce(carego.current_app_role(), 'public'));
    return null;
end
$$;

create trigger leads_history after insert or update on leads
    for each row execute function carego.lead_history();
