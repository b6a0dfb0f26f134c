-- Documents: files about a patient (treatment plans, assessments, consents,
-- lab results, progress reports the server renders...). The bytes live in the object store (src/storage.rs: the
-- local filesystem under the data directory, or S3); this table holds what
-- is known of them, under RLS like every chart record.
--
-- A document is created `pending` (its metadata, under an id the client
-- makes), then its content is uploaded once and it becomes `ready` with the
-- sniffed content type, size and SHA-256 that the server computed while
-- streaming. Deleting it leaves a tombstone (`deleted`, who and when) and
-- enqueues a job that removes the object; a daily sweep removes objects no
-- live document refers to (an upload whose server died before it could
-- record it). Content never changes once ready: a new version is a new
-- document.

create table documents (
    facility_id        uuid        not null,
    id                 uuid        not null,
    patient_id         uuid        not null,
    kind               text        not null,
    title              text        not null,
    visible_to_patient boolean     not null default false,
    status             text        not null default 'pending',
    content_type       text,
    size_bytes         bigint,
    sha256             text,
    -- `facilities/{facility}/documents/{document}/{upload}`: a fresh name per
    -- upload, so a losing concurrent upload never overwrites the winner's.
    object_key         text,
    created_by         uuid        not null default carego.current_user_id(),
    created_at         timestamptz not null default now(),
    ready_at           timestamptz,
    deleted_at         timestamptz,
    deleted_by         uuid,
    -- Set by the removal job once the object is gone.
    object_removed_at  timestamptz,
    constraint documents_pkey primary key (facility_id, id),
    constraint documents_patient_fkey foreign key (facility_id, patient_id) references patients (facility_id, id),
    constraint documents_created_by_fkey foreign key (facility_id, created_by) references users (facility_id, id),
    constraint documents_deleted_by_fkey foreign key (facility_id, deleted_by) references users (facility_id, id),
    constraint documents_object_key_key unique (facility_id, object_key),
    constraint documents_kind_check check (kind in ('treatment_plan', 'assessment', 'consent', 'lab_result', 'progress_report', 'other')),
    constraint documents_title_check check (length(title) between 1 and 200),
    constraint documents_status_check check (status in ('pending', 'ready', 'deleted', 'failed')),
    constraint documents_content_check check (
        (ready_at is null) = (object_key is null)
        and (ready_at is null) = (content_type is null)
        and (ready_at is null) = (size_bytes is null)
        and (ready_at is null) = (sha256 is null)
        and (status <> 'ready' or ready_at is not null)),
    constraint documents_sha256_check check (sha256 ~ '^[0-9a-f]{64}$'),
    constraint documents_size_bytes_check check (size_bytes >= 0),
    constraint documents_deleted_check check ((status = 'deleted') = (deleted_at is not null)
                                              and (deleted_at is null) = (deleted_by is null)),
    constraint documents_object_removed_check check (object_removed_at is null or deleted_at is not null)
);
create index documents_patient_idx on documents (facility_id, patient_id, created_at desc, id desc);

alter table documents enable row level security;
alter table documents force row level security;
create policy documents_facility_isolation on documents as restrictive for all
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator
    using (facility_id = (select carego.current_facility_id()));
create policy documents_super_admin_gate on documents as restrictive for all to carego_super_admin
    using ((select carego.is_super_admin()));

create policy documents_admin_select on documents for select
    to carego_facility_admin, carego_super_admin using (true);
create policy documents_caseload_select on documents for select to carego_staff
    using (patient_id = any ((select carego.visible_patient_ids())::uuid[]));
-- A patient sees what was shared with them, once it is there to read.
create policy documents_patient_select on documents for select to carego_patient
    using (visible_to_patient and status = 'ready'
           and patient_id = any ((select carego.visible_patient_ids())::uuid[]));

create policy documents_admin_insert on documents for insert to carego_facility_admin
    with check (created_by = (select carego.current_user_id()));
create policy documents_caseload_insert on documents for insert to carego_staff
    with check (created_by = (select carego.current_user_id())
                and patient_id = any ((select carego.visible_patient_ids())::uuid[]));

create policy documents_admin_update on documents for update to carego_facility_admin
    using (true) with check (true);
create policy documents_caseload_update on documents for update to carego_staff
    using (patient_id = any ((select carego.visible_patient_ids())::uuid[]))
    with check (patient_id = any ((select carego.visible_patient_ids())::uuid[]));

grant select on documents to carego_patient, carego_staff, carego_facility_admin, carego_super_admin;
grant insert (id, facility_id, patient_id, kind, title, visible_to_patient)
    on documents to carego_staff, carego_facility_admin;
grant update (status, content_type, size_bytes, sha256, object_key, ready_at, deleted_at, deleted_by,
              object_removed_at)
    on documents to carego_staff, carego_facility_admin;

-- The life of a document: pending → ready once, with its content; pending or
-- ready → deleted once, by a facility admin or the staff member who created
-- it; then only the removal job's mark. A document the server was to render
-- goes pending → failed (the system only) when its job cannot run, and may
-- then be deleted. Nothing else ever changes.
create function carego.document_step() returns trigger
    language plpgsql
    as $$
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
           and (old.status <> 'pending' or carego.current_app_role() <> 'system'))
       or (old.object_removed_at is not null and new.object_removed_at is distinct from old.object_removed_at)
       or (old.object_removed_at is null and new.object_removed_at is not null
           and carego.current_app_role() <> 'system') then
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
$$;

-- A tombstone enqueues the object's removal (in the same transaction, so no
-- path can forget it); a patient-visible document that becomes ready is
-- announced to the patient on their event stream.
create function carego.document_event() returns trigger
    language plpgsql
    security definer
    set search_path = pg_catalog, public
    as $$
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
$$;

create trigger documents_step before update on documents
    for each row execute function carego.document_step();
create trigger documents_no_delete before delete or truncate on documents
    for each statement execute function carego.forbid_change();
create trigger documents_audit after insert or update on documents
    for each row execute function carego.audit_row('facility_id');
create trigger documents_event after update on documents
    for each row execute function carego.document_event();

alter table events drop constraint events_kind_check;
alter table events add constraint events_kind_check check (kind in ('message.created', 'announcement.published',
    'crisis_alert.raised', 'crisis_alert.acknowledged', 'crisis_alert.escalated', 'crisis_alert.resolved',
    'document.shared'));

-- Every download is in the audit chain, whoever makes it (a patient reading
-- their own chart is not audited elsewhere; a file leaving the building is).
create function carego.audit_download(p_document uuid, p_facility uuid) returns boolean
    language plpgsql
    volatile
    security definer
    set search_path = pg_catalog, public
    as $$
begin
    if p_facility is distinct from carego.current_facility_id() and not carego.is_super_admin() then
        raise exception 'audit_download: not your facility' using errcode = '42501';
    end if;
    insert into public.audit_log (facility_id, actor_id, actor_role, session_id, action,
                                  entity_type, entity_id, request_id, ip)
    values (p_facility, carego.current_user_id(), carego.current_app_role(),
            carego.current_session_id(), 'read', 'documents', p_document,
            nullif(current_setting('carego.request_id', true), ''),
            nullif(current_setting('carego.ip', true), ''));
    return true;
end
$$;
grant execute on function carego.audit_download(uuid, uuid)
    to carego_patient, carego_staff, carego_facility_admin, carego_super_admin;

-- The periodic jobs gain the daily sweep of orphaned objects.
create or replace function carego.schedule_periodic_jobs() returns integer
    language plpgsql
    security definer
    set search_path = pg_catalog, public
    as $$
declare
    v_day text := to_char(now() at time zone 'UTC', 'YYYY-MM-DD');
    v_hour text := to_char(now() at time zone 'UTC', 'YYYY-MM-DD"T"HH24');
    v_new integer;
    v_more integer;
    v_sweep integer;
begin
    insert into jobs (kind, dedupe_key) values ('cleanup', 'cleanup:' || v_day)
        on conflict (dedupe_key) do nothing;
    get diagnostics v_new = row_count;
    insert into jobs (kind, dedupe_key) values ('document_sweep', 'document_sweep:' || v_day)
        on conflict (dedupe_key) do nothing;
    get diagnostics v_sweep = row_count;
    insert into jobs (facility_id, kind, dedupe_key)
    select f.id, 'weekly_metrics', 'weekly_metrics:' || f.id || ':' || v_hour
      from facilities f where f.status = 'active'
        on conflict (dedupe_key) do nothing;
    get diagnostics v_more = row_count;
    if v_new + v_sweep + v_more > 0 then
        perform pg_notify('carego_jobs', '');
    end if;
    return v_new + v_sweep + v_more;
end
$$;
