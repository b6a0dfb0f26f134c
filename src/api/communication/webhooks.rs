//! Webhook subscriptions: a facility's admins name a URL and the events it
//! receives; each delivery is signed, retried and logged.

use serde_json::{Value, json};
use std::sync::Arc;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use poem_openapi::{
    Object, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
};
use rand::RngCore;

use crate::api::contract::{Contract, Contracts};
use crate::api::examples::{AT, CARE_LOG, Example, FACILITY, LATER, NURSE, WEBHOOK, WEBHOOK_DELIVERY, page};
use crate::db::communication::webhooks::DeliveryStatus;
use crate::domain::ids::UserId;
use crate::domain::ids::WebhookDeliveryId;
use crate::{
    api::wire,
    api::{
        ApiTags, Created, NoContent,
        body::JsonBody,
        idempotency::{self, Creates, IdempotencyKey},
        page::Page,
    },
    auth::BearerAuth,
    db::{
        Db,
        communication::webhooks::{self, NewWebhook, WebhookEvent},
    },
    domain::{
        ids::{FacilityId, WebhookId},
        page::{Cursor, Limit, PageRequest},
        text::{Opt, Text},
    },
    error::{Error, Result},
    webhooks::Sender,
};
use chrono::{DateTime, Utc};

/// A new subscription.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct NewWebhookRequest {
    /// Where to POST deliveries: `https://…`, resolving only to public addresses.
    #[oai(validator(min_length = 1, max_length = 2000))]
    pub url: Text,
    /// The events to receive.
    #[oai(validator(min_items = 1, max_items = 3, unique_items = true))]
    pub events: Vec<WebhookEvent>,
    /// What it is for (1–200 characters).
    #[oai(validator(min_length = 1, max_length = 200))]
    pub description: Opt<Text>,
    /// Super admins: the facility whose events it receives.
    pub facility_id: Opt<FacilityId>,
}

/// A subscription just made, with its signing secret.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct WebhookCreated {
    /// The subscription.
    pub webhook: Webhook,
    /// The HMAC-SHA256 key of `Carego-Signature` (`whsec_…`; the bytes after the prefix, base64url,
    /// are the key). Shown only in this answer; omitted when an `Idempotency-Key` replays it.
    pub secret: Option<String>,
}

pub struct WebhooksApi {
    pub db: Db,
    pub sender: Arc<Sender>,
}

/// What the spec cannot read from these operations' types, and their objects' examples: see `api::contract`.
pub(crate) const CONTRACT: Contracts = Contracts {
    file: file!(),
    operations: &[Contract::of("createWebhook").names_a_record_outside_its_path()],
    examples,
};

/// This module's objects as an integrator sends and receives them: see `api::examples`.
fn examples() -> Vec<Example> {
    vec![
        Example::of::<Webhook>(webhook_example()),
        Example::of::<Page<Webhook>>(page(webhook_example())),
        Example::of::<WebhookCreated>(json!({
            "webhook": webhook_example(), "secret": "whsec_q1oTn4mRk0bWJ8cX2yVf7aL3sE9dH6gP5uZtNwQeYxA"
        })),
        Example::of::<NewWebhookRequest>(
            json!({"url": "https://hooks.acme-ehr.example/carego", "events": ["care_log.written", "crisis_alert.raised"],
                   "description": "Acme EHR sync", "facilityId": FACILITY}),
        ),
        Example::of::<Page<WebhookDelivery>>(page(
            json!({"id": WEBHOOK_DELIVERY, "webhookId": WEBHOOK, "event": "care_log.written",
                   "payload": {"id": WEBHOOK_DELIVERY, "event": "care_log.written", "facilityId": FACILITY,
                               "occurredAt": AT, "data": {"id": CARE_LOG}},
                   "status": "delivered", "attempts": 2, "lastStatusCode": 200, "createdAt": AT,
                   "lastAttemptAt": LATER, "deliveredAt": LATER}),
        )),
    ]
}

fn webhook_example() -> Value {
    json!({"id": WEBHOOK, "facilityId": FACILITY, "url": "https://hooks.acme-ehr.example/carego",
           "events": ["care_log.written", "crisis_alert.raised"], "description": "Acme EHR sync", "active": true,
           "createdBy": NURSE, "createdAt": AT})
}

#[OpenApi(prefix_path = "/api/v1/webhooks", tag = "ApiTags::Webhooks")]
impl WebhooksApi {
    /// Webhook subscriptions.
    ///
    /// Facility admins: their facility's; super admins: every facility's. Newest first.
    #[oai(path = "/", method = "get", operation_id = "listWebhooks")]
    async fn list(
        &self,
        auth: BearerAuth,
        limit: Query<Option<Limit>>,
        cursor: Query<Option<Cursor>>,
    ) -> Result<Json<Page<Webhook>>> {
        let page = PageRequest::new(limit.0, cursor.0);
        let rows = self.db.run(&auth.0, async |tx| webhooks::list(tx, &page).await).await?;
        Ok(Json(Page::of(&page, rows)))
    }

    /// Subscribe a URL to events.
    ///
    /// Facility admins and super admins. The URL must resolve only to public addresses (loopback,
    /// private, link-local and metadata addresses are refused, now and at every delivery). Each
    /// delivery is a POST of `{id, event, facilityId, occurredAt, data: {id}}` with `Carego-Event`,
    /// `Carego-Delivery` and `Carego-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`;
    /// a 2xx answer delivers it, anything else is retried with backoff (8 attempts).
    #[oai(path = "/", method = "post", operation_id = "createWebhook")]
    async fn create(
        &self,
        auth: BearerAuth,
        #[oai(name = "Idempotency-Key")] key: Header<Option<IdempotencyKey>>,
        body: JsonBody<NewWebhookRequest>,
    ) -> Result<Created<WebhookCreated>> {
        let b = &body.0;
        let facility_id = b
            .facility_id
            .or(auth.0.facility_id)
            .ok_or_else(|| Error::invalid("facilityId", "is required for super admins"))?;
        // Authorized first, then resolved: the URL's two refusals tell
        // whether a host name resolves, which only those who may subscribe
        // may learn.
        self.db.run(&auth.0, async |tx| webhooks::may_subscribe(tx, facility_id).await).await?;
        let url = self.sender.check_url(b.url.trim()).await?;
        let mut secret = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        let id = WebhookId(uuid::Uuid::new_v4());
        let sealed = self.sender.seal(id.0, &secret);
        let new = NewWebhook {
            id,
            facility_id,
            url: url.as_str(),
            events: b.events.iter().map(|e| e.as_str()).collect(),
            description: b.description.as_deref().map(str::trim),
            secret_sealed: &sealed,
        };
        let shown = format!("whsec_{}", URL_SAFE_NO_PAD.encode(secret));
        let work = async |tx: &mut _| {
            let webhook = webhooks::insert(tx, &new).await?;
            Ok(WebhookCreated { webhook: webhook.into(), secret: Some(shown) })
        };
        idempotency::create_redacting(&self.db, &auth.0, key.0, Creates::CreateWebhook, b, &["secret"], work)
            .await
    }

    /// Get a webhook subscription.
    ///
    /// Its URL, events and whether it is active; never its signing secret.
    #[oai(path = "/:id", method = "get", operation_id = "getWebhook")]
    async fn get(&self, auth: BearerAuth, id: Path<WebhookId>) -> Result<Json<Webhook>> {
        self.db.run(&auth.0, async |tx| webhooks::get(tx, id.0).await).await.map(wire)
    }

    /// Turn a webhook subscription off.
    ///
    /// No more deliveries are filed for it, and pending ones are not sent. The subscription and
    /// its delivery log stay.
    #[oai(path = "/:id", method = "delete", operation_id = "disableWebhook")]
    async fn disable(&self, auth: BearerAuth, id: Path<WebhookId>) -> Result<NoContent> {
        self.db.run(&auth.0, async |tx| webhooks::disable(tx, id.0).await).await?;
        Ok(NoContent::NoContent)
    }

    /// A subscription's deliveries.
    ///
    /// Newest first: what was sent, how often, the last status or error, and whether it was
    /// delivered.
    #[oai(path = "/:id/deliveries", method = "get", operation_id = "listWebhookDeliveries")]
    async fn deliveries(
        &self,
        auth: BearerAuth,
        id: Path<WebhookId>,
        limit: Query<Option<Limit>>,
        cursor: Query<Option<Cursor>>,
    ) -> Result<Json<Page<WebhookDelivery>>> {
        let page = PageRequest::new(limit.0, cursor.0);
        let rows = self.db.run(&auth.0, async |tx| webhooks::deliveries(tx, id.0, &page).await).await?;
        Ok(Json(Page::of(&page, rows)))
    }
}

/// A subscription, without its signing secret.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct Webhook {
    /// Its id.
    pub id: WebhookId,
    /// The facility whose events it receives.
    pub facility_id: FacilityId,
    /// Where deliveries are POSTed.
    pub url: String,
    /// The events it receives.
    pub events: Vec<WebhookEvent>,
    /// What it is for.
    pub description: Option<String>,
    /// Whether it still receives deliveries.
    pub active: bool,
    /// Who made it.
    pub created_by: Option<UserId>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it was turned off.
    pub disabled_at: Option<DateTime<Utc>>,
}

impl From<crate::db::communication::webhooks::Webhook> for Webhook {
    fn from(row: crate::db::communication::webhooks::Webhook) -> Self {
        Self {
            id: row.id,
            facility_id: row.facility_id,
            url: row.url,
            events: row.events,
            description: row.description,
            active: row.active,
            created_by: row.created_by,
            created_at: row.created_at,
            disabled_at: row.disabled_at,
        }
    }
}

/// One delivery and its attempts.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct WebhookDelivery {
    /// Its id (the `Carego-Delivery` header, and `id` in the payload).
    pub id: WebhookDeliveryId,
    /// The subscription.
    pub webhook_id: WebhookId,
    /// The event.
    pub event: WebhookEvent,
    /// What was sent: the event, its time and the record's id, never the record.
    pub payload: Value,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: i32,
    /// The last HTTP status received.
    pub last_status_code: Option<i32>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When the event happened.
    pub created_at: DateTime<Utc>,
    /// The last attempt.
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// When it was delivered.
    pub delivered_at: Option<DateTime<Utc>>,
}

impl From<crate::db::communication::webhooks::WebhookDelivery> for WebhookDelivery {
    fn from(row: crate::db::communication::webhooks::WebhookDelivery) -> Self {
        Self {
            id: row.id,
            webhook_id: row.webhook_id,
            event: row.event,
            payload: row.payload,
            status: row.status,
            attempts: row.attempts,
            last_status_code: row.last_status_code,
            last_error: row.last_error,
            created_at: row.created_at,
            last_attempt_at: row.last_attempt_at,
            delivered_at: row.delivered_at,
        }
    }
}
