//! The audit log: facility admins read their facility's trail, super admins
//! any; both can have a chain recomputed. Staff and patients: 403 (their
//! roles have no grant on the table).

use chrono::{DateTime, Utc};
use poem_openapi::{Object, OpenApi, param::Query, payload::Json};
use uuid::Uuid;

use super::{ApiTags, pagination::PageRequest};
use crate::{
    auth::BearerAuth,
    db::{
        Db,
        audit::{self, AuditEntry, AuditFilter, Verification},
        facilities,
    },
    domain::{
        ids::{FacilityId, UserId},
        text::Text,
    },
    error::Result,
};

pub struct AuditApi {
    pub db: Db,
}

/// A page of audit entries, newest first.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct AuditPage {
    pub items: Vec<AuditEntry>,
    pub next_cursor: Option<String>,
}

#[OpenApi(prefix_path = "/api/v1/audit-logs", tag = "ApiTags::Audit")]
impl AuditApi {
    /// Audit entries you may read, newest first.
    #[oai(path = "/", method = "get", operation_id = "listAuditLogs")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        auth: BearerAuth,
        #[oai(name = "facilityId")] facility_id: Query<Option<FacilityId>>,
        #[oai(name = "actorId")] actor_id: Query<Option<UserId>>,
        /// `create`, `update`, `delete` or `read`.
        #[oai(validator(max_length = 20))]
        action: Query<Option<Text>>,
        /// A table name: `patients`, `care_logs`, `users`...
        #[oai(name = "entityType", validator(max_length = 64))]
        entity_type: Query<Option<Text>>,
        #[oai(name = "entityId")] entity_id: Query<Option<Uuid>>,
        from: Query<Option<DateTime<Utc>>>,
        to: Query<Option<DateTime<Utc>>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] limit: Query<Option<u32>>,
        #[oai(validator(max_length = 200))] cursor: Query<Option<String>>,
    ) -> Result<Json<AuditPage>> {
        let page = PageRequest::parse(limit.0, cursor.0.as_deref())?;
        let filter = AuditFilter {
            facility_id: facility_id.0,
            actor_id: actor_id.0,
            action: action.0.as_deref(),
            entity_type: entity_type.0.as_deref(),
            entity_id: entity_id.0,
            from: from.0,
            to: to.0,
        };
        let mut tx = self.db.begin(&auth.0).await?;
        let rows = audit::list(&mut tx, &filter, &page).await?;
        tx.commit().await?;
        let (items, next_cursor) = page.finish(rows, |e| (e.created_at, e.id));
        Ok(Json(AuditPage { items, next_cursor }))
    }

    /// Recompute a facility's hash chain (default: your facility; super
    /// admins without one: the platform chain) and report the first broken row.
    #[oai(path = "/verify", method = "get", operation_id = "verifyAuditLog")]
    async fn verify(
        &self,
        auth: BearerAuth,
        #[oai(name = "facilityId")] facility_id: Query<Option<FacilityId>>,
    ) -> Result<Json<Verification>> {
        let facility = facility_id.0.or(auth.0.facility_id);
        let mut tx = self.db.begin(&auth.0).await?;
        if let Some(id) = facility {
            facilities::get(&mut tx, id).await?; // another tenant's facility: 404
        }
        let result = audit::verify(&mut tx, facility).await?;
        tx.commit().await?;
        Ok(Json(result))
    }
}
