//! Webhook subscriptions and their delivery log (V40). Facility admins (and
//! super admins, naming the facility) manage subscriptions; deliveries are
//! filed by triggers and sent by the job worker (`jobs`, `webhooks`).

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio_postgres::Row;

use crate::{
    db::{
        OnConstraint, TenantTx,
        filters::{Bound, Variants},
    },
    domain::{
        ids::{FacilityId, UserId, WebhookDeliveryId, WebhookId},
        page::{Keyed, PageRequest},
        text_enum,
    },
    error::{Error, Result},
};

text_enum! {
    /// What a subscription can be told about.
    pub enum WebhookEvent {
        /// A patient became active (admitted, or readmitted).
        PatientAdmitted = "patient.admitted",
        /// A crisis alert was raised.
        CrisisAlertRaised = "crisis_alert.raised",
        /// A care log was written (not an amendment).
        CareLogWritten = "care_log.written",
    }
}

/// A subscription, without its signing secret.
#[derive(Debug, Clone)]
pub struct Webhook {
    pub id: WebhookId,
    pub facility_id: FacilityId,
    pub url: String,
    pub events: Vec<WebhookEvent>,
    pub description: Option<String>,
    pub active: bool,
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub disabled_at: Option<DateTime<Utc>>,
}

macro_rules! columns {
    () => {
        "id, facility_id, url, events, description, active, created_by, created_at, disabled_at"
    };
}

impl TryFrom<&Row> for Webhook {
    type Error = Error;

    fn try_from(row: &Row) -> Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            facility_id: row.try_get("facility_id")?,
            url: row.try_get("url")?,
            events: row.try_get("events")?,
            description: row.try_get("description")?,
            active: row.try_get("active")?,
            created_by: row.try_get("created_by")?,
            created_at: row.try_get("created_at")?,
            disabled_at: row.try_get("disabled_at")?,
        })
    }
}

impl Keyed for Webhook {
    fn key(&self) -> (DateTime<Utc>, uuid::Uuid) {
        (self.created_at, self.id.0)
    }
}

text_enum! {
    /// Where a delivery stands.
    pub enum DeliveryStatus {
        /// Not yet answered with a 2xx; retried with backoff.
        Pending = "pending",
        /// Answered with a 2xx.
        Delivered = "delivered",
        /// Out of attempts, or its subscription was turned off.
        Failed = "failed",
    }
}

/// One delivery and its attempts.
#[derive(Debug, Clone)]
pub struct WebhookDelivery {
    pub id: WebhookDeliveryId,
    pub webhook_id: WebhookId,
    pub event: WebhookEvent,
    pub payload: Value,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
}

impl TryFrom<&Row> for WebhookDelivery {
    type Error = Error;

    fn try_from(row: &Row) -> Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            webhook_id: row.try_get("subscription_id")?,
            event: row.try_get("event")?,
            payload: row.try_get("payload")?,
            status: row.try_get("status")?,
            attempts: row.try_get("attempts")?,
            last_status_code: row.try_get("last_status_code")?,
            last_error: row.try_get("last_error")?,
            created_at: row.try_get("created_at")?,
            last_attempt_at: row.try_get("last_attempt_at")?,
            delivered_at: row.try_get("delivered_at")?,
        })
    }
}

impl Keyed for WebhookDelivery {
    fn key(&self) -> (DateTime<Utc>, uuid::Uuid) {
        (self.created_at, self.id.0)
    }
}

/// Whether the caller may subscribe `facility_id` to events, asked of the
/// request's role and RLS before anything else is done with the request:
/// its role must be allowed to insert subscriptions, and the facility must
/// be one it sees. The URL is resolved only after this (a caller who may
/// not subscribe must not learn which host names resolve).
pub const MAY_SUBSCRIBE: &str = "select has_any_column_privilege('webhook_subscriptions', 'insert') as may,
            exists (select from facilities where id = $1) as visible";

pub async fn may_subscribe(tx: &mut TenantTx, facility_id: FacilityId) -> Result<()> {
    let row = tx.query_one(MAY_SUBSCRIBE, &[&facility_id]).await?;
    if !row.try_get::<_, bool>("may")? {
        return Err(Error::Forbidden(crate::error::Forbidden::Role));
    }
    if !row.try_get::<_, bool>("visible")? {
        return Err(Error::NotFound);
    }
    Ok(())
}

/// A new subscription, checked.
pub struct NewWebhook<'a> {
    pub id: WebhookId,
    pub facility_id: FacilityId,
    pub url: &'a str,
    pub events: Vec<&'static str>,
    pub description: Option<&'a str>,
    pub secret_sealed: &'a [u8],
}

pub const INSERT: &str = concat!(
    "insert into webhook_subscriptions (facility_id, id, url, events, description, secret_sealed, created_by)
     values ($1, $2, $3, $4, $5, $6, carego.current_user_id())
     returning ",
    columns!()
);

pub async fn insert(tx: &mut TenantTx, w: &NewWebhook<'_>) -> Result<Webhook> {
    let row = tx
        .query_one(INSERT, &[&w.facility_id, &w.id, &w.url, &w.events, &w.description, &w.secret_sealed])
        .await
        .on_constraint("webhook_subscriptions_facility_fkey", Error::NotFound)?;
    Webhook::try_from(&row)
}

/// Newest first. `$1` the fetch limit; then the cursor, when given (see
/// [`filters`](crate::db::filters)).
pub static LIST: Variants = Variants::new(
    concat!(
        "select ",
        columns!(),
        " from webhook_subscriptions
         where true {where}
         order by created_at desc, id desc limit $1"
    ),
    &["(created_at, id) < ($::timestamptz, $::uuid)"],
);

pub async fn list(tx: &mut TenantTx, page: &PageRequest) -> Result<Vec<Webhook>> {
    let limit = page.fetch_limit();
    let bound = Bound::new(vec![&limit]).after(page);
    let rows = tx.query(LIST.get(bound.present), &bound.params).await?;
    rows.iter().map(Webhook::try_from).collect()
}

pub const GET: &str = concat!("select ", columns!(), " from webhook_subscriptions where id = $1");

pub async fn get(tx: &mut TenantTx, id: WebhookId) -> Result<Webhook> {
    Webhook::try_from(&tx.query_one(GET, &[&id]).await?)
}

pub const DISABLE: &str = "update webhook_subscriptions
        set active = false, disabled_at = coalesce(disabled_at, now())
      where id = $1
     returning id";

/// Turns a subscription off; its pending deliveries are not sent.
pub async fn disable(tx: &mut TenantTx, id: WebhookId) -> Result<()> {
    tx.query_one(DISABLE, &[&id]).await?;
    Ok(())
}

/// `$1` the subscription, `$2` the fetch limit; then the cursor, when given
/// (see [`filters`](crate::db::filters)).
pub static DELIVERIES: Variants = Variants::new(
    "select d.id, d.subscription_id, d.event, d.payload, d.status, d.attempts,
            d.last_status_code, d.last_error, d.created_at, d.last_attempt_at, d.delivered_at
       from webhook_deliveries d
      where d.subscription_id = $1 {where}
      order by d.created_at desc, d.id desc limit $2",
    &["(d.created_at, d.id) < ($::timestamptz, $::uuid)"],
);

/// A subscription's deliveries, newest first; 404 when it is hidden.
pub async fn deliveries(
    tx: &mut TenantTx,
    id: WebhookId,
    page: &PageRequest,
) -> Result<Vec<WebhookDelivery>> {
    let limit = page.fetch_limit();
    let bound = Bound::new(vec![&id, &limit]).after(page);
    let rows = tx.query(DELIVERIES.get(bound.present), &bound.params).await?;
    if rows.is_empty() {
        get(tx, id).await?;
    }
    rows.iter().map(WebhookDelivery::try_from).collect()
}

/// What the job worker needs to send one delivery.
pub struct Target {
    pub url: String,
    pub secret_sealed: Vec<u8>,
    pub subscription_id: uuid::Uuid,
    pub payload: Value,
    pub pending: bool,
    pub active: bool,
}

pub const TARGET: &str = "select url, secret_sealed, subscription_id, payload, status, active from carego.webhook_delivery_target($1)";

/// (The job's context only: the function refuses any other.)
pub async fn target(tx: &mut TenantTx, delivery: WebhookDeliveryId) -> Result<Target> {
    let row = tx.query_one(TARGET, &[&delivery]).await?;
    let status: String = row.try_get("status")?;
    Ok(Target {
        url: row.try_get("url")?,
        secret_sealed: row.try_get("secret_sealed")?,
        subscription_id: row.try_get("subscription_id")?,
        payload: row.try_get("payload")?,
        pending: status == "pending",
        active: row.try_get("active")?,
    })
}

pub const RECORD: &str = "select carego.webhook_record_attempt($1, $2, $3, $4)";

/// Records an attempt and its outcome (`delivered`, `pending`, `failed`).
pub async fn record(
    tx: &mut TenantTx,
    delivery: WebhookDeliveryId,
    status_code: Option<i32>,
    error: Option<&str>,
    outcome: &str,
) -> Result<()> {
    tx.execute(RECORD, &[&delivery, &status_code, &error, &outcome]).await.map(drop).map_err(Into::into)
}
