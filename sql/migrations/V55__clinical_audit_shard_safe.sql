-- The audit triggers without what differs on a Citus shard (docs/scale-out.md, "Triggers").
--
-- On a shard a trigger runs on the shard's own table: `tg_table_name` is the shard's name
-- (`users_103550`) and `new` is a row of the shard's type. The audit trigger used the name twice,
-- to find the secrets registry's columns and as the entry's `entity_type`: on a trial cluster
-- the registry had no entry for `users_103550`, and the password hash was written into
-- `audit_log.new_values`. The chain trigger passed its row to `carego.audit_canonical(audit_log)`,
-- which does not take the shard's type.
--
-- So every `carego.audit_row` trigger is given its table's name as its second argument, which
-- the function records and strips secrets by (`carego doctor` reports a trigger without it,
-- `audit_trigger_misnamed`), and `carego.audit_canonical` takes the row as jsonb. The
-- canonical text is the same as before, so every chain written before verifies after.
--
-- The functions' current definitions are in sql/schema/audit.sql. The chain's are created here
-- too: between this migration and that file an audited write must still find them.

do $$
declare
    t record;
    v_from text;
    v_to text;
begin
    for t in
        select tg.tgname, tg.tgrelid::regclass as rel, c.relname, pg_get_triggerdef(tg.oid) as def,
               (string_to_array(encode(tg.tgargs, 'escape'), '\000'))[1] as facility_column
          from pg_trigger tg
          join pg_class c on c.oid = tg.tgrelid
         where tg.tgfoid = 'carego.audit_row'::regproc and not tg.tgisinternal and tg.tgnargs = 1
    loop
        v_from := format('carego.audit_row(%L)', t.facility_column);
        v_to := format('carego.audit_row(%L, %L)', t.facility_column, t.relname);
        if position(v_from in t.def) = 0 then
            raise exception 'V55: cannot read the arguments of trigger % on %: %', t.tgname, t.rel, t.def;
        end if;
        execute format('drop trigger %I on %s', t.tgname, t.rel);
        execute replace(t.def, v_from, v_to);
    end loop;
end $$;

create function carego.audit_canonical(a jsonb) returns text
    language plpgsql
    stable
    parallel safe
    set search_path = pg_catalog, public
    as $function$
declare
    v jsonb := jsonb_build_array(a -> 'id', a -> 'facility_id', a -> 'chain_seq', a -> 'actor_id',
                                 a -> 'actor_role', a -> 'session_id', a -> 'action', a -> 'entity_type',
                                 a -> 'entity_id', a -> 'old_values', a -> 'new_values', a -> 'reason',
                                 a -> 'request_id', a -> 'ip',
                                 (extract(epoch from (a ->> 'created_at')::timestamptz) * 1000000)::bigint);
begin
    if (a ->> 'chain_lane')::smallint <> 0 then
        v := v || (a -> 'chain_lane');
    end if;
    return v::text;
end
$function$;

create or replace function carego.audit_chain() returns trigger
    language plpgsql
    set search_path = pg_catalog, public
    as $function$
declare
    v_prev record;
    v_lane smallint := case when new.action = 'read' then 1 + pg_backend_pid() % 64 else 0 end;
begin
    new.chain_lane := v_lane;
    perform pg_advisory_xact_lock(hashtextextended(
        'carego.audit:' || coalesce(new.facility_id::text, 'platform')
        || case when v_lane = 0 then '' else ':' || v_lane end, 0));
    select a.chain_seq, a.hash into v_prev
      from public.audit_log a
     where coalesce(a.facility_id, '00000000-0000-0000-0000-000000000000'::uuid)
           = coalesce(new.facility_id, '00000000-0000-0000-0000-000000000000'::uuid)
       and a.chain_lane = v_lane
     order by coalesce(a.facility_id, '00000000-0000-0000-0000-000000000000'::uuid) desc,
              a.chain_lane desc, a.chain_seq desc
     limit 1;
    new.chain_seq := coalesce(v_prev.chain_seq, 0) + 1;
    new.prev_hash := coalesce(v_prev.hash, '\x'::bytea);
    new.hash := sha256(new.prev_hash || convert_to(carego.audit_canonical(to_jsonb(new)), 'UTF8'));
    return new;
end
$function$;

create or replace function carego.audit_verify(p_facility uuid)
    returns table(ok boolean, checked bigint, first_broken_id uuid)
    language plpgsql
    stable
    set search_path = pg_catalog, public
    as $function$
declare
    r public.audit_log;
    v_lane smallint := -1;
    v_prev bytea;
    v_expected_seq bigint;
    v_checked bigint := 0;
begin
    for r in
        select * from public.audit_log a
         where a.facility_id is not distinct from p_facility
         order by a.chain_lane, a.chain_seq
    loop
        if r.chain_lane <> v_lane then
            v_lane := r.chain_lane;
            v_prev := '\x'::bytea;
            v_expected_seq := 1;
        end if;
        v_checked := v_checked + 1;
        if r.chain_seq <> v_expected_seq or r.prev_hash <> v_prev
           or r.hash <> sha256(r.prev_hash || convert_to(carego.audit_canonical(to_jsonb(r)), 'UTF8')) then
            return query select false, v_checked, r.id;
            return;
        end if;
        v_prev := r.hash;
        v_expected_seq := v_expected_seq + 1;
    end loop;
    return query select true, v_checked, null::uuid;
end
$function$;

drop function carego.audit_canonical(audit_log);
revoke all on function carego.audit_canonical(jsonb) from public;
grant execute on function carego.audit_canonical(jsonb) to carego_facility_admin, carego_super_admin;
