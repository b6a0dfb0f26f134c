-- The public catalog: the cities the platform serves (platform data, kept by
-- super admins), and what each facility offers in them: services (home
-- nursing, physiotherapy at home...) and training courses. A facility's
-- service or course reaches the public website only while it is published
-- and the facility is active.
--
-- The website reads as `carego_public`, with no facility in its context: the
-- facility isolation policy does not apply to that role here. In its place a
-- restrictive policy lets it see published rows and nothing else, so a
-- draft is invisible to the public by RLS, not by a WHERE clause.
--
-- Every change to these tables, or to a facility, tells the servers' LISTEN
-- connections (`carego_catalog`), which drop their cached catalog answers.

create table cities (
    id         uuid        not null default gen_random_uuid(),
    slug       text        not null,
    name       text        not null,
    region     text,
    active     boolean     not null default true,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint cities_pkey primary key (id),
    constraint cities_slug_key unique (slug),
    constraint cities_slug_check check (slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
    constraint cities_name_check check (length(name) between 1 and 100),
    constraint cities_region_check check (length(region) between 1 and 100)
);

alter table cities enable row level security;
alter table cities force row level security;

-- Not a tenant table: everyone reads the active cities; super admins all of
-- them, and only they write.
create policy cities_active_select on cities for select
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator
    using (active);
create policy cities_super_admin_select on cities for select to carego_super_admin
    using ((select carego.is_super_admin()));
create policy cities_super_admin_insert on cities for insert to carego_super_admin
    with check ((select carego.is_super_admin()));
create policy cities_super_admin_update on cities for update to carego_super_admin
    using ((select carego.is_super_admin())) with check ((select carego.is_super_admin()));

grant select on cities to carego_public, carego_patient, carego_staff, carego_facility_admin,
    carego_super_admin, carego_integrator;
grant insert (slug, name, region, active), update (name, region, active) on cities to carego_super_admin;

create trigger cities_touch before update on cities
    for each row execute function carego.touch_updated_at();
create trigger cities_audit after insert or update or delete on cities
    for each row execute function carego.audit_row('facility_id');

-- A facility's services: what it offers, in which city, from what price.
-- The slug is unique within the facility; the website's handle for a
-- service is `{facility slug}.{service slug}` (a dot is in neither), so no
-- facility can learn from a refused slug that another one uses it.
create table services (
    facility_id      uuid        not null,
    id               uuid        not null default gen_random_uuid(),
    slug             text        not null,
    name             text        not null,
    summary          text        not null,
    description      text,
    city_id          uuid        not null,
    price_from_minor bigint,
    currency         text,
    published        boolean     not null default false,
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now(),
    constraint services_pkey primary key (facility_id, id),
    constraint services_facility_slug_key unique (facility_id, slug),
    constraint services_facility_fkey foreign key (facility_id) references facilities (id),
    constraint services_city_fkey foreign key (city_id) references cities (id),
    constraint services_slug_check check (slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
    constraint services_name_check check (length(name) between 1 and 200),
    constraint services_summary_check check (length(summary) between 1 and 500),
    constraint services_description_check check (length(description) between 1 and 10000),
    constraint services_price_check check (price_from_minor >= 0),
    constraint services_currency_check
        check (currency ~ '^[A-Z]{3}$' and (price_from_minor is null) = (currency is null))
);
create index services_published_idx on services (city_id, name) where published;

alter table services enable row level security;
alter table services force row level security;

create policy services_facility_isolation on services as restrictive for all
    to carego_patient, carego_staff, carego_facility_admin, carego_integrator
    using (facility_id = (select carego.current_facility_id()));
create policy services_super_admin_gate on services as restrictive for all to carego_super_admin
    using ((select carego.is_super_admin()));
-- The public sees what is published, of every facility, and nothing else.
create policy services_public_published on services as restrictive for all to carego_public
    using (published);

create policy services_select on services for select
    to carego_public, carego_staff, carego_facility_admin, carego_super_admin using (true);
-- A facility's admins add its offers; super admins, who belong to no
-- facility, only moderate (update) them.
create policy services_admin_insert on services for insert
    to carego_facility_admin with check (true);
create policy services_admin_update on services for update
    to carego_facility_admin, carego_super_admin using (true) with check (true);

grant select (facility_id, id, slug, name, summary, description, city_id, price_from_minor,
              currency, updated_at)
    on services to carego_public;
grant select on services to carego_staff, carego_facility_admin, carego_super_admin;
grant insert (facility_id, slug, name, summary, description, city_id, price_from_minor, currency,
              published)
    on services to carego_facility_admin;
grant update (slug, name, summary, description, city_id, price_from_minor, currency, published)
    on services to carego_facility_admin, carego_super_admin;

create trigger services_touch before update on services
    for each row execute function carego.touch_updated_at();
create trigger services_audit after insert or update or delete on services
    for each row execute function carego.audit_row('facility_id');

-- A facility's training courses (the LMS's batches and enrollments hang off
-- them). The city is where it is taught. A training centre appears on the
-- website in the cities where it has a published course.
create table courses (
    facility_id    uuid        not null,
    id             uuid        not null default gen_random_uuid(),
    slug           text        not null,
    title          text        not null,
    summary        text        not null,
    description    text,
    city_id        uuid        not null,
    duration_hours integer     not null,
    fee_minor      bigint,
    currency       text,
    published      boolean     not null default false,
    created_at     timestamptz not null default now(),
    updated_at     timestamptz not null default now(),
    constraint courses_pkey primary key (facility_id, id),
    constraint courses_facility_slug_key unique (facility_id, slug),
    constraint courses_facility_fkey foreign key (facility_id) references facilities (id),
    constraint courses_city_fkey foreign key (city_id) references cities (id),
    constraint courses_slug_check check (slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
    constraint courses_title_check check (length(title) between 1 and 200),
    constraint courses_summary_check check (length(summary) between 1 and 500),
    constraint courses_description_check check (length(description) between 1 and 10000),
    constraint courses_duration_check check (duration_hours between 1 and 10000),
    constraint courses_fee_check check (fee_minor >= 0),
    constraint courses_currency_check
        check (currency ~ '^[A-Z]{3}$' and (fee_minor is null) = (currency is null))
);
create index courses_published_idx on courses (city_id, title) where published;

alter table courses enable row level security;
alter table courses force row level security;

create policy courses_facility_isolation on courses as restrictive for all
    to carego_patient, carego_staff, carego_facility_admin, carego_integrator
    using (facility_id = (select carego.current_facility_id()));
create policy courses_super_admin_gate on courses as restrictive for all to carego_super_admin
    using ((select carego.is_super_admin()));
create policy courses_public_published on courses as restrictive for all to carego_public
    using (published);

create policy courses_select on courses for select
    to carego_public, carego_staff, carego_facility_admin, carego_super_admin using (true);
-- A facility's admins add its offers; super admins, who belong to no
-- facility, only moderate (update) them.
create policy courses_admin_insert on courses for insert
    to carego_facility_admin with check (true);
create policy courses_admin_update on courses for update
    to carego_facility_admin, carego_super_admin using (true) with check (true);

grant select (facility_id, id, slug, title, summary, description, city_id, duration_hours,
              fee_minor, currency, updated_at)
    on courses to carego_public;
grant select on courses to carego_staff, carego_facility_admin, carego_super_admin;
grant insert (facility_id, slug, title, summary, description, city_id, duration_hours, fee_minor,
              currency, published)
    on courses to carego_facility_admin;
grant update (slug, title, summary, description, city_id, duration_hours, fee_minor, currency,
              published)
    on courses to carego_facility_admin, carego_super_admin;

create trigger courses_touch before update on courses
    for each row execute function carego.touch_updated_at();
create trigger courses_audit after insert or update or delete on courses
    for each row execute function carego.audit_row('facility_id');

-- The public may read a facility only while it is active and publishes
-- something: its name and contacts, beside its services and courses. The
-- sub-selects run under the public's own policies above (published rows
-- only), which do not look back at facilities, so there is no recursion.
alter policy facilities_facility_isolation on facilities
    to carego_patient, carego_staff, carego_facility_admin, carego_integrator;
create policy facilities_public_publishing on facilities as restrictive for all to carego_public
    using (status = 'active'
           and (exists (select 1 from services s where s.facility_id = facilities.id)
                or exists (select 1 from courses c where c.facility_id = facilities.id)));
create policy facilities_public_select on facilities for select to carego_public using (true);
grant select (id, slug, name, kind, phone, email) on facilities to carego_public;

-- Wakes every server's catalog cache. Statement-level and payload-free: the
-- cache drops everything, which is cheap next to reading the catalog, and a
-- burst of changes is one notification per statement, delivered at commit.
create function carego.notify_catalog() returns trigger
    language plpgsql
    as $$
begin
    perform pg_catalog.pg_notify('carego_catalog', '');
    return null;
end
$$;

create trigger cities_catalog after insert or update or delete on cities
    for each statement execute function carego.notify_catalog();
create trigger services_catalog after insert or update or delete on services
    for each statement execute function carego.notify_catalog();
create trigger courses_catalog after insert or update or delete on courses
    for each statement execute function carego.notify_catalog();
create trigger facilities_catalog after update on facilities
    for each statement execute function carego.notify_catalog();
