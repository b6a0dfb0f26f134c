-- Live events: what each user's event stream (GET /api/v1/events) delivers.
--
-- One row per recipient of each occurrence (a message, an alert, an
-- announcement), written by the trigger of the table where it happened, in
-- the same transaction. Rows hold ids, never content: the stream reads the
-- events under the subscriber's own RLS (recipient = the caller) and the
-- client fetches the record itself with its own rights.
--
-- `seq` numbers a facility's occurrences under the facility's audit-chain
-- lock, which is held to commit (carego.audit_chain): numbers are gap-free
-- and in commit order, so a stream resuming after `Last-Event-ID: n` can
-- never step past an event that a slower transaction commits later. The
-- commit sends NOTIFY carego_events with `facility:seq` only.
create table events (
    facility_id     uuid        not null,
    recipient_id    uuid        not null,
    seq             bigint      not null,
    kind            text        not null,
    subject_id      uuid        not null,
    conversation_id uuid,
    patient_id      uuid,
    created_at      timestamptz not null default now(),
    constraint events_pkey primary key (facility_id, recipient_id, seq),
    constraint events_recipient_fkey foreign key (facility_id, recipient_id) references users (facility_id, id),
    constraint events_kind_check check (kind in ('message.created', 'announcement.published',
        'crisis_alert.raised', 'crisis_alert.acknowledged', 'crisis_alert.escalated', 'crisis_alert.resolved'))
);
-- The next number under the lock; and the daily cleanup's range.
create index events_seq_idx on events (facility_id, seq);
create index events_created_idx on events (created_at);

alter table events enable row level security;
alter table events force row level security;

create policy events_facility_isolation on events as restrictive for all
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator
    using (facility_id = (select carego.current_facility_id()));
create policy events_super_admin_gate on events as restrictive for all to carego_super_admin
    using ((select carego.is_super_admin()));

-- Each user reads only the events addressed to them.
create policy events_recipient_select on events for select
    to carego_patient, carego_staff, carego_facility_admin
    using (recipient_id = (select carego.current_user_id()));

grant select on events to carego_patient, carego_staff, carego_facility_admin;
-- carego.emit_event writes as the owner.
create policy events_owner_all on events for all to carego_owner using (true) with check (true);

-- Events are derived delivery records, not care records: written only by
-- carego.emit_event (as the owner), never changed, kept 30 days, and not
-- audited (the occurrence they point at is).
create trigger events_append_only before update or truncate on events
    for each statement execute function carego.forbid_change();

-- Numbers one occurrence in its facility and addresses it to p_recipients
-- (duplicates and nulls dropped; only the facility's active users). Called
-- by the communication tables' triggers.
create function carego.emit_event(p_facility uuid, p_kind text, p_subject uuid, p_conversation uuid,
                                  p_patient uuid, p_recipients uuid[])
    returns bigint
    language plpgsql
    security definer
    set search_path = pg_catalog, public
    as $$
declare
    v_seq bigint;
begin
    -- The audit chain's lock for this facility: held to commit, so numbers
    -- follow commit order (the audit trigger of the same change takes it too).
    perform pg_advisory_xact_lock(hashtextextended('carego.audit:' || p_facility::text, 0));
    select coalesce(max(e.seq), 0) + 1 into v_seq from events e where e.facility_id = p_facility;
    insert into events (facility_id, recipient_id, seq, kind, subject_id, conversation_id, patient_id)
    select p_facility, u.id, v_seq, p_kind, p_subject, p_conversation, p_patient
      from users u
     where u.facility_id = p_facility and u.status = 'active'
       and u.id = any (p_recipients);
    perform pg_notify('carego_events', p_facility::text || ':' || v_seq::text);
    return v_seq;
end
$$;

-- Ending a session wakes that facility's streams, so a logged-out or
-- suspended user's stream ends within moments rather than at its next
-- heartbeat (the stream re-checks the session whenever it reads).
create function carego.notify_session_ended() returns trigger
    language plpgsql
    security definer
    set search_path = pg_catalog, public
    as $$
begin
    if new.revoked_at is not null and old.revoked_at is null and new.facility_id is not null then
        perform pg_notify('carego_events', new.facility_id::text || ':0');
    end if;
    return null;
end
$$;
create trigger sessions_notify_ended after update of revoked_at on sessions
    for each row execute function carego.notify_session_ended();

-- Stream tickets: a browser's EventSource cannot send an Authorization
-- header, so a signed-in client trades its token for a ticket (30 seconds,
-- single use) and opens the stream with `?ticket=`. Only a SHA-256 hash is
-- stored. Reached only through the two functions below.
create table stream_tickets (
    token_hash bytea       not null,
    session_id uuid        not null,
    expires_at timestamptz not null,
    used_at    timestamptz,
    constraint stream_tickets_pkey primary key (token_hash),
    constraint stream_tickets_session_fkey foreign key (session_id) references sessions (id) on delete cascade
);
create index stream_tickets_expires_idx on stream_tickets (expires_at);

alter table stream_tickets enable row level security;
alter table stream_tickets force row level security;
create policy stream_tickets_owner_all on stream_tickets for all to carego_owner using (true) with check (true);

-- For the caller's own session (the prologue has just checked it).
create function carego.issue_stream_ticket(p_hash bytea, p_ttl interval) returns timestamptz
    language plpgsql
    security definer
    set search_path = pg_catalog, public
    as $$
declare
    v_expires timestamptz := now() + p_ttl;
begin
    if carego.current_session_id() is null then
        raise exception 'issue_stream_ticket: no session' using errcode = '42501';
    end if;
    delete from stream_tickets t where t.expires_at < now() - interval '1 hour';
    insert into stream_tickets (token_hash, session_id, expires_at)
    values (p_hash, carego.current_session_id(), v_expires);
    return v_expires;
end
$$;
grant execute on function carego.issue_stream_ticket(bytea, interval)
    to carego_patient, carego_staff, carego_facility_admin;

-- Spends a ticket: who it was issued to, once, while it is fresh. The
-- stream's own prologue then checks that session on every read.
create function carego.redeem_stream_ticket(p_hash bytea)
    returns table (session_id uuid, user_id uuid, role text, facility_id uuid)
    language sql
    security definer
    set search_path = pg_catalog, public
    as $$
    update stream_tickets t set used_at = now()
      from sessions s join users u on u.id = s.user_id
     where t.token_hash = p_hash and t.used_at is null and t.expires_at > now()
       and s.id = t.session_id
    returning s.id, u.id, u.role, u.facility_id
$$;
grant execute on function carego.redeem_stream_ticket(bytea) to carego_public;

-- The daily cleanup: sessions expired or revoked over 30 days ago (with
-- their refresh tokens), registration keys expired, used or revoked over 30
-- days ago, jobs finished over 30 days ago, live events over 30 days old and
-- stale stream tickets. Run by the `cleanup` job (V21). Returns what it
-- removed.
create function carego.cleanup_expired()
    returns table (sessions bigint, registration_keys bigint, jobs bigint, events bigint)
    language plpgsql
    security definer
    set search_path = pg_catalog, public
    as $$
declare
    v_cutoff timestamptz := now() - interval '30 days';
begin
    perform set_config('carego.role', 'system', true);
    perform set_config('carego.change_reason', 'daily cleanup', true);
    delete from public.refresh_tokens t
     using public.sessions s
     where t.session_id = s.id and (s.expires_at < v_cutoff or s.revoked_at < v_cutoff);
    delete from public.sessions s where s.expires_at < v_cutoff or s.revoked_at < v_cutoff;
    get diagnostics sessions = row_count;
    delete from public.registration_keys k
     where k.expires_at < v_cutoff or k.used_at < v_cutoff or k.revoked_at < v_cutoff;
    get diagnostics registration_keys = row_count;
    delete from public.jobs j where j.finished_at < v_cutoff;
    get diagnostics jobs = row_count;
    delete from public.events e where e.created_at < v_cutoff;
    get diagnostics events = row_count;
    delete from public.stream_tickets t where t.expires_at < now() - interval '1 hour';
    return next;
end
$$;
do $$
begin
    if exists (select from pg_roles where rolname = 'carego_app') then
        grant execute on function carego.cleanup_expired() to carego_app;
    end if;
end
$$;
