//! The live-event records a user's stream delivers (V22), and the stream
//! tickets browsers open it with.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use tokio_postgres::Row;

use crate::{
    db::TenantTx,
    domain::ids::{ConversationId, FacilityId, PatientId, SessionId, UserId},
    error::{Error, Result},
    identity::Role,
};

/// One event: what happened and the id to fetch it by (never its content).
#[derive(Debug, Clone)]
pub struct LiveEvent {
    pub seq: i64,
    pub kind: String,
    pub subject_id: uuid::Uuid,
    pub conversation_id: Option<ConversationId>,
    pub patient_id: Option<PatientId>,
    pub at: DateTime<Utc>,
}

impl TryFrom<&Row> for LiveEvent {
    type Error = Error;

    fn try_from(row: &Row) -> Result<Self> {
        Ok(Self {
            seq: row.try_get("seq")?,
            kind: row.try_get("kind")?,
            subject_id: row.try_get("subject_id")?,
            conversation_id: row.try_get("conversation_id")?,
            patient_id: row.try_get("patient_id")?,
            at: row.try_get("created_at")?,
        })
    }
}

pub const AFTER: &str = "
    select seq, kind, subject_id, conversation_id, patient_id, created_at
      from events
     where facility_id = carego.current_facility_id() and recipient_id = carego.current_user_id()
       and seq > $1
     order by seq
     limit $2";

/// The caller's events after `seq`, oldest first, at most `limit`.
pub async fn after(tx: &mut TenantTx, seq: i64, limit: i64) -> Result<Vec<LiveEvent>> {
    let rows = tx.query(AFTER, &[&seq, &limit]).await?;
    rows.iter().map(LiveEvent::try_from).collect()
}

pub const HEAD: &str =
    "select coalesce(max(seq), 0) as seq from events where facility_id = carego.current_facility_id()";

/// Where the facility's sequence stands: a new stream without
/// `Last-Event-ID` starts here (only what happens from now on).
pub async fn head(tx: &mut TenantTx) -> Result<i64> {
    Ok(tx.query_one(HEAD, &[]).await?.try_get("seq")?)
}

pub fn ticket_hash(ticket: &str) -> Vec<u8> {
    Sha256::digest(ticket.as_bytes()).to_vec()
}

pub const ISSUE_TICKET: &str =
    "select carego.issue_stream_ticket($1, make_interval(secs => $2)) as expires_at";

/// Stores a new ticket's hash for the caller's session; when it expires.
pub async fn issue_ticket(tx: &mut TenantTx, ticket: &str, ttl_secs: f64) -> Result<DateTime<Utc>> {
    Ok(tx.query_one(ISSUE_TICKET, &[&ticket_hash(ticket), &ttl_secs]).await?.try_get("expires_at")?)
}

/// Whose a redeemed ticket was.
pub struct TicketHolder {
    pub session_id: SessionId,
    pub user_id: UserId,
    pub role: Role,
    pub facility_id: Option<FacilityId>,
}

pub const REDEEM_TICKET: &str =
    "select session_id, user_id, role, facility_id from carego.redeem_stream_ticket($1)";

/// Spends a ticket (in a public transaction): its holder, once.
pub async fn redeem_ticket(tx: &mut TenantTx, ticket: &str) -> Result<Option<TicketHolder>> {
    let Some(row) = tx.query_opt(REDEEM_TICKET, &[&ticket_hash(ticket)]).await? else { return Ok(None) };
    Ok(Some(TicketHolder {
        session_id: row.try_get("session_id")?,
        user_id: row.try_get("user_id")?,
        role: row.try_get("role")?,
        facility_id: row.try_get("facility_id")?,
    }))
}
