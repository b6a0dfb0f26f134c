-- Recovery records: sobriety, medications, treatment plans, sync and weekly metrics (src/db/recovery).
--
-- The current definition of every function of this area. `carego migrate` applies this file
-- after the versioned migrations, whenever it or the migrations changed (docs/database.md,
-- "Schema as code"). Change a function here, not in a new migration.

-- carego.prescription_stays_stopped(), since V15
CREATE OR REPLACE FUNCTION carego.prescription_stays_stopped()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
begin
    if old.status = 'stopped' then
        raise exception 'prescription % is stopped', old.id using errcode = 'CG409';
    end if;
    return new;
end
$function$;

-- carego.refresh_weekly_metrics(uuid), since V19
CREATE OR REPLACE FUNCTION carego.refresh_weekly_metrics(p_facility uuid)
 RETURNS integer
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
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
$function$;

-- carego.sobriety_reset_apply(), since V13
CREATE OR REPLACE FUNCTION carego.sobriety_reset_apply()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
begin
    update public.patients p set sobriety_date = new.since
     where p.facility_id = new.facility_id and p.id = new.patient_id;
    return null;
end
$function$;

-- carego.sobriety_reset_previous(), since V13
CREATE OR REPLACE FUNCTION carego.sobriety_reset_previous()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
begin
    select p.sobriety_date into new.previous_since
      from public.patients p
     where p.facility_id = new.facility_id and p.id = new.patient_id
       for update;
    return new;
end
$function$;

-- carego.sync_changes(bigint,integer), since V14
CREATE OR REPLACE FUNCTION carego.sync_changes(p_after bigint, p_limit integer)
 RETURNS TABLE(seq bigint, entity_type text, entity_id uuid, patient_id uuid, visible boolean)
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
declare
    v_facility uuid := carego.current_facility_id();
    v_me uuid := carego.current_user_id();
    v_role text := carego.current_app_role();
    v_visible uuid[];
begin
    if v_facility is null or v_me is null or p_after < 0 or p_limit < 1 then
        return;
    end if;
    if v_role = 'facility_admin' then
        return query
        select a.chain_seq, a.entity_type, a.entity_id, s.subject, p.deleted_at is null
          from audit_log a
          cross join lateral (select carego.audit_subject(a.entity_type, a.entity_id, a.new_values,
                                                          a.old_values) as subject) s
          join patients p on p.facility_id = a.facility_id and p.id = s.subject
         where a.facility_id = v_facility and a.action <> 'read' and a.chain_seq > p_after
           and a.entity_type = any (carego.sync_entity_types())
           and (p.deleted_at is null
                or (a.entity_type = 'patients' and a.old_values ->> 'deleted_at' is null
                    and a.new_values ->> 'deleted_at' is not null))
         order by a.chain_seq
         limit p_limit;
        return;
    end if;
    if v_role not in ('staff', 'patient') then
        return;
    end if;
    v_visible := carego.visible_patient_ids();
    return query
    (select a.chain_seq, a.entity_type, a.entity_id, a.subject, true
       from (select x.*, carego.audit_subject(x.entity_type, x.entity_id, x.new_values, x.old_values) as subject
               from audit_log x
              where x.facility_id = v_facility and x.action <> 'read' and x.chain_seq > p_after
                and carego.audit_subject(x.entity_type, x.entity_id, x.new_values, x.old_values) = any (v_visible)
                and x.entity_type = any (carego.sync_entity_types())) a
      order by a.chain_seq
      limit p_limit)
    union all
    (select a.chain_seq, a.entity_type, a.entity_id, a.subject, false
       from (select x.*, carego.audit_subject(x.entity_type, x.entity_id, x.new_values, x.old_values) as subject
               from audit_log x
              where x.facility_id = v_facility and x.action = 'update' and x.chain_seq > p_after
                and x.entity_type in ('assignments', 'patients')) a
      where not (a.subject = any (v_visible))
        and (   -- their own assignment ended
                (a.entity_type = 'assignments' and v_role = 'staff'
                 and a.new_values ->> 'staff_id' = v_me::text
                 and a.old_values ->> 'ended_at' is null and a.new_values ->> 'ended_at' is not null)
                -- they stopped being the patient's counsellor
             or (a.entity_type = 'patients' and v_role = 'staff'
                 and a.old_values ->> 'primary_counsellor_id' = v_me::text
                 and a.new_values ->> 'primary_counsellor_id' is distinct from v_me::text)
                -- the patient was removed from the facility's records
             or (a.entity_type = 'patients'
                 and a.old_values ->> 'deleted_at' is null and a.new_values ->> 'deleted_at' is not null
                 and (a.old_values ->> 'user_id' = v_me::text
                      or a.old_values ->> 'primary_counsellor_id' = v_me::text
                      or exists (select from assignments s
                                  where s.facility_id = v_facility and s.patient_id = a.subject
                                    and s.staff_id = v_me))))
      order by a.chain_seq
      limit p_limit)
    order by 1
    limit p_limit;
end
$function$;

-- carego.sync_entity_types(), since V14
CREATE OR REPLACE FUNCTION carego.sync_entity_types()
 RETURNS text[]
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
AS $function$ select array['patients', 'check_ins', 'cravings', 'meetings', 'sobriety_resets',
                       'prescriptions', 'dose_events', 'goals', 'goal_progress'] $function$;

-- carego.treatment_plan_version_guard(), since V18
CREATE OR REPLACE FUNCTION carego.treatment_plan_version_guard()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
begin
    if old.status = 'signed' then
        if (new.problems, new.goals, new.interventions, new.review_date, new.status, new.signed_by,
            new.signed_at, new.version, new.plan_id, new.patient_id)
           is distinct from
           (old.problems, old.goals, old.interventions, old.review_date, old.status, old.signed_by,
            old.signed_at, old.version, old.plan_id, old.patient_id)
           or old.acknowledged_at is not null then
            raise exception 'treatment plan version % is signed and cannot change', old.id
                using errcode = 'CG409';
        end if;
    end if;
    new.updated_at := now();
    return new;
end
$function$;

-- carego.weekly_metrics_row(uuid,date), since V19
CREATE OR REPLACE FUNCTION carego.weekly_metrics_row(p_facility uuid, p_week date)
 RETURNS facility_weekly_metrics
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'public'
AS $function$
    with stay as (
        select p.id from patients p
         where p.facility_id = p_facility and p.deleted_at is null and p.status in ('active', 'discharged')
           and p.admission_date <= p_week + 6
           and (p.discharge_date is null or p.discharge_date >= p_week)),
    ci as (
        select c.patient_id, c.mood, (c.checked_in_at at time zone 'UTC')::date as d from check_ins c
         where c.facility_id = p_facility
           and c.checked_in_at >= p_week::timestamp at time zone 'UTC'
           and c.checked_in_at < (p_week + 7)::timestamp at time zone 'UTC'),
    dz as (
        select d.status from dose_events d
         where d.facility_id = p_facility
           and d.scheduled_at >= p_week::timestamp at time zone 'UTC'
           and d.scheduled_at < (p_week + 7)::timestamp at time zone 'UTC')
    select p_facility, p_week,
           (select count(*) from stay)::int,
           (select count(*) from patients p where p.facility_id = p_facility and p.deleted_at is null
                and p.admission_date between p_week and p_week + 6)::int,
           (select count(*) from patients p where p.facility_id = p_facility and p.deleted_at is null
                and p.discharge_date between p_week and p_week + 6)::int,
           (select case when count(*) = 0 then null
                        else least(1, (select count(distinct (ci.patient_id, ci.d)) from ci
                                        where ci.patient_id in (select id from stay))::numeric / (count(*) * 7))
                   end from stay)::numeric(5, 4),
           (select case when count(*) = 0 then null
                        else (count(*) filter (where status in ('taken', 'late')))::numeric / count(*) end
              from dz)::numeric(5, 4),
           (select avg(mood) from ci)::numeric(4, 2),
           (select count(*) from ci)::int,
           now()
$function$;
