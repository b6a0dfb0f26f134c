-- The signed context is verified once per function, not once per mention
-- (issue 20, item 1's cost).
--
-- Each accessor (carego.current_user_id() and friends) recomputes the
-- context's HMAC through carego.context_ok: 30-70 µs a call. The functions
-- below named the accessors nine or seven times each. carego.visible_patient_ids,
-- which the staff policies call for every statement on a patient's records,
-- took about 0.8 ms a call and made a caseload page cost four times main's.
-- They now verify once and then read the settings the signature has just
-- covered. As SECURITY DEFINER functions run as the owner, for whom
-- context_ok checks the signature only (the role is the caller's), this is
-- exactly what the accessors checked. visible_patient_ids is PL/pgSQL now,
-- so its plan is kept per connection instead of being planned on every call.
-- audit_reads records teachers too (V48 opened it to every request role).

create or replace function carego.visible_patient_ids() returns uuid[]
    language plpgsql
    stable
    security definer
    set search_path = pg_catalog, public
    as $$
declare
    v_role text;
    v_facility uuid;
    v_user uuid;
    v_ids uuid[];
begin
    if not carego.context_ok(current_user) then
        return '{}';
    end if;
    v_role := current_setting('carego.role', true);
    v_facility := nullif(current_setting('carego.facility_id', true), '')::uuid;
    v_user := nullif(current_setting('carego.user_id', true), '')::uuid;
    if v_role = 'staff' then
        -- Two index lookups (counsellor, open assignments) rather than a scan
        -- of the facility's patients: a caseload costs what it holds.
        select coalesce(array_agg(v.id), '{}') into v_ids
          from (select p.id
                  from public.patients p
                 where p.facility_id = v_facility
                   and p.primary_counsellor_id = v_user
                   and p.deleted_at is null
                union
                select a.patient_id
                  from public.assignments a
                  join public.patients p on p.facility_id = a.facility_id and p.id = a.patient_id
                 where a.facility_id = v_facility
                   and a.staff_id = v_user
                   and a.ended_at is null
                   and p.deleted_at is null) v;
    elsif v_role = 'patient' then
        select coalesce(array_agg(p.id), '{}') into v_ids
          from public.patients p
         where p.facility_id = v_facility
           and p.user_id = v_user
           and p.deleted_at is null;
    else
        v_ids := '{}';
    end if;
    return v_ids;
end
$$;

create or replace function carego.audit_read(p_entity_type text, p_entity_id uuid, p_facility uuid) returns boolean
    language plpgsql
    volatile
    security definer
    set search_path = pg_catalog, public
    as $$
declare
    v_ok boolean := carego.context_ok(current_user);
    v_role text := case when v_ok then current_setting('carego.role', true) end;
    v_facility uuid := case when v_ok then nullif(current_setting('carego.facility_id', true), '')::uuid end;
begin
    if p_facility is distinct from v_facility and v_role is distinct from 'super_admin'
       and v_role is distinct from 'operator' then
        raise exception 'audit_read: not your facility' using errcode = '42501';
    end if;
    if v_role in ('staff', 'facility_admin', 'super_admin', 'integrator') then
        insert into public.audit_log (facility_id, actor_id, actor_role, session_id, action,
                                      entity_type, entity_id, request_id, ip)
        values (p_facility, nullif(current_setting('carego.user_id', true), '')::uuid, v_role,
                nullif(current_setting('carego.session_id', true), '')::uuid, 'read', p_entity_type,
                p_entity_id, nullif(current_setting('carego.request_id', true), ''),
                nullif(current_setting('carego.ip', true), ''));
    end if;
    return true;
end
$$;

create or replace function carego.audit_reads(p_entity_type text, p_ids uuid[]) returns boolean
    language plpgsql
    volatile
    security definer
    set search_path = pg_catalog, public
    as $$
declare
    v_role text;
begin
    if cardinality(p_ids) > 0 and carego.context_ok(current_user) then
        v_role := current_setting('carego.role', true);
        if v_role in ('staff', 'facility_admin', 'super_admin', 'integrator', 'teacher') then
            insert into public.audit_log (facility_id, actor_id, actor_role, session_id, action,
                                          entity_type, entity_id, new_values, request_id, ip)
            values (nullif(current_setting('carego.facility_id', true), '')::uuid,
                    nullif(current_setting('carego.user_id', true), '')::uuid, v_role,
                    nullif(current_setting('carego.session_id', true), '')::uuid, 'read', p_entity_type,
                    case when cardinality(p_ids) = 1 then p_ids[1] end,
                    jsonb_build_object('ids', to_jsonb(p_ids)),
                    nullif(current_setting('carego.request_id', true), ''),
                    nullif(current_setting('carego.ip', true), ''));
        end if;
    end if;
    return true;
end
$$;
