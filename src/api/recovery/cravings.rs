//! Cravings, from the patient's app or recorded by their care team.

use chrono::{DateTime, Utc};
use poem_openapi::{
    Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use serde_json::{Value, json};

use super::{Recorded, record, reported_at};
use crate::api::contract::{Contract, Contracts};
use crate::api::examples::{AT, CRAVING, Example, PATIENT, PATIENT_USER, page};
use crate::domain::ids::UserId;
use crate::error::Conflict;
use crate::{
    api::{ApiTags, body::JsonBody, page::Page},
    auth::BearerAuth,
    db::{
        Db, recovery,
        recovery::cravings::{CravingOutcome, NewCraving},
    },
    domain::{
        ids::{CravingId, PatientId},
        page::{Cursor, Limit, PageRequest},
        text::{Opt, Text},
    },
    error::{Result, Validator},
};

pub struct CravingsApi {
    pub db: Db,
}

/// A craving to record.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct NewCravingRequest {
    /// A new UUID the client makes for this craving, so that sending it again
    /// is a harmless replay.
    pub id: CravingId,
    /// When it struck; default now; never in the future.
    pub occurred_at: Opt<DateTime<Utc>>,
    /// How strong, 1 to 10.
    #[oai(validator(minimum(value = "1"), maximum(value = "10")))]
    pub intensity: i16,
    /// What set it off (1–500 characters).
    #[oai(validator(min_length = 1, max_length = 500))]
    pub trigger: Opt<Text>,
    /// What the patient did about it (1–500 characters).
    #[oai(validator(min_length = 1, max_length = 500))]
    pub coping_strategy: Opt<Text>,
    /// Whether they resisted.
    pub outcome: CravingOutcome,
    /// The patient's own words (1–2000 characters).
    #[oai(validator(min_length = 1, max_length = 2000))]
    pub notes: Opt<Text>,
}

impl NewCravingRequest {
    pub fn validate(&self) -> Result<NewCraving> {
        let mut v = Validator::default();
        let occurred_at = reported_at(&mut v, "occurredAt", self.occurred_at.0);
        v.finish()?;
        Ok(NewCraving {
            occurred_at,
            intensity: self.intensity,
            trigger: self.trigger.as_deref().map(str::to_owned),
            coping_strategy: self.coping_strategy.as_deref().map(str::to_owned),
            outcome: self.outcome,
            notes: self.notes.as_deref().map(str::to_owned),
        })
    }
}

/// What the spec cannot read from these operations' types, and their objects' examples: see `api::contract`.
pub(crate) const CONTRACT: Contracts = Contracts {
    file: file!(),
    operations: &[Contract::of("createCraving").conflicts(&[Conflict::RECORD_ID_TAKEN])],
    examples,
};

/// This module's objects as an integrator sends and receives them: see `api::examples`.
fn examples() -> Vec<Example> {
    vec![
        Example::of::<NewCravingRequest>(craving_request_example()),
        Example::of::<Craving>(craving_example()),
        Example::of::<Page<Craving>>(page(craving_example())),
    ]
}

/// Also a record of the sync batch example.
pub(crate) fn craving_request_example() -> Value {
    json!({"id": CRAVING, "occurredAt": AT, "intensity": 7, "trigger": "passed my old bar",
           "copingStrategy": "called my sponsor", "outcome": "resisted"})
}

fn craving_example() -> Value {
    json!({"id": CRAVING, "patientId": PATIENT, "occurredAt": AT, "intensity": 7, "trigger": "passed my old bar",
           "copingStrategy": "called my sponsor", "outcome": "resisted", "recordedBy": PATIENT_USER,
           "recordedAt": AT})
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Cravings")]
impl CravingsApi {
    /// A patient's cravings.
    ///
    /// Newest first. Patients see their own; staff their caseload's. Audited as a read of the
    /// chart.
    #[oai(path = "/patients/:id/cravings", method = "get", operation_id = "listCravings")]
    async fn list(
        &self,
        auth: BearerAuth,
        id: Path<PatientId>,
        limit: Query<Option<Limit>>,
        cursor: Query<Option<Cursor>>,
    ) -> Result<Json<Page<Craving>>> {
        let page = PageRequest::new(limit.0, cursor.0);
        let rows = self
            .db
            .run(&auth.0, async |tx| {
                recovery::list::<crate::db::recovery::cravings::Craving>(tx, id.0, &page).await
            })
            .await?;
        Ok(Json(Page::of(&page, rows)))
    }

    /// Record a craving.
    ///
    /// By the patient, or by staff for a patient in their care. Append-only. The client makes the
    /// id: sending the same id and content again answers 200 with the stored craving; the same id
    /// with other content is a 409.
    #[oai(path = "/patients/:id/cravings", method = "post", operation_id = "createCraving")]
    async fn create(
        &self,
        auth: BearerAuth,
        id: Path<PatientId>,
        body: JsonBody<NewCravingRequest>,
    ) -> Result<Recorded<Craving>> {
        let input = body.0.validate()?;
        record::<crate::db::recovery::cravings::Craving, _>(&self.db, &auth.0, id.0, body.0.id.0, &input)
            .await
    }
}

/// A craving as stored.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct Craving {
    /// Its id (chosen by the client that created it).
    pub id: CravingId,
    /// The patient it is about.
    pub patient_id: PatientId,
    /// When it struck.
    pub occurred_at: DateTime<Utc>,
    /// How strong, 1 to 10.
    pub intensity: i16,
    /// What set it off.
    pub trigger: Option<String>,
    /// What the patient did about it.
    pub coping_strategy: Option<String>,
    /// Whether they resisted.
    pub outcome: CravingOutcome,
    /// The patient's own words.
    pub notes: Option<String>,
    /// Who recorded it (the patient, or a member of their care team).
    pub recorded_by: UserId,
    /// When it reached the server.
    pub recorded_at: DateTime<Utc>,
}

impl From<crate::db::recovery::cravings::Craving> for Craving {
    fn from(row: crate::db::recovery::cravings::Craving) -> Self {
        Self {
            id: row.id,
            patient_id: row.patient_id,
            occurred_at: row.occurred_at,
            intensity: row.intensity,
            trigger: row.trigger,
            coping_strategy: row.coping_strategy,
            outcome: row.outcome,
            notes: row.notes,
            recorded_by: row.recorded_by,
            recorded_at: row.recorded_at,
        }
    }
}
