-- No secret leaves its table (issue 20, item 4).
--
-- One registry names every column that holds a secret or a credential's
-- digest. The audit trigger strips every registered column of the row it
-- records (before, `registration_keys.key_hash` reached `audit_log`, which
-- facility admins read); `carego doctor` fails on a column that looks like a
-- secret and is not registered, and on a request role that can read an
-- unsealed one. Sealed columns hold ciphertext under a key the database never
-- sees (derived from CAREGO_KEY_SECRET): the server reads them to open them.
--
-- Login no longer hands a password hash to anyone. `auth_login_candidate`
-- gives the server the hash's parameters and salt only; the server derives
-- the presented password's hash with them and `auth_open_session` compares
-- it inside the database. A session therefore opens only for someone who
-- knows the password (or who has just registered it): before, the public
-- role could open a session for any user id it named.

create table carego.secret_columns (
    table_name  name    not null,
    column_name name    not null,
    sealed      boolean not null default false,
    what        text    not null,
    constraint secret_columns_pkey primary key (table_name, column_name)
);
-- Which columns are secret is not itself a secret: every request role
-- reads the registry, so carego.strip_secrets needs no elevated rights and
-- stays a plain SQL expression the planner inlines (the audit list calls it
-- twice per row).
revoke all on carego.secret_columns from public;

-- Grants a privilege to every role of a group (carego.role_group, V44), so
-- a grant names the group once instead of its roles. Owner only.
create function carego.grant_to_group(p_privilege text, p_group text) returns void
    language plpgsql
    set search_path = pg_catalog
    as $$
declare
    r name;
begin
    foreach r in array carego.role_group(p_group) loop
        execute format('grant %s to %I', p_privilege, r);
    end loop;
end
$$;
revoke execute on function carego.grant_to_group(text, text) from public;

select carego.grant_to_group('select on carego.secret_columns', 'request');

insert into carego.secret_columns (table_name, column_name, sealed, what) values
    ('users', 'password_hash', false, 'argon2id hash of the password'),
    ('registration_keys', 'key_hash', false, 'HMAC of a one-time registration key: registers the patient'),
    ('api_keys', 'secret_hmac', false, 'HMAC of an API key''s secret'),
    ('mfa_factors', 'secret_sealed', true, 'TOTP secret, sealed by the server'),
    ('mfa_factors', 'recovery_hashes', false, 'HMACs of the unused recovery codes'),
    ('refresh_tokens', 'token_hash', false, 'SHA-256 of a refresh token'),
    ('stream_tickets', 'token_hash', false, 'SHA-256 of a live-stream ticket'),
    ('webhook_subscriptions', 'secret_sealed', true, 'webhook signing secret, sealed by the server'),
    ('rate_limit_hits', 'key_hash', false, 'keyed HMAC of an address or login name'),
    ('context_key', 'inner_pad', false, 'the request context''s HMAC key (inner pad)'),
    ('context_key', 'outer_pad', false, 'the request context''s HMAC key (outer pad)');

-- A row's JSON without its registered secret columns. Used by the audit
-- trigger on the way in and by the audit list on the way out (rows written
-- before this migration still hold registration key hashes; the chain's
-- hashes cover them, so they are hidden on read rather than rewritten).
create function carego.strip_secrets(p_table text, p_values jsonb) returns jsonb
    language sql
    stable
    parallel safe
    as $$
    select p_values operator(pg_catalog.-) coalesce(
        (select pg_catalog.array_agg(s.column_name::pg_catalog.text) from carego.secret_columns s
          where s.table_name operator(pg_catalog.=) p_table::pg_catalog.name),
        '{}'::pg_catalog.text[])
$$;

select carego.grant_to_group('execute on function carego.strip_secrets(text, jsonb)', 'request');

-- The audit trigger: secrets stripped, and the actor taken from the signed
-- context. Only a request with no context at all (the public role's login,
-- refresh and registration functions, which set who is acting after they
-- have verified it) falls back to the plain settings; a context that was
-- tampered with records no actor rather than a forged one.
create or replace function carego.audit_row() returns trigger
    language plpgsql
    security definer
    set search_path = pg_catalog, public
    as $$
declare
    v_old jsonb;
    v_new jsonb;
    v_facility text;
    v_actor uuid;
    v_role text;
    v_session uuid;
begin
    if tg_op in ('UPDATE', 'DELETE') then
        v_old := carego.strip_secrets(tg_table_name, to_jsonb(old));
    end if;
    if tg_op in ('INSERT', 'UPDATE') then
        v_new := carego.strip_secrets(tg_table_name, to_jsonb(new));
    end if;
    if tg_op = 'UPDATE' and v_old = v_new then
        return null;
    end if;
    v_facility := coalesce(v_new ->> tg_argv[0], v_old ->> tg_argv[0]);

    -- Verified once: the signature covers these very settings as they are now.
    if carego.context_ok(current_user)
       or coalesce(current_setting('carego.context', true), '') = '' then
        v_actor := nullif(current_setting('carego.user_id', true), '')::uuid;
        v_role := nullif(current_setting('carego.role', true), '');
        v_session := nullif(current_setting('carego.session_id', true), '')::uuid;
    end if;

    -- chain_seq, prev_hash and hash are filled by the audit_log_chain trigger.
    insert into public.audit_log (facility_id, actor_id, actor_role, session_id, action,
                                  entity_type, entity_id, old_values, new_values, reason,
                                  request_id, ip)
    values (v_facility::uuid, v_actor, v_role, v_session,
            case tg_op when 'INSERT' then 'create' when 'UPDATE' then 'update' else 'delete' end,
            tg_table_name,
            coalesce(v_new ->> 'id', v_old ->> 'id', v_new ->> 'user_id', v_old ->> 'user_id')::uuid,
            v_old,
            v_new,
            nullif(current_setting('carego.change_reason', true), ''),
            nullif(current_setting('carego.request_id', true), ''),
            nullif(current_setting('carego.ip', true), ''));
    return null;
end
$$;

-- Login, first half: the account's id and its hash's parameters and salt
-- (the PHC string without its last field), never the hash.
drop function carego.auth_login_lookup(text, text);

create function carego.auth_login_candidate(p_email text, p_phone text)
    returns table (user_id uuid, password_params text)
    language sql
    stable
    security definer
    set search_path = pg_catalog, public
    as $$
    select u.id, substring(u.password_hash from '^(.*)\$[^$]*$')
      from public.users u
     where (p_email is not null and u.email = p_email)
        or (p_phone is not null and u.phone = p_phone)
     limit 1
$$;

-- Login, second half: the presented password's hash (derived by the server
-- with the parameters above) compared here; only then the account's status
-- and facility, and a session with its first refresh token. Outcomes:
-- opened | invalid (no such account, no password or a wrong one: one
-- answer) | pending | suspended | terminated | facility_suspended.
drop function carego.auth_open_session(uuid, bytea, interval, text, text);

create function carego.auth_open_session(
    p_user uuid, p_password_hash text, p_refresh_hash bytea, p_ttl interval, p_user_agent text, p_ip text
) returns table (outcome text, session_id uuid, expires_at timestamptz, role text, facility_id uuid)
    language plpgsql
    security definer
    set search_path = pg_catalog, public
    as $$
#variable_conflict use_column
declare
    v_user record;
    v_session uuid;
    v_expires timestamptz := now() + p_ttl;
begin
    select u.id, u.role, u.facility_id, u.status, u.password_hash, f.status as facility_status
      into v_user
      from public.users u
      left join public.facilities f on f.id = u.facility_id
     where u.id = p_user;
    if not found or v_user.password_hash is null or p_password_hash is null
       or v_user.password_hash <> p_password_hash then
        return query select 'invalid'::text, null::uuid, null::timestamptz, null::text, null::uuid;
        return;
    end if;
    if v_user.status <> 'active' then
        return query select v_user.status, null::uuid, null::timestamptz, v_user.role, v_user.facility_id;
        return;
    end if;
    if v_user.facility_id is not null and v_user.facility_status is distinct from 'active' then
        return query select 'facility_suspended'::text, null::uuid, null::timestamptz, v_user.role,
                            v_user.facility_id;
        return;
    end if;
    -- The audit trigger attributes the new session to the user logging in.
    perform set_config('carego.user_id', v_user.id::text, true);
    perform set_config('carego.role', v_user.role, true);
    insert into public.sessions (facility_id, user_id, expires_at, user_agent, ip)
    values (v_user.facility_id, v_user.id, v_expires, left(p_user_agent, 300), p_ip)
    returning id into v_session;
    perform set_config('carego.session_id', v_session::text, true);
    insert into public.refresh_tokens (token_hash, session_id) values (p_refresh_hash, v_session);
    return query select 'opened'::text, v_session, v_expires, v_user.role, v_user.facility_id;
end
$$;

revoke execute on function carego.auth_login_candidate(text, text),
    carego.auth_open_session(uuid, text, bytea, interval, text, text) from public;
grant execute on function carego.auth_login_candidate(text, text),
    carego.auth_open_session(uuid, text, bytea, interval, text, text) to carego_public;

-- A password change verifies the current password the same way: the
-- caller's own hash parameters out, the derived hash compared in here.
drop function carego.current_password_hash();

create function carego.own_password_params() returns text
    language sql
    stable
    security definer
    set search_path = pg_catalog, public
    as $$
    select substring(u.password_hash from '^(.*)\$[^$]*$')
      from public.users u where u.id = carego.current_user_id()
$$;

create function carego.own_password_matches(p_hash text) returns boolean
    language sql
    stable
    security definer
    set search_path = pg_catalog, public
    as $$
    select coalesce((select u.password_hash = p_hash from public.users u
                      where u.id = carego.current_user_id()), false)
$$;

revoke execute on function carego.own_password_params(), carego.own_password_matches(text) from public;
grant execute on function carego.own_password_params(), carego.own_password_matches(text)
    to carego_patient, carego_staff, carego_facility_admin, carego_super_admin, carego_client,
       carego_student, carego_teacher;
