//! Caseloads: facility admins assign staff to patients and end assignments;
//! staff see the care team of the patients they can see.

use chrono::{DateTime, Utc};
use poem_openapi::{
    Object, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
};

use super::{ApiTags, Created, idempotency::create_idempotently};
use crate::{
    auth::BearerAuth,
    db::{
        Db,
        assignments::{self, Assignment, AssignmentRole},
    },
    domain::ids::{AssignmentId, PatientId, UserId},
    domain::text::Opt,
    error::{BodyResult, Result},
};

pub struct AssignmentsApi {
    pub db: Db,
}

/// Assign a staff member of the patient's facility.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct NewAssignmentRequest {
    pub staff_id: UserId,
    pub role: AssignmentRole,
    /// Default: now.
    pub starts_at: Opt<DateTime<Utc>>,
}

/// A patient's assignments.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AssignmentList {
    pub items: Vec<Assignment>,
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Caseloads")]
impl AssignmentsApi {
    /// A patient's care team (open assignments; `all=true` includes ended ones).
    #[oai(path = "/patients/:id/assignments", method = "get", operation_id = "listAssignments")]
    async fn list(
        &self,
        auth: BearerAuth,
        id: Path<PatientId>,
        all: Query<Option<bool>>,
    ) -> Result<Json<AssignmentList>> {
        let mut tx = self.db.begin(&auth.0).await?;
        let items = assignments::list(&mut tx, id.0, all.0.unwrap_or(false)).await?;
        tx.commit().await?;
        Ok(Json(AssignmentList { items }))
    }

    /// Assign a staff member to a patient (facility admins). Staff of another
    /// facility cannot be assigned.
    #[oai(path = "/patients/:id/assignments", method = "post", operation_id = "createAssignment")]
    async fn create(
        &self,
        auth: BearerAuth,
        id: Path<PatientId>,
        #[oai(name = "Idempotency-Key", validator(min_length = 1, max_length = 200))] key: Header<
            Option<String>,
        >,
        body: Json<NewAssignmentRequest>,
    ) -> BodyResult<Created<Assignment>> {
        let b = &body.0;
        let mut tx = self.db.begin(&auth.0).await?;
        create_idempotently!(tx, key.0.as_deref(), format!("createAssignment {}", id.0), b, {
            assignments::insert(&mut tx, id.0, b.staff_id, b.role, b.starts_at.0).await?
        })
    }

    /// End an assignment (facility admins).
    #[oai(path = "/assignments/:id/end", method = "post", operation_id = "endAssignment")]
    async fn end(&self, auth: BearerAuth, id: Path<AssignmentId>) -> Result<Json<Assignment>> {
        let mut tx = self.db.begin(&auth.0).await?;
        let assignment = assignments::end(&mut tx, id.0).await?;
        tx.commit().await?;
        Ok(Json(assignment))
    }
}
