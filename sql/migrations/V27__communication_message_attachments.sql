-- Attachments: a message refers to documents (V26) its sender can see.
-- The reference is all a message carries: each reader opens the document
-- with their own rights (a patient only what is shared with them, staff
-- their caseload's), so attaching never widens who may read a document.
-- Append-only, as messages are: a correction attaches anew.
create table message_attachments (
    facility_id uuid     not null,
    id          uuid     not null default gen_random_uuid(), -- the audit log's entity id
    message_id  uuid     not null,
    document_id uuid     not null,
    position    smallint not null,
    constraint message_attachments_pkey primary key (facility_id, message_id, document_id),
    constraint message_attachments_message_fkey foreign key (facility_id, message_id)
        references messages (facility_id, id),
    constraint message_attachments_document_fkey foreign key (facility_id, document_id)
        references documents (facility_id, id),
    constraint message_attachments_position_check check (position between 1 and 10)
);
create index message_attachments_document_idx on message_attachments (facility_id, document_id);

alter table message_attachments enable row level security;
alter table message_attachments force row level security;
create policy message_attachments_facility_isolation on message_attachments as restrictive for all
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator
    using (facility_id = (select carego.current_facility_id()));
create policy message_attachments_super_admin_gate on message_attachments as restrictive for all
    to carego_super_admin
    using ((select carego.is_super_admin()));

-- Whoever sees the message sees what it refers to (not the document itself).
create policy message_attachments_member_select on message_attachments for select
    to carego_patient, carego_staff, carego_facility_admin
    using (exists (select from messages m
                    where m.facility_id = message_attachments.facility_id and m.id = message_id));
-- The sender attaches to their own message, and only documents they can see.
create policy message_attachments_sender_insert on message_attachments for insert
    to carego_patient, carego_staff, carego_facility_admin
    with check (exists (select from messages m
                         where m.facility_id = message_attachments.facility_id and m.id = message_id
                           and m.sender_id = (select carego.current_user_id()))
                and exists (select from documents d
                             where d.facility_id = message_attachments.facility_id and d.id = document_id
                               and d.status <> 'deleted'));

grant select on message_attachments to carego_patient, carego_staff, carego_facility_admin;
grant insert (facility_id, message_id, document_id, position)
    on message_attachments to carego_patient, carego_staff, carego_facility_admin;

create trigger message_attachments_append_only before update or delete or truncate on message_attachments
    for each statement execute function carego.forbid_change();
create trigger message_attachments_audit after insert on message_attachments
    for each row execute function carego.audit_row('facility_id');
