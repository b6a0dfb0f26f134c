//! Partner integrators' API keys (V36): made, listed, rotated and revoked by
//! facility admins (their facility's) and super admins (any facility's).
//! The key itself is never stored; see `auth::api_keys`.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use crate::{
    db::{
        OnConstraint, TenantTx,
        filters::{Bound, Variants},
    },
    domain::{
        ids::{ApiKeyId, FacilityId, UserId},
        page::{Keyed, PageRequest},
        text_enum,
    },
    error::{Conflict, Error, Result},
    identity::{KeyIdentity, Scope},
};

/// The conflicts API keys can meet.
impl Conflict {
    pub const API_KEY_CLOSED: Self =
        Self::new("api_key_closed", "This API key is revoked or expired; make a new one.");
}

text_enum! {
    /// Where a key stands.
    pub enum ApiKeyStatus {
        /// Accepted.
        Active = "active",
        /// Past `expiresAt` (a rotated key, once its overlap has passed).
        Expired = "expired",
        /// Revoked: refused from the next request on.
        Revoked = "revoked",
    }
}

/// An API key, without its secret.
#[derive(Debug, Clone)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub facility_id: FacilityId,
    pub integration_id: UserId,
    pub name: String,
    pub prefix: String,
    pub scopes: Vec<Scope>,
    pub rate_limit_per_minute: i32,
    pub daily_quota: i32,
    pub expires_at: DateTime<Utc>,
    pub rotated_from: Option<ApiKeyId>,
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_by: Option<UserId>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub status: ApiKeyStatus,
}

macro_rules! columns {
    () => {
        "facility_id, id, integration_id, name, prefix, scopes, rate_limit_per_minute, daily_quota, \
         expires_at, rotated_from, created_by, created_at, revoked_at, revoked_by, last_used_at, \
         now() as now"
    };
}

fn scopes(row: &Row) -> Result<Vec<Scope>> {
    let stored: Vec<String> = row.try_get("scopes")?;
    stored
        .iter()
        .map(|s| Scope::parse(s).ok_or_else(|| Error::internal(anyhow::anyhow!("unknown scope {s}"))))
        .collect()
}

impl TryFrom<&Row> for ApiKey {
    type Error = Error;

    fn try_from(row: &Row) -> Result<Self> {
        let expires_at: DateTime<Utc> = row.try_get("expires_at")?;
        let revoked_at: Option<DateTime<Utc>> = row.try_get("revoked_at")?;
        let now: DateTime<Utc> = row.try_get("now")?;
        let status = match revoked_at {
            Some(_) => ApiKeyStatus::Revoked,
            None if expires_at <= now => ApiKeyStatus::Expired,
            None => ApiKeyStatus::Active,
        };
        Ok(Self {
            id: row.try_get("id")?,
            facility_id: row.try_get("facility_id")?,
            integration_id: row.try_get("integration_id")?,
            name: row.try_get("name")?,
            prefix: row.try_get("prefix")?,
            scopes: scopes(row)?,
            rate_limit_per_minute: row.try_get("rate_limit_per_minute")?,
            daily_quota: row.try_get("daily_quota")?,
            expires_at,
            rotated_from: row.try_get("rotated_from")?,
            created_by: row.try_get("created_by")?,
            created_at: row.try_get("created_at")?,
            revoked_at,
            revoked_by: row.try_get("revoked_by")?,
            last_used_at: row.try_get("last_used_at")?,
            status,
        })
    }
}

impl Keyed for ApiKey {
    fn key(&self) -> (DateTime<Utc>, uuid::Uuid) {
        (self.created_at, self.id.0)
    }
}

/// A new key's fields, validated; `secret_hmac` is the stored form of the
/// key shown once.
pub struct NewApiKey<'a> {
    pub facility_id: FacilityId,
    pub name: &'a str,
    pub prefix: &'a str,
    pub secret_hmac: &'a [u8],
    pub scopes: Vec<&'static str>,
    pub rate_limit_per_minute: i32,
    pub daily_quota: i32,
    pub expires_at: DateTime<Utc>,
}

// The integration (a user who can never log in) and its first key, together.
pub const INSERT: &str = concat!(
    "with integration as (
         insert into users (facility_id, role, first_name, last_name)
         values ($1, 'integrator', 'API key', $2)
         returning facility_id, id)
     insert into api_keys (facility_id, integration_id, name, prefix, secret_hmac, scopes,
                           rate_limit_per_minute, daily_quota, expires_at, created_by)
     select i.facility_id, i.id, $2, $3, $4, $5, $6, $7, $8, carego.current_user_id()
       from integration i
     returning ",
    columns!()
);

pub async fn insert(tx: &mut TenantTx, k: &NewApiKey<'_>) -> Result<ApiKey> {
    let row = tx
        .query_one(
            INSERT,
            &[
                &k.facility_id,
                &k.name,
                &k.prefix,
                &k.secret_hmac,
                &k.scopes,
                &k.rate_limit_per_minute,
                &k.daily_quota,
                &k.expires_at,
            ],
        )
        .await
        .on_constraint("users_facility_fkey", Error::NotFound)?;
    ApiKey::try_from(&row)
}

/// Newest first. `$1` the fetch limit; then the cursor, when given (see
/// [`filters`](crate::db::filters)).
pub static LIST: Variants = Variants::new(
    concat!(
        "select ",
        columns!(),
        " from api_keys
         where true {where}
         order by created_at desc, id desc limit $1"
    ),
    &["(created_at, id) < ($::timestamptz, $::uuid)"],
);

/// The facility's keys (a super admin's: every facility's), newest first.
pub async fn list(tx: &mut TenantTx, page: &PageRequest) -> Result<Vec<ApiKey>> {
    let limit = page.fetch_limit();
    let bound = Bound::new(vec![&limit]).after(page);
    let rows = tx.query(LIST.get(bound.present), &bound.params).await?;
    rows.iter().map(ApiKey::try_from).collect()
}

pub const GET: &str = concat!("select ", columns!(), " from api_keys where id = $1");

pub async fn get(tx: &mut TenantTx, id: ApiKeyId) -> Result<ApiKey> {
    ApiKey::try_from(&tx.query_one(GET, &[&id]).await?)
}

// The old key keeps working for the overlap (never longer than it had);
// the new one takes over its integration, scopes and limits.
pub const ROTATE: &str = concat!(
    "with old as (
         update api_keys set expires_at = least(expires_at, now() + make_interval(hours => $2))
          where id = $1 and revoked_at is null and expires_at > now()
         returning facility_id, id, integration_id, name, scopes, rate_limit_per_minute, daily_quota)
     insert into api_keys (facility_id, integration_id, name, prefix, secret_hmac, scopes,
                           rate_limit_per_minute, daily_quota, expires_at, rotated_from, created_by)
     select o.facility_id, o.integration_id, o.name, $3, $4, o.scopes, o.rate_limit_per_minute,
            o.daily_quota, $5, o.id, carego.current_user_id()
       from old o
     returning ",
    columns!()
);

/// Replaces a key with a new one; the old stays valid for `overlap_hours`.
/// 404 for a key the caller cannot see, 409 `api_key_closed` for one that is
/// revoked or expired.
pub async fn rotate(
    tx: &mut TenantTx,
    id: ApiKeyId,
    overlap_hours: i32,
    prefix: &str,
    secret_hmac: &[u8],
    expires_at: DateTime<Utc>,
) -> Result<ApiKey> {
    match tx.query_opt(ROTATE, &[&id, &overlap_hours, &prefix, &secret_hmac, &expires_at]).await? {
        Some(row) => ApiKey::try_from(&row),
        None => {
            get(tx, id).await?; // 404 when hidden
            Err(Error::Conflict(Conflict::API_KEY_CLOSED))
        }
    }
}

pub const REVOKE: &str = concat!(
    "update api_keys set revoked_at = coalesce(revoked_at, now()),
                         revoked_by = case when revoked_at is null then carego.current_user_id()
                                           else revoked_by end
      where id = $1
     returning ",
    columns!()
);

/// Revokes a key: refused from the next request on, by every server.
/// Revoking again changes nothing.
pub async fn revoke(tx: &mut TenantTx, id: ApiKeyId) -> Result<ApiKey> {
    ApiKey::try_from(&tx.query_one(REVOKE, &[&id]).await?)
}

pub const LOOKUP: &str = "select id, facility_id, integration_id, scopes from carego.api_key_lookup($1)";

/// A live key's identity by its stored form (as `carego_public`).
pub async fn lookup(tx: &mut TenantTx, secret_hmac: &[u8]) -> Result<Option<KeyIdentity>> {
    let Some(row) = tx.query_opt(LOOKUP, &[&secret_hmac]).await? else { return Ok(None) };
    Ok(Some(KeyIdentity {
        id: row.try_get("id")?,
        facility_id: row.try_get("facility_id")?,
        integration_id: row.try_get("integration_id")?,
        scopes: scopes(&row)?,
    }))
}
