-- Every read of personal data is accounted for (issue 20, item 5): besides
-- charts and patient lists (V45), reads of messages, crisis alerts,
-- documents, leads and user accounts leave one audit row per request naming
-- the records read (`carego.audit_reads`, called by the functions that read
-- them in src/db). Every request role may call it; it records the
-- staff-side roles, teachers and integrators, not a patient, client or
-- student reading what is theirs.

create or replace function carego.audit_reads(p_entity_type text, p_ids uuid[]) returns boolean
    language plpgsql
    volatile
    security definer
    set search_path = pg_catalog, public
    as $$
begin
    if cardinality(p_ids) > 0
       and carego.current_app_role() in ('staff', 'facility_admin', 'super_admin', 'integrator', 'teacher') then
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

do $$
declare
    r name;
begin
    foreach r in array carego.role_group('request') loop
        execute format('grant execute on function carego.audit_reads(text, uuid[]) to %I', r);
    end loop;
end
$$;
