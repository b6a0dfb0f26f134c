//! The live event stream (Server-Sent Events) and the tickets browsers
//! open it with.
//!
//! A stream holds no database connection while idle: it waits on its
//! facility's wake-up channel (fed by the LISTEN connection, see
//! `db::infra::listen`) or its heartbeat, then reads what is new for its
//! user in a tenant transaction of its own. That read's prologue re-checks
//! the session, so a stream ends at the first read after a logout,
//! suspension or expiry; ending a session also wakes the facility's
//! streams, so that read comes at once.

use std::{collections::VecDeque, sync::Arc, time::Duration};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use futures_util::stream::{self, BoxStream, StreamExt};
use poem::{Request, web::sse::Event};
use poem_openapi::{
    Object, OpenApi, SecurityScheme,
    auth::ApiKey,
    param::Header,
    payload::{EventStream, Json},
    types::ToJSON,
};
use rand::RngCore;
use serde_json::json;
use tokio::sync::watch;

use crate::api::contract::{Contract, Contracts};
use crate::api::examples::{AT, Example};
use crate::domain::ids::ConversationId;
use crate::domain::ids::PatientId;
use crate::{
    api::{ApiTags, Created},
    auth::BearerAuth,
    db::{Db, communication::events, infra::listen::Hub},
    error::{Error, Forbidden, Result, Unauthenticated},
    identity::{Credential, Principal, RequestMeta},
};

/// How long a ticket stays good.
const TICKET_TTL_SECS: f64 = 30.0;
/// Events read per transaction.
const READ_BATCH: i64 = 100;

/// A single-use ticket for `GET /api/v1/events?ticket=`, from `POST /api/v1/events/tickets`.
#[derive(SecurityScheme)]
#[oai(ty = "api_key", key_name = "ticket", key_in = "query")]
pub struct StreamTicket(ApiKey);

/// The bearer token, or (for browsers' `EventSource`, which cannot send headers) a ticket.
#[derive(SecurityScheme)]
pub enum StreamAuth {
    Bearer(BearerAuth),
    Ticket(StreamTicket),
}

/// A stream ticket.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct Ticket {
    /// Pass as `?ticket=` once, within 30 seconds.
    pub ticket: String,
    /// When it stops being accepted.
    pub expires_at: DateTime<Utc>,
}

pub struct EventsApi {
    pub db: Db,
    pub hub: Arc<Hub>,
    pub heartbeat: Duration,
}

/// What the spec cannot read from these operations' types, and their objects' examples: see `api::contract`.
pub(crate) const CONTRACT: Contracts =
    Contracts { file: file!(), operations: &[Contract::of("streamEvents").takes_stream_ticket()], examples };

/// This module's objects as an integrator sends and receives them: see `api::examples`.
fn examples() -> Vec<Example> {
    vec![Example::of::<Ticket>(
        json!({"ticket": "cgst_Zm9yLWV4YW1wbGUtb25seS1zdHJlYW0tdGlja2V0", "expiresAt": AT}),
    )]
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Events")]
impl EventsApi {
    /// Get a stream ticket.
    ///
    /// For browsers: `EventSource` cannot send an `Authorization` header, so trade the token for a
    /// ticket and open `GET /api/v1/events?ticket=…` with it. Single use, good for 30 seconds,
    /// bound to this session.
    #[oai(path = "/events/tickets", method = "post", operation_id = "createStreamTicket")]
    async fn ticket(&self, auth: BearerAuth) -> Result<Created<Ticket>> {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let ticket = format!("cgst_{}", URL_SAFE_NO_PAD.encode(bytes));
        let expires_at =
            self.db.run(&auth.0, async |tx| events::issue_ticket(tx, &ticket, TICKET_TTL_SECS).await).await?;
        Ok(Created::Created(Json(Ticket { ticket, expires_at }), None))
    }

    /// The caller's live events (Server-Sent Events).
    ///
    /// Each event's `event` is its kind, `data` a `LiveEvent` as JSON, and `id` its sequence
    /// number. Events carry ids, never content: fetch the message, announcement or alert with its
    /// own operation. Reconnect with `Last-Event-ID` (browsers do) to receive everything after it,
    /// with nothing lost or repeated; without it, the stream starts with what happens next.
    /// Comment lines are sent as heartbeats. The stream ends when the session is logged out,
    /// suspended or expires. For the facility's patients, staff and admins.
    #[oai(path = "/events", method = "get", operation_id = "streamEvents")]
    async fn stream(
        &self,
        req: &Request,
        auth: StreamAuth,
        /// The `id` of the last event received: the stream resumes right after it.
        #[oai(name = "Last-Event-ID")]
        last_event_id: Header<Option<String>>,
    ) -> Result<EventStream<BoxStream<'static, LiveEvent>>> {
        let principal = match auth {
            StreamAuth::Bearer(b) => b.0,
            StreamAuth::Ticket(t) => self.redeem(req, &t.0.key).await?,
        };
        if principal.facility_id.is_none() {
            return Err(Error::Forbidden(Forbidden::Role));
        }
        let after =
            match last_event_id.0.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(v) => Some(v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                    Error::invalid("Last-Event-ID", "must be an event id from this stream")
                })?),
            };
        // Subscribe before reading, so nothing committed in between is missed.
        let wake = self.hub.subscribe(principal.facility_id.expect("checked above"));
        // The first read checks the session (a 401 here, not an empty stream).
        let cursor = match after {
            Some(seq) => seq,
            None => self.db.run(&principal, async |tx| events::head(tx).await).await?,
        };
        let state = Subscriber {
            db: self.db.clone(),
            principal,
            cursor,
            wake,
            heartbeat: self.heartbeat,
            queue: VecDeque::new(),
            read_now: after.is_some(),
        };
        let events = stream::unfold(state, Subscriber::next).boxed();
        Ok(EventStream::new(events).keep_alive(self.heartbeat).to_event(|e: LiveEvent| {
            // `data` is the `LiveEvent` schema's JSON, as any response body.
            Event::message(e.to_json_string()).event_type(e.kind.clone()).id(e.seq.to_string())
        }))
    }
}

impl EventsApi {
    async fn redeem(&self, req: &Request, ticket: &str) -> Result<Principal> {
        let meta = RequestMeta::from_request(req);
        let mut tx = self.db.begin_public(&meta.request_id, meta.ip.as_deref()).await?;
        let holder = events::redeem_ticket(&mut tx, ticket).await?;
        tx.commit().await?;
        let holder = holder.ok_or(Error::Unauthenticated(Unauthenticated::InvalidTicket))?;
        Ok(Principal {
            user_id: holder.user_id,
            facility_id: holder.facility_id,
            role: holder.role,
            meta,
            credential: Credential::Session(holder.session_id),
        })
    }
}

/// One open stream.
struct Subscriber {
    db: Db,
    principal: Principal,
    cursor: i64,
    wake: watch::Receiver<u64>,
    heartbeat: Duration,
    queue: VecDeque<LiveEvent>,
    /// Read before waiting (resuming, or the last read was a full batch).
    read_now: bool,
}

impl Subscriber {
    /// The next event, reading and waiting as needed; `None` ends the stream.
    async fn next(mut self) -> Option<(LiveEvent, Self)> {
        loop {
            if let Some(e) = self.queue.pop_front() {
                return Some((e, self));
            }
            if !self.read_now {
                tokio::select! {
                    changed = self.wake.changed() => {
                        if changed.is_err() {
                            return None; // the hub is gone: the server is stopping
                        }
                    }
                    () = tokio::time::sleep(self.heartbeat) => {}
                }
            }
            let cursor = self.cursor;
            match self.db.run(&self.principal, async |tx| events::after(tx, cursor, READ_BATCH).await).await {
                Ok(batch) => {
                    self.read_now = batch.len() as i64 == READ_BATCH;
                    if let Some(last) = batch.last() {
                        self.cursor = last.seq;
                    }
                    self.queue.extend(batch.into_iter().map(LiveEvent::from));
                }
                // The session ended, the account or facility was suspended.
                Err(Error::Unauthenticated(_) | Error::Forbidden(_)) => return None,
                Err(e) => {
                    // The database is away: keep the stream, try again at the next wake-up
                    // or heartbeat (the cursor makes the retry exact).
                    tracing::warn!(error = %e, "event stream read failed; retrying");
                    self.read_now = false;
                }
            }
        }
    }
}

/// One event: what happened and the id to fetch it by (never its content).
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct LiveEvent {
    /// Its position in the facility's sequence; also the SSE `id`, which a
    /// reconnecting client sends back as `Last-Event-ID`.
    pub seq: i64,
    /// What happened: `message.created`, `announcement.published`,
    /// `crisis_alert.raised`, `.acknowledged`, `.escalated` or `.resolved`.
    /// Also the SSE `event` name.
    pub kind: String,
    /// The message, announcement or alert: fetch it by this id.
    pub subject_id: uuid::Uuid,
    /// A message's conversation.
    pub conversation_id: Option<ConversationId>,
    /// An alert's patient.
    pub patient_id: Option<PatientId>,
    /// When it happened.
    pub at: DateTime<Utc>,
}

impl From<crate::db::communication::events::LiveEvent> for LiveEvent {
    fn from(row: crate::db::communication::events::LiveEvent) -> Self {
        Self {
            seq: row.seq,
            kind: row.kind,
            subject_id: row.subject_id,
            conversation_id: row.conversation_id,
            patient_id: row.patient_id,
            at: row.at,
        }
    }
}
