-- Every function a policy calls is planned once per connection (issue 21).
--
-- A SQL function with SECURITY DEFINER or a SET clause is never inlined:
-- PostgreSQL parses and plans its body again for every statement that calls
-- it, as visible_patient_ids did before V49. These four were still written
-- so, each also naming two or three context accessors, so each statement
-- over a conversation, a message, a crisis alert, a batch or a client's
-- care recipient also verified the signed context two or three times. As
-- PL/pgSQL they are planned once per connection and verify once, then read
-- the settings the signature has just covered (as V49's functions do: inside
-- a definer function context_ok checks the signature, the role being the
-- owner). Same answers, same grants.

create or replace function carego.my_conversation_ids() returns uuid[]
    language plpgsql
    stable
    security definer
    set search_path = pg_catalog, public
    as $$
declare
    v_ids uuid[];
begin
    if not carego.context_ok(current_user) then
        return '{}';
    end if;
    select coalesce(array_agg(m.conversation_id), '{}') into v_ids
      from public.conversation_members m
     where m.facility_id = nullif(current_setting('carego.facility_id', true), '')::uuid
       and m.user_id = nullif(current_setting('carego.user_id', true), '')::uuid;
    return v_ids;
end
$$;

create or replace function carego.current_user_on_call() returns boolean
    language plpgsql
    stable
    security definer
    set search_path = pg_catalog, public
    as $$
declare
    v_on_call boolean;
begin
    if not carego.context_ok(current_user) then
        return false;
    end if;
    select u.on_call and u.status = 'active' into v_on_call
      from public.users u
     where u.id = nullif(current_setting('carego.user_id', true), '')::uuid
       and u.facility_id = nullif(current_setting('carego.facility_id', true), '')::uuid;
    return coalesce(v_on_call, false);
end
$$;

create or replace function carego.my_batch_ids() returns uuid[]
    language plpgsql
    stable
    security definer
    set search_path = pg_catalog, public
    as $$
declare
    v_ids uuid[];
begin
    if not carego.context_ok(current_user) then
        return '{}';
    end if;
    select coalesce(array_agg(e.batch_id), '{}') into v_ids
      from public.enrollments e
     where e.facility_id = nullif(current_setting('carego.facility_id', true), '')::uuid
       and e.student_id = nullif(current_setting('carego.user_id', true), '')::uuid;
    return v_ids;
end
$$;

create or replace function carego.client_patient_ids() returns uuid[]
    language plpgsql
    stable
    security definer
    set search_path = pg_catalog, public
    as $$
declare
    v_ids uuid[];
begin
    if not carego.context_ok(current_user)
       or current_setting('carego.role', true) is distinct from 'client' then
        return '{}';
    end if;
    select coalesce(array_agg(l.patient_id), '{}') into v_ids
      from public.client_care_recipients l
     where l.facility_id = nullif(current_setting('carego.facility_id', true), '')::uuid
       and l.client_id = nullif(current_setting('carego.user_id', true), '')::uuid;
    return v_ids;
end
$$;
