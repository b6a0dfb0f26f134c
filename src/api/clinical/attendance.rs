//! Attendance: staff check in and out for a shift or a visit to a patient,
//! append-only. Staff see their own; facility admins everyone's.

use chrono::{DateTime, Utc};
use poem_openapi::{
    Object, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
};
use serde_json::{Value, json};

use crate::api::contract::{Contract, Contracts};
use crate::api::examples::{AT, ATTENDANCE, Example, NURSE, PATIENT, page};
use crate::{
    api::{
        ApiTags, Created,
        body::JsonBody,
        idempotency::{self, Creates, IdempotencyKey},
        page::Page,
    },
    auth::BearerAuth,
    db::{
        Db,
        clinical::attendance::{self, AttendanceEvent},
    },
    domain::{
        ids::{AttendanceId, PatientId, UserId},
        page::{Cursor, Limit, PageRequest},
        text::{Opt, Text},
    },
    error::{Result, Validator},
};

pub struct AttendanceApi {
    pub db: Db,
}

/// Checking in or out, for a shift or a visit to a patient.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct NewAttendanceRequest {
    /// Check-in or check-out.
    pub event: AttendanceEvent,
    /// The patient visited (home care); they must be in your caseload.
    pub patient_id: Opt<PatientId>,
    /// Default now; never in the future.
    pub at: Opt<DateTime<Utc>>,
    /// A free-text note (1–2000 characters).
    #[oai(validator(min_length = 1, max_length = 2000))]
    pub note: Opt<Text>,
}

/// A correction of an attendance event: the reason and the corrected fields.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct AttendanceAmendmentRequest {
    /// Why (1–1000 characters); recorded in the audit log.
    #[oai(validator(min_length = 1, max_length = 1000))]
    pub reason: Text,
    /// Check-in or check-out.
    pub event: Opt<AttendanceEvent>,
    /// Never in the future.
    pub at: Opt<DateTime<Utc>>,
    /// A free-text note (1–2000 characters).
    #[oai(validator(min_length = 1, max_length = 2000))]
    pub note: Opt<Text>,
}

fn check_time(at: Option<DateTime<Utc>>) -> Result<()> {
    let mut v = Validator::default();
    v.not_in_future("at", at);
    v.finish()
}

/// What the spec cannot read from these operations' types, and their objects' examples: see `api::contract`.
pub(crate) const CONTRACT: Contracts = Contracts {
    file: file!(),
    operations: &[Contract::of("createAttendance").names_a_record_outside_its_path()],
    examples,
};

/// This module's objects as an integrator sends and receives them: see `api::examples`.
fn examples() -> Vec<Example> {
    vec![
        Example::of::<NewAttendanceRequest>(
            json!({"event": "check_in", "patientId": PATIENT, "note": "morning visit"}),
        ),
        Example::of::<AttendanceAmendmentRequest>(json!({"reason": "forgot to check in", "at": AT})),
        Example::of::<Attendance>(attendance_example()),
        Example::of::<Page<Attendance>>(page(attendance_example())),
    ]
}

fn attendance_example() -> Value {
    json!({"id": ATTENDANCE, "staffId": NURSE, "amendments": [],
           "original": {"id": ATTENDANCE, "event": "check_in", "at": AT, "patientId": PATIENT,
                        "recordedBy": NURSE, "recordedAt": AT}})
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Attendance")]
impl AttendanceApi {
    /// Check in or out.
    ///
    /// Your own attendance, for a shift or a visit to a patient in your care. Append-only. Retry-
    /// safe with an `Idempotency-Key`.
    #[oai(path = "/attendance", method = "post", operation_id = "createAttendance")]
    async fn create(
        &self,
        auth: BearerAuth,
        #[oai(name = "Idempotency-Key")] key: Header<Option<IdempotencyKey>>,
        body: JsonBody<NewAttendanceRequest>,
    ) -> Result<Created<Attendance>> {
        let b = &body.0;
        check_time(b.at.0)?;
        let work = async |tx: &mut _| {
            attendance::insert(tx, b.event, b.patient_id.0, b.at.0, b.note.as_deref()).await
        };
        idempotency::create(&self.db, &auth.0, key.0, Creates::CreateAttendance, b, work).await
    }

    /// List attendance.
    ///
    /// Staff see their own events; facility admins everyone's in the facility, optionally one staff
    /// member's and a time range. Newest first, a page at a time.
    #[oai(path = "/attendance", method = "get", operation_id = "listAttendance")]
    async fn list(
        &self,
        auth: BearerAuth,
        /// Only this staff member's events.
        #[oai(name = "staffId")]
        staff_id: Query<Option<UserId>>,
        /// Events at or after this time.
        from: Query<Option<DateTime<Utc>>>,
        /// Events at or before this time.
        to: Query<Option<DateTime<Utc>>>,
        limit: Query<Option<Limit>>,
        cursor: Query<Option<Cursor>>,
    ) -> Result<Json<Page<Attendance>>> {
        let mut v = Validator::default();
        v.check(from.0.zip(to.0).is_none_or(|(f, t)| f <= t), "from", "must not be after `to`");
        v.finish()?;
        let page = PageRequest::new(limit.0, cursor.0);
        let work = async |tx: &mut _| attendance::list(tx, staff_id.0, from.0, to.0, &page).await;
        Ok(Json(Page::of(&page, self.db.run(&auth.0, work).await?)))
    }

    /// Correct an attendance event.
    ///
    /// Appends an amendment with the reason; the original never changes. The reason is recorded in
    /// the audit log.
    #[oai(path = "/attendance/:id/amendments", method = "post", operation_id = "amendAttendance")]
    async fn amend(
        &self,
        auth: BearerAuth,
        id: Path<AttendanceId>,
        #[oai(name = "Idempotency-Key")] key: Header<Option<IdempotencyKey>>,
        body: JsonBody<AttendanceAmendmentRequest>,
    ) -> Result<Created<Attendance>> {
        let b = &body.0;
        check_time(b.at.0)?;
        let principal = auth.0.with_reason(Some(b.reason.0.clone()));
        let scope = Creates::AmendAttendance.under(id.0);
        let work = async |tx: &mut _| {
            attendance::amend(tx, id.0, b.event.0, b.at.0, b.note.as_deref(), &b.reason).await
        };
        idempotency::create(&self.db, &principal, key.0, scope, b, work).await
    }
}

/// One version of an attendance event.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct AttendanceVersion {
    /// This version's id.
    pub id: AttendanceId,
    /// Check-in or check-out.
    pub event: AttendanceEvent,
    /// When it happened (never in the future).
    pub at: DateTime<Utc>,
    /// The patient visited, for a home visit.
    pub patient_id: Option<PatientId>,
    /// A free-text note.
    pub note: Option<String>,
    /// Who recorded it (always the caller who did).
    pub recorded_by: UserId,
    /// When it was recorded (server time).
    pub recorded_at: DateTime<Utc>,
    /// Why this amendment was made (amendments only).
    pub amendment_reason: Option<String>,
}

impl From<crate::db::clinical::attendance::AttendanceVersion> for AttendanceVersion {
    fn from(row: crate::db::clinical::attendance::AttendanceVersion) -> Self {
        Self {
            id: row.id,
            event: row.event,
            at: row.at,
            patient_id: row.patient_id,
            note: row.note,
            recorded_by: row.recorded_by,
            recorded_at: row.recorded_at,
            amendment_reason: row.amendment_reason,
        }
    }
}

/// An attendance event with its amendments, oldest first.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct Attendance {
    /// This event's id (its original's).
    pub id: AttendanceId,
    /// Whose attendance this is.
    pub staff_id: UserId,
    /// The event as first recorded; never changes.
    pub original: AttendanceVersion,
    /// Its corrections, oldest first; the last is the current version.
    pub amendments: Vec<AttendanceVersion>,
}

impl From<crate::db::clinical::attendance::Attendance> for Attendance {
    fn from(row: crate::db::clinical::attendance::Attendance) -> Self {
        Self {
            id: row.id,
            staff_id: row.staff_id,
            original: row.original.into(),
            amendments: row.amendments.into_iter().map(Into::into).collect(),
        }
    }
}
