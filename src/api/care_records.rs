//! Append-only care records: care logs, vitals and attendance. There is no
//! PUT, PATCH or DELETE for any of them; a correction is an amendment that
//! points at the original, with a reason, and every read returns the
//! original with its amendments.

use chrono::{DateTime, Utc};
use poem_openapi::{
    Object, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
};

use super::{ApiTags, Created, idempotency::create_idempotently, pagination::PageRequest};
use crate::{
    auth::BearerAuth,
    db::{
        Db, TenantTx,
        attendance::{self, Attendance, AttendanceEvent},
        care_logs::{self, Amendment, CareLog, CareLogKind, NewCareLog},
        vitals::{self, Measurements, Vitals, VitalsInput},
    },
    domain::{
        ids::{AttendanceId, CareLogId, PatientId, UserId, VitalsId},
        text::{Opt, Text},
    },
    error::{BodyResult, Error, Result, Validator},
};

pub struct CareRecordsApi {
    pub db: Db,
}

/// A care log to append. The author is the caller; the recording time is
/// the server's.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct NewCareLogRequest {
    pub kind: CareLogKind,
    #[oai(validator(min_length = 1, max_length = 20000))]
    pub body: Text,
    /// When it happened; default now; never in the future.
    pub occurred_at: Opt<DateTime<Utc>>,
    /// Whether the patient sees it in their app. Default false.
    pub visible_to_patient: Opt<bool>,
}

/// A correction of a care log: the reason, and the corrected fields (absent
/// ones keep the current version's values).
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct CareLogAmendmentRequest {
    #[oai(validator(min_length = 1, max_length = 1000))]
    pub reason: Text,
    pub kind: Opt<CareLogKind>,
    #[oai(validator(min_length = 1, max_length = 20000))]
    pub body: Opt<Text>,
    pub occurred_at: Opt<DateTime<Utc>>,
    pub visible_to_patient: Opt<bool>,
}

/// A page of care logs, newest first.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct CareLogPage {
    pub items: Vec<CareLog>,
    pub next_cursor: Option<String>,
}

/// Declares a vitals request body: the given leading fields, then every
/// measurement with its range (the same ranges as the table's checks).
macro_rules! vitals_request {
    ($(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Object)]
        #[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty,)*
            /// Default now; never in the future.
            pub measured_at: Opt<DateTime<Utc>>,
            #[oai(validator(minimum(value = "50"), maximum(value = "300")))]
            pub systolic: Opt<i16>,
            #[oai(validator(minimum(value = "20"), maximum(value = "200")))]
            pub diastolic: Opt<i16>,
            #[oai(validator(minimum(value = "20"), maximum(value = "250")))]
            pub pulse: Opt<i16>,
            #[oai(validator(minimum(value = "30"), maximum(value = "45")))]
            pub temperature_c: Opt<f64>,
            #[oai(validator(minimum(value = "50"), maximum(value = "100")))]
            pub spo2: Opt<i16>,
            #[oai(validator(minimum(value = "10"), maximum(value = "1000")))]
            pub glucose_mg_dl: Opt<i16>,
            #[oai(validator(minimum(value = "0.5"), maximum(value = "500")))]
            pub weight_kg: Opt<f64>,
            #[oai(validator(minimum(value = "4"), maximum(value = "80")))]
            pub respiration: Opt<i16>,
            #[oai(validator(min_length = 1, max_length = 2000))]
            pub note: Opt<Text>,
            pub visible_to_patient: Opt<bool>,
        }

        impl $name {
            fn input<'a>(&'a self, m: &'a Measurements) -> VitalsInput<'a> {
                VitalsInput {
                    measured_at: self.measured_at.0,
                    m,
                    note: self.note.as_deref(),
                    visible_to_patient: self.visible_to_patient.0,
                }
            }

            fn measurements(&self) -> Measurements {
                Measurements {
                    systolic: self.systolic.0,
                    diastolic: self.diastolic.0,
                    pulse: self.pulse.0,
                    temperature_c: self.temperature_c.0,
                    spo2: self.spo2.0,
                    glucose_mg_dl: self.glucose_mg_dl.0,
                    weight_kg: self.weight_kg.0,
                    respiration: self.respiration.0,
                }
            }
        }
    };
}

vitals_request! {
    /// A vitals reading to record (at least one measurement).
    NewVitalsRequest {}
}

vitals_request! {
    /// A correction of a reading: the reason and the corrected fields (absent
    /// ones keep the current version's values).
    VitalsAmendmentRequest {
        #[oai(validator(min_length = 1, max_length = 1000))]
        reason: Text,
    }
}

/// A page of vitals readings, newest first.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct VitalsPage {
    pub items: Vec<Vitals>,
    pub next_cursor: Option<String>,
}

/// Checking in or out, for a shift or a visit to a patient.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct NewAttendanceRequest {
    pub event: AttendanceEvent,
    /// The patient visited (home care); they must be in your caseload.
    pub patient_id: Opt<PatientId>,
    /// Default now; never in the future.
    pub at: Opt<DateTime<Utc>>,
    #[oai(validator(min_length = 1, max_length = 2000))]
    pub note: Opt<Text>,
}

/// A correction of an attendance event.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct AttendanceAmendmentRequest {
    #[oai(validator(min_length = 1, max_length = 1000))]
    pub reason: Text,
    pub event: Opt<AttendanceEvent>,
    pub at: Opt<DateTime<Utc>>,
    #[oai(validator(min_length = 1, max_length = 2000))]
    pub note: Opt<Text>,
}

/// A page of attendance events, newest first.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct AttendancePage {
    pub items: Vec<Attendance>,
    pub next_cursor: Option<String>,
}

/// Times a client reports must not be ahead of the server (a minute of clock
/// skew is tolerated, as in the tables' check constraints).
fn not_in_future(v: &mut Validator, field: &str, at: Option<DateTime<Utc>>) {
    let limit = Utc::now() + chrono::Duration::minutes(1);
    v.check(at.is_none_or(|t| t <= limit), field, "must not be in the future");
}

/// Checks a reading's measurements; a new one needs at least one.
fn validate_vitals(
    v: &mut Validator,
    measured_at: Option<DateTime<Utc>>,
    m: &Measurements,
    new_reading: bool,
) {
    not_in_future(v, "measuredAt", measured_at);
    let any = m.systolic.is_some()
        || m.pulse.is_some()
        || m.temperature_c.is_some()
        || m.spo2.is_some()
        || m.glucose_mg_dl.is_some()
        || m.weight_kg.is_some()
        || m.respiration.is_some();
    v.check(!new_reading || any, "systolic", "give at least one measurement");
    if new_reading {
        v.check(
            m.systolic.is_some() == m.diastolic.is_some(),
            "diastolic",
            "give systolic and diastolic together",
        );
    }
    if let (Some(s), Some(d)) = (m.systolic, m.diastolic) {
        v.check(d < s, "diastolic", "must be below systolic");
    }
}

async fn page_of<T>(
    tx: TenantTx,
    page: &PageRequest,
    rows: Vec<T>,
    key: impl Fn(&T) -> (DateTime<Utc>, uuid::Uuid),
) -> Result<(Vec<T>, Option<String>)> {
    tx.commit().await?;
    Ok(page.finish(rows, key))
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::CareRecords")]
impl CareRecordsApi {
    /// A patient's care logs, newest first, each with its amendments. Audited
    /// as a read of the patient's record.
    #[oai(path = "/patients/:id/care-logs", method = "get", operation_id = "listCareLogs")]
    async fn list_care_logs(
        &self,
        auth: BearerAuth,
        id: Path<PatientId>,
        kind: Query<Option<CareLogKind>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] limit: Query<Option<u32>>,
        #[oai(validator(max_length = 200))] cursor: Query<Option<String>>,
    ) -> Result<Json<CareLogPage>> {
        let page = PageRequest::parse(limit.0, cursor.0.as_deref())?;
        let mut tx = self.db.begin(&auth.0).await?;
        let rows = care_logs::list(&mut tx, id.0, kind.0, &page).await?;
        let (items, next_cursor) = page_of(tx, &page, rows, |l| (l.original.occurred_at, l.id.0)).await?;
        Ok(Json(CareLogPage { items, next_cursor }))
    }

    /// Append a care log about a patient in your care.
    #[oai(path = "/patients/:id/care-logs", method = "post", operation_id = "createCareLog")]
    async fn create_care_log(
        &self,
        auth: BearerAuth,
        id: Path<PatientId>,
        #[oai(name = "Idempotency-Key", validator(min_length = 1, max_length = 200))] key: Header<
            Option<String>,
        >,
        body: Json<NewCareLogRequest>,
    ) -> BodyResult<Created<CareLog>> {
        let b = &body.0;
        let mut v = Validator::default();
        not_in_future(&mut v, "occurredAt", b.occurred_at.0);
        v.finish()?;
        let new = NewCareLog {
            kind: b.kind,
            body: &b.body,
            occurred_at: b.occurred_at.0,
            visible_to_patient: b.visible_to_patient.unwrap_or(false),
        };
        let mut tx = self.db.begin(&auth.0).await?;
        create_idempotently!(tx, key.0.as_deref(), format!("createCareLog {}", id.0), b, {
            care_logs::insert(&mut tx, id.0, &new).await?
        })
    }

    /// A care log with its amendments (an amendment's id finds its original).
    #[oai(path = "/care-logs/:id", method = "get", operation_id = "getCareLog")]
    async fn get_care_log(&self, auth: BearerAuth, id: Path<CareLogId>) -> Result<Json<CareLog>> {
        let mut tx = self.db.begin(&auth.0).await?;
        let log = care_logs::get(&mut tx, id.0).await?;
        tx.commit().await?;
        Ok(Json(log))
    }

    /// Correct a care log: appends an amendment; the original never changes.
    #[oai(path = "/care-logs/:id/amendments", method = "post", operation_id = "amendCareLog")]
    async fn amend_care_log(
        &self,
        auth: BearerAuth,
        id: Path<CareLogId>,
        #[oai(name = "Idempotency-Key", validator(min_length = 1, max_length = 200))] key: Header<
            Option<String>,
        >,
        body: Json<CareLogAmendmentRequest>,
    ) -> BodyResult<Created<CareLog>> {
        let b = &body.0;
        let mut v = Validator::default();
        not_in_future(&mut v, "occurredAt", b.occurred_at.0);
        v.finish()?;
        let amendment = Amendment {
            reason: &b.reason,
            kind: b.kind.0,
            body: b.body.as_deref(),
            occurred_at: b.occurred_at.0,
            visible_to_patient: b.visible_to_patient.0,
        };
        let principal = auth.0.with_reason(Some(b.reason.0.clone()));
        let mut tx = self.db.begin(&principal).await?;
        create_idempotently!(tx, key.0.as_deref(), format!("amendCareLog {}", id.0), b, {
            care_logs::amend(&mut tx, id.0, &amendment).await?
        })
    }

    /// A patient's vitals, newest first, each with its amendments. Audited as
    /// a read of the patient's record.
    #[oai(path = "/patients/:id/vitals", method = "get", operation_id = "listVitals")]
    async fn list_vitals(
        &self,
        auth: BearerAuth,
        id: Path<PatientId>,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] limit: Query<Option<u32>>,
        #[oai(validator(max_length = 200))] cursor: Query<Option<String>>,
    ) -> Result<Json<VitalsPage>> {
        let page = PageRequest::parse(limit.0, cursor.0.as_deref())?;
        let mut tx = self.db.begin(&auth.0).await?;
        let rows = vitals::list(&mut tx, id.0, &page).await?;
        let (items, next_cursor) = page_of(tx, &page, rows, |r| (r.original.measured_at, r.id.0)).await?;
        Ok(Json(VitalsPage { items, next_cursor }))
    }

    /// Record a vitals reading for a patient in your care.
    #[oai(path = "/patients/:id/vitals", method = "post", operation_id = "createVitals")]
    async fn create_vitals(
        &self,
        auth: BearerAuth,
        id: Path<PatientId>,
        #[oai(name = "Idempotency-Key", validator(min_length = 1, max_length = 200))] key: Header<
            Option<String>,
        >,
        body: Json<NewVitalsRequest>,
    ) -> BodyResult<Created<Vitals>> {
        let b = &body.0;
        let m = b.measurements();
        let mut v = Validator::default();
        validate_vitals(&mut v, b.measured_at.0, &m, true);
        v.finish()?;
        let input = b.input(&m);
        let mut tx = self.db.begin(&auth.0).await?;
        create_idempotently!(tx, key.0.as_deref(), format!("createVitals {}", id.0), b, {
            vitals::insert(&mut tx, id.0, &input).await?
        })
    }

    /// Correct a vitals reading: appends an amendment; the original never changes.
    #[oai(path = "/vitals/:id/amendments", method = "post", operation_id = "amendVitals")]
    async fn amend_vitals(
        &self,
        auth: BearerAuth,
        id: Path<VitalsId>,
        #[oai(name = "Idempotency-Key", validator(min_length = 1, max_length = 200))] key: Header<
            Option<String>,
        >,
        body: Json<VitalsAmendmentRequest>,
    ) -> BodyResult<Created<Vitals>> {
        let b = &body.0;
        let m = b.measurements();
        let mut v = Validator::default();
        validate_vitals(&mut v, b.measured_at.0, &m, false);
        v.finish()?;
        let input = b.input(&m);
        let principal = auth.0.with_reason(Some(b.reason.0.clone()));
        let mut tx = self.db.begin(&principal).await?;
        create_idempotently!(tx, key.0.as_deref(), format!("amendVitals {}", id.0), b, {
            vitals::amend(&mut tx, id.0, &input, &b.reason).await?
        })
    }

    /// Check in or out (your own attendance), optionally for a patient visit.
    #[oai(path = "/attendance", method = "post", operation_id = "createAttendance")]
    async fn create_attendance(
        &self,
        auth: BearerAuth,
        #[oai(name = "Idempotency-Key", validator(min_length = 1, max_length = 200))] key: Header<
            Option<String>,
        >,
        body: Json<NewAttendanceRequest>,
    ) -> BodyResult<Created<Attendance>> {
        let b = &body.0;
        let mut v = Validator::default();
        not_in_future(&mut v, "at", b.at.0);
        v.finish()?;
        let mut tx = self.db.begin(&auth.0).await?;
        create_idempotently!(tx, key.0.as_deref(), "createAttendance", b, {
            attendance::insert(&mut tx, b.event, b.patient_id.0, b.at.0, b.note.as_deref()).await?
        })
    }

    /// Attendance, newest first: your own (staff) or anyone's in your facility
    /// (admins), optionally one staff member's and a time range.
    #[oai(path = "/attendance", method = "get", operation_id = "listAttendance")]
    async fn list_attendance(
        &self,
        auth: BearerAuth,
        #[oai(name = "staffId")] staff_id: Query<Option<UserId>>,
        from: Query<Option<DateTime<Utc>>>,
        to: Query<Option<DateTime<Utc>>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] limit: Query<Option<u32>>,
        #[oai(validator(max_length = 200))] cursor: Query<Option<String>>,
    ) -> Result<Json<AttendancePage>> {
        let page = PageRequest::parse(limit.0, cursor.0.as_deref())?;
        if let (Some(f), Some(t)) = (from.0, to.0) {
            if f > t {
                return Err(Error::invalid("from", "must not be after `to`"));
            }
        }
        let mut tx = self.db.begin(&auth.0).await?;
        let rows = attendance::list(&mut tx, staff_id.0, from.0, to.0, &page).await?;
        let (items, next_cursor) = page_of(tx, &page, rows, |a| (a.original.at, a.id.0)).await?;
        Ok(Json(AttendancePage { items, next_cursor }))
    }

    /// Correct an attendance event: appends an amendment.
    #[oai(path = "/attendance/:id/amendments", method = "post", operation_id = "amendAttendance")]
    async fn amend_attendance(
        &self,
        auth: BearerAuth,
        id: Path<AttendanceId>,
        #[oai(name = "Idempotency-Key", validator(min_length = 1, max_length = 200))] key: Header<
            Option<String>,
        >,
        body: Json<AttendanceAmendmentRequest>,
    ) -> BodyResult<Created<Attendance>> {
        let b = &body.0;
        let mut v = Validator::default();
        not_in_future(&mut v, "at", b.at.0);
        v.finish()?;
        let principal = auth.0.with_reason(Some(b.reason.0.clone()));
        let mut tx = self.db.begin(&principal).await?;
        create_idempotently!(tx, key.0.as_deref(), format!("amendAttendance {}", id.0), b, {
            attendance::amend(&mut tx, id.0, b.event.0, b.at.0, b.note.as_deref(), &b.reason).await?
        })
    }
}
