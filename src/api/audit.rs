//! The audit log: facility admins read their facility's trail, super admins
//! any; both can have a chain recomputed. Staff and patients: 403 (their
//! roles have no grant on the table).

use chrono::{DateTime, Utc};
use poem_openapi::{Object, OpenApi, param::Query, payload::Json};
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::api::contract::{Contract, Contracts};
use crate::api::examples::{AT, AUDIT, CARE_LOG, Example, FACILITY, NURSE, page};
use crate::{
    api::wire,
    api::{
        ApiTags,
        page::Page,
        rendered::{self, Rendered},
    },
    auth::BearerAuth,
    db::{
        Db,
        audit::{self, AuditFilter},
    },
    domain::{
        ids::{FacilityId, UserId},
        page::{Cursor, Limit, PageRequest},
        text::Text,
    },
    error::Result,
};

pub struct AuditApi {
    pub db: Db,
}

/// What the spec cannot read from these operations' types, and their objects' examples: see `api::contract`.
pub(crate) const CONTRACT: Contracts = Contracts {
    file: file!(),
    operations: &[Contract::of("verifyAuditLog").names_a_record_outside_its_path()],
    examples,
};

/// This module's objects as an integrator sends and receives them: see `api::examples`.
fn examples() -> Vec<Example> {
    vec![
        Example::rendered::<AuditEntry>(audit_entry_example()),
        Example::of::<Verification>(json!({"ok": true, "checked": 1042})),
        Example::rendered::<Page<AuditEntry>>(page(audit_entry_example())),
    ]
}

fn audit_entry_example() -> Value {
    json!({"id": AUDIT, "facilityId": FACILITY, "chainSeq": 1042, "chainLane": 0, "actorId": NURSE, "actorRole": "staff",
           "action": "create", "entityType": "care_logs", "entityId": CARE_LOG,
           "newValues": {"kind": "medication_administered", "body": "Paracetamol 1 g"},
           "requestId": "6f1c2a4e-2b8d-4c52-9a43-1f0e7d3b9c10", "ip": "203.0.113.7", "createdAt": AT,
           "hash": "9f2c4b7e1d0a8c6e5b3f2a1d0c9e8b7a6f5e4d3c2b1a09f8e7d6c5b4a3f2e1d0"})
}

#[OpenApi(prefix_path = "/api/v1/audit-logs", tag = "ApiTags::Audit")]
impl AuditApi {
    /// Read the audit log.
    ///
    /// Facility admins read their facility's trail, super admins any facility's. Every change and
    /// every read of a chart is here: who, role, action, record, old and new values, reason,
    /// request id. Newest first, a page at a time.
    #[oai(path = "/", method = "get", operation_id = "listAuditLogs")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        auth: BearerAuth,
        /// Super admins: one facility's entries.
        #[oai(name = "facilityId")]
        facility_id: Query<Option<FacilityId>>,
        /// Only what this user did.
        #[oai(name = "actorId")]
        actor_id: Query<Option<UserId>>,
        /// `create`, `update`, `delete` or `read`.
        #[oai(validator(max_length = 20))]
        action: Query<Option<Text>>,
        /// A table name: `patients`, `care_logs`, `users`...
        #[oai(name = "entityType", validator(max_length = 64))]
        entity_type: Query<Option<Text>>,
        /// Only entries about this record.
        #[oai(name = "entityId")]
        entity_id: Query<Option<Uuid>>,
        /// Entries at or after this time.
        from: Query<Option<DateTime<Utc>>>,
        /// Entries at or before this time.
        to: Query<Option<DateTime<Utc>>>,
        limit: Query<Option<Limit>>,
        cursor: Query<Option<Cursor>>,
    ) -> Result<Rendered<Page<AuditEntry>>> {
        let page = PageRequest::new(limit.0, cursor.0);
        let filter = AuditFilter {
            facility_id: facility_id.0,
            actor_id: actor_id.0,
            action: action.0.as_deref(),
            entity_type: entity_type.0.as_deref(),
            entity_id: entity_id.0,
            from: from.0,
            to: to.0,
        };
        let rows = self.db.run(&auth.0, async |tx| audit::list(tx, &filter, &page).await).await?;
        // A read row names up to a page of ids: about 1.2 kB an entry.
        let capacity = 256 + rows.len() * 1280;
        Ok(Rendered::new(&Page::of(&page, rows), capacity))
    }

    /// Verify the audit chain.
    ///
    /// Recomputes a facility's hash chain (default: yours; super admins without a facility: the
    /// platform chain) and reports the first row whose link or hash does not match.
    #[oai(path = "/verify", method = "get", operation_id = "verifyAuditLog")]
    async fn verify(
        &self,
        auth: BearerAuth,
        /// The facility whose chain to check (super admins).
        #[oai(name = "facilityId")]
        facility_id: Query<Option<FacilityId>>,
    ) -> Result<Json<Verification>> {
        let facility = facility_id.0.or(auth.0.facility_id);
        self.db.run(&auth.0, async |tx| audit::verify_facility(tx, facility).await).await.map(wire)
    }
}

// Sent as a `Rendered` page: the serde attributes say what the oai ones say.
/// One audited action.
#[derive(Debug, Clone, Object, Serialize)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// This entry's id.
    pub id: Uuid,
    /// The facility's chain this row belongs to; absent for platform rows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub facility_id: Option<FacilityId>,
    /// Position in its lane of the facility's hash chain.
    pub chain_seq: i64,
    /// The chain's lane: 0 for every change (numbered without gaps, in
    /// commit order); reads are spread over lanes 1–64, each a hash chain
    /// of its own, so that readers do not queue behind each other.
    pub chain_lane: i16,
    /// Who acted (absent for the operator's CLI).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor_id: Option<UserId>,
    /// The actor's role: `staff`, `facility_admin`, `super_admin`, `patient`, `system`...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor_role: Option<String>,
    /// `create`, `update`, `delete` or `read`.
    pub action: String,
    /// The table: `patients`, `care_logs`, `users`...
    pub entity_type: String,
    /// The record acted on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entity_id: Option<Uuid>,
    /// The record before the change (updates and deletes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_values: Option<Value>,
    /// The record after the change (creates and updates).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_values: Option<Value>,
    /// Why, as given by `X-Change-Reason` or the request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The request's `X-Request-Id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The client's address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// When it happened (server time).
    #[serde(serialize_with = "rendered::rfc3339")]
    pub created_at: DateTime<Utc>,
    /// sha256(previous hash ‖ canonical row), hex.
    pub hash: String,
}

impl From<crate::db::audit::AuditEntry> for AuditEntry {
    fn from(row: crate::db::audit::AuditEntry) -> Self {
        Self {
            id: row.id,
            facility_id: row.facility_id,
            chain_seq: row.chain_seq,
            chain_lane: row.chain_lane,
            actor_id: row.actor_id,
            actor_role: row.actor_role,
            action: row.action,
            entity_type: row.entity_type,
            entity_id: row.entity_id,
            old_values: row.old_values,
            new_values: row.new_values,
            reason: row.reason,
            request_id: row.request_id,
            ip: row.ip,
            created_at: row.created_at,
            hash: row.hash,
        }
    }
}

/// The result of recomputing a chain.
#[derive(Debug, Clone, Object, PartialEq, Eq)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct Verification {
    /// Every link and hash matched.
    pub ok: bool,
    /// Rows checked (up to and including the first broken one).
    pub checked: i64,
    /// The first row whose link or hash does not match.
    pub first_broken_id: Option<Uuid>,
}

impl From<crate::db::audit::Verification> for Verification {
    fn from(row: crate::db::audit::Verification) -> Self {
        Self { ok: row.ok, checked: row.checked, first_broken_id: row.first_broken_id }
    }
}
