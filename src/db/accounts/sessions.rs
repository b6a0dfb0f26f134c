//! Sessions' SQL: the platform-level login and refresh functions (run as
//! `carego_public` through [`Db::begin_public`](super::Db::begin_public)), and
//! the caller's own sessions under RLS.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use crate::db::TenantTx;
use crate::{
    domain::ids::{FacilityId, SessionId, UserId},
    error::{Conflict, Error, Result},
    identity::Role,
};

/// The conflicts sessions can meet.
impl Conflict {
    pub const REFRESH_TOKEN_SUPERSEDED: Self = Self::new(
        "refresh_token_superseded",
        "This refresh token was just rotated by a concurrent request; use the newer tokens.",
    );
}

/// What a login needs before the database compares the password: the
/// account and its hash's parameters and salt (never the hash, V46).
pub struct LoginCandidate {
    pub user_id: UserId,
    pub password_params: Option<String>,
}

pub const LOGIN_CANDIDATE: &str = "select user_id, password_params from carego.auth_login_candidate($1, $2)";

pub async fn login_candidate(
    tx: &mut TenantTx,
    email: Option<&str>,
    phone: Option<&str>,
) -> Result<Option<LoginCandidate>> {
    let Some(row) = tx.query_opt(LOGIN_CANDIDATE, &[&email, &phone]).await? else {
        return Ok(None);
    };
    Ok(Some(LoginCandidate {
        user_id: row.try_get("user_id")?,
        password_params: row.try_get("password_params")?,
    }))
}

/// What presenting a password hash to open a session came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Opening {
    Opened {
        session: SessionId,
        role: Role,
        facility: Option<FacilityId>,
    },
    /// No such account, no password, or a wrong one: one answer.
    Invalid,
    Pending,
    Suspended,
    Terminated,
    FacilitySuspended,
}

pub const OPEN_SESSION: &str = "select outcome, session_id, role, facility_id
     from carego.auth_open_session($1, $2, $3, make_interval(secs => $4), $5, $6)";

/// Opens a session with its first refresh token if `password_hash` is the
/// account's (compared in the database) and the account and its facility
/// are active.
pub async fn open(
    tx: &mut TenantTx,
    user: UserId,
    password_hash: &str,
    refresh_hash: &[u8],
    ttl: Duration,
    user_agent: Option<&str>,
    ip: Option<&str>,
) -> Result<Opening> {
    let secs = ttl.as_secs() as f64;
    let row =
        tx.query_one(OPEN_SESSION, &[&user, &password_hash, &refresh_hash, &secs, &user_agent, &ip]).await?;
    Ok(match row.try_get::<_, &str>("outcome")? {
        "opened" => Opening::Opened {
            session: row.try_get("session_id")?,
            role: row.try_get("role")?,
            facility: row.try_get("facility_id")?,
        },
        "pending" => Opening::Pending,
        "suspended" => Opening::Suspended,
        "terminated" => Opening::Terminated,
        "facility_suspended" => Opening::FacilitySuspended,
        _ => Opening::Invalid,
    })
}

pub const REGISTER_PATIENT: &str = "select outcome, user_id, facility_id
     from carego.auth_register_patient($1, $2, $3, $4)";

/// Consumes a registration key and creates the patient's account. `None`:
/// the key is unknown, expired, revoked or used (deliberately one answer).
pub async fn register_patient(
    tx: &mut TenantTx,
    key_hash: &[u8],
    password_hash: &str,
    email: Option<&str>,
    phone: Option<&str>,
) -> Result<Option<(UserId, FacilityId)>> {
    let row = tx.query_one(REGISTER_PATIENT, &[&key_hash, &password_hash, &email, &phone]).await?;
    if row.try_get::<_, &str>("outcome")? != "registered" {
        return Ok(None);
    }
    Ok(Some((row.try_get("user_id")?, row.try_get("facility_id")?)))
}

/// The result of presenting a refresh token.
#[derive(Debug, PartialEq, Eq)]
pub enum Rotation {
    Rotated {
        session: SessionId,
        user: UserId,
        role: Role,
        facility: Option<FacilityId>,
    },
    /// Used moments ago by a concurrent refresh that won; the session stays.
    Superseded,
    /// Used long ago: stolen or replayed. The session is now revoked.
    Reused,
    Invalid,
    Inactive,
    FacilitySuspended,
}

pub const ROTATE: &str = "select outcome, session_id, user_id, role, facility_id
     from carego.auth_rotate_refresh($1, $2, make_interval(secs => $3))";

/// Rotates a refresh token. The caller must commit whatever the outcome, so a
/// reuse revocation sticks.
pub async fn rotate(
    tx: &mut TenantTx,
    old_hash: &[u8],
    new_hash: &[u8],
    grace: Duration,
) -> Result<Rotation> {
    let row = tx.query_one(ROTATE, &[&old_hash, &new_hash, &grace.as_secs_f64()]).await?;
    let outcome: &str = row.try_get("outcome")?;
    Ok(match outcome {
        "rotated" => Rotation::Rotated {
            session: row.try_get("session_id")?,
            user: row.try_get("user_id")?,
            role: row.try_get("role")?,
            facility: row.try_get("facility_id")?,
        },
        "superseded" => Rotation::Superseded,
        "reused" => Rotation::Reused,
        "inactive" => Rotation::Inactive,
        "facility_suspended" => Rotation::FacilitySuspended,
        _ => Rotation::Invalid,
    })
}

/// One of the caller's sessions.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: SessionId,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    pub current: bool,
}

impl TryFrom<&Row> for Session {
    type Error = Error;

    fn try_from(row: &Row) -> Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            created_at: row.try_get("created_at")?,
            expires_at: row.try_get("expires_at")?,
            revoked_at: row.try_get("revoked_at")?,
            user_agent: row.try_get("user_agent")?,
            ip: row.try_get("ip")?,
            current: row.try_get("current")?,
        })
    }
}

pub const LIST_MINE: &str = "select id, created_at, expires_at, revoked_at, user_agent, ip,
            id = carego.current_session_id() as current
     from sessions
     where user_id = carego.current_user_id() and revoked_at is null and expires_at > now()
     order by created_at desc
     limit 100";

/// The caller's active sessions, newest first.
pub async fn list_mine(tx: &mut TenantTx) -> Result<Vec<Session>> {
    tx.query(LIST_MINE, &[]).await?.iter().map(Session::try_from).collect()
}

/// Which of the caller's sessions to end.
pub enum Revoke {
    Current,
    One(SessionId),
    All,
    AllButCurrent,
}

pub const REVOKE: &str = "update sessions set revoked_at = now(), revoked_reason = $2
     where user_id = carego.current_user_id() and revoked_at is null
       and case $1
             when 'current' then id = carego.current_session_id()
             when 'others' then id <> carego.current_session_id()
             when 'one' then id = $3
             else true
           end";

/// Revokes sessions of the caller; returns how many.
pub async fn revoke(tx: &mut TenantTx, which: Revoke, reason: &str) -> Result<u64> {
    let (mode, id) = match which {
        Revoke::Current => ("current", None),
        Revoke::One(id) => ("one", Some(id)),
        Revoke::All => ("all", None),
        Revoke::AllButCurrent => ("others", None),
    };
    Ok(tx.execute(REVOKE, &[&mode, &reason, &id]).await?)
}
