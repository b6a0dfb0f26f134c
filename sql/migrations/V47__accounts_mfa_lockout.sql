-- Second-factor brute force is capped (issue 20, item 9; NIST SP 800-63B
-- §5.2.2): after 100 consecutive failed attempts the factor is locked. A
-- locked factor accepts no code from the app; a recovery code still works
-- (and unlocks it), and so does an admin's unlock. The per-account window
-- throttle in the server stays in front of it.

alter table mfa_factors
    add column failed_attempts integer not null default 0,
    add column locked_at timestamptz,
    add constraint mfa_factors_failed_attempts_check check (failed_attempts >= 0);

-- One attempt at the caller's factor, recorded whatever it comes to: a time
-- step the server matched (confirming a pending factor with its recovery
-- codes), a recovery code's hash, or neither (the server matched nothing).
-- Outcomes: accepted | rejected | locked. The caller commits in every case,
-- so failures count.
drop function carego.mfa_accept(bigint, bytea, bytea[]);

create function carego.mfa_attempt(p_step bigint, p_recovery_hash bytea, p_new_recovery_hashes bytea[])
    returns text
    language plpgsql
    security definer
    set search_path = pg_catalog, public
    as $$
declare
    v_user uuid := carego.current_user_id();
    v_session uuid := carego.current_session_id();
    v record;
    v_locked timestamptz;
begin
    if v_user is null or v_session is null then
        return 'rejected';
    end if;
    select m.confirmed_at, m.last_step, m.locked_at, m.recovery_hashes into v
      from mfa_factors m where m.user_id = v_user for update;
    if not found then
        return 'rejected';
    end if;
    if v.locked_at is not null and p_recovery_hash is null then
        return 'locked';
    end if;
    if p_step is not null and (v.last_step is null or v.last_step < p_step)
       -- Verifying takes a confirmed factor; confirming, a pending one.
       and (v.confirmed_at is not null) = (p_new_recovery_hashes is null) then
        update mfa_factors
           set last_step = p_step,
               confirmed_at = coalesce(confirmed_at, now()),
               recovery_hashes = case when confirmed_at is null then coalesce(p_new_recovery_hashes, '{}')
                                      else recovery_hashes end,
               failed_attempts = 0
         where user_id = v_user;
    elsif p_recovery_hash is not null and v.confirmed_at is not null
          and p_recovery_hash = any (v.recovery_hashes) then
        update mfa_factors
           set recovery_hashes = array_remove(recovery_hashes, p_recovery_hash),
               failed_attempts = 0,
               locked_at = null
         where user_id = v_user;
    else
        update mfa_factors
           set failed_attempts = failed_attempts + 1,
               locked_at = case when failed_attempts + 1 >= 100 then coalesce(locked_at, now()) end
         where user_id = v_user
        returning locked_at into v_locked;
        return case when v_locked is not null then 'locked' else 'rejected' end;
    end if;
    update sessions set mfa_verified_at = now() where id = v_session and user_id = v_user;
    return 'accepted';
end
$$;
revoke execute on function carego.mfa_attempt(bigint, bytea, bytea[]) from public;
grant execute on function carego.mfa_attempt(bigint, bytea, bytea[])
    to carego_staff, carego_facility_admin, carego_super_admin;

-- Where the caller's second factor stands, now with whether it is locked.
drop function carego.mfa_status();
create function carego.mfa_status()
    returns table (enabled boolean, session_verified boolean, required_by_facility boolean,
                   recovery_codes_left integer, locked boolean)
    language sql
    stable
    security definer
    set search_path = pg_catalog, public
    as $$
    select coalesce(m.confirmed_at is not null, false),
           s.mfa_verified_at is not null,
           coalesce(f.require_mfa and u.role in ('staff', 'facility_admin'), false),
           coalesce(case when m.confirmed_at is not null then cardinality(m.recovery_hashes) end, 0),
           m.locked_at is not null
      from sessions s
      join users u on u.id = s.user_id
      left join facilities f on f.id = u.facility_id
      left join mfa_factors m on m.user_id = u.id
     where s.id = carego.current_session_id() and s.user_id = carego.current_user_id()
$$;
revoke execute on function carego.mfa_status() from public;
grant execute on function carego.mfa_status() to carego_staff, carego_facility_admin, carego_super_admin;

-- An admin lifts a lock: facility admins for the users of their own
-- facility, super admins for anyone (by the signed context, not the grant
-- alone). Outcomes: unlocked | no_factor | not_found (no such user in reach).
create function carego.mfa_unlock(p_user uuid) returns text
    language plpgsql
    security definer
    set search_path = pg_catalog, public
    as $$
declare
    v_facility uuid;
begin
    select u.facility_id into v_facility from users u
     where u.id = p_user
       and (carego.is_super_admin()
            or (carego.current_app_role() = 'facility_admin' and u.facility_id = carego.current_facility_id()));
    if not found then
        return 'not_found';
    end if;
    perform set_config('carego.change_reason', 'second factor unlocked by an admin', true);
    update mfa_factors set locked_at = null, failed_attempts = 0 where user_id = p_user;
    return case when found then 'unlocked' else 'no_factor' end;
end
$$;
revoke execute on function carego.mfa_unlock(uuid) from public;
grant execute on function carego.mfa_unlock(uuid) to carego_facility_admin, carego_super_admin;
