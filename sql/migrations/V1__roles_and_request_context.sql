-- Roles and the per-request context every policy reads.
--
-- The login roles are created outside migrations (they carry passwords): see
-- docs/database.md. `carego_owner` runs this file and owns every object;
-- `carego_app` is the pool's NOINHERIT login role that may only switch into the
-- request roles below. Roles are cluster-wide, so every CREATE ROLE is guarded:
-- many databases (one per test) share one cluster.

do $$
declare
    r text;
begin
    foreach r in array array['carego_public', 'carego_patient', 'carego_staff',
                             'carego_facility_admin', 'carego_super_admin', 'carego_integrator']
    loop
        if not exists (select from pg_roles where rolname = r) then
            execute format('create role %I nologin noinherit nosuperuser nobypassrls', r);
        end if;
        if exists (select from pg_roles where rolname = 'carego_app') then
            execute format('grant %I to carego_app', r);
        end if;
    end loop;
end
$$;

-- Functions are executable by PUBLIC by default; nothing of ours should be.
alter default privileges revoke execute on functions from public;

create schema carego;
grant usage on schema carego to carego_public, carego_patient, carego_staff,
    carego_facility_admin, carego_super_admin, carego_integrator;
do $$
begin
    if exists (select from pg_roles where rolname = 'carego_app') then
        grant usage on schema carego to carego_app;
    end if;
end
$$;

-- Policy conventions (every later migration follows them):
--   * one RESTRICTIVE `*_facility_isolation` policy per tenant table, for every
--     request role but carego_super_admin:
--       facility_id = (select carego.current_facility_id())
--     A plain equality against an InitPlan, so it is an index condition;
--   * for carego_super_admin instead, a RESTRICTIVE `*_super_admin_gate`:
--       (select carego.is_super_admin())
--     a one-time filter: with the prologue's carego.role the gate is open and
--     every facility is reachable; without it, no row (fail closed). No
--     BYPASSRLS anywhere;
--   * PERMISSIVE policies per command and role on top.

-- The context accessors. A missing or empty setting yields NULL, and every
-- policy compares against them, so a transaction without a prologue sees no
-- rows (fail closed). Policies call them as `(select carego.f())` so the
-- planner evaluates each once per statement (an InitPlan), not once per row.
create function carego.current_facility_id() returns uuid
    language sql stable parallel safe
    as $$ select nullif(pg_catalog.current_setting('carego.facility_id', true), '')::uuid $$;

create function carego.current_user_id() returns uuid
    language sql stable parallel safe
    as $$ select nullif(pg_catalog.current_setting('carego.user_id', true), '')::uuid $$;

create function carego.current_session_id() returns uuid
    language sql stable parallel safe
    as $$ select nullif(pg_catalog.current_setting('carego.session_id', true), '')::uuid $$;

create function carego.current_app_role() returns text
    language sql stable parallel safe
    as $$ select nullif(pg_catalog.current_setting('carego.role', true), '') $$;

-- 'system' is the role of the operator's own CLI commands (tenants apply,
-- create-super-admin): platform-wide like a super admin, but no user.
create function carego.is_super_admin() returns boolean
    language sql stable parallel safe
    as $$ select coalesce(pg_catalog.current_setting('carego.role', true) in ('super_admin', 'system'), false) $$;

grant execute on function carego.current_facility_id(), carego.current_user_id(),
    carego.current_session_id(), carego.current_app_role(), carego.is_super_admin()
    to carego_public, carego_patient, carego_staff, carego_facility_admin,
       carego_super_admin, carego_integrator;

-- Append-only tables attach this as a last line of defence: even the owner
-- cannot UPDATE, DELETE or TRUNCATE them without first disabling the trigger.
create function carego.forbid_change() returns trigger
    language plpgsql
    as $$
begin
    raise exception '% is append-only: % is not allowed', tg_table_name, tg_op
        using errcode = 'CG409';
end
$$;
