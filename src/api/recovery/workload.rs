//! A staff member's caseload at a glance, for them and their facility admin.

use poem_openapi::{OpenApi, param::Path, payload::Json};

use crate::{
    api::ApiTags,
    auth::BearerAuth,
    db::{
        Db,
        recovery::progress::{self, StaffWorkload},
    },
    domain::ids::UserId,
    error::Result,
};

pub struct WorkloadApi {
    pub db: Db,
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Workload")]
impl WorkloadApi {
    /// A staff member's workload.
    ///
    /// Caseload size, overdue treatment plan reviews, and the patients of the caseload without a
    /// check-in for 48 hours or with 2 or more doses missed in the last 7 days. Staff see their
    /// own; facility admins any of their facility's staff.
    #[oai(path = "/users/:id/workload", method = "get", operation_id = "getStaffWorkload")]
    async fn get(&self, auth: BearerAuth, id: Path<UserId>) -> Result<Json<StaffWorkload>> {
        self.db.run(&auth.0, async |tx| progress::workload(tx, id.0).await).await.map(Json)
    }
}
