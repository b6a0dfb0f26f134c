-- One-time registration keys that let a patient create their account.
--
-- A key is shown once, to the staff member who created or regenerated it, and
-- stored only as an HMAC-SHA256 under a server secret (CAREGO_KEY_SECRET): a
-- database dump does not reveal working keys, and without the secret no one
-- can test guesses offline. At most one key per patient is live (neither
-- used nor revoked); it expires after 48 hours.

create table registration_keys (
    facility_id uuid        not null,
    id          uuid        not null default gen_random_uuid(),
    patient_id  uuid        not null,
    key_hash    bytea       not null,
    expires_at  timestamptz not null,
    created_by  uuid,
    created_at  timestamptz not null default now(),
    used_at     timestamptz,
    revoked_at  timestamptz,
    constraint registration_keys_pkey primary key (facility_id, id),
    -- Registration looks a key up by its hash alone (the patient names no facility).
    constraint registration_keys_key_hash_key unique (key_hash),
    constraint registration_keys_patient_fkey foreign key (facility_id, patient_id)
        references patients (facility_id, id),
    constraint registration_keys_expires_at_check check (expires_at > created_at)
);

create unique index registration_keys_live_key on registration_keys (facility_id, patient_id)
    where used_at is null and revoked_at is null;

alter table registration_keys enable row level security;
alter table registration_keys force row level security;

create policy registration_keys_facility_isolation on registration_keys as restrictive for all
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator
    using (facility_id = (select carego.current_facility_id()));
create policy registration_keys_super_admin_gate on registration_keys as restrictive for all to carego_super_admin
    using ((select carego.is_super_admin()));

-- Whoever may see the patient may issue, regenerate and revoke their key.
create policy registration_keys_admin_all on registration_keys for all
    to carego_facility_admin, carego_super_admin using (true) with check (true);
create policy registration_keys_caseload_all on registration_keys for all
    to carego_staff
    using (patient_id = any ((select carego.visible_patient_ids())::uuid[]))
    with check (patient_id = any ((select carego.visible_patient_ids())::uuid[]));
create policy registration_keys_owner_all on registration_keys for all
    to carego_owner using (true) with check (true);

grant select (facility_id, id, patient_id, expires_at, created_by, created_at, used_at, revoked_at)
    on registration_keys to carego_staff, carego_facility_admin, carego_super_admin;
grant insert (facility_id, patient_id, key_hash, expires_at, created_by)
    on registration_keys to carego_staff, carego_facility_admin, carego_super_admin;
grant update (revoked_at) on registration_keys to carego_staff, carego_facility_admin, carego_super_admin;

create trigger registration_keys_audit after insert or update or delete on registration_keys
    for each row execute function carego.audit_row('facility_id');

-- Consumes a key and creates the patient's account, atomically. The key row
-- is locked, so of two concurrent registrations with one key exactly one
-- succeeds. Unknown, expired, revoked and used keys are all just 'invalid'.
create function carego.auth_register_patient(
    p_key_hash bytea, p_password_hash text, p_email text, p_phone text
) returns table (outcome text, user_id uuid, facility_id uuid)
    language plpgsql
    security definer
    set search_path = pg_catalog, public
    as $$
#variable_conflict use_column
declare
    v record;
    v_user uuid;
begin
    select k.facility_id, k.id, k.patient_id, p.first_name, p.last_name, p.user_id as existing
      into v
      from public.registration_keys k
      join public.patients p on p.facility_id = k.facility_id and p.id = k.patient_id
     where k.key_hash = p_key_hash
       and k.used_at is null and k.revoked_at is null and k.expires_at > now()
       and p.deleted_at is null
       for update of k, p;
    if not found or v.existing is not null then
        return query select 'invalid'::text, null::uuid, null::uuid;
        return;
    end if;

    perform set_config('carego.facility_id', v.facility_id::text, true);
    perform set_config('carego.role', 'patient', true);
    insert into public.users (facility_id, email, phone, password_hash, password_changed_at,
                              role, status, first_name, last_name)
    values (v.facility_id, p_email, p_phone, p_password_hash, now(), 'patient', 'active',
            v.first_name, v.last_name)
    returning id into v_user;
    perform set_config('carego.user_id', v_user::text, true);
    update public.patients set user_id = v_user where facility_id = v.facility_id and id = v.patient_id;
    update public.registration_keys set used_at = now() where facility_id = v.facility_id and id = v.id;
    return query select 'registered'::text, v_user, v.facility_id;
end
$$;

grant execute on function carego.auth_register_patient(bytea, text, text, text) to carego_public;

-- The definer above writes users and keys as the owner.
create policy users_owner_insert on users for insert to carego_owner with check (role = 'patient');
