-- The audit log: written only by the trigger below, never by handler code, so
-- no path can forget it. Who, role, facility, action, entity, old and new
-- values, reason, request id and ip all come from the transaction's carego.*
-- settings that the request prologue set.
--
-- facility_id is NULL only for platform-level rows (a super admin's own
-- session, say). Append-only: no request role has UPDATE/DELETE/TRUNCATE, no
-- such policy exists, and a statement-level trigger refuses them even for
-- the owner and superusers.
--
-- Tamper evidence: each facility's rows (and the platform's) form a hash
-- chain. Under a per-facility advisory lock, a BEFORE INSERT trigger numbers
-- the row (chain_seq) and sets hash = sha256(prev_hash || canonical row), so
-- concurrent writers cannot fork a chain. carego.audit_verify() recomputes it.

create table audit_log (
    id          uuid        not null default gen_random_uuid(),
    seq         bigint      generated always as identity,
    facility_id uuid,
    actor_id    uuid,
    actor_role  text,
    session_id  uuid,
    action      text        not null,
    entity_type text        not null,
    entity_id   uuid,
    old_values  jsonb,
    new_values  jsonb,
    reason      text,
    request_id  text,
    ip          text,
    created_at  timestamptz not null default pg_catalog.clock_timestamp(),
    chain_seq   bigint      not null,
    prev_hash   bytea       not null,
    hash        bytea       not null,
    constraint audit_log_pkey primary key (id),
    constraint audit_log_action_check check (action in ('create', 'update', 'delete', 'read'))
);

create unique index audit_log_chain_key on audit_log (coalesce(facility_id, '00000000-0000-0000-0000-000000000000'::uuid), chain_seq);
create index audit_log_facility_seq_idx on audit_log (facility_id, seq);
create index audit_log_facility_created_idx on audit_log (facility_id, created_at, id);
create index audit_log_entity_idx on audit_log (facility_id, entity_type, entity_id);

alter table audit_log enable row level security;
alter table audit_log force row level security;

-- The trigger function runs as the owner; this is the only way rows get in.
create policy audit_log_owner_insert on audit_log for insert to carego_owner with check (true);
-- The chain trigger (running as the owner inside carego.audit_row) reads the
-- previous link.
create policy audit_log_owner_select on audit_log for select to carego_owner using (true);

create policy audit_log_facility_isolation on audit_log as restrictive for all
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator
    using (facility_id = (select carego.current_facility_id()));
create policy audit_log_super_admin_gate on audit_log as restrictive for all to carego_super_admin
    using ((select carego.is_super_admin()));

create policy audit_log_admin_select on audit_log for select
    to carego_facility_admin, carego_super_admin
    using (true);

grant select on audit_log to carego_facility_admin, carego_super_admin;

-- Statement-level, so it fires even when RLS leaves no row to change, and
-- for INSERT ... ON CONFLICT DO UPDATE.
create trigger audit_log_append_only
    before update or delete or truncate on audit_log
    for each statement execute function carego.forbid_change();

-- The canonical text of a row for hashing: a JSON array in fixed order, with
-- the time as integer microseconds so no session setting changes it.
create function carego.audit_canonical(a audit_log) returns text
    language sql immutable parallel safe
    set search_path = pg_catalog, public
    as $$
    select jsonb_build_array(a.id, a.facility_id, a.chain_seq, a.actor_id, a.actor_role,
                             a.session_id, a.action, a.entity_type, a.entity_id, a.old_values,
                             a.new_values, a.reason, a.request_id, a.ip,
                             (extract(epoch from a.created_at) * 1000000)::bigint)::text
$$;

create function carego.audit_chain() returns trigger
    language plpgsql
    set search_path = pg_catalog, public
    as $$
declare
    v_prev record;
begin
    perform pg_advisory_xact_lock(hashtextextended(
        'carego.audit:' || coalesce(new.facility_id::text, 'platform'), 0));
    select a.chain_seq, a.hash into v_prev
      from public.audit_log a
     where coalesce(a.facility_id, '00000000-0000-0000-0000-000000000000'::uuid)
           = coalesce(new.facility_id, '00000000-0000-0000-0000-000000000000'::uuid)
     order by a.chain_seq desc
     limit 1;
    new.chain_seq := coalesce(v_prev.chain_seq, 0) + 1;
    new.prev_hash := coalesce(v_prev.hash, '\x'::bytea);
    new.hash := sha256(new.prev_hash || convert_to(carego.audit_canonical(new), 'UTF8'));
    return new;
end
$$;

create trigger audit_log_chain before insert on audit_log
    for each row execute function carego.audit_chain();

-- Attach with: after insert or update or delete ... for each row execute
-- function carego.audit_row('<column holding the facility id>').
-- Password hashes never reach the log.
create function carego.audit_row() returns trigger
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
        v_old := to_jsonb(old) - 'password_hash';
    end if;
    if tg_op in ('INSERT', 'UPDATE') then
        v_new := to_jsonb(new) - 'password_hash';
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

-- Recomputes a chain (NULL: the platform chain) in order and reports the
-- first row whose link or hash does not match. Runs as the caller: RLS lets
-- facility admins verify their own facility and super admins any.
create function carego.audit_verify(p_facility uuid)
    returns table (ok boolean, checked bigint, first_broken_id uuid)
    language plpgsql
    stable
    set search_path = pg_catalog, public
    as $$
declare
    r public.audit_log;
    v_prev bytea := '\x'::bytea;
    v_expected_seq bigint := 1;
    v_checked bigint := 0;
begin
    for r in
        select * from public.audit_log a
         where a.facility_id is not distinct from p_facility
         order by a.chain_seq
    loop
        v_checked := v_checked + 1;
        if r.chain_seq <> v_expected_seq or r.prev_hash <> v_prev
           or r.hash <> sha256(r.prev_hash || convert_to(carego.audit_canonical(r), 'UTF8')) then
            return query select false, v_checked, r.id;
            return;
        end if;
        v_prev := r.hash;
        v_expected_seq := v_expected_seq + 1;
    end loop;
    return query select true, v_checked, null::uuid;
end
$$;

grant execute on function carego.audit_verify(uuid) to carego_facility_admin, carego_super_admin;
grant execute on function carego.audit_canonical(audit_log) to carego_facility_admin, carego_super_admin;
