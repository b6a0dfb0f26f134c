-- Conversations and messages: direct (staff and patient, staff and staff)
-- and care-team groups. Who is in a conversation is fixed when it is opened
-- (carego.open_conversation checks who may talk to whom); RLS then decides
-- every read: a user sees the conversations they belong to and nothing else.
--
-- Messages are append-only. A correction or a retraction is a new message
-- that refers to the sender's own earlier one. Read receipts are each
-- member's `last_read_at`, which only that member moves.
create table conversations (
    facility_id uuid        not null,
    id          uuid        not null default gen_random_uuid(),
    kind        text        not null,
    title       text,
    -- A care-team group about one patient.
    patient_id  uuid,
    created_by  uuid        not null,
    created_at  timestamptz not null default now(),
    constraint conversations_pkey primary key (facility_id, id),
    constraint conversations_patient_fkey foreign key (facility_id, patient_id) references patients (facility_id, id),
    constraint conversations_created_by_fkey foreign key (facility_id, created_by) references users (facility_id, id),
    constraint conversations_kind_check check (kind in ('direct', 'group')),
    constraint conversations_title_check check (length(title) between 1 and 200),
    constraint conversations_direct_check check (kind = 'group' or (title is null and patient_id is null))
);

create table conversation_members (
    facility_id     uuid        not null,
    conversation_id uuid        not null,
    user_id         uuid        not null,
    joined_at       timestamptz not null default now(),
    last_read_at    timestamptz,
    constraint conversation_members_pkey primary key (facility_id, conversation_id, user_id),
    constraint conversation_members_conversation_fkey foreign key (facility_id, conversation_id)
        references conversations (facility_id, id),
    constraint conversation_members_user_fkey foreign key (facility_id, user_id) references users (facility_id, id)
);
create index conversation_members_user_idx on conversation_members (facility_id, user_id, conversation_id);

-- The conversations the caller belongs to. SECURITY DEFINER so policies on
-- the three tables can ask without recursing into their own RLS.
create function carego.my_conversation_ids() returns uuid[]
    language sql
    stable
    security definer
    set search_path = pg_catalog, public
    as $$
    select coalesce(array_agg(m.conversation_id), '{}')
      from public.conversation_members m
     where m.facility_id = carego.current_facility_id() and m.user_id = carego.current_user_id()
$$;
grant execute on function carego.my_conversation_ids() to carego_patient, carego_staff, carego_facility_admin;

-- Who is in one of the caller's conversations, with their names: a patient
-- cannot read staff accounts, but may see who they are talking to.
create function carego.conversation_member_names(p_conversation uuid)
    returns table (id uuid, first_name text, last_name text, role text)
    language sql
    stable
    security definer
    set search_path = pg_catalog, public
    as $$
    select u.id, u.first_name, u.last_name, u.role
      from public.conversation_members m
      join public.users u on u.id = m.user_id
     where m.facility_id = carego.current_facility_id() and m.conversation_id = p_conversation
       and p_conversation = any (carego.my_conversation_ids())
$$;
grant execute on function carego.conversation_member_names(uuid)
    to carego_patient, carego_staff, carego_facility_admin;

alter table conversations enable row level security;
alter table conversations force row level security;
create policy conversations_facility_isolation on conversations as restrictive for all
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator
    using (facility_id = (select carego.current_facility_id()));
create policy conversations_super_admin_gate on conversations as restrictive for all to carego_super_admin
    using ((select carego.is_super_admin()));
-- Members only, facility admins included: a conversation is private to those in it.
create policy conversations_member_select on conversations for select
    to carego_patient, carego_staff, carego_facility_admin
    using (id = any ((select carego.my_conversation_ids())::uuid[]));
grant select on conversations to carego_patient, carego_staff, carego_facility_admin;
-- carego.open_conversation looks up and opens conversations as the owner.
create policy conversations_owner_all on conversations for all to carego_owner using (true) with check (true);

alter table conversation_members enable row level security;
alter table conversation_members force row level security;
create policy conversation_members_facility_isolation on conversation_members as restrictive for all
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator
    using (facility_id = (select carego.current_facility_id()));
create policy conversation_members_super_admin_gate on conversation_members as restrictive for all
    to carego_super_admin using ((select carego.is_super_admin()));
create policy conversation_members_member_select on conversation_members for select
    to carego_patient, carego_staff, carego_facility_admin
    using (conversation_id = any ((select carego.my_conversation_ids())::uuid[]));
-- A member moves only their own read marker.
create policy conversation_members_self_update on conversation_members for update
    to carego_patient, carego_staff, carego_facility_admin
    using (user_id = (select carego.current_user_id()))
    with check (user_id = (select carego.current_user_id()));
grant select on conversation_members to carego_patient, carego_staff, carego_facility_admin;
grant update (last_read_at) on conversation_members to carego_patient, carego_staff, carego_facility_admin;
-- The SECURITY DEFINER functions above and below read and add members as the owner.
create policy conversation_members_owner_all on conversation_members for all to carego_owner
    using (true) with check (true);

create trigger conversations_audit after insert on conversations
    for each row execute function carego.audit_row('facility_id');
create trigger conversation_members_audit after insert on conversation_members
    for each row execute function carego.audit_row('facility_id');

-- A patient's care team: their counsellor and the staff of their open
-- assignments. Called by the SECURITY DEFINER functions here and in V25.
create function carego.care_team(p_facility uuid, p_patient uuid) returns uuid[]
    language sql
    stable
    security definer
    set search_path = pg_catalog, public
    as $$
    select coalesce(array_agg(distinct t.id), '{}') from (
        select p.primary_counsellor_id as id from public.patients p
         where p.facility_id = p_facility and p.id = p_patient
        union all
        select a.staff_id from public.assignments a
         where a.facility_id = p_facility and a.patient_id = p_patient and a.ended_at is null) t
     where t.id is not null
$$;

-- Opens a conversation of the caller with p_members (the caller is added).
-- Who may talk to whom:
--   * staff and facility admins: any active staff or admin of the facility,
--     and patients they may see (admins: any patient);
--   * patients: a direct conversation with a member of their care team
--     (counsellor or open assignment), never a group;
--   * a group about a patient: the caller must see that patient.
-- A direct conversation between the same two users is opened once: asking
-- again answers the existing one (`created` false). Raises CG404 when a
-- member or the patient is not someone the caller may reach (the 404 hides
-- whether they exist), CG422 for a direct conversation that is not between
-- exactly two people.
create function carego.open_conversation(p_id uuid, p_kind text, p_title text, p_patient uuid,
                                         p_members uuid[])
    returns table (conversation_id uuid, created boolean)
    language plpgsql
    security definer
    set search_path = pg_catalog, public
    as $$
declare
    v_facility uuid := carego.current_facility_id();
    v_me uuid := carego.current_user_id();
    v_role text := carego.current_app_role();
    v_members uuid[];
    v_visible uuid[] := carego.visible_patient_ids();
    v_existing uuid;
    v_bad integer;
begin
    if v_facility is null or v_me is null or v_role not in ('patient', 'staff', 'facility_admin') then
        raise exception 'open_conversation: no caller' using errcode = '42501';
    end if;
    select coalesce(array_agg(distinct m), '{}') into v_members
      from unnest(p_members) m where m is not null and m <> v_me;
    if p_kind = 'direct' and cardinality(v_members) <> 1 then
        raise exception 'direct_needs_one_other' using errcode = 'CG422';
    end if;
    if cardinality(v_members) = 0 then
        raise exception 'no_members' using errcode = 'CG422';
    end if;
    if v_role = 'patient' and p_kind <> 'direct' then
        raise exception 'patients_open_direct_only' using errcode = 'CG422';
    end if;
    if p_patient is not null and not (v_role = 'facility_admin' and exists (
            select from patients p where p.facility_id = v_facility and p.id = p_patient and p.deleted_at is null)
        or (v_role = 'staff' and p_patient = any (v_visible))) then
        raise exception 'patient_not_found' using errcode = 'CG404';
    end if;

    select count(*) into v_bad
      from unnest(v_members) m
     where not exists (
        select from users u
         where u.id = m and u.facility_id = v_facility and u.status = 'active'
           and case
               when v_role = 'patient' then
                   exists (select from unnest(v_visible) mine
                            where u.id = any (carego.care_team(v_facility, mine)))
               when u.role in ('staff', 'facility_admin') then true
               when u.role = 'patient' then exists (
                   select from patients p
                    where p.facility_id = v_facility and p.user_id = u.id and p.deleted_at is null
                      and (v_role = 'facility_admin' or p.id = any (v_visible)))
               else false
           end);
    if v_bad > 0 then
        raise exception 'member_not_found' using errcode = 'CG404';
    end if;

    if p_kind = 'direct' then
        -- One direct conversation per pair: serialise openers of this pair.
        perform pg_advisory_xact_lock(hashtextextended(
            'carego.direct:' || least(v_me, v_members[1])::text || greatest(v_me, v_members[1])::text, 0));
        select c.id into v_existing
          from conversations c
          join conversation_members a on a.facility_id = c.facility_id and a.conversation_id = c.id
                                     and a.user_id = v_me
          join conversation_members b on b.facility_id = c.facility_id and b.conversation_id = c.id
                                     and b.user_id = v_members[1]
         where c.facility_id = v_facility and c.kind = 'direct'
         limit 1;
        if v_existing is not null then
            return query select v_existing, false;
            return;
        end if;
    end if;

    insert into conversations (facility_id, id, kind, title, patient_id, created_by)
    values (v_facility, coalesce(p_id, gen_random_uuid()), p_kind, p_title, p_patient, v_me)
    returning id into v_existing;
    insert into conversation_members (facility_id, conversation_id, user_id, last_read_at)
    select v_facility, v_existing, m, case when m = v_me then now() end
      from unnest(array_prepend(v_me, v_members)) m;
    return query select v_existing, true;
end
$$;
grant execute on function carego.open_conversation(uuid, text, text, uuid, uuid[])
    to carego_patient, carego_staff, carego_facility_admin;

create table messages (
    facility_id     uuid        not null,
    id              uuid        not null default gen_random_uuid(),
    conversation_id uuid        not null,
    sender_id       uuid        not null default carego.current_user_id(),
    kind            text        not null default 'message',
    body            text,
    -- A correction or retraction: the sender's own earlier message here.
    refers_to       uuid,
    created_at      timestamptz not null default now(),
    constraint messages_pkey primary key (facility_id, id),
    constraint messages_conversation_id_key unique (facility_id, conversation_id, id),
    constraint messages_conversation_fkey foreign key (facility_id, conversation_id)
        references conversations (facility_id, id),
    constraint messages_sender_fkey foreign key (facility_id, sender_id) references users (facility_id, id),
    constraint messages_refers_to_fkey foreign key (facility_id, conversation_id, refers_to)
        references messages (facility_id, conversation_id, id),
    constraint messages_kind_check check (kind in ('message', 'correction', 'retraction')),
    constraint messages_body_check check (length(body) between 1 and 4000),
    constraint messages_shape_check check (case kind
        when 'message' then body is not null and refers_to is null
        when 'correction' then body is not null and refers_to is not null
        else body is null and refers_to is not null end)
);
create index messages_conversation_idx on messages (facility_id, conversation_id, created_at desc, id desc);

alter table messages enable row level security;
alter table messages force row level security;
create policy messages_facility_isolation on messages as restrictive for all
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator
    using (facility_id = (select carego.current_facility_id()));
create policy messages_super_admin_gate on messages as restrictive for all to carego_super_admin
    using ((select carego.is_super_admin()));
create policy messages_member_select on messages for select
    to carego_patient, carego_staff, carego_facility_admin
    using (conversation_id = any ((select carego.my_conversation_ids())::uuid[]));
-- Members write as themselves.
create policy messages_member_insert on messages for insert
    to carego_patient, carego_staff, carego_facility_admin
    with check (conversation_id = any ((select carego.my_conversation_ids())::uuid[])
                and sender_id = (select carego.current_user_id()));
grant select on messages to carego_patient, carego_staff, carego_facility_admin;
grant insert (id, facility_id, conversation_id, kind, body, refers_to)
    on messages to carego_patient, carego_staff, carego_facility_admin;
-- carego.check_message_reference reads the referred message as the owner.
create policy messages_owner_select on messages for select to carego_owner using (true);

-- A correction or retraction refers to the sender's own message, and not to
-- another correction or retraction.
create function carego.check_message_reference() returns trigger
    language plpgsql
    security definer
    set search_path = pg_catalog, public
    as $$
begin
    if new.refers_to is not null and not exists (
        select from messages m
         where m.facility_id = new.facility_id and m.conversation_id = new.conversation_id
           and m.id = new.refers_to and m.sender_id = new.sender_id and m.kind = 'message') then
        raise exception 'not_own_message' using errcode = 'CG404';
    end if;
    return new;
end
$$;

-- Delivery: every other member gets an event.
create function carego.message_event() returns trigger
    language plpgsql
    security definer
    set search_path = pg_catalog, public
    as $$
begin
    perform carego.emit_event(new.facility_id, 'message.created', new.id, new.conversation_id, null,
        array(select m.user_id from conversation_members m
               where m.facility_id = new.facility_id and m.conversation_id = new.conversation_id
                 and m.user_id <> new.sender_id));
    return null;
end
$$;

create trigger messages_check_reference before insert on messages
    for each row execute function carego.check_message_reference();
create trigger messages_append_only before update or delete or truncate on messages
    for each statement execute function carego.forbid_change();
create trigger messages_audit after insert on messages
    for each row execute function carego.audit_row('facility_id');
create trigger messages_event after insert on messages
    for each row execute function carego.message_event();
