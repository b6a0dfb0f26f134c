//! Caseloads: facility admins assign staff to patients and end assignments;
//! staff see the care team of the patients they can see.

use chrono::{DateTime, Utc};
use poem_openapi::{
    Object, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
};
use serde_json::{Value, json};

use crate::api::contract::{Contract, Contracts};
use crate::api::examples::{ASSIGNMENT, AT, Example, NURSE, PATIENT, page};
use crate::error::Conflict;
use crate::{
    api::wire,
    api::{
        ApiTags, Created,
        body::JsonBody,
        idempotency::{self, Creates, IdempotencyKey},
        page::Page,
    },
    auth::BearerAuth,
    db::{
        Db,
        clinical::caseloads::{self, AssignmentRole},
    },
    domain::{
        ids::{AssignmentId, PatientId, UserId},
        page::{Cursor, Limit, PageRequest},
        text::Opt,
    },
    error::Result,
};

pub struct CaseloadsApi {
    pub db: Db,
}

/// Assign a staff member of the patient's facility.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct NewAssignmentRequest {
    /// A staff member of the patient's facility.
    pub staff_id: UserId,
    /// What the staff member does for the patient.
    pub role: AssignmentRole,
    /// Default: now.
    pub starts_at: Opt<DateTime<Utc>>,
}

/// What the spec cannot read from these operations' types, and their objects' examples: see `api::contract`.
pub(crate) const CONTRACT: Contracts = Contracts {
    file: file!(),
    operations: &[Contract::of("createAssignment").conflicts(&[Conflict::ALREADY_ASSIGNED])],
    examples,
};

/// This module's objects as an integrator sends and receives them: see `api::examples`.
fn examples() -> Vec<Example> {
    vec![
        Example::of::<NewAssignmentRequest>(json!({"staffId": NURSE, "role": "nurse"})),
        Example::of::<Assignment>(assignment_example()),
        Example::of::<Page<Assignment>>(page(assignment_example())),
    ]
}

fn assignment_example() -> Value {
    json!({"id": ASSIGNMENT, "patientId": PATIENT, "staffId": NURSE, "role": "nurse", "startsAt": AT,
           "createdAt": AT})
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Caseloads")]
impl CaseloadsApi {
    /// A patient's care team.
    ///
    /// Open assignments, or all of them with `all=true`, oldest first, a page at a time.
    #[oai(path = "/patients/:id/assignments", method = "get", operation_id = "listAssignments")]
    async fn list(
        &self,
        auth: BearerAuth,
        id: Path<PatientId>,
        /// Include ended assignments. Default false.
        all: Query<Option<bool>>,
        limit: Query<Option<Limit>>,
        cursor: Query<Option<Cursor>>,
    ) -> Result<Json<Page<Assignment>>> {
        let page = PageRequest::new(limit.0, cursor.0);
        let all = all.0.unwrap_or(false);
        let rows = self.db.run(&auth.0, async |tx| caseloads::list(tx, id.0, all, &page).await).await?;
        Ok(Json(Page::of(&page, rows)))
    }

    /// Assign a staff member to a patient.
    ///
    /// Facility admins only. The staff member must be active staff of the patient's facility; they
    /// see the patient from their next request. 409 if already assigned. Retry-safe with an
    /// `Idempotency-Key`.
    #[oai(path = "/patients/:id/assignments", method = "post", operation_id = "createAssignment")]
    async fn create(
        &self,
        auth: BearerAuth,
        id: Path<PatientId>,
        #[oai(name = "Idempotency-Key")] key: Header<Option<IdempotencyKey>>,
        body: JsonBody<NewAssignmentRequest>,
    ) -> Result<Created<Assignment>> {
        let b = &body.0;
        let scope = Creates::CreateAssignment.under(id.0);
        let work = async |tx: &mut _| caseloads::insert(tx, id.0, b.staff_id, b.role, b.starts_at.0).await;
        idempotency::create(&self.db, &auth.0, key.0, scope, b, work).await
    }

    /// End an assignment.
    ///
    /// Facility admins only. The staff member stops seeing the patient (unless they counsel them)
    /// from their next request.
    #[oai(path = "/assignments/:id/end", method = "post", operation_id = "endAssignment")]
    async fn end(&self, auth: BearerAuth, id: Path<AssignmentId>) -> Result<Json<Assignment>> {
        self.db.run(&auth.0, async |tx| caseloads::end(tx, id.0).await).await.map(wire)
    }
}

/// A staff member's assignment to a patient.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct Assignment {
    /// This assignment's id.
    pub id: AssignmentId,
    /// The patient it is about.
    pub patient_id: PatientId,
    /// The staff member.
    pub staff_id: UserId,
    /// What the staff member does for the patient.
    pub role: AssignmentRole,
    /// When the assignment starts.
    pub starts_at: DateTime<Utc>,
    /// Set once the assignment has ended.
    pub ended_at: Option<DateTime<Utc>>,
    /// When it was created (server time).
    pub created_at: DateTime<Utc>,
}

impl From<crate::db::clinical::caseloads::Assignment> for Assignment {
    fn from(row: crate::db::clinical::caseloads::Assignment) -> Self {
        Self {
            id: row.id,
            patient_id: row.patient_id,
            staff_id: row.staff_id,
            role: row.role,
            starts_at: row.starts_at,
            ended_at: row.ended_at,
            created_at: row.created_at,
        }
    }
}
