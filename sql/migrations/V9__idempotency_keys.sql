-- Idempotency keys: a POST that creates something may carry an
-- `Idempotency-Key`. The key is claimed in the same transaction as the
-- creation and the response is stored with it, so a retry (same caller, same
-- key, same body, within 24 h) gets the first response, never a second row.
-- A concurrent duplicate waits on the claim's unique key until the first
-- commits, then replays. Keys are scoped to the caller.

create table idempotency_keys (
    user_id      uuid        not null,
    key          text        not null,
    facility_id  uuid,
    request_hash bytea       not null,
    status       smallint,
    response     jsonb,
    created_at   timestamptz not null default now(),
    constraint idempotency_keys_pkey primary key (user_id, key),
    constraint idempotency_keys_user_fkey foreign key (user_id) references users (id),
    -- Composite too: a key can never name a user of another facility. (The
    -- single-column key above also covers super admins, who have none.)
    constraint idempotency_keys_facility_user_fkey foreign key (facility_id, user_id)
        references users (facility_id, id),
    constraint idempotency_keys_key_check check (length(key) between 1 and 200)
);

create index idempotency_keys_created_idx on idempotency_keys (created_at);

alter table idempotency_keys enable row level security;
alter table idempotency_keys force row level security;

create policy idempotency_keys_facility_isolation on idempotency_keys as restrictive for all
    to carego_public, carego_patient, carego_staff, carego_facility_admin,
       carego_super_admin, carego_integrator
    using (facility_id is not distinct from (select carego.current_facility_id()));
create policy idempotency_keys_self_all on idempotency_keys for all
    to carego_patient, carego_staff, carego_facility_admin, carego_super_admin
    using (user_id = (select carego.current_user_id()))
    with check (user_id = (select carego.current_user_id()));

grant select, insert, update (request_hash, status, response, created_at)
    on idempotency_keys to carego_patient, carego_staff, carego_facility_admin, carego_super_admin;
