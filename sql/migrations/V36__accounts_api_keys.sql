-- API keys: how a partner integrator's system calls Carego.
--
-- A key belongs to one facility and to an *integration*: a user of role
-- `integrator` with no email, phone or password (it can never log in), made
-- with the key. Everything the key writes is stamped and audited with that
-- user as the actor and the key's id as the audit row's `session_id` (the
-- credential the request came with). Rotation makes a new key for the same
-- integration, so its history stays one actor.
--
-- Only an HMAC of the key (under the server's key secret) is stored, in
-- `secret_hmac`: no request role may read that column and the audit trigger
-- strips it. The key's identity (facility, integration, scopes) never
-- changes after creation; what does change (revocation, expiry, the
-- integration's or facility's status) is checked by the request prologue,
-- `carego.begin_key_request`, on every request. Usage counters for the
-- per-minute rate limit and the daily quota live in `api_key_usage`, so all
-- servers share them; `carego.admit_api_key` counts a request in its own
-- short transaction (see src/db/tx.rs).

alter table users drop constraint users_role_check;
alter table users add constraint users_role_check
    check (role in ('super_admin', 'facility_admin', 'staff', 'patient', 'client', 'student', 'teacher',
                    'integrator'));
-- An integration has no way to log in; everyone else has one.
alter table users drop constraint users_login_check;
alter table users add constraint users_login_check
    check (case when role = 'integrator' then email is null and phone is null and password_hash is null
                else email is not null or phone is not null end);

-- Admins make integrations only together with their key (src/db/accounts/api_keys.rs).
create policy users_admin_insert_integration on users for insert
    to carego_facility_admin
    with check (role = 'integrator');

create table api_keys (
    facility_id          uuid        not null,
    id                   uuid        not null default gen_random_uuid(),
    integration_id       uuid        not null,
    name                 text        not null,
    -- The key's first characters (`cgk_` and 8 more), to tell keys apart in lists and logs.
    prefix               text        not null,
    secret_hmac          bytea       not null,
    scopes               text[]      not null,
    rate_limit_per_minute integer    not null,
    daily_quota          integer     not null,
    expires_at           timestamptz not null,
    rotated_from         uuid,
    -- Who made and who revoked it: a facility admin or a super admin, who
    -- belongs to no facility, so no composite foreign key can name them
    -- (the audit log records the same actor).
    created_by           uuid,
    created_at           timestamptz not null default now(),
    revoked_at           timestamptz,
    revoked_by           uuid,
    last_used_at         timestamptz,
    constraint api_keys_pkey primary key (facility_id, id),
    constraint api_keys_secret_hmac_key unique (secret_hmac),
    constraint api_keys_facility_fkey foreign key (facility_id) references facilities (id),
    constraint api_keys_integration_fkey foreign key (facility_id, integration_id)
        references users (facility_id, id),
    constraint api_keys_rotated_from_fkey foreign key (facility_id, rotated_from)
        references api_keys (facility_id, id),
    constraint api_keys_name_check check (length(name) between 1 and 100),
    constraint api_keys_scopes_check check (
        cardinality(scopes) between 1 and 10
        and scopes <@ array['patients:read', 'patients:write', 'care-logs:read', 'care-logs:write']),
    constraint api_keys_rate_limit_per_minute_check check (rate_limit_per_minute between 1 and 10000),
    constraint api_keys_daily_quota_check check (daily_quota between 1 and 10000000),
    constraint api_keys_expires_at_check check (expires_at > created_at)
);
create index api_keys_facility_created_idx on api_keys (facility_id, created_at, id);

alter table api_keys enable row level security;
alter table api_keys force row level security;

create policy api_keys_facility_isolation on api_keys as restrictive for all
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator,
       carego_client, carego_student, carego_teacher
    using (facility_id = (select carego.current_facility_id()));
create policy api_keys_super_admin_gate on api_keys as restrictive for all to carego_super_admin
    using ((select carego.is_super_admin()));

-- Facility admins manage their facility's keys; super admins every facility's.
create policy api_keys_admin_select on api_keys for select
    to carego_facility_admin, carego_super_admin using (true);
create policy api_keys_admin_insert on api_keys for insert
    to carego_facility_admin, carego_super_admin with check (revoked_at is null);
create policy api_keys_admin_update on api_keys for update
    to carego_facility_admin, carego_super_admin using (true) with check (true);

-- The SECURITY DEFINER functions below (lookup, admission, the prologue's
-- check) run as the owner, whom FORCE ROW LEVEL SECURITY also holds.
create policy api_keys_owner_all on api_keys for all to carego_owner using (true) with check (true);

-- Every column but secret_hmac.
grant select (facility_id, id, integration_id, name, prefix, scopes, rate_limit_per_minute,
              daily_quota, expires_at, rotated_from, created_by, created_at, revoked_at,
              revoked_by, last_used_at)
    on api_keys to carego_facility_admin, carego_super_admin;
grant insert (facility_id, integration_id, name, prefix, secret_hmac, scopes, rate_limit_per_minute,
              daily_quota, expires_at, rotated_from, created_by)
    on api_keys to carego_facility_admin, carego_super_admin;
grant update (expires_at, revoked_at, revoked_by) on api_keys
    to carego_facility_admin, carego_super_admin;

-- Audited when made, rotated or revoked; `last_used_at` alone is not a change worth a row.
create trigger api_keys_audit after insert or delete or update of expires_at, revoked_at on api_keys
    for each row execute function carego.audit_row('facility_id');

-- The audit trigger strips credentials from the values it records.
create or replace function carego.audit_row() returns trigger
    language plpgsql
    security definer
    set search_path = pg_catalog, public
    as $$
declare
    v_old jsonb;
    v_new jsonb;
    v_facility text;
begin
    if tg_op in ('UPDATE', 'DELETE') then
        v_old := to_jsonb(old) - 'password_hash' - 'secret_hmac';
    end if;
    if tg_op in ('INSERT', 'UPDATE') then
        v_new := to_jsonb(new) - 'password_hash' - 'secret_hmac';
    end if;
    if tg_op = 'UPDATE' and v_old = v_new then
        return null;
    end if;
    v_facility := coalesce(v_new ->> tg_argv[0], v_old ->> tg_argv[0]);

    -- chain_seq, prev_hash and hash are filled by the audit_log_chain trigger.
    insert into public.audit_log (facility_id, actor_id, actor_role, session_id, action,
                                  entity_type, entity_id, old_values, new_values, reason,
                                  request_id, ip)
    values (v_facility::uuid,
            nullif(current_setting('carego.user_id', true), '')::uuid,
            nullif(current_setting('carego.role', true), ''),
            nullif(current_setting('carego.session_id', true), '')::uuid,
            case tg_op when 'INSERT' then 'create' when 'UPDATE' then 'update' else 'delete' end,
            tg_table_name,
            coalesce(v_new ->> 'id', v_old ->> 'id')::uuid,
            v_old,
            v_new,
            nullif(current_setting('carego.change_reason', true), ''),
            nullif(current_setting('carego.request_id', true), ''),
            nullif(current_setting('carego.ip', true), ''));
    return null;
end
$$;

-- Requests per key per window: one row per key and minute, and per key and
-- UTC day. Reached only through carego.admit_api_key; no request role has
-- any privilege on it, and it is not audited (it is a counter).
create table api_key_usage (
    facility_id  uuid        not null,
    api_key_id   uuid        not null,
    window_kind  text        not null,
    window_start timestamptz not null,
    requests     integer     not null,
    constraint api_key_usage_pkey primary key (facility_id, api_key_id, window_kind, window_start),
    constraint api_key_usage_api_key_fkey foreign key (facility_id, api_key_id)
        references api_keys (facility_id, id),
    constraint api_key_usage_window_kind_check check (window_kind in ('minute', 'day'))
);
alter table api_key_usage enable row level security;
alter table api_key_usage force row level security;
-- The wall, though no request role holds a grant on this table.
create policy api_key_usage_facility_isolation on api_key_usage as restrictive for all
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator,
       carego_client, carego_student, carego_teacher
    using (facility_id = (select carego.current_facility_id()));
create policy api_key_usage_super_admin_gate on api_key_usage as restrictive for all to carego_super_admin
    using ((select carego.is_super_admin()));
create policy api_key_usage_owner_all on api_key_usage for all to carego_owner
    using (true) with check (true);

-- What the server caches about a presented key: its identity, which never
-- changes. A revoked or expired key is not found (401 at once); revocation
-- after this point is caught by the prologue.
create function carego.api_key_lookup(p_secret_hmac bytea)
    returns table (id uuid, facility_id uuid, integration_id uuid, scopes text[])
    language sql
    stable
    security definer
    set search_path = pg_catalog, public
    as $$
    select k.id, k.facility_id, k.integration_id, k.scopes
      from public.api_keys k
     where k.secret_hmac = p_secret_hmac and k.revoked_at is null and k.expires_at > now()
$$;
grant execute on function carego.api_key_lookup(bytea) to carego_public;

-- Counts one request against the key's minute window and UTC day, in the
-- statement's own transaction (sent before BEGIN, in the same round trip),
-- so concurrent requests of one key never wait on each other's transactions.
-- A refused request raises and so is not counted.
--   CG401 api_key_invalid -> 401 (revoked, expired, unknown)
--   CG429 rate_limited    -> 429, the detail is the Retry-After in seconds
create function carego.admit_api_key(p_key uuid) returns void
    language plpgsql
    security definer
    set search_path = pg_catalog, public
    as $$
declare
    k record;
    v_now timestamptz := now();
    v_minute integer;
    v_day integer;
begin
    select a.facility_id, a.id, a.revoked_at, a.expires_at, a.rate_limit_per_minute, a.daily_quota,
           a.last_used_at
      into k from api_keys a where a.id = p_key;
    if not found or k.revoked_at is not null or k.expires_at <= v_now then
        raise exception 'api_key_invalid' using errcode = 'CG401';
    end if;
    insert into api_key_usage as u (facility_id, api_key_id, window_kind, window_start, requests)
    values (k.facility_id, k.id, 'minute', date_trunc('minute', v_now), 1)
    on conflict (facility_id, api_key_id, window_kind, window_start)
        do update set requests = u.requests + 1
    returning requests into v_minute;
    if v_minute > k.rate_limit_per_minute then
        raise exception 'rate_limited' using errcode = 'CG429',
            detail = greatest(1, ceil(extract(epoch from date_trunc('minute', v_now) + interval '1 minute' - v_now)))::text;
    end if;
    insert into api_key_usage as u (facility_id, api_key_id, window_kind, window_start, requests)
    values (k.facility_id, k.id, 'day', date_trunc('day', v_now, 'UTC'), 1)
    on conflict (facility_id, api_key_id, window_kind, window_start)
        do update set requests = u.requests + 1
    returning requests into v_day;
    if v_day > k.daily_quota then
        raise exception 'quota_exhausted' using errcode = 'CG429',
            detail = greatest(1, ceil(extract(epoch from date_trunc('day', v_now, 'UTC') + interval '1 day' - v_now)))::text;
    end if;
    -- Once a minute per key: the first request of each new window prunes old
    -- windows and records the last use.
    if v_minute = 1 then
        delete from api_key_usage
         where facility_id = k.facility_id and api_key_id = k.id
           and ((window_kind = 'minute' and window_start < v_now - interval '10 minutes')
             or (window_kind = 'day' and window_start < v_now - interval '2 days'));
        update api_keys set last_used_at = v_now where facility_id = k.facility_id and id = k.id;
    end if;
end
$$;

-- The key's half of the prologue check, as the owner (no request role reads
-- api_keys' secrets or another integration's status).
create function carego.check_api_key(p_key uuid, p_facility uuid, p_integration uuid) returns void
    language plpgsql
    stable
    security definer
    set search_path = pg_catalog, public
    as $$
declare
    v record;
begin
    select k.revoked_at, k.expires_at, u.status as user_status, f.status as facility_status
      into v
      from api_keys k
      join users u on u.facility_id = k.facility_id and u.id = k.integration_id
      join facilities f on f.id = k.facility_id
     where k.id = p_key and k.facility_id = p_facility and k.integration_id = p_integration;
    if not found or v.revoked_at is not null or v.expires_at <= now() then
        raise exception 'api_key_invalid' using errcode = 'CG401';
    end if;
    if v.user_status <> 'active' then
        raise exception 'account_inactive' using errcode = 'CG403';
    end if;
    if v.facility_status <> 'active' then
        raise exception 'facility_suspended' using errcode = 'CG403';
    end if;
end
$$;

-- The prologue of a request made with an API key: like carego.begin_request,
-- but the credential is the key (checked first, as the pool's role) and the
-- key's scopes go into `carego.scopes`, which the integrator's policies read.
-- No SET clause, for the reason given at carego.begin_request.
create function carego.begin_key_request(
    p_key uuid, p_facility uuid, p_integration uuid, p_scopes text,
    p_request_id text, p_ip text, p_reason text, p_statement_timeout text
) returns void
    language plpgsql
    as $$
begin
    perform carego.check_api_key(p_key, p_facility, p_integration);
    perform pg_catalog.set_config('statement_timeout', p_statement_timeout, true);
    perform pg_catalog.set_config('carego.role', 'integrator', true);
    perform pg_catalog.set_config('carego.facility_id', p_facility::text, true);
    perform pg_catalog.set_config('carego.user_id', p_integration::text, true);
    perform pg_catalog.set_config('carego.session_id', p_key::text, true);
    perform pg_catalog.set_config('carego.scopes', coalesce(p_scopes, ''), true);
    perform pg_catalog.set_config('carego.request_id', coalesce(p_request_id, ''), true);
    perform pg_catalog.set_config('carego.ip', coalesce(p_ip, ''), true);
    perform pg_catalog.set_config('carego.change_reason', coalesce(p_reason, ''), true);
    perform pg_catalog.set_config('role', 'carego_integrator', true);
end
$$;

-- Whether the request's key holds `p_scope` (false for every other caller).
create function carego.has_scope(p_scope text) returns boolean
    language sql stable parallel safe
    as $$
    select coalesce(p_scope = any (pg_catalog.string_to_array(
        nullif(pg_catalog.current_setting('carego.scopes', true), ''), ' ')), false)
$$;
grant execute on function carego.has_scope(text) to carego_integrator;
grant execute on function carego.audit_read(text, uuid, uuid) to carego_integrator;

do $$
begin
    if exists (select from pg_roles where rolname = 'carego_app') then
        grant execute on function carego.admit_api_key(uuid), carego.check_api_key(uuid, uuid, uuid),
            carego.begin_key_request(uuid, uuid, uuid, text, text, text, text, text) to carego_app;
    end if;
end
$$;

-- What a key may reach: its facility's patients and care logs, each by scope.
-- The facility wall of both tables already names carego_integrator (V6, V8).
-- Writing care logs finds the patient first, so every scope needs
-- `patients:read` (the API refuses a key without it).
create policy patients_integrator_select on patients for select to carego_integrator
    using ((select carego.has_scope('patients:read')) and deleted_at is null);
create policy patients_integrator_insert on patients for insert to carego_integrator
    with check ((select carego.has_scope('patients:write')) and deleted_at is null and user_id is null);
grant select on patients to carego_integrator;
grant insert (facility_id, mrn, first_name, last_name, date_of_birth, status, admission_date,
              discharge_date, sobriety_date, primary_counsellor_id, room, emergency_contact,
              notes, created_by)
    on patients to carego_integrator;

create policy registration_keys_integrator_insert on registration_keys for insert to carego_integrator
    with check ((select carego.has_scope('patients:write')));
create policy registration_keys_integrator_select on registration_keys for select to carego_integrator
    using ((select carego.has_scope('patients:write')));
grant select (facility_id, id, patient_id, expires_at, created_by, created_at, used_at, revoked_at)
    on registration_keys to carego_integrator;
grant insert (facility_id, patient_id, key_hash, expires_at, created_by)
    on registration_keys to carego_integrator;

-- A writer reads back what it wrote (INSERT … RETURNING needs it), nothing more.
create policy care_logs_integrator_select on care_logs for select to carego_integrator
    using ((select carego.has_scope('care-logs:read'))
           or ((select carego.has_scope('care-logs:write')) and recorded_by = (select carego.current_user_id())));
create policy care_logs_integrator_insert on care_logs for insert to carego_integrator
    with check ((select carego.has_scope('care-logs:write')) and amends_id is null);
grant select, insert on care_logs to carego_integrator;

-- Retry-safe creates (Idempotency-Key) for keys too.
alter policy idempotency_keys_self_all on idempotency_keys
    to carego_patient, carego_staff, carego_facility_admin, carego_super_admin, carego_integrator,
       carego_client, carego_student, carego_teacher;
grant select, insert, update (request_hash, status, response, created_at)
    on idempotency_keys to carego_integrator;
