-- Crisis alerts: a patient presses "I need help" (or staff raise one for a
-- patient). It reaches at once the patient's care team (counsellor and open
-- assignments) and the facility's on-call staff; someone must acknowledge
-- it; if nobody has within the facility's `crisis_escalation_minutes`, a
-- background job escalates it to the facility admins. Then it is resolved.
--
-- The row holds the whole timeline (raised, acknowledged, escalated,
-- resolved, each with who and when); each step is set once, by the trigger
-- below's rules, and every step is in the audit chain.

-- Who is on call: set by facility admins (PATCH /users/{id}).
alter table users add column on_call boolean not null default false;
grant select (on_call) on users to carego_patient, carego_staff, carego_facility_admin, carego_super_admin;
grant update (on_call) on users to carego_facility_admin, carego_super_admin;

-- Minutes an alert may wait unacknowledged before it is escalated.
alter table facilities add column crisis_escalation_minutes integer not null default 10;
alter table facilities add constraint facilities_crisis_escalation_minutes_check
    check (crisis_escalation_minutes between 1 and 240);

create function carego.current_user_on_call() returns boolean
    language sql
    stable
    security definer
    set search_path = pg_catalog, public
    as $$
    select coalesce((select u.on_call and u.status = 'active' from public.users u
                      where u.id = carego.current_user_id()
                        and u.facility_id = carego.current_facility_id()), false)
$$;
grant execute on function carego.current_user_on_call() to carego_staff, carego_facility_admin;

create table crisis_alerts (
    facility_id      uuid        not null,
    id               uuid        not null default gen_random_uuid(),
    patient_id       uuid        not null,
    raised_by        uuid        not null default carego.current_user_id(),
    severity         text        not null,
    location         text,
    note             text,
    raised_at        timestamptz not null default now(),
    acknowledged_at  timestamptz,
    acknowledged_by  uuid,
    escalated_at     timestamptz,
    resolved_at      timestamptz,
    resolved_by      uuid,
    resolution       text,
    constraint crisis_alerts_pkey primary key (facility_id, id),
    constraint crisis_alerts_patient_fkey foreign key (facility_id, patient_id) references patients (facility_id, id),
    constraint crisis_alerts_raised_by_fkey foreign key (facility_id, raised_by) references users (facility_id, id),
    constraint crisis_alerts_acknowledged_by_fkey foreign key (facility_id, acknowledged_by)
        references users (facility_id, id),
    constraint crisis_alerts_resolved_by_fkey foreign key (facility_id, resolved_by) references users (facility_id, id),
    constraint crisis_alerts_severity_check check (severity in ('low', 'medium', 'high', 'critical')),
    constraint crisis_alerts_location_check check (length(location) between 1 and 500),
    constraint crisis_alerts_note_check check (length(note) between 1 and 2000),
    constraint crisis_alerts_resolution_check check (length(resolution) between 1 and 2000),
    constraint crisis_alerts_acknowledged_check check ((acknowledged_at is null) = (acknowledged_by is null)),
    constraint crisis_alerts_resolved_check check ((resolved_at is null) = (resolved_by is null)
                                                   and (resolved_at is null or acknowledged_at is not null))
);
create index crisis_alerts_open_idx on crisis_alerts (facility_id, raised_at desc, id desc) where resolved_at is null;
create index crisis_alerts_patient_idx on crisis_alerts (facility_id, patient_id, raised_at desc, id desc);

alter table crisis_alerts enable row level security;
alter table crisis_alerts force row level security;
create policy crisis_alerts_facility_isolation on crisis_alerts as restrictive for all
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator
    using (facility_id = (select carego.current_facility_id()));
create policy crisis_alerts_super_admin_gate on crisis_alerts as restrictive for all to carego_super_admin
    using ((select carego.is_super_admin()));

create policy crisis_alerts_admin_select on crisis_alerts for select
    to carego_facility_admin, carego_super_admin using (true);
-- The care team, and whoever is on call: the same people it is sent to.
create policy crisis_alerts_staff_select on crisis_alerts for select to carego_staff
    using (patient_id = any ((select carego.visible_patient_ids())::uuid[])
           or (select carego.current_user_on_call()));
create policy crisis_alerts_patient_select on crisis_alerts for select to carego_patient
    using (patient_id = any ((select carego.visible_patient_ids())::uuid[]));

create policy crisis_alerts_admin_insert on crisis_alerts for insert to carego_facility_admin
    with check (raised_by = (select carego.current_user_id()));
create policy crisis_alerts_staff_insert on crisis_alerts for insert to carego_staff
    with check (raised_by = (select carego.current_user_id())
                and patient_id = any ((select carego.visible_patient_ids())::uuid[]));
create policy crisis_alerts_patient_insert on crisis_alerts for insert to carego_patient
    with check (raised_by = (select carego.current_user_id())
                and patient_id = any ((select carego.visible_patient_ids())::uuid[]));

create policy crisis_alerts_admin_update on crisis_alerts for update to carego_facility_admin
    using (true) with check (true);
create policy crisis_alerts_staff_update on crisis_alerts for update to carego_staff
    using (patient_id = any ((select carego.visible_patient_ids())::uuid[])
           or (select carego.current_user_on_call()))
    with check (patient_id = any ((select carego.visible_patient_ids())::uuid[])
                or (select carego.current_user_on_call()));

grant select on crisis_alerts to carego_patient, carego_staff, carego_facility_admin, carego_super_admin;
grant insert (id, facility_id, patient_id, severity, location, note)
    on crisis_alerts to carego_patient, carego_staff, carego_facility_admin;
grant update (acknowledged_at, acknowledged_by, escalated_at, resolved_at, resolved_by, resolution)
    on crisis_alerts to carego_staff, carego_facility_admin;

-- Each step once, by whom it claims: acknowledged and resolved by the caller,
-- escalated only by the system (the escalation job). Nothing else changes.
create function carego.crisis_alert_step() returns trigger
    language plpgsql
    as $$
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
           and carego.current_app_role() <> 'system') then
        raise exception 'a crisis alert''s steps are set once, by the one taking them'
            using errcode = 'CG409';
    end if;
    return new;
end
$$;

-- Who hears of it: the care team and on-call staff; with `p_admins`, the
-- facility admins too; with `p_patient`, the patient.
create function carego.crisis_recipients(p_facility uuid, p_patient uuid, p_admins boolean, p_patient_user boolean)
    returns uuid[]
    language sql
    stable
    security definer
    set search_path = pg_catalog, public
    as $$
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
$$;

-- Delivery of each step, and the escalation job when it is raised.
create function carego.crisis_alert_event() returns trigger
    language plpgsql
    security definer
    set search_path = pg_catalog, public
    as $$
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
$$;

create trigger crisis_alerts_step before update on crisis_alerts
    for each row execute function carego.crisis_alert_step();
create trigger crisis_alerts_no_delete before delete or truncate on crisis_alerts
    for each statement execute function carego.forbid_change();
create trigger crisis_alerts_audit after insert or update on crisis_alerts
    for each row execute function carego.audit_row('facility_id');
create trigger crisis_alerts_event after insert or update on crisis_alerts
    for each row execute function carego.crisis_alert_event();
