-- Facilities: the tenants. A facility's own id is its tenant key, so the
-- isolation policy compares `id` here and `facility_id` everywhere else.
-- Only super admins create, rename, suspend and reactivate facilities; a
-- suspended facility's users are refused by carego.begin_request (403).

create table facilities (
    id         uuid        not null default gen_random_uuid(),
    slug       text        not null,
    name       text        not null,
    kind       text        not null,
    status     text        not null default 'active',
    timezone   text        not null default 'UTC',
    city       text,
    phone      text,
    email      text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint facilities_pkey primary key (id),
    constraint facilities_slug_key unique (slug),
    constraint facilities_slug_check check (slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
    constraint facilities_name_check check (length(name) between 1 and 200),
    constraint facilities_kind_check
        check (kind in ('rehab_centre', 'home_care', 'clinic', 'training_centre')),
    constraint facilities_status_check check (status in ('active', 'suspended'))
);

alter table facilities enable row level security;
alter table facilities force row level security;

create policy facilities_facility_isolation on facilities as restrictive for all
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator
    using (id = (select carego.current_facility_id()));
create policy facilities_super_admin_gate on facilities as restrictive for all to carego_super_admin
    using ((select carego.is_super_admin()));

create policy facilities_member_select on facilities for select
    to carego_patient, carego_staff, carego_facility_admin, carego_super_admin
    using (true);
create policy facilities_super_admin_insert on facilities for insert
    to carego_super_admin with check (true);
create policy facilities_super_admin_update on facilities for update
    to carego_super_admin using (true) with check (true);
-- Login and session checks run as the owner inside SECURITY DEFINER functions.
create policy facilities_owner_select on facilities for select to carego_owner using (true);

grant select on facilities to carego_patient, carego_staff, carego_facility_admin, carego_super_admin;
grant insert, update on facilities to carego_super_admin;

create function carego.touch_updated_at() returns trigger
    language plpgsql
    as $$
begin
    -- A no-op update stays a no-op: no new timestamp, so no audit row either.
    if new is not distinct from old then
        return new;
    end if;
    new.updated_at := now();
    return new;
end
$$;

create trigger facilities_touch before update on facilities
    for each row execute function carego.touch_updated_at();
create trigger facilities_audit after insert or update or delete on facilities
    for each row execute function carego.audit_row('id');
