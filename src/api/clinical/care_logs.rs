//! Care logs: append-only notes, observations, incidents and medication
//! records about a patient. There is no PUT, PATCH or DELETE; a correction is
//! an amendment that points at the original, with a reason, and every read
//! returns the original with its amendments.

use chrono::{DateTime, Utc};
use poem_openapi::{
    Object, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
};
use serde_json::{Value, json};

use crate::api::contract::Contracts;
use crate::api::examples::{AT, CARE_LOG, Example, NURSE, PATIENT, page};
use crate::domain::ids::UserId;
use crate::{
    api::wire,
    api::{
        ApiTags, Created,
        body::JsonBody,
        idempotency::{self, Creates, IdempotencyKey},
        page::Page,
    },
    auth::{BearerAuth, KeyOrBearer},
    db::{
        Db,
        clinical::care_logs::{self, Amendment, CareLogKind, NewCareLog},
    },
    domain::{
        ids::{CareLogId, PatientId},
        page::{Cursor, Limit, PageRequest},
        text::{Opt, Text},
    },
    error::{Result, Validator},
    identity::Scope,
};

pub struct CareLogsApi {
    pub db: Db,
}

/// A care log to append. The author is the caller; the recording time is
/// the server's.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct NewCareLogRequest {
    /// What it records.
    pub kind: CareLogKind,
    /// The text (1–20000 characters).
    #[oai(validator(min_length = 1, max_length = 20000))]
    pub body: Text,
    /// When it happened; default now; never in the future.
    pub occurred_at: Opt<DateTime<Utc>>,
    /// Whether the patient sees it in their app. Default false.
    pub visible_to_patient: Opt<bool>,
}

impl NewCareLogRequest {
    fn validate(&self) -> Result<NewCareLog<'_>> {
        let mut v = Validator::default();
        v.not_in_future("occurredAt", self.occurred_at.0);
        v.finish()?;
        Ok(NewCareLog {
            kind: self.kind,
            body: &self.body,
            occurred_at: self.occurred_at.0,
            visible_to_patient: self.visible_to_patient.unwrap_or(false),
        })
    }
}

/// A correction of a care log: the reason, and the corrected fields (absent
/// ones keep the current version's values).
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct CareLogAmendmentRequest {
    /// Why (1–1000 characters); recorded in the audit log.
    #[oai(validator(min_length = 1, max_length = 1000))]
    pub reason: Text,
    /// The corrected kind.
    pub kind: Opt<CareLogKind>,
    /// The corrected text (1–20000 characters).
    #[oai(validator(min_length = 1, max_length = 20000))]
    pub body: Opt<Text>,
    /// The corrected time (never in the future).
    pub occurred_at: Opt<DateTime<Utc>>,
    /// Whether the patient sees it from now on.
    pub visible_to_patient: Opt<bool>,
}

impl CareLogAmendmentRequest {
    fn validate(&self) -> Result<Amendment<'_>> {
        let mut v = Validator::default();
        v.not_in_future("occurredAt", self.occurred_at.0);
        v.finish()?;
        Ok(Amendment {
            reason: &self.reason,
            kind: self.kind.0,
            body: self.body.as_deref(),
            occurred_at: self.occurred_at.0,
            visible_to_patient: self.visible_to_patient.0,
        })
    }
}

/// What the spec cannot read from these operations' types, and their objects' examples: see `api::contract`.
pub(crate) const CONTRACT: Contracts = Contracts { file: file!(), operations: &[], examples };

/// This module's objects as an integrator sends and receives them: see `api::examples`.
fn examples() -> Vec<Example> {
    vec![
        Example::of::<NewCareLogRequest>(
            json!({"kind": "medication_administered", "body": "Paracetamol 1 g", "occurredAt": AT}),
        ),
        Example::of::<CareLogAmendmentRequest>(
            json!({"reason": "wrong dose recorded", "body": "Paracetamol 500 mg"}),
        ),
        Example::of::<CareLog>(care_log_example()),
        Example::of::<Page<CareLog>>(page(care_log_example())),
    ]
}

fn care_log_example() -> Value {
    let version = |id: &str, body: &str, reason: Option<&str>| {
        let mut v = json!({"id": id, "kind": "medication_administered", "body": body, "occurredAt": AT,
                           "visibleToPatient": false, "authorId": NURSE, "recordedAt": AT});
        if let Some(reason) = reason {
            v["amendmentReason"] = json!(reason);
        }
        v
    };
    json!({"id": CARE_LOG, "patientId": PATIENT, "original": version(CARE_LOG, "Paracetamol 1 g", None),
           "amendments": [version("8e7d6c5b-4a39-4281-9706-f5e4d3c2b1a1", "Paracetamol 500 mg",
                                  Some("wrong dose recorded"))]})
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::CareLogs")]
impl CareLogsApi {
    /// A patient's care logs.
    ///
    /// Newest first, each with its amendments; a patient sees only the logs marked visible to them.
    /// Audited as a read of the chart.
    #[oai(path = "/patients/:id/care-logs", method = "get", operation_id = "listCareLogs")]
    async fn list(
        &self,
        auth: KeyOrBearer,
        id: Path<PatientId>,
        /// Only care logs of this kind.
        kind: Query<Option<CareLogKind>>,
        limit: Query<Option<Limit>>,
        cursor: Query<Option<Cursor>>,
    ) -> Result<Json<Page<CareLog>>> {
        let caller = auth.needs(Scope::CareLogsRead)?;
        let page = PageRequest::new(limit.0, cursor.0);
        let rows = self.db.run(&caller, async |tx| care_logs::list(tx, id.0, kind.0, &page).await).await?;
        Ok(Json(Page::of(&page, rows)))
    }

    /// Append a care log.
    ///
    /// About a patient in your care. The author is the caller and the recording time the server's;
    /// `occurredAt` may be earlier, never later. Care logs are append-only: correct one with an
    /// amendment. Retry-safe with an `Idempotency-Key`.
    #[oai(path = "/patients/:id/care-logs", method = "post", operation_id = "createCareLog")]
    async fn create(
        &self,
        auth: KeyOrBearer,
        id: Path<PatientId>,
        #[oai(name = "Idempotency-Key")] key: Header<Option<IdempotencyKey>>,
        body: JsonBody<NewCareLogRequest>,
    ) -> Result<Created<CareLog>> {
        let caller = auth.needs(Scope::CareLogsWrite)?;
        let new = body.0.validate()?;
        let scope = Creates::CreateCareLog.under(id.0);
        let work = async |tx: &mut _| care_logs::insert(tx, id.0, &new).await;
        idempotency::create(&self.db, &caller, key.0, scope, &body.0, work).await
    }

    /// Get a care log.
    ///
    /// The original and its amendments, oldest first; an amendment's id finds its original.
    #[oai(path = "/care-logs/:id", method = "get", operation_id = "getCareLog")]
    async fn get(&self, auth: BearerAuth, id: Path<CareLogId>) -> Result<Json<CareLog>> {
        self.db.run(&auth.0, async |tx| care_logs::get(tx, id.0).await).await.map(wire)
    }

    /// Correct a care log.
    ///
    /// Appends an amendment with the reason and the corrected fields; the original never changes,
    /// and reads show both. The reason is recorded in the audit log.
    #[oai(path = "/care-logs/:id/amendments", method = "post", operation_id = "amendCareLog")]
    async fn amend(
        &self,
        auth: BearerAuth,
        id: Path<CareLogId>,
        #[oai(name = "Idempotency-Key")] key: Header<Option<IdempotencyKey>>,
        body: JsonBody<CareLogAmendmentRequest>,
    ) -> Result<Created<CareLog>> {
        let amendment = body.0.validate()?;
        let principal = auth.0.with_reason(Some(body.0.reason.0.clone()));
        let scope = Creates::AmendCareLog.under(id.0);
        let work = async |tx: &mut _| care_logs::amend(tx, id.0, &amendment).await;
        idempotency::create(&self.db, &principal, key.0, scope, &body.0, work).await
    }
}

/// One version of a care log: the original, or an amendment of it.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct CareLogVersion {
    /// This version's id.
    pub id: CareLogId,
    /// What it records.
    pub kind: CareLogKind,
    /// The text.
    pub body: String,
    /// When it happened (never in the future).
    pub occurred_at: DateTime<Utc>,
    /// Whether the patient sees it in their app.
    pub visible_to_patient: bool,
    /// Who wrote it: always the caller who recorded it.
    pub author_id: UserId,
    /// Server time of recording.
    pub recorded_at: DateTime<Utc>,
    /// Why this amendment was made (amendments only).
    pub amendment_reason: Option<String>,
}

impl From<crate::db::clinical::care_logs::CareLogVersion> for CareLogVersion {
    fn from(row: crate::db::clinical::care_logs::CareLogVersion) -> Self {
        Self {
            id: row.id,
            kind: row.kind,
            body: row.body,
            occurred_at: row.occurred_at,
            visible_to_patient: row.visible_to_patient,
            author_id: row.author_id,
            recorded_at: row.recorded_at,
            amendment_reason: row.amendment_reason,
        }
    }
}

/// A care log: the original entry and its amendments, oldest first. The last
/// amendment, if any, is the current version.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct CareLog {
    /// This care log's id (its original's).
    pub id: CareLogId,
    /// The patient it is about.
    pub patient_id: PatientId,
    /// The entry as first recorded; never changes.
    pub original: CareLogVersion,
    /// Its corrections, oldest first; the last is the current version.
    pub amendments: Vec<CareLogVersion>,
}

impl From<crate::db::clinical::care_logs::CareLog> for CareLog {
    fn from(row: crate::db::clinical::care_logs::CareLog) -> Self {
        Self {
            id: row.id,
            patient_id: row.patient_id,
            original: row.original.into(),
            amendments: row.amendments.into_iter().map(Into::into).collect(),
        }
    }
}
