//! API keys for partner integrators: made, listed, rotated and revoked by
//! facility admins (for their facility) and super admins (for any).

use chrono::{DateTime, Duration, Utc};
use poem_openapi::{
    Object, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
};
use serde_json::{Value, json};
use std::sync::Arc;

use crate::api::contract::{Contract, Contracts};
use crate::api::examples::{API_KEY, AT, Example, FACILITY, INTEGRATION, LATER, NURSE, page};
use crate::db::accounts::api_keys::ApiKeyStatus;
use crate::domain::ids::UserId;
use crate::error::Conflict;
use crate::{
    api::wire,
    api::{
        ApiTags, Created,
        body::JsonBody,
        idempotency::{self, Creates, IdempotencyKey},
        page::Page,
    },
    auth::{
        BearerAuth,
        api_keys::{self as keys, ApiKeys},
    },
    db::{
        Db,
        accounts::api_keys::{self, NewApiKey},
    },
    domain::{
        ids::{ApiKeyId, FacilityId},
        page::{Cursor, Limit, PageRequest},
        text::{Opt, Text},
    },
    error::{Error, Result, Validator},
    identity::Scope,
};

const DEFAULT_RATE_LIMIT_PER_MINUTE: i32 = 120;
const DEFAULT_DAILY_QUOTA: i32 = 10_000;
const DEFAULT_LIFETIME_DAYS: i64 = 365;
const MAX_LIFETIME_DAYS: i64 = 2 * 365;
const DEFAULT_OVERLAP_HOURS: i32 = 24;

/// A new API key.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct NewApiKeyRequest {
    /// What it is for (1–100 characters), e.g. `Acme EHR sync`.
    #[oai(validator(min_length = 1, max_length = 100))]
    pub name: Text,
    /// What it may do; `patients:read` is always among them (every other
    /// operation finds its patient first).
    #[oai(validator(min_items = 1, max_items = 4, unique_items = true))]
    pub scopes: Vec<Scope>,
    /// When it stops being accepted: in the future, at most two years away
    /// (default one year).
    pub expires_at: Opt<DateTime<Utc>>,
    /// Requests allowed per minute (1–10000, default 120).
    #[oai(validator(minimum(value = "1"), maximum(value = "10000")))]
    pub rate_limit_per_minute: Opt<i32>,
    /// Requests allowed per UTC day (1–10000000, default 10000).
    #[oai(validator(minimum(value = "1"), maximum(value = "10000000")))]
    pub daily_quota: Opt<i32>,
    /// Super admins: the facility it reaches (404 if there is none). Facility admins' keys reach
    /// their own.
    pub facility_id: Opt<FacilityId>,
}

/// Rotating a key.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct RotateApiKeyRequest {
    /// How long the old key keeps working, in hours (0–168, default 24), so
    /// the integrator can deploy the new one; never longer than it had left.
    #[oai(validator(minimum(value = "0"), maximum(value = "168")))]
    pub overlap_hours: Opt<i32>,
    /// The new key's expiry (default one year; at most two years away).
    pub expires_at: Opt<DateTime<Utc>>,
}

/// A key just made, with the key itself.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct ApiKeyCreated {
    /// The key's record.
    pub api_key: ApiKey,
    /// The key (`cgk_…`), sent as `X-API-Key`. Shown only in this answer: only
    /// its HMAC is kept. Omitted when an `Idempotency-Key` replays the answer.
    pub secret: Option<String>,
}

fn expiry(requested: Option<DateTime<Utc>>, v: &mut Validator) -> DateTime<Utc> {
    let now = Utc::now();
    let at = requested.unwrap_or(now + Duration::days(DEFAULT_LIFETIME_DAYS));
    v.check(at > now, "expiresAt", "must be in the future");
    v.check(at <= now + Duration::days(MAX_LIFETIME_DAYS), "expiresAt", "must be at most two years away");
    at
}

/// A fresh key and its stored form.
fn new_secret(keys: &ApiKeys) -> (String, Vec<u8>) {
    let secret = keys::generate();
    let hmac = keys.secret_hmac(&secret);
    (secret, hmac)
}

pub struct ApiKeysApi {
    pub db: Db,
    pub keys: Arc<ApiKeys>,
}

/// What the spec cannot read from these operations' types, and their objects' examples: see `api::contract`.
pub(crate) const CONTRACT: Contracts = Contracts {
    file: file!(),
    operations: &[
        Contract::of("createApiKey").names_a_record_outside_its_path(),
        Contract::of("rotateApiKey").conflicts(&[Conflict::API_KEY_CLOSED]),
    ],
    examples,
};

/// This module's objects as an integrator sends and receives them: see `api::examples`.
fn examples() -> Vec<Example> {
    vec![
        Example::of::<ApiKey>(api_key_example()),
        Example::of::<Page<ApiKey>>(page(api_key_example())),
        Example::of::<ApiKeyCreated>(
            json!({"apiKey": api_key_example(), "secret": "cgk_7Hq2LmX9pR4sT6vW8yZ1aB3cD5eF7gH92kFq1Z"}),
        ),
        Example::of::<NewApiKeyRequest>(
            json!({"name": "Acme EHR sync", "scopes": ["patients:read", "care-logs:write"],
                   "expiresAt": "2027-11-20T08:30:00Z", "rateLimitPerMinute": 120, "dailyQuota": 10000,
                   "facilityId": FACILITY}),
        ),
        Example::of::<RotateApiKeyRequest>(json!({"overlapHours": 24})),
    ]
}

fn api_key_example() -> Value {
    json!({"id": API_KEY, "facilityId": FACILITY, "integrationId": INTEGRATION, "name": "Acme EHR sync",
           "prefix": "cgk_7Hq2LmX9", "scopes": ["patients:read", "care-logs:write"], "rateLimitPerMinute": 120,
           "dailyQuota": 10000, "expiresAt": "2027-11-20T08:30:00Z", "createdBy": NURSE, "createdAt": AT,
           "lastUsedAt": LATER, "status": "active"})
}

#[OpenApi(prefix_path = "/api/v1/api-keys", tag = "ApiTags::ApiKeys")]
impl ApiKeysApi {
    /// API keys.
    ///
    /// Facility admins: their facility's keys; super admins: every facility's. Newest first,
    /// never with the key itself.
    #[oai(path = "/", method = "get", operation_id = "listApiKeys")]
    async fn list(
        &self,
        auth: BearerAuth,
        limit: Query<Option<Limit>>,
        cursor: Query<Option<Cursor>>,
    ) -> Result<Json<Page<ApiKey>>> {
        let page = PageRequest::new(limit.0, cursor.0);
        let rows = self.db.run(&auth.0, async |tx| api_keys::list(tx, &page).await).await?;
        Ok(Json(Page::of(&page, rows)))
    }

    /// Make an API key.
    ///
    /// Facility admins and super admins. Makes an integration (the actor its requests are
    /// recorded as; it can never log in) and its key, shown only in this answer. Retry-safe with
    /// an `Idempotency-Key` (a replay omits the key).
    #[oai(path = "/", method = "post", operation_id = "createApiKey")]
    async fn create(
        &self,
        auth: BearerAuth,
        #[oai(name = "Idempotency-Key")] key: Header<Option<IdempotencyKey>>,
        body: JsonBody<NewApiKeyRequest>,
    ) -> Result<Created<ApiKeyCreated>> {
        let b = &body.0;
        let mut v = Validator::default();
        v.check(b.scopes.contains(&Scope::PatientsRead), "scopes", "must include patients:read");
        let expires_at = expiry(b.expires_at.0, &mut v);
        let facility_id = b.facility_id.or(auth.0.facility_id);
        v.check(facility_id.is_some(), "facilityId", "is required for super admins");
        v.finish()?;
        let (secret, secret_hmac) = new_secret(&self.keys);
        let prefix = keys::display_prefix(&secret);
        let new = NewApiKey {
            facility_id: facility_id.ok_or(Error::NotFound)?,
            name: b.name.trim(),
            prefix: &prefix,
            secret_hmac: &secret_hmac,
            scopes: b.scopes.iter().map(|s| s.as_str()).collect(),
            rate_limit_per_minute: b.rate_limit_per_minute.unwrap_or(DEFAULT_RATE_LIMIT_PER_MINUTE),
            daily_quota: b.daily_quota.unwrap_or(DEFAULT_DAILY_QUOTA),
            expires_at,
        };
        let work = async |tx: &mut _| {
            let api_key = api_keys::insert(tx, &new).await?;
            Ok(ApiKeyCreated { api_key: api_key.into(), secret: Some(secret) })
        };
        idempotency::create_redacting(&self.db, &auth.0, key.0, Creates::CreateApiKey, b, &["secret"], work)
            .await
    }

    /// Get an API key.
    ///
    /// Its scopes, limits, expiry, status and last use; never the key itself.
    #[oai(path = "/:id", method = "get", operation_id = "getApiKey")]
    async fn get(&self, auth: BearerAuth, id: Path<ApiKeyId>) -> Result<Json<ApiKey>> {
        self.db.run(&auth.0, async |tx| api_keys::get(tx, id.0).await).await.map(wire)
    }

    /// Rotate an API key.
    ///
    /// A new key for the same integration, scopes and limits, shown only in this answer; the old
    /// one keeps working for the overlap and then expires. 409 `api_key_closed` for a revoked or
    /// expired key. Not retry-safe by design: a retry makes another key (revoke the spare).
    #[oai(path = "/:id/rotate", method = "post", operation_id = "rotateApiKey")]
    async fn rotate(
        &self,
        auth: BearerAuth,
        id: Path<ApiKeyId>,
        body: JsonBody<RotateApiKeyRequest>,
    ) -> Result<Created<ApiKeyCreated>> {
        let mut v = Validator::default();
        let expires_at = expiry(body.0.expires_at.0, &mut v);
        v.finish()?;
        let overlap = body.0.overlap_hours.unwrap_or(DEFAULT_OVERLAP_HOURS);
        let (secret, secret_hmac) = new_secret(&self.keys);
        let prefix = keys::display_prefix(&secret);
        let api_key = self
            .db
            .run(&auth.0, async |tx| {
                api_keys::rotate(tx, id.0, overlap, &prefix, &secret_hmac, expires_at).await
            })
            .await?;
        Ok(Created::Created(Json(ApiKeyCreated { api_key: api_key.into(), secret: Some(secret) }), None))
    }

    /// Revoke an API key.
    ///
    /// Refused from the very next request, on every server. Revoking again changes nothing.
    #[oai(path = "/:id/revoke", method = "post", operation_id = "revokeApiKey")]
    async fn revoke(&self, auth: BearerAuth, id: Path<ApiKeyId>) -> Result<Json<ApiKey>> {
        self.db.run(&auth.0, async |tx| api_keys::revoke(tx, id.0).await).await.map(wire)
    }
}

/// An API key, without its secret.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct ApiKey {
    /// Its id.
    pub id: ApiKeyId,
    /// The facility it reaches.
    pub facility_id: FacilityId,
    /// The integration: the actor its requests are recorded as (audit log, authorship).
    pub integration_id: UserId,
    /// What it is for, e.g. `Acme EHR sync`.
    pub name: String,
    /// Its first 12 characters, to recognise it.
    pub prefix: String,
    /// What it may do.
    pub scopes: Vec<Scope>,
    /// Requests allowed per minute.
    pub rate_limit_per_minute: i32,
    /// Requests allowed per UTC day.
    pub daily_quota: i32,
    /// When it stops being accepted.
    pub expires_at: DateTime<Utc>,
    /// The key this one replaced.
    pub rotated_from: Option<ApiKeyId>,
    /// Who made it.
    pub created_by: Option<UserId>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Who revoked it.
    pub revoked_by: Option<UserId>,
    /// The last request made with it, to the minute.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Active, expired or revoked, now.
    pub status: ApiKeyStatus,
}

impl From<crate::db::accounts::api_keys::ApiKey> for ApiKey {
    fn from(row: crate::db::accounts::api_keys::ApiKey) -> Self {
        Self {
            id: row.id,
            facility_id: row.facility_id,
            integration_id: row.integration_id,
            name: row.name,
            prefix: row.prefix,
            scopes: row.scopes,
            rate_limit_per_minute: row.rate_limit_per_minute,
            daily_quota: row.daily_quota,
            expires_at: row.expires_at,
            rotated_from: row.rotated_from,
            created_by: row.created_by,
            created_at: row.created_at,
            revoked_at: row.revoked_at,
            revoked_by: row.revoked_by,
            last_used_at: row.last_used_at,
            status: row.status,
        }
    }
}
