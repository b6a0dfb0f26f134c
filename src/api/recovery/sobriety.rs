//! Sobriety: days sober, and the resets that move the start date.

use chrono::NaiveDate;
use poem_openapi::{
    Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use serde_json::{Value, json};

use super::{Recorded, record};
use crate::api::contract::{Contract, Contracts};
use crate::api::examples::{AT, Example, PATIENT, PATIENT_USER, RESET, page};
use crate::domain::ids::UserId;
use crate::error::Conflict;
use crate::{
    api::wire,
    api::{ApiTags, body::JsonBody, page::Page},
    auth::BearerAuth,
    db::{
        Db, recovery,
        recovery::sobriety::{self, NewSobrietyReset},
    },
    domain::{
        ids::{PatientId, SobrietyResetId},
        page::{Cursor, Limit, PageRequest},
        text::Text,
    },
    error::{Result, Validator},
};
use chrono::{DateTime, Utc};

pub struct SobrietyApi {
    pub db: Db,
}

/// A reset of the sobriety start date.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct NewSobrietyResetRequest {
    /// A new UUID the client makes for this reset, so that sending it again
    /// is a harmless replay.
    pub id: SobrietyResetId,
    /// The new start date; at most a day past today (UTC), for patients whose day has begun.
    pub since: NaiveDate,
    /// Why (1–1000 characters): a relapse, or a correction of the date.
    #[oai(validator(min_length = 1, max_length = 1000))]
    pub reason: Text,
}

impl NewSobrietyResetRequest {
    pub fn validate(&self) -> Result<NewSobrietyReset> {
        let mut v = Validator::default();
        super::reported_day(&mut v, "since", self.since);
        v.finish()?;
        Ok(NewSobrietyReset { since: self.since, reason: self.reason.0.clone() })
    }
}

/// What the spec cannot read from these operations' types, and their objects' examples: see `api::contract`.
pub(crate) const CONTRACT: Contracts = Contracts {
    file: file!(),
    operations: &[Contract::of("createSobrietyReset").conflicts(&[Conflict::RECORD_ID_TAKEN])],
    examples,
};

/// This module's objects as an integrator sends and receives them: see `api::examples`.
fn examples() -> Vec<Example> {
    vec![
        Example::of::<NewSobrietyResetRequest>(
            json!({"id": RESET, "since": "2026-11-18", "reason": "Drank at a family wedding on the 17th."}),
        ),
        Example::of::<SobrietyReset>(reset_example()),
        Example::of::<Sobriety>(
            json!({"patientId": PATIENT, "since": "2026-11-18", "daysSober": 4, "longestDays": 19, "resets": 1,
                   "lastResetAt": AT}),
        ),
        Example::of::<Page<SobrietyReset>>(page(reset_example())),
    ]
}

/// Also a change in the sync changes example.
pub(crate) fn reset_example() -> Value {
    json!({"id": RESET, "patientId": PATIENT, "since": "2026-11-18", "previousSince": "2026-10-30",
           "reason": "Drank at a family wedding on the 17th.", "recordedBy": PATIENT_USER, "recordedAt": AT})
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Sobriety")]
impl SobrietyApi {
    /// A patient's sobriety.
    ///
    /// The start date, days sober (to today, UTC), the longest stretch and the resets so far.
    /// Audited as a read of the chart.
    #[oai(path = "/patients/:id/sobriety", method = "get", operation_id = "getSobriety")]
    async fn get(&self, auth: BearerAuth, id: Path<PatientId>) -> Result<Json<Sobriety>> {
        self.db.run(&auth.0, async |tx| sobriety::summary(tx, id.0).await).await.map(wire)
    }

    /// A patient's sobriety resets.
    ///
    /// Newest first, each with the date it replaced. Audited as a read of the chart.
    #[oai(path = "/patients/:id/sobriety/resets", method = "get", operation_id = "listSobrietyResets")]
    async fn list(
        &self,
        auth: BearerAuth,
        id: Path<PatientId>,
        limit: Query<Option<Limit>>,
        cursor: Query<Option<Cursor>>,
    ) -> Result<Json<Page<SobrietyReset>>> {
        let page = PageRequest::new(limit.0, cursor.0);
        let rows = self
            .db
            .run(&auth.0, async |tx| {
                recovery::list::<crate::db::recovery::sobriety::SobrietyReset>(tx, id.0, &page).await
            })
            .await?;
        Ok(Json(Page::of(&page, rows)))
    }

    /// Reset the sobriety start date.
    ///
    /// By the patient (an honest report), or by staff for a patient in their care. Append-only:
    /// the reset keeps the date it replaced and the patient's start date moves. The client makes
    /// the id: sending the same id and content again answers 200 with the stored reset; the same
    /// id with other content is a 409.
    #[oai(path = "/patients/:id/sobriety/resets", method = "post", operation_id = "createSobrietyReset")]
    async fn create(
        &self,
        auth: BearerAuth,
        id: Path<PatientId>,
        body: JsonBody<NewSobrietyResetRequest>,
    ) -> Result<Recorded<SobrietyReset>> {
        let input = body.0.validate()?;
        record::<crate::db::recovery::sobriety::SobrietyReset, _>(
            &self.db,
            &auth.0,
            id.0,
            body.0.id.0,
            &input,
        )
        .await
    }
}

/// A reset as stored.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct SobrietyReset {
    /// Its id (chosen by the client that created it).
    pub id: SobrietyResetId,
    /// The patient.
    pub patient_id: PatientId,
    /// The new start date.
    pub since: NaiveDate,
    /// The start date it replaced, if there was one.
    pub previous_since: Option<NaiveDate>,
    /// Why.
    pub reason: String,
    /// Who recorded it (the patient, or a member of their care team).
    pub recorded_by: UserId,
    /// When it reached the server.
    pub recorded_at: DateTime<Utc>,
}

impl From<crate::db::recovery::sobriety::SobrietyReset> for SobrietyReset {
    fn from(row: crate::db::recovery::sobriety::SobrietyReset) -> Self {
        Self {
            id: row.id,
            patient_id: row.patient_id,
            since: row.since,
            previous_since: row.previous_since,
            reason: row.reason,
            recorded_by: row.recorded_by,
            recorded_at: row.recorded_at,
        }
    }
}

/// Where a patient stands.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct Sobriety {
    /// The patient.
    pub patient_id: PatientId,
    /// The current start date; absent until one is set.
    pub since: Option<NaiveDate>,
    /// Whole days from the start date to today (UTC); absent with no start date.
    pub days_sober: Option<i32>,
    /// Days sober at the longest stretch the resets record, including the current one.
    pub longest_days: Option<i32>,
    /// How many resets there have been.
    pub resets: i64,
    /// When the last reset was recorded.
    pub last_reset_at: Option<DateTime<Utc>>,
}

impl From<crate::db::recovery::sobriety::Sobriety> for Sobriety {
    fn from(row: crate::db::recovery::sobriety::Sobriety) -> Self {
        Self {
            patient_id: row.patient_id,
            since: row.since,
            days_sober: row.days_sober,
            longest_days: row.longest_days,
            resets: row.resets,
            last_reset_at: row.last_reset_at,
        }
    }
}
