//! Meetings attended, from the patient's app or recorded by their care team.

use chrono::NaiveDate;
use poem_openapi::{
    Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use serde_json::{Value, json};

use super::{Recorded, record};
use crate::api::contract::{Contract, Contracts};
use crate::api::examples::{AT, Example, MEETING, PATIENT, PATIENT_USER, page};
use crate::domain::ids::UserId;
use crate::error::Conflict;
use crate::{
    api::{ApiTags, body::JsonBody, page::Page},
    auth::BearerAuth,
    db::{
        Db, recovery,
        recovery::meetings::{MeetingKind, NewMeeting},
    },
    domain::{
        ids::{MeetingId, PatientId},
        page::{Cursor, Limit, PageRequest},
        text::{Opt, Text},
    },
    error::{Result, Validator},
};
use chrono::{DateTime, Utc};

pub struct MeetingsApi {
    pub db: Db,
}

/// A meeting to record.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct NewMeetingRequest {
    /// A new UUID the client makes for this meeting, so that sending it again
    /// is a harmless replay.
    pub id: MeetingId,
    /// What kind of meeting.
    pub kind: MeetingKind,
    /// The day it took place; at most a day past today (UTC), for patients whose day has begun.
    pub attended_on: NaiveDate,
    /// Where (1–200 characters).
    #[oai(validator(min_length = 1, max_length = 200))]
    pub place: Opt<Text>,
    /// The patient's own words (1–2000 characters).
    #[oai(validator(min_length = 1, max_length = 2000))]
    pub notes: Opt<Text>,
}

impl NewMeetingRequest {
    pub fn validate(&self) -> Result<NewMeeting> {
        let mut v = Validator::default();
        super::reported_day(&mut v, "attendedOn", self.attended_on);
        v.finish()?;
        Ok(NewMeeting {
            kind: self.kind,
            attended_on: self.attended_on,
            place: self.place.as_deref().map(str::to_owned),
            notes: self.notes.as_deref().map(str::to_owned),
        })
    }
}

/// What the spec cannot read from these operations' types, and their objects' examples: see `api::contract`.
pub(crate) const CONTRACT: Contracts = Contracts {
    file: file!(),
    operations: &[Contract::of("createMeeting").conflicts(&[Conflict::RECORD_ID_TAKEN])],
    examples,
};

/// This module's objects as an integrator sends and receives them: see `api::examples`.
fn examples() -> Vec<Example> {
    vec![
        Example::of::<NewMeetingRequest>(meeting_request_example()),
        Example::of::<Meeting>(meeting_example()),
        Example::of::<Page<Meeting>>(page(meeting_example())),
    ]
}

/// Also a record of the sync batch example.
pub(crate) fn meeting_request_example() -> Value {
    json!({"id": MEETING, "kind": "na", "attendedOn": "2026-11-19", "place": "Community hall, Baner"})
}

fn meeting_example() -> Value {
    json!({"id": MEETING, "patientId": PATIENT, "kind": "na", "attendedOn": "2026-11-19",
           "place": "Community hall, Baner", "recordedBy": PATIENT_USER, "recordedAt": AT})
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Meetings")]
impl MeetingsApi {
    /// A patient's meetings.
    ///
    /// Newest first by the day attended. Patients see their own; staff their caseload's. Audited
    /// as a read of the chart.
    #[oai(path = "/patients/:id/meetings", method = "get", operation_id = "listMeetings")]
    async fn list(
        &self,
        auth: BearerAuth,
        id: Path<PatientId>,
        limit: Query<Option<Limit>>,
        cursor: Query<Option<Cursor>>,
    ) -> Result<Json<Page<Meeting>>> {
        let page = PageRequest::new(limit.0, cursor.0);
        let rows = self
            .db
            .run(&auth.0, async |tx| {
                recovery::list::<crate::db::recovery::meetings::Meeting>(tx, id.0, &page).await
            })
            .await?;
        Ok(Json(Page::of(&page, rows)))
    }

    /// Record a meeting attended.
    ///
    /// By the patient, or by staff for a patient in their care. Append-only. The client makes the
    /// id: sending the same id and content again answers 200 with the stored meeting; the same id
    /// with other content is a 409.
    #[oai(path = "/patients/:id/meetings", method = "post", operation_id = "createMeeting")]
    async fn create(
        &self,
        auth: BearerAuth,
        id: Path<PatientId>,
        body: JsonBody<NewMeetingRequest>,
    ) -> Result<Recorded<Meeting>> {
        let input = body.0.validate()?;
        record::<crate::db::recovery::meetings::Meeting, _>(&self.db, &auth.0, id.0, body.0.id.0, &input)
            .await
    }
}

/// A meeting as stored.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct Meeting {
    /// Its id (chosen by the client that created it).
    pub id: MeetingId,
    /// The patient who attended.
    pub patient_id: PatientId,
    /// What kind of meeting.
    pub kind: MeetingKind,
    /// The day it took place.
    pub attended_on: NaiveDate,
    /// Where.
    pub place: Option<String>,
    /// The patient's own words.
    pub notes: Option<String>,
    /// Who recorded it (the patient, or a member of their care team).
    pub recorded_by: UserId,
    /// When it reached the server.
    pub recorded_at: DateTime<Utc>,
}

impl From<crate::db::recovery::meetings::Meeting> for Meeting {
    fn from(row: crate::db::recovery::meetings::Meeting) -> Self {
        Self {
            id: row.id,
            patient_id: row.patient_id,
            kind: row.kind,
            attended_on: row.attended_on,
            place: row.place,
            notes: row.notes,
            recorded_by: row.recorded_by,
            recorded_at: row.recorded_at,
        }
    }
}
