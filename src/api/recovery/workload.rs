//! The care team's view: a staff member's caseload at a glance, and the
//! acknowledgement of a patient's "needs attention" prompt.

use poem_openapi::{Object, OpenApi, param::Path, payload::Json};

use crate::{
    api::{ApiTags, Created, body::JsonBody},
    auth::BearerAuth,
    db::{
        Db,
        recovery::progress::{self, Attention, StaffWorkload},
    },
    domain::{
        ids::{PatientId, UserId},
        text::{Opt, Text},
    },
    error::Result,
};

/// What the care team did about a prompt.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct AcknowledgeAttentionRequest {
    /// What was done, e.g. "called; appointment moved up" (1–2000 characters).
    #[oai(validator(min_length = 1, max_length = 2000))]
    pub note: Opt<Text>,
}

pub struct WorkloadApi {
    pub db: Db,
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Workload")]
impl WorkloadApi {
    /// A staff member's workload.
    ///
    /// Caseload size, overdue treatment plan reviews, and the patients of the caseload without a
    /// check-in for 48 hours or with 2 or more doses missed in the last 7 days. Staff see their
    /// own; facility admins any of their facility's staff. Also the patients whose "needs
    /// attention" prompt nobody has acknowledged.
    #[oai(path = "/users/:id/workload", method = "get", operation_id = "getStaffWorkload")]
    async fn get(&self, auth: BearerAuth, id: Path<UserId>) -> Result<Json<StaffWorkload>> {
        self.db.run(&auth.0, async |tx| progress::workload(tx, id.0).await).await.map(Json)
    }

    /// Acknowledge a patient's "needs attention" prompt.
    ///
    /// The care team saw the factors that hold now (they are recorded with the acknowledgement,
    /// and the note if given). The prompt stays acknowledged while a 7-day-old or newer
    /// acknowledgement covers every factor; a new factor raises it again. Staff of the patient's
    /// care team and facility admins. 409 `no_attention_needed` when nothing holds.
    #[oai(
        path = "/patients/:id/attention/acknowledgements",
        method = "post",
        operation_id = "acknowledgeAttention"
    )]
    async fn acknowledge(
        &self,
        auth: BearerAuth,
        id: Path<PatientId>,
        body: JsonBody<AcknowledgeAttentionRequest>,
    ) -> Result<Created<Attention>> {
        let note = body.0.note.as_deref();
        let attention = self.db.run(&auth.0, async |tx| progress::acknowledge(tx, id.0, note).await).await?;
        Ok(Created::Created(Json(attention), None))
    }
}
