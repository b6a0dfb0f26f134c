-- Audited reads no longer queue behind each other (issue 21).
--
-- Every audit row of a facility was one hash chain, linked under a
-- per-facility advisory lock held to commit. Since every read of personal
-- data writes an audit row (issue 20, item 5), a facility's readers queued
-- on that lock: on the benchmark's caseload page the wait was 3.2 ms of the
-- statement's 6.6 ms (pg_stat_statements), half the page's cost.
--
-- Reads now go to one of 64 read lanes, each its own hash chain: lane
-- 1 + (backend pid mod 64), so one connection always writes the same lane
-- and two connections share one only when their pids agree mod 64. A lane
-- is still linked under its own lock, so a lane never forks. Lane 0 is the
-- change chain as before: every create, update and delete (and the reads
-- written before this migration), numbered without gaps — the sync feed and
-- the weekly metrics number changes by it. carego.audit_verify() checks
-- every lane. The lane is in a read row's canonical text, so a row cannot be
-- moved between lanes; rows of lane 0 hash exactly as before.

alter table audit_log add column chain_lane smallint not null default 0;
alter table audit_log add constraint audit_log_chain_lane_check
    check (chain_lane = 0 or (action = 'read' and chain_lane between 1 and 64));

drop index audit_log_chain_key;
create unique index audit_log_chain_key on audit_log
    (coalesce(facility_id, '00000000-0000-0000-0000-000000000000'::uuid), chain_lane, chain_seq);

create or replace function carego.audit_canonical(a audit_log) returns text
    language plpgsql immutable parallel safe
    set search_path = pg_catalog, public
    as $$
declare
    v jsonb := jsonb_build_array(a.id, a.facility_id, a.chain_seq, a.actor_id, a.actor_role,
                                 a.session_id, a.action, a.entity_type, a.entity_id, a.old_values,
                                 a.new_values, a.reason, a.request_id, a.ip,
                                 (extract(epoch from a.created_at) * 1000000)::bigint);
begin
    if a.chain_lane <> 0 then
        v := v || to_jsonb(a.chain_lane);
    end if;
    return v::text;
end
$$;

-- The lane is the trigger's to choose, whatever the insert said. The lock
-- key of lane 0 is the one it always was (carego.emit_event takes it too).
create or replace function carego.audit_chain() returns trigger
    language plpgsql
    set search_path = pg_catalog, public
    as $$
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
    new.hash := sha256(new.prev_hash || convert_to(carego.audit_canonical(new), 'UTF8'));
    return new;
end
$$;

-- Every lane of a chain, each from its first link.
create or replace function carego.audit_verify(p_facility uuid)
    returns table (ok boolean, checked bigint, first_broken_id uuid)
    language plpgsql
    stable
    set search_path = pg_catalog, public
    as $$
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

-- The weekly metrics' watermark numbers changes: lane 0 only.
create or replace function carego.refresh_weekly_metrics(p_facility uuid) returns integer
    language plpgsql
    security definer
    set search_path = pg_catalog, public
    as $$
declare
    v_from bigint;
    v_to bigint;
    v_oldest date := (date_trunc('week', now() at time zone 'UTC') - interval '52 weeks')::date;
    v_weeks date[];
    v_week date;
begin
    if p_facility is distinct from carego.current_facility_id() and not carego.is_super_admin() then
        raise exception 'refresh_weekly_metrics: not your facility' using errcode = '42501';
    end if;
    insert into facility_metrics_watermarks (facility_id, chain_seq) values (p_facility, 0)
        on conflict (facility_id) do nothing;
    -- One refresh of a facility at a time.
    select w.chain_seq into v_from from facility_metrics_watermarks w where w.facility_id = p_facility for update;
    select coalesce(max(a.chain_seq), 0) into v_to from audit_log a where a.facility_id = p_facility and a.chain_lane = 0;
    if v_from = 0 then
        select array_agg(w::date) into v_weeks
          from generate_series(v_oldest, date_trunc('week', now() at time zone 'UTC')::date, interval '1 week') w;
    else
        select array_agg(distinct wk) into v_weeks from (
            -- The week of each record's own time: a backdated entry lands in its week.
            select date_trunc('week', (coalesce(a.new_values, a.old_values) ->> 'checked_in_at')::timestamptz
                                      at time zone 'UTC')::date as wk
              from audit_log a
             where a.facility_id = p_facility and a.chain_lane = 0 and a.chain_seq > v_from and a.chain_seq <= v_to
               and a.entity_type = 'check_ins'
            union
            select date_trunc('week', (coalesce(a.new_values, a.old_values) ->> 'scheduled_at')::timestamptz
                                      at time zone 'UTC')::date
              from audit_log a
             where a.facility_id = p_facility and a.chain_lane = 0 and a.chain_seq > v_from and a.chain_seq <= v_to
               and a.entity_type = 'dose_events'
            union
            -- A stay that changed: every week from its earliest date, old or new, to now.
            select w::date
              from audit_log a
             cross join lateral generate_series(
                    greatest(v_oldest, date_trunc('week', least(
                        (a.old_values ->> 'admission_date')::date, (a.new_values ->> 'admission_date')::date,
                        (a.old_values ->> 'discharge_date')::date, (a.new_values ->> 'discharge_date')::date,
                        now()::date))::date),
                    date_trunc('week', now() at time zone 'UTC')::date, interval '1 week') w
             where a.facility_id = p_facility and a.chain_lane = 0 and a.chain_seq > v_from and a.chain_seq <= v_to
               and a.entity_type = 'patients' and a.action <> 'read'
            union
            -- This week always: occupancy moves with the calendar.
            select date_trunc('week', now() at time zone 'UTC')::date) x
         where wk is not null and wk >= v_oldest;
    end if;
    foreach v_week in array coalesce(v_weeks, '{}') loop
        insert into facility_weekly_metrics
        select * from carego.weekly_metrics_row(p_facility, v_week)
        on conflict (facility_id, week_start) do update set
            occupancy = excluded.occupancy, admissions = excluded.admissions,
            discharges = excluded.discharges, check_in_compliance = excluded.check_in_compliance,
            dose_adherence = excluded.dose_adherence, average_mood = excluded.average_mood,
            check_ins = excluded.check_ins, refreshed_at = excluded.refreshed_at;
    end loop;
    update facility_metrics_watermarks set chain_seq = v_to, refreshed_at = now()
     where facility_id = p_facility;
    return coalesce(cardinality(v_weeks), 0);
end
$$;
