-- The offline-sync change feed. The cursor is the audit chain's per-facility
-- `chain_seq`: every change in a facility is numbered under a lock held to
-- commit (carego.audit_chain), so numbers are gap-free and in commit order,
-- and a pull can never step past a row that a slower transaction commits
-- later. (`updated_at` or a plain sequence can: they are taken before commit.)
--
-- carego.sync_changes() answers, for the caller, which changes after a
-- cursor concern a patient they may see, and which of them took a patient out
-- of their sight (a tombstone): it runs as the owner to read the audit log,
-- and returns only ids. The records themselves are then read under the
-- caller's own RLS.

-- The patient an audit row is about: the patient itself, or the row's
-- patient_id. Immutable, so the feed's index can hold it.
create function carego.audit_subject(p_entity_type text, p_entity_id uuid, p_new jsonb, p_old jsonb)
    returns uuid
    language sql immutable parallel safe
    set search_path = pg_catalog, public
    as $$
    select case when p_entity_type = 'patients' then p_entity_id
                else (coalesce(p_new, p_old) ->> 'patient_id')::uuid end
$$;

-- A patient's or staff member's changes: the patients they can see, in chain order.
create index audit_log_sync_subject_idx on audit_log
    (facility_id, carego.audit_subject(entity_type, entity_id, new_values, old_values), chain_seq)
    where action <> 'read';
-- A facility admin's: the whole facility, in chain order.
create index audit_log_sync_facility_idx on audit_log (facility_id, chain_seq) where action <> 'read';
-- The changes that can take a patient out of a caller's sight.
create index audit_log_sync_hiding_idx on audit_log (facility_id, chain_seq)
    where action = 'update' and entity_type in ('assignments', 'patients');

-- The record types the feed carries (audit_log.entity_type is the table).
create function carego.sync_entity_types() returns text[]
    language sql immutable parallel safe
    as $$ select array['patients', 'check_ins', 'cravings', 'meetings', 'sobriety_resets'] $$;

-- Changes after p_after, at most p_limit, oldest first: (seq, entity type,
-- entity id, patient, whether the caller sees the patient now). A row whose
-- patient the caller no longer sees is one of the changes that hid them:
-- their own assignment ended, they stopped being the counsellor, or the
-- patient was removed. Nothing for super admins (no facility) or anyone
-- without a user.
create function carego.sync_changes(p_after bigint, p_limit integer)
    returns table (seq bigint, entity_type text, entity_id uuid, patient_id uuid, visible boolean)
    language plpgsql
    stable
    security definer
    set search_path = pg_catalog, public
    as $$
declare
    v_facility uuid := carego.current_facility_id();
    v_me uuid := carego.current_user_id();
    v_role text := carego.current_app_role();
    v_visible uuid[];
begin
    if v_facility is null or v_me is null or p_after < 0 or p_limit < 1 then
        return;
    end if;
    if v_role = 'facility_admin' then
        return query
        select a.chain_seq, a.entity_type, a.entity_id, s.subject, p.deleted_at is null
          from audit_log a
          cross join lateral (select carego.audit_subject(a.entity_type, a.entity_id, a.new_values,
                                                          a.old_values) as subject) s
          join patients p on p.facility_id = a.facility_id and p.id = s.subject
         where a.facility_id = v_facility and a.action <> 'read' and a.chain_seq > p_after
           and a.entity_type = any (carego.sync_entity_types())
           and (p.deleted_at is null
                or (a.entity_type = 'patients' and a.old_values ->> 'deleted_at' is null
                    and a.new_values ->> 'deleted_at' is not null))
         order by a.chain_seq
         limit p_limit;
        return;
    end if;
    if v_role not in ('staff', 'patient') then
        return;
    end if;
    v_visible := carego.visible_patient_ids();
    return query
    (select a.chain_seq, a.entity_type, a.entity_id, a.subject, true
       from (select x.*, carego.audit_subject(x.entity_type, x.entity_id, x.new_values, x.old_values) as subject
               from audit_log x
              where x.facility_id = v_facility and x.action <> 'read' and x.chain_seq > p_after
                and carego.audit_subject(x.entity_type, x.entity_id, x.new_values, x.old_values) = any (v_visible)
                and x.entity_type = any (carego.sync_entity_types())) a
      order by a.chain_seq
      limit p_limit)
    union all
    (select a.chain_seq, a.entity_type, a.entity_id, a.subject, false
       from (select x.*, carego.audit_subject(x.entity_type, x.entity_id, x.new_values, x.old_values) as subject
               from audit_log x
              where x.facility_id = v_facility and x.action = 'update' and x.chain_seq > p_after
                and x.entity_type in ('assignments', 'patients')) a
      where not (a.subject = any (v_visible))
        and (   -- their own assignment ended
                (a.entity_type = 'assignments' and v_role = 'staff'
                 and a.new_values ->> 'staff_id' = v_me::text
                 and a.old_values ->> 'ended_at' is null and a.new_values ->> 'ended_at' is not null)
                -- they stopped being the patient's counsellor
             or (a.entity_type = 'patients' and v_role = 'staff'
                 and a.old_values ->> 'primary_counsellor_id' = v_me::text
                 and a.new_values ->> 'primary_counsellor_id' is distinct from v_me::text)
                -- the patient was removed from the facility's records
             or (a.entity_type = 'patients'
                 and a.old_values ->> 'deleted_at' is null and a.new_values ->> 'deleted_at' is not null
                 and (a.old_values ->> 'user_id' = v_me::text
                      or a.old_values ->> 'primary_counsellor_id' = v_me::text
                      or exists (select from assignments s
                                  where s.facility_id = v_facility and s.patient_id = a.subject
                                    and s.staff_id = v_me))))
      order by a.chain_seq
      limit p_limit)
    order by 1
    limit p_limit;
end
$$;

grant execute on function carego.audit_subject(text, uuid, jsonb, jsonb), carego.sync_entity_types()
    to carego_patient, carego_staff, carego_facility_admin;
grant execute on function carego.sync_changes(bigint, integer)
    to carego_patient, carego_staff, carego_facility_admin;
