-- Announcements: a facility admin tells the whole facility, all patients or
-- all staff; each reader acknowledges once. Both are append-only: a
-- correction is a new announcement. Admins see who has acknowledged.
create table announcements (
    facility_id  uuid        not null,
    id           uuid        not null default gen_random_uuid(),
    audience     text        not null,
    title        text        not null,
    body         text        not null,
    created_by   uuid        not null default carego.current_user_id(),
    created_at   timestamptz not null default now(),
    constraint announcements_pkey primary key (facility_id, id),
    constraint announcements_created_by_fkey foreign key (facility_id, created_by) references users (facility_id, id),
    constraint announcements_audience_check check (audience in ('everyone', 'patients', 'staff')),
    constraint announcements_title_check check (length(title) between 1 and 200),
    constraint announcements_body_check check (length(body) between 1 and 10000)
);
create index announcements_created_idx on announcements (facility_id, created_at desc, id desc);

alter table announcements enable row level security;
alter table announcements force row level security;
create policy announcements_facility_isolation on announcements as restrictive for all
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator
    using (facility_id = (select carego.current_facility_id()));
create policy announcements_super_admin_gate on announcements as restrictive for all to carego_super_admin
    using ((select carego.is_super_admin()));
create policy announcements_admin_select on announcements for select
    to carego_facility_admin, carego_super_admin using (true);
create policy announcements_staff_select on announcements for select to carego_staff
    using (audience in ('everyone', 'staff'));
create policy announcements_patient_select on announcements for select to carego_patient
    using (audience in ('everyone', 'patients'));
create policy announcements_admin_insert on announcements for insert to carego_facility_admin
    with check (created_by = (select carego.current_user_id()));
grant select on announcements to carego_patient, carego_staff, carego_facility_admin, carego_super_admin;
grant insert (id, facility_id, audience, title, body) on announcements to carego_facility_admin;

create table announcement_acknowledgements (
    facility_id      uuid        not null,
    announcement_id  uuid        not null,
    user_id          uuid        not null default carego.current_user_id(),
    acknowledged_at  timestamptz not null default now(),
    constraint announcement_acknowledgements_pkey primary key (facility_id, announcement_id, user_id),
    constraint announcement_acknowledgements_announcement_fkey foreign key (facility_id, announcement_id)
        references announcements (facility_id, id),
    constraint announcement_acknowledgements_user_fkey foreign key (facility_id, user_id)
        references users (facility_id, id)
);

alter table announcement_acknowledgements enable row level security;
alter table announcement_acknowledgements force row level security;
create policy announcement_acknowledgements_facility_isolation on announcement_acknowledgements
    as restrictive for all
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator
    using (facility_id = (select carego.current_facility_id()));
create policy announcement_acknowledgements_super_admin_gate on announcement_acknowledgements
    as restrictive for all to carego_super_admin using ((select carego.is_super_admin()));
create policy announcement_acknowledgements_admin_select on announcement_acknowledgements for select
    to carego_facility_admin, carego_super_admin using (true);
create policy announcement_acknowledgements_self_select on announcement_acknowledgements for select
    to carego_patient, carego_staff using (user_id = (select carego.current_user_id()));
-- Only your own, and only of an announcement you can read (the sub-select
-- runs under your RLS on announcements).
create policy announcement_acknowledgements_self_insert on announcement_acknowledgements for insert
    to carego_patient, carego_staff, carego_facility_admin
    with check (user_id = (select carego.current_user_id())
                and exists (select from announcements a
                             where a.facility_id = announcement_acknowledgements.facility_id
                               and a.id = announcement_acknowledgements.announcement_id));
grant select on announcement_acknowledgements
    to carego_patient, carego_staff, carego_facility_admin, carego_super_admin;
grant insert (facility_id, announcement_id) on announcement_acknowledgements
    to carego_patient, carego_staff, carego_facility_admin;

-- The audience: the facility's active users the announcement addresses.
create function carego.announcement_audience(p_facility uuid, p_audience text) returns uuid[]
    language sql
    stable
    security definer
    set search_path = pg_catalog, public
    as $$
    select coalesce(array_agg(u.id), '{}')
      from public.users u
     where u.facility_id = p_facility and u.status = 'active'
       and (p_audience = 'everyone'
            or (p_audience = 'patients' and u.role = 'patient')
            or (p_audience = 'staff' and u.role in ('staff', 'facility_admin')))
$$;

-- How many it addresses: for the facility's admins; null for anyone else
-- (the same statement serves every role, so every role may call it).
create function carego.announcement_audience_size(p_facility uuid, p_audience text) returns bigint
    language sql
    stable
    security definer
    set search_path = pg_catalog, public
    as $$
    select case when carego.current_app_role() = 'facility_admin'
                     and p_facility = carego.current_facility_id()
                then cardinality(carego.announcement_audience(p_facility, p_audience))::bigint end
$$;
grant execute on function carego.announcement_audience_size(uuid, text)
    to carego_patient, carego_staff, carego_facility_admin, carego_super_admin;

create function carego.announcement_event() returns trigger
    language plpgsql
    security definer
    set search_path = pg_catalog, public
    as $$
begin
    perform carego.emit_event(new.facility_id, 'announcement.published', new.id, null, null,
        array_remove(carego.announcement_audience(new.facility_id, new.audience), new.created_by));
    return null;
end
$$;

create trigger announcements_append_only before update or delete or truncate on announcements
    for each statement execute function carego.forbid_change();
create trigger announcements_audit after insert on announcements
    for each row execute function carego.audit_row('facility_id');
create trigger announcements_event after insert on announcements
    for each row execute function carego.announcement_event();
create trigger announcement_acknowledgements_append_only
    before update or delete or truncate on announcement_acknowledgements
    for each statement execute function carego.forbid_change();
create trigger announcement_acknowledgements_audit after insert on announcement_acknowledgements
    for each row execute function carego.audit_row('facility_id');
