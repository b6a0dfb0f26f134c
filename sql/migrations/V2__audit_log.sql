-- The audit log: written only by the trigger below, never by handler code, so
-- no path can forget it. Who, role, facility, action, entity, old and new
-- values, reason, request id and ip all come from the transaction's carego.*
-- settings that the request prologue set.
--
-- facility_id is NULL only for platform-level rows (a super admin's own
-- session, say). Append-only: no request role has UPDATE/DELETE/TRUNCATE, no
-- such policy exists, and a trigger refuses them even for the owner.

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
    constraint audit_log_pkey primary key (id),
    constraint audit_log_action_check check (action in ('create', 'update', 'delete'))
);

create index audit_log_facility_seq_idx on audit_log (facility_id, seq);
create index audit_log_entity_idx on audit_log (facility_id, entity_type, entity_id);

alter table audit_log enable row level security;
alter table audit_log force row level security;

-- The trigger function runs as the owner; this is the only way rows get in.
create policy audit_log_owner_insert on audit_log for insert to carego_owner with check (true);

create policy audit_log_facility_isolation on audit_log as restrictive for all
    to carego_public, carego_patient, carego_staff, carego_facility_admin,
       carego_super_admin, carego_integrator
    using (facility_id = (select carego.current_facility_id()) or (select carego.is_super_admin()));

create policy audit_log_admin_select on audit_log for select
    to carego_facility_admin, carego_super_admin
    using (true);

grant select on audit_log to carego_facility_admin, carego_super_admin;

create trigger audit_log_append_only
    before update or delete on audit_log
    for each row execute function carego.forbid_change();
create trigger audit_log_no_truncate
    before truncate on audit_log
    for each statement execute function carego.forbid_change();

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
