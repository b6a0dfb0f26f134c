-- Recovery records: sobriety, medications, treatment plans, sync and weekly metrics (src/db/recovery).
--
-- The current definition of every function of this area and who may execute it, and every
-- policy and grant of its tables. `carego migrate` applies this file after the versioned
-- migrations, whenever it or the migrations changed (docs/database.md, "Schema as code").
-- Change a function here, not in a new migration. Each function is followed by its grants:
-- EXECUTE revoked from PUBLIC and every app role, then granted to exactly the roles that call
-- it.

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
revoke all on function carego.prescription_stays_stopped() from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;

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
revoke all on function carego.refresh_weekly_metrics(uuid) from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.refresh_weekly_metrics(uuid) to carego_facility_admin, carego_super_admin;

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
revoke all on function carego.sobriety_reset_apply() from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;

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
revoke all on function carego.sobriety_reset_previous() from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;

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
revoke all on function carego.sync_changes(bigint,integer) from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.sync_changes(bigint,integer) to carego_patient, carego_staff, carego_facility_admin;

-- carego.sync_entity_types(), since V14
CREATE OR REPLACE FUNCTION carego.sync_entity_types()
 RETURNS text[]
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
AS $function$ select array['patients', 'check_ins', 'cravings', 'meetings', 'sobriety_resets',
                       'prescriptions', 'dose_events', 'goals', 'goal_progress'] $function$;
revoke all on function carego.sync_entity_types() from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant execute on function carego.sync_entity_types() to carego_patient, carego_staff, carego_facility_admin;

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
revoke all on function carego.treatment_plan_version_guard() from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;

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
revoke all on function carego.weekly_metrics_row(uuid,date) from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;

-- Policies and grants, table by table. Each policy is dropped if it exists and created again.
-- A policy taken out of this file is not dropped by it (a wall must never vanish by omission):
-- drop it in a migration. After the files, `carego migrate` widens every facility wall to the
-- whole tenant group (`carego.apply_role_groups`, V44). A table's grants start from none:
-- every app role's privileges on it and its columns are revoked, then granted as written, so
-- a grant taken out of this file is gone after the next apply.

-- attention_acknowledgements, since V20
drop policy if exists attention_acknowledgements_facility_isolation on public.attention_acknowledgements;
create policy attention_acknowledgements_facility_isolation on public.attention_acknowledgements as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_public, carego_staff, carego_student, carego_teacher, carego_worker
    using ((facility_id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists attention_acknowledgements_super_admin_gate on public.attention_acknowledgements;
create policy attention_acknowledgements_super_admin_gate on public.attention_acknowledgements as restrictive for all to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists attention_acknowledgements_admin_insert on public.attention_acknowledgements;
create policy attention_acknowledgements_admin_insert on public.attention_acknowledgements as permissive for insert to carego_facility_admin
    with check (true);
drop policy if exists attention_acknowledgements_admin_select on public.attention_acknowledgements;
create policy attention_acknowledgements_admin_select on public.attention_acknowledgements as permissive for select to carego_facility_admin, carego_super_admin
    using (true);
drop policy if exists attention_acknowledgements_caseload_insert on public.attention_acknowledgements;
create policy attention_acknowledgements_caseload_insert on public.attention_acknowledgements as permissive for insert to carego_staff
    with check ((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])));
drop policy if exists attention_acknowledgements_caseload_select on public.attention_acknowledgements;
create policy attention_acknowledgements_caseload_select on public.attention_acknowledgements as permissive for select to carego_staff
    using ((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])));
drop policy if exists attention_acknowledgements_patient_select on public.attention_acknowledgements;
create policy attention_acknowledgements_patient_select on public.attention_acknowledgements as permissive for select to carego_patient
    using ((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])));
revoke all on table public.attention_acknowledgements from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant select on table public.attention_acknowledgements to carego_patient, carego_super_admin;
grant select,
      insert (facility_id, patient_id, factors, note)
   on table public.attention_acknowledgements to carego_staff, carego_facility_admin;

-- check_ins, since V10
drop policy if exists check_ins_facility_isolation on public.check_ins;
create policy check_ins_facility_isolation on public.check_ins as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_public, carego_staff, carego_student, carego_teacher, carego_worker
    using ((facility_id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists check_ins_super_admin_gate on public.check_ins;
create policy check_ins_super_admin_gate on public.check_ins as restrictive for all to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists check_ins_admin_insert on public.check_ins;
create policy check_ins_admin_insert on public.check_ins as permissive for insert to carego_facility_admin
    with check (true);
drop policy if exists check_ins_admin_select on public.check_ins;
create policy check_ins_admin_select on public.check_ins as permissive for select to carego_facility_admin, carego_super_admin
    using (true);
drop policy if exists check_ins_caseload_insert on public.check_ins;
create policy check_ins_caseload_insert on public.check_ins as permissive for insert to carego_staff
    with check ((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])));
drop policy if exists check_ins_caseload_select on public.check_ins;
create policy check_ins_caseload_select on public.check_ins as permissive for select to carego_staff
    using ((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])));
drop policy if exists check_ins_owner_select on public.check_ins;
create policy check_ins_owner_select on public.check_ins as permissive for select to carego_owner
    using (true);
drop policy if exists check_ins_patient_insert on public.check_ins;
create policy check_ins_patient_insert on public.check_ins as permissive for insert to carego_patient
    with check ((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])));
drop policy if exists check_ins_patient_select on public.check_ins;
create policy check_ins_patient_select on public.check_ins as permissive for select to carego_patient
    using ((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])));
revoke all on table public.check_ins from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant select, insert on table public.check_ins to carego_patient, carego_staff, carego_facility_admin;
grant select on table public.check_ins to carego_super_admin;

-- cravings, since V11
drop policy if exists cravings_facility_isolation on public.cravings;
create policy cravings_facility_isolation on public.cravings as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_public, carego_staff, carego_student, carego_teacher, carego_worker
    using ((facility_id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists cravings_super_admin_gate on public.cravings;
create policy cravings_super_admin_gate on public.cravings as restrictive for all to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists cravings_admin_insert on public.cravings;
create policy cravings_admin_insert on public.cravings as permissive for insert to carego_facility_admin
    with check (true);
drop policy if exists cravings_admin_select on public.cravings;
create policy cravings_admin_select on public.cravings as permissive for select to carego_facility_admin, carego_super_admin
    using (true);
drop policy if exists cravings_caseload_insert on public.cravings;
create policy cravings_caseload_insert on public.cravings as permissive for insert to carego_staff
    with check ((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])));
drop policy if exists cravings_caseload_select on public.cravings;
create policy cravings_caseload_select on public.cravings as permissive for select to carego_staff
    using ((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])));
drop policy if exists cravings_patient_insert on public.cravings;
create policy cravings_patient_insert on public.cravings as permissive for insert to carego_patient
    with check ((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])));
drop policy if exists cravings_patient_select on public.cravings;
create policy cravings_patient_select on public.cravings as permissive for select to carego_patient
    using ((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])));
revoke all on table public.cravings from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant select, insert on table public.cravings to carego_patient, carego_staff, carego_facility_admin;
grant select on table public.cravings to carego_super_admin;

-- dose_events, since V15
drop policy if exists dose_events_facility_isolation on public.dose_events;
create policy dose_events_facility_isolation on public.dose_events as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_public, carego_staff, carego_student, carego_teacher, carego_worker
    using ((facility_id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists dose_events_super_admin_gate on public.dose_events;
create policy dose_events_super_admin_gate on public.dose_events as restrictive for all to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists dose_events_admin_insert on public.dose_events;
create policy dose_events_admin_insert on public.dose_events as permissive for insert to carego_facility_admin
    with check (true);
drop policy if exists dose_events_admin_select on public.dose_events;
create policy dose_events_admin_select on public.dose_events as permissive for select to carego_facility_admin, carego_super_admin
    using (true);
drop policy if exists dose_events_caseload_insert on public.dose_events;
create policy dose_events_caseload_insert on public.dose_events as permissive for insert to carego_staff
    with check ((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])));
drop policy if exists dose_events_caseload_select on public.dose_events;
create policy dose_events_caseload_select on public.dose_events as permissive for select to carego_staff
    using ((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])));
drop policy if exists dose_events_owner_select on public.dose_events;
create policy dose_events_owner_select on public.dose_events as permissive for select to carego_owner
    using (true);
drop policy if exists dose_events_patient_insert on public.dose_events;
create policy dose_events_patient_insert on public.dose_events as permissive for insert to carego_patient
    with check ((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])));
drop policy if exists dose_events_patient_select on public.dose_events;
create policy dose_events_patient_select on public.dose_events as permissive for select to carego_patient
    using ((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])));
revoke all on table public.dose_events from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant select, insert on table public.dose_events to carego_patient, carego_staff, carego_facility_admin;
grant select on table public.dose_events to carego_super_admin;

-- facility_metrics_watermarks, since V19
drop policy if exists facility_metrics_watermarks_facility_isolation on public.facility_metrics_watermarks;
create policy facility_metrics_watermarks_facility_isolation on public.facility_metrics_watermarks as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_public, carego_staff, carego_student, carego_teacher, carego_worker
    using ((facility_id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists facility_metrics_watermarks_super_admin_gate on public.facility_metrics_watermarks;
create policy facility_metrics_watermarks_super_admin_gate on public.facility_metrics_watermarks as restrictive for all to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists facility_metrics_watermarks_owner_all on public.facility_metrics_watermarks;
create policy facility_metrics_watermarks_owner_all on public.facility_metrics_watermarks as permissive for all to carego_owner
    using (true)
    with check (true);
revoke all on table public.facility_metrics_watermarks from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;

-- facility_weekly_metrics, since V19
drop policy if exists facility_weekly_metrics_facility_isolation on public.facility_weekly_metrics;
create policy facility_weekly_metrics_facility_isolation on public.facility_weekly_metrics as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_public, carego_staff, carego_student, carego_teacher, carego_worker
    using ((facility_id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists facility_weekly_metrics_super_admin_gate on public.facility_weekly_metrics;
create policy facility_weekly_metrics_super_admin_gate on public.facility_weekly_metrics as restrictive for all to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists facility_weekly_metrics_admin_select on public.facility_weekly_metrics;
create policy facility_weekly_metrics_admin_select on public.facility_weekly_metrics as permissive for select to carego_facility_admin, carego_super_admin
    using (true);
drop policy if exists facility_weekly_metrics_owner_all on public.facility_weekly_metrics;
create policy facility_weekly_metrics_owner_all on public.facility_weekly_metrics as permissive for all to carego_owner
    using (true)
    with check (true);
revoke all on table public.facility_weekly_metrics from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant select on table public.facility_weekly_metrics to carego_facility_admin, carego_super_admin;

-- goal_progress, since V16
drop policy if exists goal_progress_facility_isolation on public.goal_progress;
create policy goal_progress_facility_isolation on public.goal_progress as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_public, carego_staff, carego_student, carego_teacher, carego_worker
    using ((facility_id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists goal_progress_super_admin_gate on public.goal_progress;
create policy goal_progress_super_admin_gate on public.goal_progress as restrictive for all to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists goal_progress_admin_insert on public.goal_progress;
create policy goal_progress_admin_insert on public.goal_progress as permissive for insert to carego_facility_admin
    with check (true);
drop policy if exists goal_progress_admin_select on public.goal_progress;
create policy goal_progress_admin_select on public.goal_progress as permissive for select to carego_facility_admin, carego_super_admin
    using (true);
drop policy if exists goal_progress_caseload_insert on public.goal_progress;
create policy goal_progress_caseload_insert on public.goal_progress as permissive for insert to carego_staff
    with check ((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])));
drop policy if exists goal_progress_caseload_select on public.goal_progress;
create policy goal_progress_caseload_select on public.goal_progress as permissive for select to carego_staff
    using ((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])));
drop policy if exists goal_progress_patient_insert on public.goal_progress;
create policy goal_progress_patient_insert on public.goal_progress as permissive for insert to carego_patient
    with check ((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])));
drop policy if exists goal_progress_patient_select on public.goal_progress;
create policy goal_progress_patient_select on public.goal_progress as permissive for select to carego_patient
    using ((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])));
revoke all on table public.goal_progress from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant select, insert on table public.goal_progress to carego_patient, carego_staff, carego_facility_admin;
grant select on table public.goal_progress to carego_super_admin;

-- goals, since V16
drop policy if exists goals_facility_isolation on public.goals;
create policy goals_facility_isolation on public.goals as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_public, carego_staff, carego_student, carego_teacher, carego_worker
    using ((facility_id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists goals_super_admin_gate on public.goals;
create policy goals_super_admin_gate on public.goals as restrictive for all to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists goals_admin_insert on public.goals;
create policy goals_admin_insert on public.goals as permissive for insert to carego_facility_admin
    with check (true);
drop policy if exists goals_admin_select on public.goals;
create policy goals_admin_select on public.goals as permissive for select to carego_facility_admin, carego_super_admin
    using (true);
drop policy if exists goals_admin_update on public.goals;
create policy goals_admin_update on public.goals as permissive for update to carego_facility_admin
    using (true)
    with check (true);
drop policy if exists goals_caseload_insert on public.goals;
create policy goals_caseload_insert on public.goals as permissive for insert to carego_staff
    with check ((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])));
drop policy if exists goals_caseload_select on public.goals;
create policy goals_caseload_select on public.goals as permissive for select to carego_staff
    using ((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])));
drop policy if exists goals_caseload_update on public.goals;
create policy goals_caseload_update on public.goals as permissive for update to carego_staff
    using ((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])))
    with check ((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])));
drop policy if exists goals_patient_insert on public.goals;
create policy goals_patient_insert on public.goals as permissive for insert to carego_patient
    with check ((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])));
drop policy if exists goals_patient_select on public.goals;
create policy goals_patient_select on public.goals as permissive for select to carego_patient
    using ((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])));
revoke all on table public.goals from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant select,
      insert (facility_id, id, patient_id, category, description, measurable_target, target_date)
   on table public.goals to carego_patient;
grant select,
      insert (facility_id, id, patient_id, category, description, measurable_target, target_date),
      update (category, description, measurable_target, target_date, status)
   on table public.goals to carego_staff, carego_facility_admin;
grant select on table public.goals to carego_super_admin;

-- meetings, since V12
drop policy if exists meetings_facility_isolation on public.meetings;
create policy meetings_facility_isolation on public.meetings as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_public, carego_staff, carego_student, carego_teacher, carego_worker
    using ((facility_id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists meetings_super_admin_gate on public.meetings;
create policy meetings_super_admin_gate on public.meetings as restrictive for all to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists meetings_admin_insert on public.meetings;
create policy meetings_admin_insert on public.meetings as permissive for insert to carego_facility_admin
    with check (true);
drop policy if exists meetings_admin_select on public.meetings;
create policy meetings_admin_select on public.meetings as permissive for select to carego_facility_admin, carego_super_admin
    using (true);
drop policy if exists meetings_caseload_insert on public.meetings;
create policy meetings_caseload_insert on public.meetings as permissive for insert to carego_staff
    with check ((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])));
drop policy if exists meetings_caseload_select on public.meetings;
create policy meetings_caseload_select on public.meetings as permissive for select to carego_staff
    using ((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])));
drop policy if exists meetings_patient_insert on public.meetings;
create policy meetings_patient_insert on public.meetings as permissive for insert to carego_patient
    with check ((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])));
drop policy if exists meetings_patient_select on public.meetings;
create policy meetings_patient_select on public.meetings as permissive for select to carego_patient
    using ((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])));
revoke all on table public.meetings from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant select, insert on table public.meetings to carego_patient, carego_staff, carego_facility_admin;
grant select on table public.meetings to carego_super_admin;

-- prescriptions, since V15
drop policy if exists prescriptions_facility_isolation on public.prescriptions;
create policy prescriptions_facility_isolation on public.prescriptions as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_public, carego_staff, carego_student, carego_teacher, carego_worker
    using ((facility_id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists prescriptions_super_admin_gate on public.prescriptions;
create policy prescriptions_super_admin_gate on public.prescriptions as restrictive for all to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists prescriptions_admin_insert on public.prescriptions;
create policy prescriptions_admin_insert on public.prescriptions as permissive for insert to carego_facility_admin
    with check (true);
drop policy if exists prescriptions_admin_select on public.prescriptions;
create policy prescriptions_admin_select on public.prescriptions as permissive for select to carego_facility_admin, carego_super_admin
    using (true);
drop policy if exists prescriptions_admin_update on public.prescriptions;
create policy prescriptions_admin_update on public.prescriptions as permissive for update to carego_facility_admin
    using (true)
    with check (true);
drop policy if exists prescriptions_caseload_insert on public.prescriptions;
create policy prescriptions_caseload_insert on public.prescriptions as permissive for insert to carego_staff
    with check ((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])));
drop policy if exists prescriptions_caseload_select on public.prescriptions;
create policy prescriptions_caseload_select on public.prescriptions as permissive for select to carego_staff
    using ((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])));
drop policy if exists prescriptions_caseload_update on public.prescriptions;
create policy prescriptions_caseload_update on public.prescriptions as permissive for update to carego_staff
    using ((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])))
    with check ((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])));
drop policy if exists prescriptions_patient_select on public.prescriptions;
create policy prescriptions_patient_select on public.prescriptions as permissive for select to carego_patient
    using ((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])));
revoke all on table public.prescriptions from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant select on table public.prescriptions to carego_patient, carego_super_admin;
grant select,
      insert (facility_id, patient_id, drug, dose, route, schedule, starts_on, ends_on, prescriber, notes),
      update (dose, route, schedule, ends_on, prescriber, notes, status, stopped_at, stop_reason)
   on table public.prescriptions to carego_staff, carego_facility_admin;

-- sobriety_resets, since V13
drop policy if exists sobriety_resets_facility_isolation on public.sobriety_resets;
create policy sobriety_resets_facility_isolation on public.sobriety_resets as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_public, carego_staff, carego_student, carego_teacher, carego_worker
    using ((facility_id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists sobriety_resets_super_admin_gate on public.sobriety_resets;
create policy sobriety_resets_super_admin_gate on public.sobriety_resets as restrictive for all to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists sobriety_resets_admin_insert on public.sobriety_resets;
create policy sobriety_resets_admin_insert on public.sobriety_resets as permissive for insert to carego_facility_admin
    with check (true);
drop policy if exists sobriety_resets_admin_select on public.sobriety_resets;
create policy sobriety_resets_admin_select on public.sobriety_resets as permissive for select to carego_facility_admin, carego_super_admin
    using (true);
drop policy if exists sobriety_resets_caseload_insert on public.sobriety_resets;
create policy sobriety_resets_caseload_insert on public.sobriety_resets as permissive for insert to carego_staff
    with check ((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])));
drop policy if exists sobriety_resets_caseload_select on public.sobriety_resets;
create policy sobriety_resets_caseload_select on public.sobriety_resets as permissive for select to carego_staff
    using ((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])));
drop policy if exists sobriety_resets_patient_insert on public.sobriety_resets;
create policy sobriety_resets_patient_insert on public.sobriety_resets as permissive for insert to carego_patient
    with check ((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])));
drop policy if exists sobriety_resets_patient_select on public.sobriety_resets;
create policy sobriety_resets_patient_select on public.sobriety_resets as permissive for select to carego_patient
    using ((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])));
revoke all on table public.sobriety_resets from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant select, insert on table public.sobriety_resets to carego_patient, carego_staff, carego_facility_admin;
grant select on table public.sobriety_resets to carego_super_admin;

-- treatment_plan_templates, since V18
drop policy if exists treatment_plan_templates_facility_isolation on public.treatment_plan_templates;
create policy treatment_plan_templates_facility_isolation on public.treatment_plan_templates as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_public, carego_staff, carego_student, carego_teacher, carego_worker
    using ((facility_id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists treatment_plan_templates_super_admin_gate on public.treatment_plan_templates;
create policy treatment_plan_templates_super_admin_gate on public.treatment_plan_templates as restrictive for all to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists treatment_plan_templates_admin_insert on public.treatment_plan_templates;
create policy treatment_plan_templates_admin_insert on public.treatment_plan_templates as permissive for insert to carego_facility_admin
    with check (true);
drop policy if exists treatment_plan_templates_member_select on public.treatment_plan_templates;
create policy treatment_plan_templates_member_select on public.treatment_plan_templates as permissive for select to carego_facility_admin, carego_staff, carego_super_admin
    using (true);
revoke all on table public.treatment_plan_templates from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant select on table public.treatment_plan_templates to carego_staff, carego_super_admin;
grant select,
      insert (facility_id, name, problems, goals, interventions, review_interval_days)
   on table public.treatment_plan_templates to carego_facility_admin;

-- treatment_plan_versions, since V18
drop policy if exists treatment_plan_versions_facility_isolation on public.treatment_plan_versions;
create policy treatment_plan_versions_facility_isolation on public.treatment_plan_versions as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_public, carego_staff, carego_student, carego_teacher, carego_worker
    using ((facility_id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists treatment_plan_versions_super_admin_gate on public.treatment_plan_versions;
create policy treatment_plan_versions_super_admin_gate on public.treatment_plan_versions as restrictive for all to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists treatment_plan_versions_admin_insert on public.treatment_plan_versions;
create policy treatment_plan_versions_admin_insert on public.treatment_plan_versions as permissive for insert to carego_facility_admin
    with check ((status = 'draft'::text));
drop policy if exists treatment_plan_versions_admin_select on public.treatment_plan_versions;
create policy treatment_plan_versions_admin_select on public.treatment_plan_versions as permissive for select to carego_facility_admin, carego_super_admin
    using (true);
drop policy if exists treatment_plan_versions_admin_update on public.treatment_plan_versions;
create policy treatment_plan_versions_admin_update on public.treatment_plan_versions as permissive for update to carego_facility_admin
    using (true)
    with check (true);
drop policy if exists treatment_plan_versions_caseload_insert on public.treatment_plan_versions;
create policy treatment_plan_versions_caseload_insert on public.treatment_plan_versions as permissive for insert to carego_staff
    with check (((status = 'draft'::text) AND (patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[]))));
drop policy if exists treatment_plan_versions_caseload_select on public.treatment_plan_versions;
create policy treatment_plan_versions_caseload_select on public.treatment_plan_versions as permissive for select to carego_staff
    using ((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])));
drop policy if exists treatment_plan_versions_caseload_update on public.treatment_plan_versions;
create policy treatment_plan_versions_caseload_update on public.treatment_plan_versions as permissive for update to carego_staff
    using ((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])))
    with check ((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])));
drop policy if exists treatment_plan_versions_patient_select on public.treatment_plan_versions;
create policy treatment_plan_versions_patient_select on public.treatment_plan_versions as permissive for select to carego_patient
    using (((status = 'signed'::text) AND (patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[]))));
drop policy if exists treatment_plan_versions_patient_update on public.treatment_plan_versions;
create policy treatment_plan_versions_patient_update on public.treatment_plan_versions as permissive for update to carego_patient
    using (((status = 'signed'::text) AND (acknowledged_at IS NULL) AND (patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[]))))
    with check ((acknowledged_by = ( SELECT carego.current_user_id() AS current_user_id)));
revoke all on table public.treatment_plan_versions from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant select,
      update (acknowledged_by, acknowledged_at)
   on table public.treatment_plan_versions to carego_patient;
grant select,
      insert (facility_id, plan_id, patient_id, version, problems, goals, interventions, review_date, template_id),
      update (problems, goals, interventions, review_date, status, signed_by, signed_at)
   on table public.treatment_plan_versions to carego_staff, carego_facility_admin;
grant select on table public.treatment_plan_versions to carego_super_admin;

-- treatment_plans, since V18
drop policy if exists treatment_plans_facility_isolation on public.treatment_plans;
create policy treatment_plans_facility_isolation on public.treatment_plans as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_public, carego_staff, carego_student, carego_teacher, carego_worker
    using ((facility_id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists treatment_plans_super_admin_gate on public.treatment_plans;
create policy treatment_plans_super_admin_gate on public.treatment_plans as restrictive for all to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists treatment_plans_admin_insert on public.treatment_plans;
create policy treatment_plans_admin_insert on public.treatment_plans as permissive for insert to carego_facility_admin
    with check (true);
drop policy if exists treatment_plans_admin_select on public.treatment_plans;
create policy treatment_plans_admin_select on public.treatment_plans as permissive for select to carego_facility_admin, carego_super_admin
    using (true);
drop policy if exists treatment_plans_caseload_insert on public.treatment_plans;
create policy treatment_plans_caseload_insert on public.treatment_plans as permissive for insert to carego_staff
    with check ((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])));
drop policy if exists treatment_plans_caseload_select on public.treatment_plans;
create policy treatment_plans_caseload_select on public.treatment_plans as permissive for select to carego_staff
    using ((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])));
drop policy if exists treatment_plans_patient_select on public.treatment_plans;
create policy treatment_plans_patient_select on public.treatment_plans as permissive for select to carego_patient
    using ((patient_id = ANY (( SELECT carego.visible_patient_ids() AS visible_patient_ids)::uuid[])));
revoke all on table public.treatment_plans from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant select on table public.treatment_plans to carego_patient, carego_super_admin;
grant select,
      insert (facility_id, patient_id, title)
   on table public.treatment_plans to carego_staff, carego_facility_admin;
