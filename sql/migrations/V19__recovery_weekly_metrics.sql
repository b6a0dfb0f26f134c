-- Facility weekly metrics: occupancy, admissions and discharges, check-in
-- compliance, dose adherence and average mood per facility and ISO week.
--
-- A rollup table, not a materialized view: views cannot carry RLS, and this
-- one holds facility_id and the same facility wall as every tenant table.
-- It is refreshed incrementally: carego.refresh_weekly_metrics() reads the
-- facility's audit chain after the watermark it reached last time (the
-- chain is gap-free and in commit order, so no change is ever skipped),
-- finds the weeks those changes touch, and recomputes only those.
create table facility_weekly_metrics (
    facility_id         uuid        not null,
    week_start          date        not null,  -- a Monday
    occupancy           integer     not null,
    admissions          integer     not null,
    discharges          integer     not null,
    check_in_compliance numeric(5, 4),         -- check-in days / patient days; null with no patients
    dose_adherence      numeric(5, 4),         -- doses taken / recorded; null with none recorded
    average_mood        numeric(4, 2),
    check_ins           integer     not null,
    refreshed_at        timestamptz not null default now(),
    constraint facility_weekly_metrics_pkey primary key (facility_id, week_start),
    constraint facility_weekly_metrics_facility_fkey foreign key (facility_id) references facilities (id),
    constraint facility_weekly_metrics_week_start_check check (extract(isodow from week_start) = 1)
);

alter table facility_weekly_metrics enable row level security;
alter table facility_weekly_metrics force row level security;

create policy facility_weekly_metrics_facility_isolation on facility_weekly_metrics as restrictive for all
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator
    using (facility_id = (select carego.current_facility_id()));
create policy facility_weekly_metrics_super_admin_gate on facility_weekly_metrics as restrictive for all
    to carego_super_admin using ((select carego.is_super_admin()));
create policy facility_weekly_metrics_admin_select on facility_weekly_metrics for select
    to carego_facility_admin, carego_super_admin using (true);
-- Written only by the refresh function (the owner).
create policy facility_weekly_metrics_owner_all on facility_weekly_metrics for all to carego_owner
    using (true) with check (true);

grant select on facility_weekly_metrics to carego_facility_admin, carego_super_admin;

-- How far each facility's rollup has read its audit chain.
create table facility_metrics_watermarks (
    facility_id  uuid        not null,
    chain_seq    bigint      not null,
    refreshed_at timestamptz not null default now(),
    constraint facility_metrics_watermarks_pkey primary key (facility_id),
    constraint facility_metrics_watermarks_facility_fkey foreign key (facility_id) references facilities (id)
);

alter table facility_metrics_watermarks enable row level security;
alter table facility_metrics_watermarks force row level security;
-- No request role is granted anything here; the wall stands all the same.
create policy facility_metrics_watermarks_facility_isolation on facility_metrics_watermarks as restrictive
    for all to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator
    using (facility_id = (select carego.current_facility_id()));
create policy facility_metrics_watermarks_super_admin_gate on facility_metrics_watermarks as restrictive
    for all to carego_super_admin using ((select carego.is_super_admin()));
create policy facility_metrics_watermarks_owner_all on facility_metrics_watermarks for all to carego_owner
    using (true) with check (true);

-- The refresh runs as the owner, which FORCE ROW LEVEL SECURITY holds to
-- policies like everyone: it reads the records it counts.
create policy check_ins_owner_select on check_ins for select to carego_owner using (true);
create policy dose_events_owner_select on dose_events for select to carego_owner using (true);

-- One week's figures, from the records (the owner reads them all).
create function carego.weekly_metrics_row(p_facility uuid, p_week date)
    returns facility_weekly_metrics
    language sql stable
    set search_path = pg_catalog, public
    as $$
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
$$;

-- Brings a facility's rollup up to date: the weeks touched by changes since
-- the watermark (all weeks of the last year the first time), recomputed
-- and upserted. Returns how many weeks it recomputed. Runs as the owner;
-- callable by the facility's admins for their own facility, super admins
-- and the operator for any.
create function carego.refresh_weekly_metrics(p_facility uuid) returns integer
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
    select coalesce(max(a.chain_seq), 0) into v_to from audit_log a where a.facility_id = p_facility;
    if v_from = 0 then
        select array_agg(w::date) into v_weeks
          from generate_series(v_oldest, date_trunc('week', now() at time zone 'UTC')::date, interval '1 week') w;
    else
        select array_agg(distinct wk) into v_weeks from (
            -- The week of each record's own time: a backdated entry lands in its week.
            select date_trunc('week', (coalesce(a.new_values, a.old_values) ->> 'checked_in_at')::timestamptz
                                      at time zone 'UTC')::date as wk
              from audit_log a
             where a.facility_id = p_facility and a.chain_seq > v_from and a.chain_seq <= v_to
               and a.entity_type = 'check_ins'
            union
            select date_trunc('week', (coalesce(a.new_values, a.old_values) ->> 'scheduled_at')::timestamptz
                                      at time zone 'UTC')::date
              from audit_log a
             where a.facility_id = p_facility and a.chain_seq > v_from and a.chain_seq <= v_to
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
             where a.facility_id = p_facility and a.chain_seq > v_from and a.chain_seq <= v_to
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

grant execute on function carego.refresh_weekly_metrics(uuid) to carego_facility_admin, carego_super_admin;
