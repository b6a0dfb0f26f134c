//! The audit log: facility admins read their facility's trail, super admins
//! any; both can have a chain recomputed. Staff and patients: 403 (their
//! roles have no grant on the table).

use chrono::{DateTime, Utc};
use poem_openapi::{OpenApi, param::Query, payload::Json};
use uuid::Uuid;

use crate::{
    api::{ApiTags, page::Page},
    auth::BearerAuth,
    db::{
        Db,
        audit::{self, AuditEntry, AuditFilter, Verification},
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
    ) -> Result<Json<Page<AuditEntry>>> {
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
        Ok(Json(Page::of(&page, rows)))
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
        self.db.run(&auth.0, async |tx| audit::verify_facility(tx, facility).await).await.map(Json)
    }
}
