-- Role groups, declared once, and the facility wall built from them.
--
-- Each table's restrictive `*_facility_isolation` policy named the roles of
-- its day; roles added later (client, student, teacher, worker) were kept off
-- most tables only by missing grants. Now the groups are one function, and
-- carego.apply_role_groups() re-targets every isolation policy at the whole
-- tenant group — every request role but the super admin, whose restrictive
-- policy is its own gate — leaving out only a role that another restrictive
-- policy of the same table already governs (the public on the published
-- catalog). A migration that adds a table or a role calls it again.
-- `carego doctor` (privilege_without_restrictive_policy) fails when any
-- request role holds a privilege on a tenant table that no restrictive
-- policy covers.

create function carego.role_group(p_group text) returns name[]
    language sql
    immutable
    parallel safe
    as $$
    select case p_group
        when 'tenant' then array['carego_public', 'carego_patient', 'carego_staff', 'carego_facility_admin',
                                 'carego_integrator', 'carego_client', 'carego_student', 'carego_teacher',
                                 'carego_worker']::name[]
        when 'request' then array['carego_public', 'carego_patient', 'carego_staff', 'carego_facility_admin',
                                  'carego_integrator', 'carego_client', 'carego_student', 'carego_teacher',
                                  'carego_worker', 'carego_super_admin']::name[]
    end
$$;

create function carego.apply_role_groups() returns integer
    language plpgsql
    set search_path = pg_catalog, public
    as $$
declare
    p record;
    v_roles name[];
    v_done integer := 0;
begin
    for p in
        select pol.polname, pol.polrelid, c.relname, pol.polroles
          from pg_policy pol join pg_class c on c.oid = pol.polrelid
          join pg_namespace n on n.oid = c.relnamespace
         where n.nspname = 'public' and not pol.polpermissive and pol.polname like '%\_facility\_isolation'
    loop
        -- The tenant group, and whoever the policy named beyond it (the
        -- super admin on idempotency_keys, whose rows follow its facility).
        v_roles := array(
            select r from unnest(carego.role_group('tenant')) r
             where not exists (select 1 from pg_policy o
                                where o.polrelid = p.polrelid and not o.polpermissive
                                  and o.polname <> p.polname
                                  and (select oid from pg_roles where rolname = r) = any (o.polroles))
            union
            select ro.rolname from pg_roles ro where ro.oid = any (p.polroles));
        execute format('alter policy %I on public.%I to %s', p.polname, p.relname,
                       (select string_agg(quote_ident(r), ', ') from unnest(v_roles) r));
        v_done := v_done + 1;
    end loop;
    return v_done;
end
$$;

-- The website files leads and never reads one back: a restrictive policy of
-- its own (it holds no SELECT grant either), so no lead is ever its to see.
create policy leads_public_write_only on leads as restrictive for all to carego_public
    using (false) with check (true);

select carego.apply_role_groups();
