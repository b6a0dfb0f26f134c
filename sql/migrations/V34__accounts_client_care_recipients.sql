-- The people a client books care for. A facility admin links a client to
-- the patient record of each care recipient; the client then sees those
-- patients (name and status only), their visits (staff check-ins and
-- check-outs at the patient, V8's attendance) and the care logs marked
-- visible to the patient's side (`visible_to_patient`), and nothing else.
--
-- Three clinical tables are granted to carego_client here, so their facility
-- isolation policies take the role in first: the wall comes before the door.

create table client_care_recipients (
    facility_id uuid        not null,
    client_id   uuid        not null,
    patient_id  uuid        not null,
    linked_by   uuid,
    linked_at   timestamptz not null default now(),
    constraint client_care_recipients_pkey primary key (facility_id, client_id, patient_id),
    constraint client_care_recipients_client_fkey foreign key (facility_id, client_id)
        references client_profiles (facility_id, user_id),
    constraint client_care_recipients_patient_fkey foreign key (facility_id, patient_id)
        references patients (facility_id, id)
);

alter table client_care_recipients enable row level security;
alter table client_care_recipients force row level security;

create policy client_care_recipients_facility_isolation on client_care_recipients as restrictive for all
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator,
       carego_client, carego_student, carego_teacher
    using (facility_id = (select carego.current_facility_id()));
create policy client_care_recipients_super_admin_gate on client_care_recipients as restrictive for all
    to carego_super_admin using ((select carego.is_super_admin()));
create policy client_care_recipients_admin_select on client_care_recipients for select
    to carego_facility_admin, carego_super_admin using (true);
create policy client_care_recipients_admin_insert on client_care_recipients for insert
    to carego_facility_admin with check (true);
create policy client_care_recipients_self_select on client_care_recipients for select to carego_client
    using (client_id = (select carego.current_user_id()));
create policy client_care_recipients_owner_select on client_care_recipients for select to carego_owner
    using (true);

grant select on client_care_recipients to carego_client, carego_facility_admin, carego_super_admin;
grant insert (facility_id, client_id, patient_id) on client_care_recipients to carego_facility_admin;

create function carego.stamp_link() returns trigger
    language plpgsql
    as $$
begin
    new.linked_by := carego.current_user_id();
    new.linked_at := now();
    return new;
end
$$;

create trigger client_care_recipients_stamp before insert on client_care_recipients
    for each row execute function carego.stamp_link();
create trigger client_care_recipients_audit after insert or update or delete on client_care_recipients
    for each row execute function carego.audit_row('facility_id');

-- The calling client's care recipients, for the policies below (definer:
-- the link table's own policies are not re-entered per row).
create function carego.client_patient_ids() returns uuid[]
    language sql stable security definer
    set search_path = pg_catalog, public
    as $$
    select coalesce(array_agg(l.patient_id), '{}') from public.client_care_recipients l
     where l.facility_id = carego.current_facility_id() and l.client_id = carego.current_user_id()
       and carego.current_app_role() = 'client'
$$;
grant execute on function carego.client_patient_ids() to carego_client;

alter policy patients_facility_isolation on patients
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client;
alter policy care_logs_facility_isolation on care_logs
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client;
alter policy attendance_facility_isolation on attendance
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client;

create policy patients_client_select on patients for select to carego_client
    using (deleted_at is null and id = any ((select carego.client_patient_ids())::uuid[]));
create policy care_logs_client_select on care_logs for select to carego_client
    using (visible_to_patient and patient_id = any ((select carego.client_patient_ids())::uuid[]));
create policy attendance_client_select on attendance for select to carego_client
    using (patient_id = any ((select carego.client_patient_ids())::uuid[]));

grant select (facility_id, id, first_name, last_name, status, deleted_at) on patients to carego_client;
grant select (facility_id, id, patient_id, kind, body, occurred_at, visible_to_patient, recorded_at,
              amends_id, amendment_reason)
    on care_logs to carego_client;
grant select (facility_id, id, patient_id, staff_id, event, at, recorded_at, amends_id) on attendance
    to carego_client;
