//! Staff second factor (V39): the caller's own TOTP factor, reached under
//! the self-only policy; attempts through `carego.mfa_attempt`, so a code
//! is accepted once however many servers see it and failures are counted
//! (locked at 100, V47). The crypto is in
//! `auth::mfa`.

use crate::{
    db::TenantTx,
    error::{Conflict, Error, Result},
};

/// The conflicts second factors can meet.
impl Conflict {
    pub const MFA_ALREADY_ENABLED: Self =
        Self::new("mfa_already_enabled", "A second factor is already enabled; disable it first.");
    pub const MFA_NOT_PENDING: Self =
        Self::new("mfa_not_pending", "No second factor is waiting to be confirmed; start again.");
    pub const MFA_NOT_ENABLED: Self =
        Self::new("mfa_not_enabled", "No second factor is enabled for this account.");
}

/// Where the caller's second factor stands.
#[derive(Debug, Clone)]
pub struct MfaStatus {
    pub enabled: bool,
    pub session_verified: bool,
    pub required_by_facility: bool,
    pub recovery_codes_left: i32,
    pub locked: bool,
}

pub const STATUS: &str = "select enabled, session_verified, required_by_facility, recovery_codes_left, locked from carego.mfa_status()";

pub async fn status(tx: &mut TenantTx) -> Result<MfaStatus> {
    let row = tx.query_one(STATUS, &[]).await?;
    Ok(MfaStatus {
        enabled: row.try_get("enabled")?,
        session_verified: row.try_get("session_verified")?,
        required_by_facility: row.try_get("required_by_facility")?,
        recovery_codes_left: row.try_get("recovery_codes_left")?,
        locked: row.try_get("locked")?,
    })
}

// A pending factor is replaced by a new enrolment; a confirmed one is not.
pub const ENROL: &str = "insert into mfa_factors (facility_id, user_id, secret_sealed)
     values (carego.current_facility_id(), carego.current_user_id(), $1)
     on conflict (user_id) do update set secret_sealed = excluded.secret_sealed, created_at = now()
      where mfa_factors.confirmed_at is null
     returning user_id";

/// Stores a new, unconfirmed factor; 409 when one is already enabled.
pub async fn enrol(tx: &mut TenantTx, sealed: &[u8]) -> Result<()> {
    match tx.query_opt(ENROL, &[&sealed]).await? {
        Some(_) => Ok(()),
        None => Err(Error::Conflict(Conflict::MFA_ALREADY_ENABLED)),
    }
}

pub const SEALED: &str = "select secret_sealed, confirmed_at is not null as confirmed
     from mfa_factors where user_id = carego.current_user_id()";

/// The caller's sealed secret and whether it is confirmed.
pub async fn sealed(tx: &mut TenantTx) -> Result<Option<(Vec<u8>, bool)>> {
    let row = tx.query_opt(SEALED, &[]).await?;
    row.map(|r| Ok((r.try_get("secret_sealed")?, r.try_get("confirmed")?))).transpose()
}

/// What one attempt at the caller's second factor came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    Accepted,
    Rejected,
    /// 100 failures in a row: only a recovery code or an admin opens it.
    Locked,
}

pub const ATTEMPT: &str = "select carego.mfa_attempt($1, $2, $3) as outcome";

/// Records one attempt for this session: a time step the server matched
/// (confirming a pending factor when `new_recovery` is given), a recovery
/// code's hash, or neither (nothing matched: a failure that counts). The
/// caller commits whatever the outcome.
pub async fn attempt(
    tx: &mut TenantTx,
    step: Option<i64>,
    recovery: Option<&[u8]>,
    new_recovery: Option<&[Vec<u8>]>,
) -> Result<Attempt> {
    let row = tx.query_one(ATTEMPT, &[&step, &recovery, &new_recovery]).await?;
    Ok(match row.try_get::<_, &str>("outcome")? {
        "accepted" => Attempt::Accepted,
        "locked" => Attempt::Locked,
        _ => Attempt::Rejected,
    })
}

pub const UNLOCK: &str = "select carego.mfa_unlock($1) as outcome";

/// An admin lifts the lock on a user's factor (the function checks the
/// signed context: own facility, or a super admin).
pub async fn unlock(tx: &mut TenantTx, user: crate::domain::ids::UserId) -> Result<()> {
    match tx.query_one(UNLOCK, &[&user]).await?.try_get::<_, &str>("outcome")? {
        "unlocked" => Ok(()),
        "no_factor" => Err(Error::Conflict(Conflict::MFA_NOT_ENABLED)),
        _ => Err(Error::NotFound),
    }
}

pub const DISABLE: &str =
    "delete from mfa_factors where user_id = carego.current_user_id() returning user_id";

/// Removes the caller's factor (the prologue has made sure this session
/// verified it).
pub async fn disable(tx: &mut TenantTx) -> Result<()> {
    match tx.query_opt(DISABLE, &[]).await? {
        Some(_) => Ok(()),
        None => Err(Error::Conflict(Conflict::MFA_NOT_ENABLED)),
    }
}

pub const SET_POLICY: &str = "update facilities set require_mfa = $2 where id = $1 returning require_mfa";

/// Whether the facility requires a second factor of its admins and staff.
pub async fn set_policy(
    tx: &mut TenantTx,
    facility: crate::domain::ids::FacilityId,
    required: bool,
) -> Result<bool> {
    Ok(tx.query_one(SET_POLICY, &[&facility, &required]).await?.try_get("require_mfa")?)
}
