//! Reading and verifying the audit log. Rows are written only by triggers
//! (and `carego.audit_read`); see `sql/migrations/V2__audit_log.sql`.

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio_postgres::Row;
use uuid::Uuid;

use crate::db::{
    TenantTx,
    filters::{Bound, Variants},
};
use crate::{
    domain::ids::{FacilityId, UserId},
    domain::page::{Keyed, PageRequest},
    error::{Error, Result},
};

/// One audited action.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub id: Uuid,
    pub facility_id: Option<FacilityId>,
    pub chain_seq: i64,
    pub chain_lane: i16,
    pub actor_id: Option<UserId>,
    pub actor_role: Option<String>,
    pub action: String,
    pub entity_type: String,
    pub entity_id: Option<Uuid>,
    pub old_values: Option<Value>,
    pub new_values: Option<Value>,
    pub reason: Option<String>,
    pub request_id: Option<String>,
    pub ip: Option<String>,
    pub created_at: DateTime<Utc>,
    pub hash: String,
}

impl TryFrom<&Row> for AuditEntry {
    type Error = Error;

    fn try_from(row: &Row) -> Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            facility_id: row.try_get("facility_id")?,
            chain_seq: row.try_get("chain_seq")?,
            chain_lane: row.try_get("chain_lane")?,
            actor_id: row.try_get("actor_id")?,
            actor_role: row.try_get("actor_role")?,
            action: row.try_get("action")?,
            entity_type: row.try_get("entity_type")?,
            entity_id: row.try_get("entity_id")?,
            old_values: row.try_get("old_values")?,
            new_values: row.try_get("new_values")?,
            reason: row.try_get("reason")?,
            request_id: row.try_get("request_id")?,
            ip: row.try_get("ip")?,
            created_at: row.try_get("created_at")?,
            hash: hex_of(row.try_get("hash")?),
        })
    }
}

/// `bytes` in lower-case hex, written into one allocation (`hex::encode`
/// pushes a char at a time; an audit page has one hash a row).
fn hex_of(bytes: &[u8]) -> String {
    let mut out = vec![0; bytes.len() * 2];
    hex::encode_to_slice(bytes, &mut out).expect("twice the length");
    String::from_utf8(out).expect("hex digits are ASCII")
}

pub const READS: &str = "select carego.audit_reads($1, $2)";

/// One audit row naming the records of `entity` a request read (V45's
/// `carego.audit_reads`: staff-side roles and integrators; nothing for an
/// empty page or a patient's own records), whatever the page's size.
/// A single record's read is audited by its own statement instead (see
/// `users::GET`), which saves the round trip.
pub async fn reads(tx: &mut TenantTx, entity: &str, ids: impl IntoIterator<Item = Uuid>) -> Result<()> {
    let ids: Vec<Uuid> = ids.into_iter().collect();
    if !ids.is_empty() {
        tx.query_one(READS, &[&entity, &ids]).await?;
    }
    Ok(())
}

/// Optional list filters.
#[derive(Default)]
pub struct AuditFilter<'a> {
    pub facility_id: Option<FacilityId>,
    pub actor_id: Option<UserId>,
    pub action: Option<&'a str>,
    pub entity_type: Option<&'a str>,
    pub entity_id: Option<Uuid>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// Lists are newest first.
impl Keyed for AuditEntry {
    fn key(&self) -> (DateTime<Utc>, Uuid) {
        (self.created_at, self.id)
    }
}

/// Newest first. `$1` the fetch limit; then, each only when given (see
/// [`filters`](crate::db::filters)): facility, actor, action, entity type,
/// entity, from, to, the cursor.
///
/// Rows written before the secrets registry (V46) may still hold a secret
/// column; the registry's columns per table are joined once and stripped
/// here (`carego.secret_column_sets`, V52), not by a function call per row.
pub static LIST: Variants = Variants::new(
    "select a.id, a.facility_id, a.chain_seq, a.chain_lane, a.actor_id, a.actor_role, a.action,
            a.entity_type, a.entity_id, a.old_values - coalesce(s.columns, '{}') as old_values,
            a.new_values - coalesce(s.columns, '{}') as new_values, a.reason, a.request_id, a.ip,
            a.created_at, a.hash
       from audit_log a
       left join carego.secret_column_sets s on s.table_name = a.entity_type
      where true {where}
      order by a.created_at desc, a.id desc
      limit $1",
    &[
        "a.facility_id = $",
        "a.actor_id = $",
        "a.action = $",
        "a.entity_type = $",
        "a.entity_id = $",
        "a.created_at >= $",
        "a.created_at < $",
        "(a.created_at, a.id) < ($::timestamptz, $::uuid)",
    ],
);

pub async fn list(tx: &mut TenantTx, f: &AuditFilter<'_>, page: &PageRequest) -> Result<Vec<AuditEntry>> {
    let limit = page.fetch_limit();
    let bound = Bound::new(vec![&limit])
        .opt(&f.facility_id)
        .opt(&f.actor_id)
        .opt(&f.action)
        .opt(&f.entity_type)
        .opt(&f.entity_id)
        .opt(&f.from)
        .opt(&f.to)
        .after(page);
    let rows = tx.query(LIST.get(bound.present), &bound.params).await?;
    rows.iter().map(AuditEntry::try_from).collect()
}

/// The result of recomputing a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub ok: bool,
    pub checked: i64,
    pub first_broken_id: Option<Uuid>,
}

pub const VERIFY: &str = "select ok, checked, first_broken_id from carego.audit_verify($1)";

/// Verifies one facility's chain (`None`: the platform chain).
pub async fn verify(tx: &mut TenantTx, facility: Option<FacilityId>) -> Result<Verification> {
    let row = tx.query_one(VERIFY, &[&facility]).await?;
    Ok(Verification {
        ok: row.try_get("ok")?,
        checked: row.try_get("checked")?,
        first_broken_id: row.try_get("first_broken_id")?,
    })
}

/// [`verify`] of a facility the caller can see (404 for another tenant's),
/// or of the platform chain when `facility` is `None`.
pub async fn verify_facility(tx: &mut TenantTx, facility: Option<FacilityId>) -> Result<Verification> {
    if let Some(id) = facility {
        crate::db::accounts::facilities::get(tx, id).await?;
    }
    verify(tx, facility).await
}

pub const FACILITIES: &str = "select id from facilities order by created_at, id";

/// Every facility the caller can see (for verifying all chains).
pub async fn facility_ids(tx: &mut TenantTx) -> Result<Vec<FacilityId>> {
    tx.query(FACILITIES, &[]).await?.iter().map(|r| Ok(r.try_get("id")?)).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_of_is_hex_encode() {
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(super::hex_of(&bytes), hex::encode(&bytes));
        assert_eq!(super::hex_of(&[0x0f, 0xa0]), "0fa0");
    }
}
