-- Reads through an API key are audited like staff chart reads, and a list of
-- patients leaves one audit row per request naming the records it returned.
--
-- carego.audit_read (V6) wrote a row for staff, facility admins and super
-- admins only: a partner's key could read every chart of its facility and
-- leave no trace. It now covers integrators too. carego.audit_reads writes
-- one row for a whole page — `entity_id` null, `new_values.ids` the records
-- read — so a caseload or an integrator's sync costs one row, not one per
-- patient. Both take the facility and actor from the signed context only.

create or replace function carego.audit_read(p_entity_type text, p_entity_id uuid, p_facility uuid) returns boolean
    language plpgsql
    volatile
    security definer
    set search_path = pg_catalog, public
    as $$
begin
    if p_facility is distinct from carego.current_facility_id() and not carego.is_super_admin() then
        raise exception 'audit_read: not your facility' using errcode = '42501';
    end if;
    if carego.current_app_role() in ('staff', 'facility_admin', 'super_admin', 'integrator') then
        insert into public.audit_log (facility_id, actor_id, actor_role, session_id, action,
                                      entity_type, entity_id, request_id, ip)
        values (p_facility, carego.current_user_id(), carego.current_app_role(),
                carego.current_session_id(), 'read', p_entity_type, p_entity_id,
                nullif(current_setting('carego.request_id', true), ''),
                nullif(current_setting('carego.ip', true), ''));
    end if;
    return true;
end
$$;

-- One row for the page `p_ids` of `p_entity_type` the caller has just read
-- (nothing for an empty page, or for a patient reading their own records).
-- The facility is the caller's signed one; a super admin's page, which may
-- span facilities, is written to the platform's chain.
create function carego.audit_reads(p_entity_type text, p_ids uuid[]) returns boolean
    language plpgsql
    volatile
    security definer
    set search_path = pg_catalog, public
    as $$
begin
    if cardinality(p_ids) > 0
       and carego.current_app_role() in ('staff', 'facility_admin', 'super_admin', 'integrator') then
        insert into public.audit_log (facility_id, actor_id, actor_role, session_id, action,
                                      entity_type, entity_id, new_values, request_id, ip)
        values (carego.current_facility_id(), carego.current_user_id(), carego.current_app_role(),
                carego.current_session_id(), 'read', p_entity_type,
                case when cardinality(p_ids) = 1 then p_ids[1] end,
                jsonb_build_object('ids', to_jsonb(p_ids)),
                nullif(current_setting('carego.request_id', true), ''),
                nullif(current_setting('carego.ip', true), ''));
    end if;
    return true;
end
$$;
grant execute on function carego.audit_reads(text, uuid[])
    to carego_patient, carego_staff, carego_facility_admin, carego_super_admin, carego_integrator,
       carego_client;
