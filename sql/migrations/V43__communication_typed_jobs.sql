-- Typed jobs: the job kinds are a closed set, each with the payload it
-- needs, and each is enqueued only by its own function or trigger.
--
-- Until now carego.enqueue_job (V21) let any patient, staff or admin
-- connection queue any kind with any payload, which then ran with the
-- worker's reach — a document_removal of a document the caller cannot see —
-- or take the daily cleanup's dedupe key so it never ran. It is gone. The
-- kinds, and who enqueues them:
--   crisis_escalation  trigger on crisis_alerts (V25)        {alertId}
--   document_removal   trigger on documents (V26)            {documentId}
--   webhook_delivery   carego.emit_webhook, triggers (V40)    {deliveryId}
--   weekly_metrics     carego.schedule_periodic_jobs          facility, {}
--   document_sweep     carego.schedule_periodic_jobs          platform, {}
--   cleanup            carego.schedule_periodic_jobs          platform, {}
--   progress_report    carego.enqueue_progress_report, below  {documentId, patientId, from, to}
-- src/jobs.rs holds the same set as one enum (`JobKind`).

drop function carego.enqueue_job(text, jsonb, timestamptz, boolean, text);

alter table jobs drop constraint jobs_kind_check;
alter table jobs add constraint jobs_kind_check check (kind in (
    'crisis_escalation', 'document_removal', 'webhook_delivery', 'weekly_metrics',
    'document_sweep', 'cleanup', 'progress_report'));
alter table jobs add constraint jobs_payload_shape_check check (case kind
    when 'crisis_escalation' then facility_id is not null and payload ? 'alertId'
    when 'document_removal' then facility_id is not null and payload ? 'documentId'
    when 'webhook_delivery' then facility_id is not null and payload ? 'deliveryId'
    when 'weekly_metrics' then facility_id is not null
    when 'document_sweep' then facility_id is null
    when 'cleanup' then facility_id is null
    when 'progress_report' then facility_id is not null and requested_by is not null
                                and payload ?& array['documentId', 'patientId', 'from', 'to']
    else false end);
-- Only the periodic jobs are deduplicated, each under its own kind's prefix.
alter table jobs add constraint jobs_dedupe_key_check check (dedupe_key is null or dedupe_key like kind || ':%');

-- The owner reads documents for the check below (no request role gains anything).
create policy documents_owner_select on documents for select to carego_owner using (true);

-- Queues the rendering of a progress report the caller has just filed: the
-- document must be theirs, pending, a progress report of that patient, in
-- the facility their context is signed for. It runs as the caller, and only while they stay active. Returns the job's id.
--   CG404 -> the document is not the caller's pending report
create function carego.enqueue_progress_report(p_document uuid, p_patient uuid, p_from date, p_to date)
    returns bigint
    language plpgsql
    security definer
    set search_path = pg_catalog, public
    as $$
declare
    v_facility uuid;
    v_id bigint;
begin
    select d.facility_id into v_facility
      from documents d
     where d.id = p_document and d.patient_id = p_patient and d.kind = 'progress_report'
       and d.status = 'pending' and d.created_by = carego.current_user_id()
       and d.facility_id = carego.current_facility_id();
    if v_facility is null or p_from is null or p_to is null or p_from > p_to then
        raise exception 'not the caller''s pending progress report' using errcode = 'CG404';
    end if;
    insert into jobs (facility_id, kind, payload, requested_by)
    values (v_facility, 'progress_report',
            jsonb_build_object('documentId', p_document, 'patientId', p_patient, 'from', p_from, 'to', p_to),
            carego.current_user_id())
    returning id into v_id;
    perform pg_notify('carego_jobs', '');
    return v_id;
end
$$;
-- Staff and facility admins file reports (a super admin, of no facility,
-- cannot be a document's creator).
grant execute on function carego.enqueue_progress_report(uuid, uuid, date, date)
    to carego_staff, carego_facility_admin;
