-- The public catalog and leads (src/db/catalog).
--
-- The current definition of every function of this area and who may execute it, and every
-- policy and grant of its tables. `carego migrate` applies this file after the versioned
-- migrations, whenever it or the migrations changed (docs/database.md, "Schema as code").
-- Change a function here, not in a new migration. Each function is followed by its grants:
-- EXECUTE revoked from PUBLIC and every app role, then granted to exactly the roles that call
-- it.

-- carego.lead_history(), since V30
CREATE OR REPLACE FUNCTION carego.lead_history()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
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
$function$;
revoke all on function carego.lead_history() from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;

-- carego.leads_guard(), since V30
CREATE OR REPLACE FUNCTION carego.leads_guard()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
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
$function$;
revoke all on function carego.leads_guard() from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;

-- carego.notify_catalog(), since V28
CREATE OR REPLACE FUNCTION carego.notify_catalog()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
begin
    perform pg_catalog.pg_notify('carego_catalog', '');
    return null;
end
$function$;
revoke all on function carego.notify_catalog() from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;

-- Policies and grants, table by table. Each policy is dropped if it exists and created again.
-- A policy taken out of this file is not dropped by it (a wall must never vanish by omission):
-- drop it in a migration. After the files, `carego migrate` widens every facility wall to the
-- whole tenant group (`carego.apply_role_groups`, V44). A table's grants start from none:
-- every app role's privileges on it and its columns are revoked, then granted as written, so
-- a grant taken out of this file is gone after the next apply.

-- cities, since V28
drop policy if exists cities_active_select on public.cities;
create policy cities_active_select on public.cities as permissive for select to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_public, carego_staff, carego_student, carego_teacher
    using (active);
drop policy if exists cities_super_admin_insert on public.cities;
create policy cities_super_admin_insert on public.cities as permissive for insert to carego_super_admin
    with check (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists cities_super_admin_select on public.cities;
create policy cities_super_admin_select on public.cities as permissive for select to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists cities_super_admin_update on public.cities;
create policy cities_super_admin_update on public.cities as permissive for update to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin))
    with check (( SELECT carego.is_super_admin() AS is_super_admin));
revoke all on table public.cities from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant select on table public.cities to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher;
grant select,
      insert (slug, name, region, active),
      update (name, region, active)
   on table public.cities to carego_super_admin;

-- courses, since V28
drop policy if exists courses_facility_isolation on public.courses;
create policy courses_facility_isolation on public.courses as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_staff, carego_student, carego_teacher, carego_worker
    using ((facility_id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists courses_public_published on public.courses;
create policy courses_public_published on public.courses as restrictive for all to carego_public
    using (published);
drop policy if exists courses_super_admin_gate on public.courses;
create policy courses_super_admin_gate on public.courses as restrictive for all to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists courses_admin_insert on public.courses;
create policy courses_admin_insert on public.courses as permissive for insert to carego_facility_admin
    with check (true);
drop policy if exists courses_admin_update on public.courses;
create policy courses_admin_update on public.courses as permissive for update to carego_facility_admin, carego_super_admin
    using (true)
    with check (true);
drop policy if exists courses_select on public.courses;
create policy courses_select on public.courses as permissive for select to carego_facility_admin, carego_public, carego_staff, carego_student, carego_super_admin, carego_teacher
    using (true);
revoke all on table public.courses from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant select (facility_id, id, slug, title, summary, description, city_id, duration_hours, fee_minor, currency, updated_at)
   on table public.courses to carego_public;
grant select on table public.courses to carego_staff, carego_student, carego_teacher;
grant select,
      insert (facility_id, slug, title, summary, description, city_id, duration_hours, fee_minor, currency, published),
      update (slug, title, summary, description, city_id, duration_hours, fee_minor, currency, published)
   on table public.courses to carego_facility_admin;
grant select,
      update (slug, title, summary, description, city_id, duration_hours, fee_minor, currency, published)
   on table public.courses to carego_super_admin;

-- lead_events, since V30
drop policy if exists lead_events_facility_isolation on public.lead_events;
create policy lead_events_facility_isolation on public.lead_events as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_public, carego_staff, carego_student, carego_teacher, carego_worker
    using ((facility_id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists lead_events_super_admin_gate on public.lead_events;
create policy lead_events_super_admin_gate on public.lead_events as restrictive for all to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists lead_events_owner_insert on public.lead_events;
create policy lead_events_owner_insert on public.lead_events as permissive for insert to carego_owner
    with check (true);
drop policy if exists lead_events_owner_update on public.lead_events;
create policy lead_events_owner_update on public.lead_events as permissive for update to carego_owner
    using (true)
    with check (true);
drop policy if exists lead_events_reader_select on public.lead_events;
create policy lead_events_reader_select on public.lead_events as permissive for select to carego_facility_admin, carego_staff, carego_super_admin
    using ((EXISTS ( SELECT 1
   FROM leads l
  WHERE (l.id = lead_events.lead_id))));
revoke all on table public.lead_events from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant select on table public.lead_events to carego_staff, carego_facility_admin, carego_super_admin;

-- lead_notes, since V30
drop policy if exists lead_notes_facility_isolation on public.lead_notes;
create policy lead_notes_facility_isolation on public.lead_notes as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_public, carego_staff, carego_student, carego_teacher, carego_worker
    using ((facility_id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists lead_notes_super_admin_gate on public.lead_notes;
create policy lead_notes_super_admin_gate on public.lead_notes as restrictive for all to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists lead_notes_owner_update on public.lead_notes;
create policy lead_notes_owner_update on public.lead_notes as permissive for update to carego_owner
    using (true)
    with check (true);
drop policy if exists lead_notes_reader_insert on public.lead_notes;
create policy lead_notes_reader_insert on public.lead_notes as permissive for insert to carego_facility_admin, carego_staff, carego_super_admin
    with check ((EXISTS ( SELECT 1
   FROM leads l
  WHERE ((l.id = lead_notes.lead_id) AND (NOT (l.facility_id IS DISTINCT FROM lead_notes.facility_id))))));
drop policy if exists lead_notes_reader_select on public.lead_notes;
create policy lead_notes_reader_select on public.lead_notes as permissive for select to carego_facility_admin, carego_staff, carego_super_admin
    using ((EXISTS ( SELECT 1
   FROM leads l
  WHERE (l.id = lead_notes.lead_id))));
revoke all on table public.lead_notes from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant select,
      insert (facility_id, lead_id, body)
   on table public.lead_notes to carego_staff, carego_facility_admin, carego_super_admin;

-- leads, since V30
drop policy if exists leads_facility_isolation on public.leads;
create policy leads_facility_isolation on public.leads as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_staff, carego_student, carego_teacher, carego_worker
    using ((facility_id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists leads_public_write_only on public.leads;
create policy leads_public_write_only on public.leads as restrictive for all to carego_public
    using (false)
    with check (true);
drop policy if exists leads_super_admin_gate on public.leads;
create policy leads_super_admin_gate on public.leads as restrictive for all to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists leads_admin_select on public.leads;
create policy leads_admin_select on public.leads as permissive for select to carego_facility_admin, carego_super_admin
    using (true);
drop policy if exists leads_admin_update on public.leads;
create policy leads_admin_update on public.leads as permissive for update to carego_facility_admin, carego_super_admin
    using (true)
    with check (true);
drop policy if exists leads_assignee_select on public.leads;
create policy leads_assignee_select on public.leads as permissive for select to carego_staff
    using ((assigned_to = ( SELECT carego.current_user_id() AS current_user_id)));
drop policy if exists leads_public_insert on public.leads;
create policy leads_public_insert on public.leads as permissive for insert to carego_public
    with check (((status = 'new'::text) AND (assigned_to IS NULL) AND (converted_user_id IS NULL) AND ((service_id IS NULL) OR (EXISTS ( SELECT 1
   FROM services s
  WHERE ((s.facility_id = leads.facility_id) AND (s.id = leads.service_id))))) AND ((course_id IS NULL) OR (EXISTS ( SELECT 1
   FROM courses c
  WHERE ((c.facility_id = leads.facility_id) AND (c.id = leads.course_id))))) AND ((facility_id IS NULL) = ((service_id IS NULL) AND (course_id IS NULL)))));
revoke all on table public.leads from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant insert (id, facility_id, lead_type, name, phone, email, city_id, service_id, course_id, message)
   on table public.leads to carego_public;
grant select on table public.leads to carego_staff;
grant select,
      update (status, assigned_to, rejection_reason, converted_user_id, converted_at)
   on table public.leads to carego_facility_admin;
grant select,
      update (facility_id, status, assigned_to, rejection_reason, converted_user_id, converted_at)
   on table public.leads to carego_super_admin;

-- services, since V28
drop policy if exists services_facility_isolation on public.services;
create policy services_facility_isolation on public.services as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_staff, carego_student, carego_teacher, carego_worker
    using ((facility_id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists services_public_published on public.services;
create policy services_public_published on public.services as restrictive for all to carego_public
    using (published);
drop policy if exists services_super_admin_gate on public.services;
create policy services_super_admin_gate on public.services as restrictive for all to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists services_admin_insert on public.services;
create policy services_admin_insert on public.services as permissive for insert to carego_facility_admin
    with check (true);
drop policy if exists services_admin_update on public.services;
create policy services_admin_update on public.services as permissive for update to carego_facility_admin, carego_super_admin
    using (true)
    with check (true);
drop policy if exists services_select on public.services;
create policy services_select on public.services as permissive for select to carego_facility_admin, carego_public, carego_staff, carego_super_admin
    using (true);
revoke all on table public.services from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant select (facility_id, id, slug, name, summary, description, city_id, price_from_minor, currency, updated_at)
   on table public.services to carego_public;
grant select on table public.services to carego_staff;
grant select,
      insert (facility_id, slug, name, summary, description, city_id, price_from_minor, currency, published),
      update (slug, name, summary, description, city_id, price_from_minor, currency, published)
   on table public.services to carego_facility_admin;
grant select,
      update (slug, name, summary, description, city_id, price_from_minor, currency, published)
   on table public.services to carego_super_admin;
