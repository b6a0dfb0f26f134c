//! Daily check-ins from the patient's app, or recorded by their care team.

use chrono::{DateTime, Utc};
use poem_openapi::{
    Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use serde_json::{Value, json};

use super::{Recorded, record, reported_at};
use crate::api::contract::{Contract, Contracts};
use crate::api::examples::{AT, CHECK_IN, Example, PATIENT, PATIENT_USER, page};
use crate::domain::ids::UserId;
use crate::error::Conflict;
use crate::{
    api::{ApiTags, body::JsonBody, page::Page},
    auth::BearerAuth,
    db::{
        Db, recovery,
        recovery::{check_ins::NewCheckIn, tenths},
    },
    domain::{
        ids::{CheckInId, PatientId},
        page::{Cursor, Limit, PageRequest},
        text::{Opt, Text},
    },
    error::{Result, Validator},
};

pub struct CheckInsApi {
    pub db: Db,
}

/// A check-in to record.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct NewCheckInRequest {
    /// A new UUID the client makes for this check-in, so that sending it again
    /// (after a timeout, or from an offline queue) is a harmless replay.
    pub id: CheckInId,
    /// When the patient checked in; default now; never in the future.
    pub checked_in_at: Opt<DateTime<Utc>>,
    /// Mood, 1 (worst) to 10 (best).
    #[oai(validator(minimum(value = "1"), maximum(value = "10")))]
    pub mood: i16,
    /// HALT: hungry. Default false.
    pub hungry: Opt<bool>,
    /// HALT: angry. Default false.
    pub angry: Opt<bool>,
    /// HALT: lonely. Default false.
    pub lonely: Opt<bool>,
    /// HALT: tired. Default false.
    pub tired: Opt<bool>,
    /// Hours slept last night, 0–24 (kept to a tenth).
    #[oai(validator(minimum(value = "0"), maximum(value = "24")))]
    pub sleep_hours: Opt<f64>,
    /// How strong cravings are right now, 0 (none) to 10.
    #[oai(validator(minimum(value = "0"), maximum(value = "10")))]
    pub craving_intensity: Opt<i16>,
    /// The patient's own words (1–2000 characters).
    #[oai(validator(min_length = 1, max_length = 2000))]
    pub notes: Opt<Text>,
}

impl NewCheckInRequest {
    pub fn validate(&self) -> Result<NewCheckIn> {
        let mut v = Validator::default();
        let checked_in_at = reported_at(&mut v, "checkedInAt", self.checked_in_at.0);
        v.finish()?;
        Ok(NewCheckIn {
            checked_in_at,
            mood: self.mood,
            hungry: self.hungry.unwrap_or(false),
            angry: self.angry.unwrap_or(false),
            lonely: self.lonely.unwrap_or(false),
            tired: self.tired.unwrap_or(false),
            sleep_hours: self.sleep_hours.map(tenths),
            craving_intensity: self.craving_intensity.0,
            notes: self.notes.as_deref().map(str::to_owned),
        })
    }
}

/// What the spec cannot read from these operations' types, and their objects' examples: see `api::contract`.
pub(crate) const CONTRACT: Contracts = Contracts {
    file: file!(),
    operations: &[Contract::of("createCheckIn").conflicts(&[Conflict::RECORD_ID_TAKEN])],
    examples,
};

/// This module's objects as an integrator sends and receives them: see `api::examples`.
fn examples() -> Vec<Example> {
    vec![
        Example::of::<NewCheckInRequest>(check_in_request_example()),
        Example::of::<CheckIn>(check_in_example()),
        Example::of::<Page<CheckIn>>(page(check_in_example())),
    ]
}

/// Also a record of the sync batch example.
pub(crate) fn check_in_request_example() -> Value {
    json!({"id": CHECK_IN, "checkedInAt": AT, "mood": 6, "tired": true, "sleepHours": 6.5,
           "cravingIntensity": 3, "notes": "Slept badly, better after breakfast."})
}

/// Also a change in the sync changes example.
pub(crate) fn check_in_example() -> Value {
    json!({"id": CHECK_IN, "patientId": PATIENT, "checkedInAt": AT, "mood": 6, "hungry": false, "angry": false,
           "lonely": false, "tired": true, "sleepHours": 6.5, "cravingIntensity": 3,
           "notes": "Slept badly, better after breakfast.", "recordedBy": PATIENT_USER, "recordedAt": AT})
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::CheckIns")]
impl CheckInsApi {
    /// A patient's check-ins.
    ///
    /// Newest first. Patients see their own; staff their caseload's. Audited as a read of the
    /// chart.
    #[oai(path = "/patients/:id/check-ins", method = "get", operation_id = "listCheckIns")]
    async fn list(
        &self,
        auth: BearerAuth,
        id: Path<PatientId>,
        limit: Query<Option<Limit>>,
        cursor: Query<Option<Cursor>>,
    ) -> Result<Json<Page<CheckIn>>> {
        let page = PageRequest::new(limit.0, cursor.0);
        let rows = self
            .db
            .run(&auth.0, async |tx| {
                recovery::list::<crate::db::recovery::check_ins::CheckIn>(tx, id.0, &page).await
            })
            .await?;
        Ok(Json(Page::of(&page, rows)))
    }

    /// Record a check-in.
    ///
    /// By the patient, or by staff for a patient in their care. Append-only. The client makes the
    /// id: sending the same id and content again answers 200 with the stored check-in; the same
    /// id with other content is a 409.
    #[oai(path = "/patients/:id/check-ins", method = "post", operation_id = "createCheckIn")]
    async fn create(
        &self,
        auth: BearerAuth,
        id: Path<PatientId>,
        body: JsonBody<NewCheckInRequest>,
    ) -> Result<Recorded<CheckIn>> {
        let input = body.0.validate()?;
        record::<crate::db::recovery::check_ins::CheckIn, _>(&self.db, &auth.0, id.0, body.0.id.0, &input)
            .await
    }
}

/// A check-in as stored.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct CheckIn {
    /// Its id (chosen by the client that created it).
    pub id: CheckInId,
    /// The patient it is about.
    pub patient_id: PatientId,
    /// When the patient checked in.
    pub checked_in_at: DateTime<Utc>,
    /// Mood, 1 (worst) to 10 (best).
    pub mood: i16,
    /// HALT: hungry.
    pub hungry: bool,
    /// HALT: angry.
    pub angry: bool,
    /// HALT: lonely.
    pub lonely: bool,
    /// HALT: tired.
    pub tired: bool,
    /// Hours slept last night, to a tenth.
    pub sleep_hours: Option<f64>,
    /// How strong cravings are right now, 0 (none) to 10.
    pub craving_intensity: Option<i16>,
    /// The patient's own words.
    pub notes: Option<String>,
    /// Who recorded it (the patient, or a member of their care team).
    pub recorded_by: UserId,
    /// When it reached the server.
    pub recorded_at: DateTime<Utc>,
}

impl From<crate::db::recovery::check_ins::CheckIn> for CheckIn {
    fn from(row: crate::db::recovery::check_ins::CheckIn) -> Self {
        Self {
            id: row.id,
            patient_id: row.patient_id,
            checked_in_at: row.checked_in_at,
            mood: row.mood,
            hungry: row.hungry,
            angry: row.angry,
            lonely: row.lonely,
            tired: row.tired,
            sleep_hours: row.sleep_hours,
            craving_intensity: row.craving_intensity,
            notes: row.notes,
            recorded_by: row.recorded_by,
            recorded_at: row.recorded_at,
        }
    }
}
