-- Sessions, refresh-token rotation, and the request prologue.
--
-- A session is one login on one device. Its refresh tokens form a rotation
-- ledger: each is single-use; presenting a used one after the grace window
-- revokes the whole session (reuse detection). Only SHA-256 hashes of the
-- high-entropy tokens are stored. Every request's prologue
-- (carego.begin_request) checks the session, so logout and suspension take
-- effect on the very next request.

create table sessions (
    id             uuid        not null default gen_random_uuid(),
    facility_id    uuid,
    user_id        uuid        not null,
    created_at     timestamptz not null default now(),
    expires_at     timestamptz not null,
    revoked_at     timestamptz,
    revoked_reason text,
    user_agent     text,
    ip             text,
    constraint sessions_pkey primary key (id),
    constraint sessions_facility_id_key unique (facility_id, id),
    constraint sessions_user_fkey foreign key (user_id) references users (id),
    constraint sessions_facility_user_fkey foreign key (facility_id, user_id)
        references users (facility_id, id)
);

create index sessions_user_idx on sessions (user_id) where revoked_at is null;

alter table sessions enable row level security;
alter table sessions force row level security;

create policy sessions_facility_isolation on sessions as restrictive for all
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator
    using (facility_id = (select carego.current_facility_id()));
create policy sessions_super_admin_gate on sessions as restrictive for all to carego_super_admin
    using ((select carego.is_super_admin()));

-- Each user sees and revokes only their own sessions.
create policy sessions_self_select on sessions for select
    to carego_patient, carego_staff, carego_facility_admin, carego_super_admin
    using (user_id = (select carego.current_user_id()));
create policy sessions_self_update on sessions for update
    to carego_patient, carego_staff, carego_facility_admin, carego_super_admin
    using (user_id = (select carego.current_user_id()))
    with check (user_id = (select carego.current_user_id()));
create policy sessions_owner_all on sessions for all to carego_owner using (true) with check (true);

grant select on sessions to carego_patient, carego_staff, carego_facility_admin, carego_super_admin;
grant update (revoked_at, revoked_reason) on sessions
    to carego_patient, carego_staff, carego_facility_admin, carego_super_admin;

create trigger sessions_audit after insert or update or delete on sessions
    for each row execute function carego.audit_row('facility_id');

-- The rotation ledger is reached only through the SECURITY DEFINER functions
-- below; no request role has any privilege on it. It is not audited: it holds
-- token hashes, and the session row already records login and revocation.
create table refresh_tokens (
    token_hash  bytea       not null,
    session_id  uuid        not null,
    issued_at   timestamptz not null default now(),
    used_at     timestamptz,
    constraint refresh_tokens_pkey primary key (token_hash),
    constraint refresh_tokens_session_fkey foreign key (session_id) references sessions (id)
);

create index refresh_tokens_session_idx on refresh_tokens (session_id);

alter table refresh_tokens enable row level security;
alter table refresh_tokens force row level security;
create policy refresh_tokens_owner_all on refresh_tokens for all to carego_owner
    using (true) with check (true);

-- Suspending, terminating or re-roling a user revokes their sessions at once.
create function carego.revoke_sessions_on_user_change() returns trigger
    language plpgsql
    security definer
    set search_path = pg_catalog, public
    as $$
begin
    if new.status <> 'active' or new.role <> old.role
       or new.facility_id is distinct from old.facility_id then
        update public.sessions
           set revoked_at = now(),
               revoked_reason = case when new.status <> 'active' then 'account_' || new.status
                                     else 'role_changed' end
         where user_id = new.id and revoked_at is null;
    end if;
    return null;
end
$$;

create trigger users_revoke_sessions after update of status, role, facility_id on users
    for each row execute function carego.revoke_sessions_on_user_change();

-- The request prologue: ONE statement per request, sent pipelined with BEGIN
-- and the request's first query. Sets the request role and the carego.*
-- settings transaction-locally, then (for authenticated callers) checks the
-- session, the account and the facility under the new role's RLS. A failure
-- raises, which aborts the transaction, so the pipelined query never runs.
--   CG401 session_invalid     -> 401
--   CG403 account_inactive    -> 403
--   CG403 facility_suspended  -> 403
-- No SET clause on purpose: a function-level SET would scope our
-- set_config(..., true) calls to the function instead of the transaction.
create function carego.begin_request(
    p_db_role text, p_app_role text, p_facility uuid, p_user uuid, p_session uuid,
    p_request_id text, p_ip text, p_reason text, p_statement_timeout text
) returns void
    language plpgsql
    as $$
declare
    v record;
begin
    perform pg_catalog.set_config('statement_timeout', p_statement_timeout, true);
    perform pg_catalog.set_config('carego.role', coalesce(p_app_role, ''), true);
    perform pg_catalog.set_config('carego.facility_id', coalesce(p_facility::text, ''), true);
    perform pg_catalog.set_config('carego.user_id', coalesce(p_user::text, ''), true);
    perform pg_catalog.set_config('carego.session_id', coalesce(p_session::text, ''), true);
    perform pg_catalog.set_config('carego.request_id', coalesce(p_request_id, ''), true);
    perform pg_catalog.set_config('carego.ip', coalesce(p_ip, ''), true);
    perform pg_catalog.set_config('carego.change_reason', coalesce(p_reason, ''), true);
    perform pg_catalog.set_config('role', p_db_role, true);

    if p_session is null then
        return;
    end if;

    select s.revoked_at, s.expires_at, u.status as user_status, u.role,
           u.facility_id, f.status as facility_status
      into v
      from public.sessions s
      join public.users u on u.id = s.user_id
      left join public.facilities f on f.id = u.facility_id
     where s.id = p_session and s.user_id = p_user;

    if not found or v.revoked_at is not null or v.expires_at <= pg_catalog.now()
       or v.role <> p_app_role or v.facility_id is distinct from p_facility then
        raise exception 'session_invalid' using errcode = 'CG401';
    end if;
    if v.user_status <> 'active' then
        raise exception 'account_inactive' using errcode = 'CG403';
    end if;
    if v.facility_status is distinct from 'active' and v.facility_id is not null then
        raise exception 'facility_suspended' using errcode = 'CG403';
    end if;
end
$$;

do $$
begin
    if exists (select from pg_roles where rolname = 'carego_app') then
        grant execute on function carego.begin_request(text, text, uuid, uuid, uuid, text, text, text, text)
            to carego_app;
    end if;
end
$$;

-- Platform-level auth functions: the only way the unauthenticated role
-- (carego_public) touches users and sessions. Each returns just what the
-- login/refresh flow needs; password verification happens in the server.

create function carego.auth_login_lookup(p_email text, p_phone text)
    returns table (user_id uuid, password_hash text, status text, role text,
                   facility_id uuid, facility_status text)
    language sql
    stable
    security definer
    set search_path = pg_catalog, public
    as $$
    select u.id, u.password_hash, u.status, u.role, u.facility_id, f.status
      from public.users u
      left join public.facilities f on f.id = u.facility_id
     where (p_email is not null and u.email = p_email)
        or (p_phone is not null and u.phone = p_phone)
     limit 1
$$;

create function carego.auth_open_session(
    p_user uuid, p_refresh_hash bytea, p_ttl interval, p_user_agent text, p_ip text
) returns table (session_id uuid, expires_at timestamptz)
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
    select u.id, u.role, u.facility_id into v_user
      from public.users u where u.id = p_user and u.status = 'active';
    if not found then
        return; -- suspended between lookup and now: no session
    end if;
    -- The audit trigger attributes the new session to the user logging in.
    perform set_config('carego.user_id', v_user.id::text, true);
    perform set_config('carego.role', v_user.role, true);
    insert into public.sessions (facility_id, user_id, expires_at, user_agent, ip)
    values (v_user.facility_id, v_user.id, v_expires, left(p_user_agent, 300), p_ip)
    returning id into v_session;
    perform set_config('carego.session_id', v_session::text, true);
    insert into public.refresh_tokens (token_hash, session_id) values (p_refresh_hash, v_session);
    return query select v_session, v_expires;
end
$$;

-- Outcomes: rotated | superseded (used within the grace window: a concurrent
-- refresh from the same client won; the session stays) | reused (used before
-- the grace window: the session is revoked) | invalid | inactive |
-- facility_suspended. The caller must COMMIT whatever the outcome, so that a
-- reuse revocation sticks.
create function carego.auth_rotate_refresh(p_old_hash bytea, p_new_hash bytea, p_grace interval)
    returns table (outcome text, session_id uuid, user_id uuid, role text, facility_id uuid)
    language plpgsql
    security definer
    set search_path = pg_catalog, public
    as $$
#variable_conflict use_column
declare
    v record;
begin
    select t.used_at, s.id as sid, s.revoked_at, s.expires_at, u.id as uid, u.role as urole,
           u.status as ustatus, u.facility_id as fid, f.status as fstatus
      into v
      from public.refresh_tokens t
      join public.sessions s on s.id = t.session_id
      join public.users u on u.id = s.user_id
      left join public.facilities f on f.id = u.facility_id
     where t.token_hash = p_old_hash
       for update of t, s;

    if not found or v.revoked_at is not null or v.expires_at <= now() then
        return query select 'invalid'::text, null::uuid, null::uuid, null::text, null::uuid;
        return;
    end if;

    perform set_config('carego.user_id', v.uid::text, true);
    perform set_config('carego.role', v.urole, true);
    perform set_config('carego.session_id', v.sid::text, true);

    if v.used_at is not null then
        if v.used_at > now() - p_grace then
            return query select 'superseded'::text, v.sid, v.uid, v.urole, v.fid;
            return;
        end if;
        perform set_config('carego.change_reason', 'refresh token reuse detected', true);
        update public.sessions
           set revoked_at = now(), revoked_reason = 'refresh_token_reuse'
         where id = v.sid;
        return query select 'reused'::text, v.sid, v.uid, v.urole, v.fid;
        return;
    end if;
    if v.ustatus <> 'active' then
        return query select 'inactive'::text, v.sid, v.uid, v.urole, v.fid;
        return;
    end if;
    if v.fid is not null and v.fstatus <> 'active' then
        return query select 'facility_suspended'::text, v.sid, v.uid, v.urole, v.fid;
        return;
    end if;

    update public.refresh_tokens set used_at = now() where token_hash = p_old_hash;
    insert into public.refresh_tokens (token_hash, session_id) values (p_new_hash, v.sid);
    return query select 'rotated'::text, v.sid, v.uid, v.urole, v.fid;
end
$$;

grant execute on function carego.auth_login_lookup(text, text),
    carego.auth_open_session(uuid, bytea, interval, text, text),
    carego.auth_rotate_refresh(bytea, bytea, interval)
    to carego_public;
