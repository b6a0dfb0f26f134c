-- Conversations, announcements, crisis alerts, documents, live events and webhooks (src/db/communication).
--
-- The current definition of every function of this area and who may execute it, and every
-- policy and grant of its tables. `carego migrate` applies this file after the versioned
-- migrations, whenever it or the migrations changed (docs/database.md, "Schema as code").
-- Change a function here, not in a new migration. Each function is followed by its grants:
-- EXECUTE revoked from PUBLIC and every app role, then granted to exactly the roles that call
-- it.

-- carego.announcement_audience(uuid,text), since V24
CREATE OR REPLACE FUNCTION carego.announcement_audience(p_facility uuid, p_audience text)
 RETURNS uuid[]
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
    select coalesce(array_agg(u.id), '{}')
      from public.users u
     where u.facility_id = p_facility and u.status = 'active'
       and (p_audience = 'everyone'
            or (p_audience = 'patients' and u.role = 'patient')
            or (p_audience = 'staff' and u.role in ('staff', 'facility_admin')))
$function$;
revoke all on function carego.announcement_audience(uuid,text) from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;

-- carego.announcement_audience_size(uuid,text), since V24
CREATE OR REPLACE FUNCTION carego.announcement_audience_size(p_facility uuid, p_audience text)
 RETURNS bigint
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
    select case when carego.current_app_role() = 'facility_admin'
                     and p_facility = carego.current_facility_id()
                then cardinality(carego.announcement_audience(p_facility, p_audience))::bigint end
$function$;
revoke all on function carego.announcement_audience_size(uuid,text) from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.announcement_audience_size(uuid,text) to carego_patient, carego_staff, carego_facility_admin, carego_super_admin;

-- carego.announcement_event(), since V24
CREATE OR REPLACE FUNCTION carego.announcement_event()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
begin
    perform carego.emit_event(new.facility_id, 'announcement.published', new.id, null, null,
        array_remove(carego.announcement_audience(new.facility_id, new.audience), new.created_by));
    return null;
end
$function$;
revoke all on function carego.announcement_event() from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;

-- carego.care_team(uuid,uuid), since V23
CREATE OR REPLACE FUNCTION carego.care_team(p_facility uuid, p_patient uuid)
 RETURNS uuid[]
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
    select coalesce(array_agg(distinct t.id), '{}') from (
        select p.primary_counsellor_id as id from public.patients p
         where p.facility_id = p_facility and p.id = p_patient
        union all
        select a.staff_id from public.assignments a
         where a.facility_id = p_facility and a.patient_id = p_patient and a.ended_at is null) t
     where t.id is not null
$function$;
revoke all on function carego.care_team(uuid,uuid) from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;

-- carego.check_message_reference(), since V23
CREATE OR REPLACE FUNCTION carego.check_message_reference()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
begin
    if new.refers_to is not null and not exists (
        select from messages m
         where m.facility_id = new.facility_id and m.conversation_id = new.conversation_id
           and m.id = new.refers_to and m.sender_id = new.sender_id and m.kind = 'message') then
        raise exception 'not_own_message' using errcode = 'CG404';
    end if;
    return new;
end
$function$;
revoke all on function carego.check_message_reference() from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;

-- carego.conversation_member_names(uuid), since V23
CREATE OR REPLACE FUNCTION carego.conversation_member_names(p_conversation uuid)
 RETURNS TABLE(id uuid, first_name text, last_name text, role text)
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
    select u.id, u.first_name, u.last_name, u.role
      from public.conversation_members m
      join public.users u on u.id = m.user_id
     where m.facility_id = carego.current_facility_id() and m.conversation_id = p_conversation
       and p_conversation = any (carego.my_conversation_ids())
$function$;
revoke all on function carego.conversation_member_names(uuid) from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.conversation_member_names(uuid) to carego_patient, carego_staff, carego_facility_admin;

-- carego.crisis_alert_event(), since V25
CREATE OR REPLACE FUNCTION carego.crisis_alert_event()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
declare
    v_minutes integer;
begin
    if tg_op = 'INSERT' then
        perform carego.emit_event(new.facility_id, 'crisis_alert.raised', new.id, null, new.patient_id,
            array_remove(carego.crisis_recipients(new.facility_id, new.patient_id, false, false), new.raised_by));
        select f.crisis_escalation_minutes into v_minutes from facilities f where f.id = new.facility_id;
        insert into jobs (facility_id, kind, payload, run_at)
        values (new.facility_id, 'crisis_escalation', jsonb_build_object('alertId', new.id),
                new.raised_at + make_interval(mins => v_minutes));
        perform pg_notify('carego_jobs', '');
        return null;
    end if;
    if old.acknowledged_at is null and new.acknowledged_at is not null then
        perform carego.emit_event(new.facility_id, 'crisis_alert.acknowledged', new.id, null, new.patient_id,
            array_remove(carego.crisis_recipients(new.facility_id, new.patient_id, new.escalated_at is not null, true),
                         new.acknowledged_by));
    end if;
    if old.escalated_at is null and new.escalated_at is not null then
        perform carego.emit_event(new.facility_id, 'crisis_alert.escalated', new.id, null, new.patient_id,
            carego.crisis_recipients(new.facility_id, new.patient_id, true, false));
    end if;
    if old.resolved_at is null and new.resolved_at is not null then
        perform carego.emit_event(new.facility_id, 'crisis_alert.resolved', new.id, null, new.patient_id,
            array_remove(carego.crisis_recipients(new.facility_id, new.patient_id, new.escalated_at is not null, true),
                         new.resolved_by));
    end if;
    return null;
end
$function$;
revoke all on function carego.crisis_alert_event() from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;

-- carego.crisis_alert_step(), since V25
CREATE OR REPLACE FUNCTION carego.crisis_alert_step()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
begin
    if (new.facility_id, new.id, new.patient_id, new.raised_by, new.severity, new.location, new.note,
        new.raised_at) is distinct from
       (old.facility_id, old.id, old.patient_id, old.raised_by, old.severity, old.location, old.note,
        old.raised_at)
       or (old.acknowledged_at is not null
           and (new.acknowledged_at, new.acknowledged_by) is distinct from (old.acknowledged_at, old.acknowledged_by))
       or (old.escalated_at is not null and new.escalated_at is distinct from old.escalated_at)
       or (old.resolved_at is not null
           and (new.resolved_at, new.resolved_by, new.resolution)
               is distinct from (old.resolved_at, old.resolved_by, old.resolution))
       or (old.acknowledged_at is null and new.acknowledged_at is not null
           and new.acknowledged_by is distinct from carego.current_user_id())
       or (old.resolved_at is null and new.resolved_by is distinct from carego.current_user_id()
           and new.resolved_at is not null)
       or (old.escalated_at is null and new.escalated_at is not null
           and carego.current_app_role() is distinct from 'worker') then
        raise exception 'a crisis alert''s steps are set once, by the one taking them'
            using errcode = 'CG409';
    end if;
    return new;
end
$function$;
revoke all on function carego.crisis_alert_step() from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;

-- carego.crisis_recipients(uuid,uuid,boolean,boolean), since V25
CREATE OR REPLACE FUNCTION carego.crisis_recipients(p_facility uuid, p_patient uuid, p_admins boolean, p_patient_user boolean)
 RETURNS uuid[]
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
    select coalesce(array_agg(distinct r.id), '{}') from (
        select unnest(carego.care_team(p_facility, p_patient)) as id
        union all
        select u.id from public.users u
         where u.facility_id = p_facility and u.on_call and u.role in ('staff', 'facility_admin')
        union all
        select u.id from public.users u
         where p_admins and u.facility_id = p_facility and u.role = 'facility_admin'
        union all
        select p.user_id from public.patients p
         where p_patient_user and p.facility_id = p_facility and p.id = p_patient) r
     where r.id is not null
$function$;
revoke all on function carego.crisis_recipients(uuid,uuid,boolean,boolean) from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;

-- carego.current_user_on_call(), since V25
CREATE OR REPLACE FUNCTION carego.current_user_on_call()
 RETURNS boolean
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
declare
    v_on_call boolean;
begin
    if not carego.context_ok(current_user) then
        return false;
    end if;
    select u.on_call and u.status = 'active' into v_on_call
      from public.users u
     where u.id = nullif(current_setting('carego.user_id', true), '')::uuid
       and u.facility_id = nullif(current_setting('carego.facility_id', true), '')::uuid;
    return coalesce(v_on_call, false);
end
$function$;
revoke all on function carego.current_user_on_call() from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.current_user_on_call() to carego_staff, carego_facility_admin;

-- carego.document_event(), since V26
CREATE OR REPLACE FUNCTION carego.document_event()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
begin
    if old.status <> 'deleted' and new.status = 'deleted' and new.object_key is not null then
        insert into jobs (facility_id, kind, payload)
        values (new.facility_id, 'document_removal', jsonb_build_object('documentId', new.id));
        perform pg_notify('carego_jobs', '');
    end if;
    if old.status = 'pending' and new.status = 'ready' and new.visible_to_patient then
        perform carego.emit_event(new.facility_id, 'document.shared', new.id, null, new.patient_id,
            array(select p.user_id from patients p
                   where p.facility_id = new.facility_id and p.id = new.patient_id and p.deleted_at is null));
    end if;
    return null;
end
$function$;
revoke all on function carego.document_event() from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;

-- carego.document_step(), since V26
CREATE OR REPLACE FUNCTION carego.document_step()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
begin
    if (new.facility_id, new.id, new.patient_id, new.kind, new.title, new.visible_to_patient,
        new.created_by, new.created_at) is distinct from
       (old.facility_id, old.id, old.patient_id, old.kind, old.title, old.visible_to_patient,
        old.created_by, old.created_at)
       or (old.ready_at is not null
           and (new.ready_at, new.object_key, new.content_type, new.size_bytes, new.sha256)
               is distinct from (old.ready_at, old.object_key, old.content_type, old.size_bytes, old.sha256))
       or (old.status = 'deleted'
           and (new.status, new.deleted_at, new.deleted_by) is distinct from (old.status, old.deleted_at, old.deleted_by))
       or (new.status = 'ready' and old.status <> 'pending' and old.status <> 'ready')
       or (new.status = 'pending' and old.status <> 'pending')
       or (old.status = 'failed' and new.status not in ('failed', 'deleted'))
       or (new.status = 'failed' and old.status <> 'failed'
           and (old.status <> 'pending' or carego.current_app_role() is distinct from 'worker'))
       or (old.object_removed_at is not null and new.object_removed_at is distinct from old.object_removed_at)
       or (old.object_removed_at is null and new.object_removed_at is not null
           and carego.current_app_role() is distinct from 'worker') then
        raise exception 'a document''s content is set once and it is deleted once' using errcode = 'CG409';
    end if;
    if old.status <> 'deleted' and new.status = 'deleted' then
        if new.deleted_by is distinct from carego.current_user_id() then
            raise exception 'a document is deleted by the one deleting it' using errcode = 'CG409';
        end if;
        if carego.current_app_role() = 'staff' and old.created_by <> carego.current_user_id() then
            raise exception 'only a facility admin or its creator deletes a document' using errcode = '42501';
        end if;
    end if;
    return new;
end
$function$;
revoke all on function carego.document_step() from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;

-- carego.emit_event(uuid,text,uuid,uuid,uuid,uuid[]), since V22
CREATE OR REPLACE FUNCTION carego.emit_event(p_facility uuid, p_kind text, p_subject uuid, p_conversation uuid, p_patient uuid, p_recipients uuid[])
 RETURNS bigint
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
declare
    v_seq bigint;
begin
    -- The audit chain's lock for this facility: held to commit, so numbers
    -- follow commit order (the audit trigger of the same change takes it too).
    perform pg_advisory_xact_lock(hashtextextended('carego.audit:' || p_facility::text, 0));
    select coalesce(max(e.seq), 0) + 1 into v_seq from events e where e.facility_id = p_facility;
    insert into events (facility_id, recipient_id, seq, kind, subject_id, conversation_id, patient_id)
    select p_facility, u.id, v_seq, p_kind, p_subject, p_conversation, p_patient
      from users u
     where u.facility_id = p_facility and u.status = 'active'
       and u.id = any (p_recipients);
    perform pg_notify('carego_events', p_facility::text || ':' || v_seq::text);
    return v_seq;
end
$function$;
revoke all on function carego.emit_event(uuid,text,uuid,uuid,uuid,uuid[]) from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;

-- carego.emit_webhook(uuid,text,uuid,timestamp with time zone), since V40
CREATE OR REPLACE FUNCTION carego.emit_webhook(p_facility uuid, p_event text, p_entity uuid, p_at timestamp with time zone)
 RETURNS void
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
declare
    v_sub record;
    v_delivery uuid;
begin
    for v_sub in
        select s.id from webhook_subscriptions s
         where s.facility_id = p_facility and s.active and p_event = any (s.events)
    loop
        v_delivery := gen_random_uuid();
        insert into webhook_deliveries (facility_id, id, subscription_id, event, payload)
        values (p_facility, v_delivery, v_sub.id, p_event,
                jsonb_build_object('id', v_delivery, 'event', p_event, 'facilityId', p_facility,
                                   'occurredAt', p_at, 'data', jsonb_build_object('id', p_entity)));
        insert into jobs (facility_id, kind, payload)
        values (p_facility, 'webhook_delivery', jsonb_build_object('deliveryId', v_delivery));
    end loop;
    if found then
        perform pg_notify('carego_jobs', '');
    end if;
end
$function$;
revoke all on function carego.emit_webhook(uuid,text,uuid,timestamp with time zone) from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;

-- carego.issue_stream_ticket(bytea,interval), since V22
CREATE OR REPLACE FUNCTION carego.issue_stream_ticket(p_hash bytea, p_ttl interval)
 RETURNS timestamp with time zone
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
declare
    v_expires timestamptz := now() + p_ttl;
begin
    if carego.current_session_id() is null then
        raise exception 'issue_stream_ticket: no session' using errcode = '42501';
    end if;
    delete from stream_tickets t where t.expires_at < now() - interval '1 hour';
    insert into stream_tickets (token_hash, session_id, expires_at)
    values (p_hash, carego.current_session_id(), v_expires);
    return v_expires;
end
$function$;
revoke all on function carego.issue_stream_ticket(bytea,interval) from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.issue_stream_ticket(bytea,interval) to carego_patient, carego_staff, carego_facility_admin;

-- carego.message_event(), since V23
CREATE OR REPLACE FUNCTION carego.message_event()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
begin
    perform carego.emit_event(new.facility_id, 'message.created', new.id, new.conversation_id, null,
        array(select m.user_id from conversation_members m
               where m.facility_id = new.facility_id and m.conversation_id = new.conversation_id
                 and m.user_id <> new.sender_id));
    return null;
end
$function$;
revoke all on function carego.message_event() from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;

-- carego.my_conversation_ids(), since V23
CREATE OR REPLACE FUNCTION carego.my_conversation_ids()
 RETURNS uuid[]
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
declare
    v_ids uuid[];
begin
    if not carego.context_ok(current_user) then
        return '{}';
    end if;
    select coalesce(array_agg(m.conversation_id), '{}') into v_ids
      from public.conversation_members m
     where m.facility_id = nullif(current_setting('carego.facility_id', true), '')::uuid
       and m.user_id = nullif(current_setting('carego.user_id', true), '')::uuid;
    return v_ids;
end
$function$;
revoke all on function carego.my_conversation_ids() from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.my_conversation_ids() to carego_patient, carego_staff, carego_facility_admin;

-- carego.notify_session_ended(), since V22
CREATE OR REPLACE FUNCTION carego.notify_session_ended()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
begin
    if new.revoked_at is not null and old.revoked_at is null and new.facility_id is not null then
        perform pg_notify('carego_events', new.facility_id::text || ':0');
    end if;
    return null;
end
$function$;
revoke all on function carego.notify_session_ended() from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;

-- carego.open_conversation(uuid,text,text,uuid,uuid[]), since V23
CREATE OR REPLACE FUNCTION carego.open_conversation(p_id uuid, p_kind text, p_title text, p_patient uuid, p_members uuid[])
 RETURNS TABLE(conversation_id uuid, created boolean)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
declare
    v_facility uuid := carego.current_facility_id();
    v_me uuid := carego.current_user_id();
    v_role text := carego.current_app_role();
    v_members uuid[];
    v_visible uuid[] := carego.visible_patient_ids();
    v_existing uuid;
    v_bad integer;
begin
    if v_facility is null or v_me is null or v_role not in ('patient', 'staff', 'facility_admin') then
        raise exception 'open_conversation: no caller' using errcode = '42501';
    end if;
    select coalesce(array_agg(distinct m), '{}') into v_members
      from unnest(p_members) m where m is not null and m <> v_me;
    if p_kind = 'direct' and cardinality(v_members) <> 1 then
        raise exception 'direct_needs_one_other' using errcode = 'CG422';
    end if;
    if cardinality(v_members) = 0 then
        raise exception 'no_members' using errcode = 'CG422';
    end if;
    if v_role = 'patient' and p_kind <> 'direct' then
        raise exception 'patients_open_direct_only' using errcode = 'CG422';
    end if;
    if p_patient is not null and not (v_role = 'facility_admin' and exists (
            select from patients p where p.facility_id = v_facility and p.id = p_patient and p.deleted_at is null)
        or (v_role = 'staff' and p_patient = any (v_visible))) then
        raise exception 'patient_not_found' using errcode = 'CG404';
    end if;

    select count(*) into v_bad
      from unnest(v_members) m
     where not exists (
        select from users u
         where u.id = m and u.facility_id = v_facility and u.status = 'active'
           and case
               when v_role = 'patient' then
                   exists (select from unnest(v_visible) mine
                            where u.id = any (carego.care_team(v_facility, mine)))
               when u.role in ('staff', 'facility_admin') then true
               when u.role = 'patient' then exists (
                   select from patients p
                    where p.facility_id = v_facility and p.user_id = u.id and p.deleted_at is null
                      and (v_role = 'facility_admin' or p.id = any (v_visible)))
               else false
           end);
    if v_bad > 0 then
        raise exception 'member_not_found' using errcode = 'CG404';
    end if;

    if p_kind = 'direct' then
        -- One direct conversation per pair: serialise openers of this pair.
        perform pg_advisory_xact_lock(hashtextextended(
            'carego.direct:' || least(v_me, v_members[1])::text || greatest(v_me, v_members[1])::text, 0));
        select c.id into v_existing
          from conversations c
          join conversation_members a on a.facility_id = c.facility_id and a.conversation_id = c.id
                                     and a.user_id = v_me
          join conversation_members b on b.facility_id = c.facility_id and b.conversation_id = c.id
                                     and b.user_id = v_members[1]
         where c.facility_id = v_facility and c.kind = 'direct'
         limit 1;
        if v_existing is not null then
            return query select v_existing, false;
            return;
        end if;
    end if;

    insert into conversations (facility_id, id, kind, title, patient_id, created_by)
    values (v_facility, coalesce(p_id, gen_random_uuid()), p_kind, p_title, p_patient, v_me)
    returning id into v_existing;
    insert into conversation_members (facility_id, conversation_id, user_id, last_read_at)
    select v_facility, v_existing, m, case when m = v_me then now() end
      from unnest(array_prepend(v_me, v_members)) m;
    return query select v_existing, true;
end
$function$;
revoke all on function carego.open_conversation(uuid,text,text,uuid,uuid[]) from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.open_conversation(uuid,text,text,uuid,uuid[]) to carego_patient, carego_staff, carego_facility_admin;

-- carego.redeem_stream_ticket(bytea), since V22
CREATE OR REPLACE FUNCTION carego.redeem_stream_ticket(p_hash bytea)
 RETURNS TABLE(session_id uuid, user_id uuid, role text, facility_id uuid)
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
    update stream_tickets t set used_at = now()
      from sessions s join users u on u.id = s.user_id
     where t.token_hash = p_hash and t.used_at is null and t.expires_at > now()
       and s.id = t.session_id
    returning s.id, u.id, u.role, u.facility_id
$function$;
revoke all on function carego.redeem_stream_ticket(bytea) from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.redeem_stream_ticket(bytea) to carego_public;

-- carego.webhook_delivery_target(uuid), since V40
CREATE OR REPLACE FUNCTION carego.webhook_delivery_target(p_delivery uuid)
 RETURNS TABLE(url text, secret_sealed bytea, subscription_id uuid, payload jsonb, status text, active boolean)
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
begin
    if carego.current_app_role() is distinct from 'worker' then
        raise exception 'webhook targets are for the job worker' using errcode = '42501';
    end if;
    return query
        select s.url, s.secret_sealed, s.id, d.payload, d.status, s.active
          from webhook_deliveries d
          join webhook_subscriptions s on s.facility_id = d.facility_id and s.id = d.subscription_id
         where d.id = p_delivery and d.facility_id = carego.current_facility_id();
end
$function$;
revoke all on function carego.webhook_delivery_target(uuid) from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.webhook_delivery_target(uuid) to carego_worker;

-- carego.webhook_on_care_log(), since V40
CREATE OR REPLACE FUNCTION carego.webhook_on_care_log()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
begin
    if new.amends_id is null then
        perform carego.emit_webhook(new.facility_id, 'care_log.written', new.id, new.recorded_at);
    end if;
    return null;
end
$function$;
revoke all on function carego.webhook_on_care_log() from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;

-- carego.webhook_on_crisis_alert(), since V40
CREATE OR REPLACE FUNCTION carego.webhook_on_crisis_alert()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
begin
    perform carego.emit_webhook(new.facility_id, 'crisis_alert.raised', new.id, now());
    return null;
end
$function$;
revoke all on function carego.webhook_on_crisis_alert() from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;

-- carego.webhook_on_patient(), since V40
CREATE OR REPLACE FUNCTION carego.webhook_on_patient()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
begin
    if new.status = 'active' and (tg_op = 'INSERT' or old.status is distinct from 'active') then
        perform carego.emit_webhook(new.facility_id, 'patient.admitted', new.id, now());
    end if;
    return null;
end
$function$;
revoke all on function carego.webhook_on_patient() from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;

-- carego.webhook_record_attempt(uuid,integer,text,text), since V40
CREATE OR REPLACE FUNCTION carego.webhook_record_attempt(p_delivery uuid, p_status_code integer, p_error text, p_outcome text)
 RETURNS void
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
begin
    if carego.current_app_role() is distinct from 'worker' then
        raise exception 'webhook attempts are recorded by the job worker' using errcode = '42501';
    end if;
    update webhook_deliveries
       set attempts = attempts + case when p_outcome = 'failed' and p_status_code is null and p_error is null
                                      then 0 else 1 end,
           last_status_code = coalesce(p_status_code, last_status_code),
           last_error = case when p_outcome = 'delivered' then null else left(coalesce(p_error, last_error), 500) end,
           last_attempt_at = case when p_status_code is null and p_error is null then last_attempt_at else now() end,
           status = p_outcome,
           delivered_at = case when p_outcome = 'delivered' then now() end
     where id = p_delivery and facility_id = carego.current_facility_id() and status = 'pending';
end
$function$;
revoke all on function carego.webhook_record_attempt(uuid,integer,text,text) from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.webhook_record_attempt(uuid,integer,text,text) to carego_worker;

-- Policies and grants, table by table. Each policy is dropped if it exists and created again.
-- A policy taken out of this file is not dropped by it (a wall must never vanish by omission):
-- drop it in a migration. After the files, `carego migrate` widens every facility wall to the
-- whole tenant group (`carego.apply_role_groups`, V44). A table's grants start from none:
-- every app role's privileges on it and its columns are revoked, then granted as written, so
-- a grant taken out of this file is gone after the next apply.

-- announcement_acknowledgements, since V24
drop policy if exists announcement_acknowledgements_facility_isolation on public.announcement_acknowledgements;
create policy announcement_acknowledgements_facility_isolation on public.announcement_acknowledgements as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_public, carego_staff, carego_student, carego_teacher, carego_worker
    using ((facility_id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists announcement_acknowledgements_super_admin_gate on public.announcement_acknowledgements;
create policy announcement_acknowledgements_super_admin_gate on public.announcement_acknowledgements as restrictive for all to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists announcement_acknowledgements_admin_select on public.announcement_acknowledgements;
create policy announcement_acknowledgements_admin_select on public.announcement_acknowledgements as permissive for select to carego_facility_admin, carego_super_admin
    using (true);
drop policy if exists announcement_acknowledgements_self_insert on public.announcement_acknowledgements;
create policy announcement_acknowledgements_self_insert on public.announcement_acknowledgements as permissive for insert to carego_facility_admin, carego_patient, carego_staff
    with check (((user_id = ( SELECT carego.current_user_id() AS current_user_id)) AND (EXISTS ( SELECT
   FROM announcements a
  WHERE ((a.facility_id = announcement_acknowledgements.facility_id) AND (a.id = announcement_acknowledgements.announcement_id))))));
drop policy if exists announcement_acknowledgements_self_select on public.announcement_acknowledgements;
create policy announcement_acknowledgements_self_select on public.announcement_acknowledgements as permissive for select to carego_patient, carego_staff
    using ((user_id = ( SELECT carego.current_user_id() AS current_user_id)));
revoke all on table public.announcement_acknowledgements from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant select,
      insert (facility_id, announcement_id)
   on table public.announcement_acknowledgements to carego_patient, carego_staff, carego_facility_admin;
grant select on table public.announcement_acknowledgements to carego_super_admin;

-- announcements, since V24
drop policy if exists announcements_facility_isolation on public.announcements;
create policy announcements_facility_isolation on public.announcements as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_public, carego_staff, carego_student, carego_teacher, carego_worker
    using ((facility_id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists announcements_super_admin_gate on public.announcements;
create policy announcements_super_admin_gate on public.announcements as restrictive for all to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists announcements_admin_insert on public.announcements;
create policy announcements_admin_insert on public.announcements as permissive for insert to carego_facility_admin
    with check ((created_by = ( SELECT carego.current_user_id() AS current_user_id)));
drop policy if exists announcements_admin_select on public.announcements;
create policy announcements_admin_select on public.announcements as permissive for select to carego_facility_admin, carego_super_admin
    using (true);
drop policy if exists announcements_patient_select on public.announcements;
create policy announcements_patient_select on public.announcements as permissive for select to carego_patient
    using ((audience = ANY (ARRAY['everyone'::text, 'patients'::text])));
drop policy if exists announcements_staff_select on public.announcements;
create policy announcements_staff_select on public.announcements as permissive for select to carego_staff
    using ((audience = ANY (ARRAY['everyone'::text, 'staff'::text])));
revoke all on table public.announcements from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant select on table public.announcements to carego_patient, carego_staff, carego_super_admin;
grant select,
      insert (facility_id, id, audience, title, body)
   on table public.announcements to carego_facility_admin;

-- conversation_members, since V23
drop policy if exists conversation_members_facility_isolation on public.conversation_members;
create policy conversation_members_facility_isolation on public.conversation_members as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_public, carego_staff, carego_student, carego_teacher, carego_worker
    using ((facility_id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists conversation_members_super_admin_gate on public.conversation_members;
create policy conversation_members_super_admin_gate on public.conversation_members as restrictive for all to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists conversation_members_member_select on public.conversation_members;
create policy conversation_members_member_select on public.conversation_members as permissive for select to carego_facility_admin, carego_patient, carego_staff
    using ((conversation_id = ANY (( SELECT carego.my_conversation_ids() AS my_conversation_ids)::uuid[])));
drop policy if exists conversation_members_owner_all on public.conversation_members;
create policy conversation_members_owner_all on public.conversation_members as permissive for all to carego_owner
    using (true)
    with check (true);
drop policy if exists conversation_members_self_update on public.conversation_members;
create policy conversation_members_self_update on public.conversation_members as permissive for update to carego_facility_admin, carego_patient, carego_staff
    using ((user_id = ( SELECT carego.current_user_id() AS current_user_id)))
    with check ((user_id = ( SELECT carego.current_user_id() AS current_user_id)));
revoke all on table public.conversation_members from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant select,
      update (last_read_at)
   on table public.conversation_members to carego_patient, carego_staff, carego_facility_admin;

-- conversations, since V23
drop policy if exists conversations_facility_isolation on public.conversations;
create policy conversations_facility_isolation on public.conversations as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_public, carego_staff, carego_student, carego_teacher, carego_worker
    using ((facility_id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists conversations_super_admin_gate on public.conversations;
create policy conversations_super_admin_gate on public.conversations as restrictive for all to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists conversations_member_select on public.conversations;
create policy conversations_member_select on public.conversations as permissive for select to carego_facility_admin, carego_patient, carego_staff
    using ((id = ANY (( SELECT carego.my_conversation_ids() AS my_conversation_ids)::uuid[])));
drop policy if exists conversations_owner_all on public.conversations;
create policy conversations_owner_all on public.conversations as permissive for all to carego_owner
    using (true)
    with check (true);
revoke all on table public.conversations from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant select on table public.conversations to carego_patient, carego_staff, carego_facility_admin;

-- crisis_alerts, since V25
drop policy if exists crisis_alerts_facility_isolation on public.crisis_alerts;
create policy crisis_alerts_facility_isolation on public.crisis_alerts as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_public, carego_staff, carego_student, carego_teacher, carego_worker
    using ((facility_id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists crisis_alerts_super_admin_gate on public.crisis_alerts;
create policy crisis_alerts_super_admin_gate on public.crisis_alerts as restrictive for all to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists crisis_alerts_admin_insert on public.crisis_alerts;
create policy crisis_alerts_admin_insert on public.crisis_alerts as permissive for insert to carego_facility_admin
    with check ((raised_by = ( SELECT carego.current_user_id() AS current_user_id)));
drop policy if exists crisis_alerts_admin_select on public.crisis_alerts;
create policy crisis_alerts_admin_select on public.crisis_alerts as permissive for select to carego_facility_admin, carego_super_admin
    using (true);
drop policy if exists crisis_alerts_admin_update on public.crisis_alerts;
create policy crisis_alerts_admin_update on public.crisis_alerts as permissive for update to carego_facility_admin
    using (true)
    with check (true);
drop policy if exists crisis_alerts_patient_insert on public.crisis_alerts;
create policy crisis_alerts_patient_insert on public.crisis_alerts as permissive for insert to carego_patient
    with check (((raised_by = ( SELECT carego.current_user_id() AS current_user_id)) AND (patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[]))));
drop policy if exists crisis_alerts_patient_select on public.crisis_alerts;
create policy crisis_alerts_patient_select on public.crisis_alerts as permissive for select to carego_patient
    using ((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])));
drop policy if exists crisis_alerts_staff_insert on public.crisis_alerts;
create policy crisis_alerts_staff_insert on public.crisis_alerts as permissive for insert to carego_staff
    with check (((raised_by = ( SELECT carego.current_user_id() AS current_user_id)) AND (patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[]))));
drop policy if exists crisis_alerts_staff_select on public.crisis_alerts;
create policy crisis_alerts_staff_select on public.crisis_alerts as permissive for select to carego_staff
    using (((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])) OR ( SELECT carego.current_user_on_call() AS current_user_on_call)));
drop policy if exists crisis_alerts_staff_update on public.crisis_alerts;
create policy crisis_alerts_staff_update on public.crisis_alerts as permissive for update to carego_staff
    using (((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])) OR ( SELECT carego.current_user_on_call() AS current_user_on_call)))
    with check (((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])) OR ( SELECT carego.current_user_on_call() AS current_user_on_call)));
revoke all on table public.crisis_alerts from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant select,
      insert (facility_id, id, patient_id, severity, location, note)
   on table public.crisis_alerts to carego_patient;
grant select,
      insert (facility_id, id, patient_id, severity, location, note),
      update (acknowledged_at, acknowledged_by, escalated_at, resolved_at, resolved_by, resolution)
   on table public.crisis_alerts to carego_staff, carego_facility_admin;
grant select on table public.crisis_alerts to carego_super_admin;

-- documents, since V26
drop policy if exists documents_facility_isolation on public.documents;
create policy documents_facility_isolation on public.documents as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_public, carego_staff, carego_student, carego_teacher, carego_worker
    using ((facility_id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists documents_super_admin_gate on public.documents;
create policy documents_super_admin_gate on public.documents as restrictive for all to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists documents_admin_insert on public.documents;
create policy documents_admin_insert on public.documents as permissive for insert to carego_facility_admin
    with check ((created_by = ( SELECT carego.current_user_id() AS current_user_id)));
drop policy if exists documents_admin_select on public.documents;
create policy documents_admin_select on public.documents as permissive for select to carego_facility_admin, carego_super_admin
    using (true);
drop policy if exists documents_admin_update on public.documents;
create policy documents_admin_update on public.documents as permissive for update to carego_facility_admin
    using (true)
    with check (true);
drop policy if exists documents_caseload_insert on public.documents;
create policy documents_caseload_insert on public.documents as permissive for insert to carego_staff
    with check (((created_by = ( SELECT carego.current_user_id() AS current_user_id)) AND (patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[]))));
drop policy if exists documents_caseload_select on public.documents;
create policy documents_caseload_select on public.documents as permissive for select to carego_staff
    using ((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])));
drop policy if exists documents_caseload_update on public.documents;
create policy documents_caseload_update on public.documents as permissive for update to carego_staff
    using ((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])))
    with check ((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])));
drop policy if exists documents_owner_select on public.documents;
create policy documents_owner_select on public.documents as permissive for select to carego_owner
    using (true);
drop policy if exists documents_patient_select on public.documents;
create policy documents_patient_select on public.documents as permissive for select to carego_patient
    using ((visible_to_patient AND (status = 'ready'::text) AND (patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[]))));
revoke all on table public.documents from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant select on table public.documents to carego_patient, carego_super_admin;
grant select,
      insert (facility_id, id, patient_id, kind, title, visible_to_patient),
      update (status, content_type, size_bytes, sha256, object_key, ready_at, deleted_at, deleted_by, object_removed_at)
   on table public.documents to carego_staff, carego_facility_admin;

-- events, since V22
drop policy if exists events_facility_isolation on public.events;
create policy events_facility_isolation on public.events as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_public, carego_staff, carego_student, carego_teacher, carego_worker
    using ((facility_id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists events_super_admin_gate on public.events;
create policy events_super_admin_gate on public.events as restrictive for all to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists events_owner_all on public.events;
create policy events_owner_all on public.events as permissive for all to carego_owner
    using (true)
    with check (true);
drop policy if exists events_recipient_select on public.events;
create policy events_recipient_select on public.events as permissive for select to carego_facility_admin, carego_patient, carego_staff
    using ((recipient_id = ( SELECT carego.current_user_id() AS current_user_id)));
revoke all on table public.events from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant select on table public.events to carego_patient, carego_staff, carego_facility_admin;

-- message_attachments, since V27
drop policy if exists message_attachments_facility_isolation on public.message_attachments;
create policy message_attachments_facility_isolation on public.message_attachments as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_public, carego_staff, carego_student, carego_teacher, carego_worker
    using ((facility_id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists message_attachments_super_admin_gate on public.message_attachments;
create policy message_attachments_super_admin_gate on public.message_attachments as restrictive for all to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists message_attachments_member_select on public.message_attachments;
create policy message_attachments_member_select on public.message_attachments as permissive for select to carego_facility_admin, carego_patient, carego_staff
    using ((EXISTS ( SELECT
   FROM messages m
  WHERE ((m.facility_id = message_attachments.facility_id) AND (m.id = message_attachments.message_id)))));
drop policy if exists message_attachments_sender_insert on public.message_attachments;
create policy message_attachments_sender_insert on public.message_attachments as permissive for insert to carego_facility_admin, carego_patient, carego_staff
    with check (((EXISTS ( SELECT
   FROM messages m
  WHERE ((m.facility_id = message_attachments.facility_id) AND (m.id = message_attachments.message_id) AND (m.sender_id = ( SELECT carego.current_user_id() AS current_user_id))))) AND (EXISTS ( SELECT
   FROM documents d
  WHERE ((d.facility_id = message_attachments.facility_id) AND (d.id = message_attachments.document_id) AND (d.status <> 'deleted'::text))))));
revoke all on table public.message_attachments from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant select,
      insert (facility_id, message_id, document_id, position)
   on table public.message_attachments to carego_patient, carego_staff, carego_facility_admin;

-- messages, since V23
drop policy if exists messages_facility_isolation on public.messages;
create policy messages_facility_isolation on public.messages as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_public, carego_staff, carego_student, carego_teacher, carego_worker
    using ((facility_id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists messages_super_admin_gate on public.messages;
create policy messages_super_admin_gate on public.messages as restrictive for all to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists messages_member_insert on public.messages;
create policy messages_member_insert on public.messages as permissive for insert to carego_facility_admin, carego_patient, carego_staff
    with check (((conversation_id = ANY (( SELECT carego.my_conversation_ids() AS my_conversation_ids)::uuid[])) AND (sender_id = ( SELECT carego.current_user_id() AS current_user_id))));
drop policy if exists messages_member_select on public.messages;
create policy messages_member_select on public.messages as permissive for select to carego_facility_admin, carego_patient, carego_staff
    using ((conversation_id = ANY (( SELECT carego.my_conversation_ids() AS my_conversation_ids)::uuid[])));
drop policy if exists messages_owner_select on public.messages;
create policy messages_owner_select on public.messages as permissive for select to carego_owner
    using (true);
revoke all on table public.messages from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant select,
      insert (facility_id, id, conversation_id, kind, body, refers_to)
   on table public.messages to carego_patient, carego_staff, carego_facility_admin;

-- stream_tickets, since V22
drop policy if exists stream_tickets_owner_all on public.stream_tickets;
create policy stream_tickets_owner_all on public.stream_tickets as permissive for all to carego_owner
    using (true)
    with check (true);
revoke all on table public.stream_tickets from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;

-- webhook_deliveries, since V40
drop policy if exists webhook_deliveries_facility_isolation on public.webhook_deliveries;
create policy webhook_deliveries_facility_isolation on public.webhook_deliveries as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_public, carego_staff, carego_student, carego_teacher, carego_worker
    using ((facility_id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists webhook_deliveries_super_admin_gate on public.webhook_deliveries;
create policy webhook_deliveries_super_admin_gate on public.webhook_deliveries as restrictive for all to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists webhook_deliveries_admin_select on public.webhook_deliveries;
create policy webhook_deliveries_admin_select on public.webhook_deliveries as permissive for select to carego_facility_admin, carego_super_admin
    using (true);
drop policy if exists webhook_deliveries_owner_all on public.webhook_deliveries;
create policy webhook_deliveries_owner_all on public.webhook_deliveries as permissive for all to carego_owner
    using (true)
    with check (true);
revoke all on table public.webhook_deliveries from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant select on table public.webhook_deliveries to carego_facility_admin, carego_super_admin;

-- webhook_subscriptions, since V40
drop policy if exists webhook_subscriptions_facility_isolation on public.webhook_subscriptions;
create policy webhook_subscriptions_facility_isolation on public.webhook_subscriptions as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_public, carego_staff, carego_student, carego_teacher, carego_worker
    using ((facility_id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists webhook_subscriptions_super_admin_gate on public.webhook_subscriptions;
create policy webhook_subscriptions_super_admin_gate on public.webhook_subscriptions as restrictive for all to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists webhook_subscriptions_admin_insert on public.webhook_subscriptions;
create policy webhook_subscriptions_admin_insert on public.webhook_subscriptions as permissive for insert to carego_facility_admin, carego_super_admin
    with check (active);
drop policy if exists webhook_subscriptions_admin_select on public.webhook_subscriptions;
create policy webhook_subscriptions_admin_select on public.webhook_subscriptions as permissive for select to carego_facility_admin, carego_super_admin
    using (true);
drop policy if exists webhook_subscriptions_admin_update on public.webhook_subscriptions;
create policy webhook_subscriptions_admin_update on public.webhook_subscriptions as permissive for update to carego_facility_admin, carego_super_admin
    using (true)
    with check (true);
drop policy if exists webhook_subscriptions_owner_all on public.webhook_subscriptions;
create policy webhook_subscriptions_owner_all on public.webhook_subscriptions as permissive for all to carego_owner
    using (true)
    with check (true
);
revoke all on table public.webhook_subscriptions from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant select (facility_id, id, url, events, description, active, created_by, created_at, disabled_at),
      insert (facility_id, id, url, events, description, secret_sealed, created_by),
      update (active, disabled_at)
   on table public.webhook_subscriptions to carego_facility_admin, carego_super_admin;
