-- The public catalog and leads (src/db/catalog).
--
-- The current definition of every function of this area. `carego migrate` applies this file
-- after the versioned migrations, whenever it or the migrations changed (docs/database.md,
-- "Schema as code"). Change a function here, not in a new migration.

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
