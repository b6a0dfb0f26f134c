-- Webhooks: a facility's subscriptions to events, and the log of every
-- delivery. An event (a patient admitted, a crisis alert raised, a care log
-- written) files one delivery per active subscription to it and enqueues a
-- job per delivery, in the transaction that made the change, so a delivery
-- exists exactly when its change committed. The job worker signs and sends
-- it, retrying with the queue's backoff (src/jobs.rs, src/webhooks.rs).
--
-- Payloads carry ids and times, never a patient's data: the receiver
-- fetches what it may see with its API key. The signing secret is sealed by
-- the server (as TOTP secrets are); no request role may read it.

create table webhook_subscriptions (
    facility_id   uuid        not null,
    id            uuid        not null default gen_random_uuid(),
    url           text        not null,
    events        text[]      not null,
    description   text,
    secret_sealed bytea       not null,
    active        boolean     not null default true,
    created_by    uuid,       -- a facility admin or a super admin (no composite key can name both)
    created_at    timestamptz not null default now(),
    disabled_at   timestamptz,
    constraint webhook_subscriptions_pkey primary key (facility_id, id),
    constraint webhook_subscriptions_facility_fkey foreign key (facility_id) references facilities (id),
    constraint webhook_subscriptions_url_check check (url ~ '^https?://' and length(url) <= 2000),
    constraint webhook_subscriptions_events_check check (
        cardinality(events) between 1 and 3
        and events <@ array['patient.admitted', 'crisis_alert.raised', 'care_log.written']),
    constraint webhook_subscriptions_description_check check (length(description) between 1 and 200)
);
create index webhook_subscriptions_active_idx on webhook_subscriptions (facility_id) where active;

alter table webhook_subscriptions enable row level security;
alter table webhook_subscriptions force row level security;

create policy webhook_subscriptions_facility_isolation on webhook_subscriptions as restrictive for all
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator,
       carego_client, carego_student, carego_teacher
    using (facility_id = (select carego.current_facility_id()));
create policy webhook_subscriptions_super_admin_gate on webhook_subscriptions as restrictive for all
    to carego_super_admin using ((select carego.is_super_admin()));
create policy webhook_subscriptions_admin_select on webhook_subscriptions for select
    to carego_facility_admin, carego_super_admin using (true);
create policy webhook_subscriptions_admin_insert on webhook_subscriptions for insert
    to carego_facility_admin, carego_super_admin with check (active);
create policy webhook_subscriptions_admin_update on webhook_subscriptions for update
    to carego_facility_admin, carego_super_admin using (true) with check (true);
create policy webhook_subscriptions_owner_all on webhook_subscriptions for all to carego_owner
    using (true) with check (true);

grant select (facility_id, id, url, events, description, active, created_by, created_at, disabled_at)
    on webhook_subscriptions to carego_facility_admin, carego_super_admin;
grant insert (facility_id, id, url, events, description, secret_sealed, created_by)
    on webhook_subscriptions to carego_facility_admin, carego_super_admin;
grant update (active, disabled_at) on webhook_subscriptions to carego_facility_admin, carego_super_admin;

create trigger webhook_subscriptions_audit after insert or update or delete on webhook_subscriptions
    for each row execute function carego.audit_row('facility_id');

create table webhook_deliveries (
    facility_id      uuid        not null,
    id               uuid        not null default gen_random_uuid(),
    subscription_id  uuid        not null,
    event            text        not null,
    payload          jsonb       not null,
    status           text        not null default 'pending',
    attempts         integer     not null default 0,
    last_status_code integer,
    last_error       text,
    created_at       timestamptz not null default now(),
    last_attempt_at  timestamptz,
    delivered_at     timestamptz,
    constraint webhook_deliveries_pkey primary key (facility_id, id),
    constraint webhook_deliveries_subscription_fkey foreign key (facility_id, subscription_id)
        references webhook_subscriptions (facility_id, id),
    constraint webhook_deliveries_status_check check (status in ('pending', 'delivered', 'failed'))
);
create index webhook_deliveries_subscription_idx
    on webhook_deliveries (facility_id, subscription_id, created_at desc, id desc);

alter table webhook_deliveries enable row level security;
alter table webhook_deliveries force row level security;

create policy webhook_deliveries_facility_isolation on webhook_deliveries as restrictive for all
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator,
       carego_client, carego_student, carego_teacher
    using (facility_id = (select carego.current_facility_id()));
create policy webhook_deliveries_super_admin_gate on webhook_deliveries as restrictive for all
    to carego_super_admin using ((select carego.is_super_admin()));
create policy webhook_deliveries_admin_select on webhook_deliveries for select
    to carego_facility_admin, carego_super_admin using (true);
create policy webhook_deliveries_owner_all on webhook_deliveries for all to carego_owner
    using (true) with check (true);
-- Written only by the functions below; the log of attempts is not audited
-- (each delivery is the consequence of an audited change).
grant select on webhook_deliveries to carego_facility_admin, carego_super_admin;

-- Files one delivery per active subscription of the facility to the event,
-- and a job for each.
create function carego.emit_webhook(p_facility uuid, p_event text, p_entity uuid, p_at timestamptz)
    returns void
    language plpgsql
    security definer
    set search_path = pg_catalog, public
    as $$
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
$$;

create function carego.webhook_on_patient() returns trigger
    language plpgsql
    security definer
    set search_path = pg_catalog, public
    as $$
begin
    if new.status = 'active' and (tg_op = 'INSERT' or old.status is distinct from 'active') then
        perform carego.emit_webhook(new.facility_id, 'patient.admitted', new.id, now());
    end if;
    return null;
end
$$;
create trigger patients_webhook after insert or update of status on patients
    for each row execute function carego.webhook_on_patient();

create function carego.webhook_on_crisis_alert() returns trigger
    language plpgsql
    security definer
    set search_path = pg_catalog, public
    as $$
begin
    perform carego.emit_webhook(new.facility_id, 'crisis_alert.raised', new.id, now());
    return null;
end
$$;
create trigger crisis_alerts_webhook after insert on crisis_alerts
    for each row execute function carego.webhook_on_crisis_alert();

create function carego.webhook_on_care_log() returns trigger
    language plpgsql
    security definer
    set search_path = pg_catalog, public
    as $$
begin
    if new.amends_id is null then
        perform carego.emit_webhook(new.facility_id, 'care_log.written', new.id, new.recorded_at);
    end if;
    return null;
end
$$;
create trigger care_logs_webhook after insert on care_logs
    for each row execute function carego.webhook_on_care_log();

-- What the job worker needs to send a delivery: only in a job's context
-- (carego.role 'system'), never to a request.
create function carego.webhook_delivery_target(p_delivery uuid)
    returns table (url text, secret_sealed bytea, subscription_id uuid, payload jsonb, status text,
                   active boolean)
    language plpgsql
    stable
    security definer
    set search_path = pg_catalog, public
    as $$
begin
    if carego.current_app_role() is distinct from 'system' then
        raise exception 'webhook targets are for the job worker' using errcode = '42501';
    end if;
    return query
        select s.url, s.secret_sealed, s.id, d.payload, d.status, s.active
          from webhook_deliveries d
          join webhook_subscriptions s on s.facility_id = d.facility_id and s.id = d.subscription_id
         where d.id = p_delivery and d.facility_id = carego.current_facility_id();
end
$$;

-- Records one attempt: its HTTP status (null when none came back) or error,
-- and the outcome: 'delivered', 'pending' (to be retried) or 'failed'.
create function carego.webhook_record_attempt(p_delivery uuid, p_status_code integer, p_error text,
                                              p_outcome text)
    returns void
    language plpgsql
    security definer
    set search_path = pg_catalog, public
    as $$
begin
    if carego.current_app_role() is distinct from 'system' then
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
$$;

grant execute on function carego.webhook_delivery_target(uuid),
    carego.webhook_record_attempt(uuid, integer, text, text)
    to carego_facility_admin, carego_super_admin;
