//! Medications: prescriptions managed by the care team, dose events recorded
//! by the patient or a nurse, and adherence.

use chrono::{DateTime, NaiveDate, SubsecRound, Utc};
use poem_openapi::{
    Object, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
};
use serde_json::{Value, json};

use super::{Recorded, record, reported_at};
use crate::api::contract::{Contract, Contracts};
use crate::api::examples::{AT, DOSE, Example, NURSE, PATIENT, PATIENT_USER, PRESCRIPTION, page};
use crate::domain::ids::UserId;
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
        Db, recovery,
        recovery::medications::{
            self, DoseStatus, NewDoseEvent, NewPrescription, PrescriptionPatch, PrescriptionStatus, Route,
        },
    },
    domain::{
        ids::{DoseEventId, PatientId, PrescriptionId},
        page::{Cursor, Limit, PageRequest},
        text::{Nullable, Opt, Text},
    },
    error::{Result, Validator},
};

pub struct MedicationsApi {
    pub db: Db,
}

/// A prescription to enter.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct NewPrescriptionRequest {
    /// The drug (1–200 characters).
    #[oai(validator(min_length = 1, max_length = 200))]
    pub drug: Text,
    /// The dose as prescribed, e.g. "50 mg" (1–100 characters).
    #[oai(validator(min_length = 1, max_length = 100))]
    pub dose: Text,
    /// How it is given.
    pub route: Route,
    /// When it is given, e.g. "twice daily, 08:00 and 20:00" (1–200 characters).
    #[oai(validator(min_length = 1, max_length = 200))]
    pub schedule: Text,
    /// The first day.
    pub starts_on: NaiveDate,
    /// The last day; not before `startsOn`.
    pub ends_on: Opt<NaiveDate>,
    /// Who prescribed it (1–200 characters).
    #[oai(validator(min_length = 1, max_length = 200))]
    pub prescriber: Text,
    /// Instructions and remarks (1–2000 characters).
    #[oai(validator(min_length = 1, max_length = 2000))]
    pub notes: Opt<Text>,
}

impl NewPrescriptionRequest {
    fn validate(&self) -> Result<NewPrescription<'_>> {
        let mut v = Validator::default();
        v.check(
            self.ends_on.is_none_or(|end| end >= self.starts_on),
            "endsOn",
            "must not be before startsOn",
        );
        v.finish()?;
        Ok(NewPrescription {
            drug: &self.drug,
            dose: &self.dose,
            route: self.route,
            schedule: &self.schedule,
            starts_on: self.starts_on,
            ends_on: self.ends_on.0,
            prescriber: &self.prescriber,
            notes: self.notes.as_deref(),
        })
    }
}

/// Changes to an active prescription; absent fields stay as they are.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdatePrescriptionRequest {
    /// The dose (1–100 characters).
    #[oai(validator(min_length = 1, max_length = 100))]
    pub dose: Opt<Text>,
    /// How it is given.
    pub route: Opt<Route>,
    /// When it is given (1–200 characters).
    #[oai(validator(min_length = 1, max_length = 200))]
    pub schedule: Opt<Text>,
    /// The last day; `null` clears it.
    pub ends_on: Nullable<NaiveDate>,
    /// Who prescribed it (1–200 characters).
    #[oai(validator(min_length = 1, max_length = 200))]
    pub prescriber: Opt<Text>,
    /// Instructions and remarks; `null` clears them.
    #[oai(validator(min_length = 1, max_length = 2000))]
    pub notes: Nullable<Text>,
}

impl UpdatePrescriptionRequest {
    fn patch(&self) -> PrescriptionPatch<'_> {
        PrescriptionPatch {
            dose: self.dose.as_deref(),
            route: self.route.0,
            schedule: self.schedule.as_deref(),
            ends_on: self.ends_on.as_opt_ref().map(|d| d.copied()),
            prescriber: self.prescriber.as_deref(),
            notes: self.notes.as_opt_deref(),
        }
    }
}

/// Why a prescription stops.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct StopPrescriptionRequest {
    /// Why (1–1000 characters); kept with the prescription and in the audit log.
    #[oai(validator(min_length = 1, max_length = 1000))]
    pub reason: Text,
}

/// A dose event to record.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct NewDoseEventRequest {
    /// A new UUID the client makes for this event, so that sending it again
    /// is a harmless replay.
    pub id: DoseEventId,
    /// The patient's prescription it is for.
    pub prescription_id: PrescriptionId,
    /// What happened.
    pub status: DoseStatus,
    /// When the dose was due; at most a day ahead.
    pub scheduled_at: DateTime<Utc>,
    /// When it was taken: required for `taken` and `late`, absent otherwise; never in the future.
    pub taken_at: Opt<DateTime<Utc>>,
    /// Remarks (1–2000 characters), e.g. why a dose was refused.
    #[oai(validator(min_length = 1, max_length = 2000))]
    pub notes: Opt<Text>,
}

impl NewDoseEventRequest {
    pub fn validate(&self) -> Result<NewDoseEvent> {
        let mut v = Validator::default();
        let taken = matches!(self.status, DoseStatus::Taken | DoseStatus::Late);
        v.check(!taken || self.taken_at.is_some(), "takenAt", "is required when the dose was taken");
        v.check(taken || self.taken_at.is_none(), "takenAt", "must be absent when the dose was not taken");
        let taken_at = reported_at(&mut v, "takenAt", self.taken_at.0);
        let latest = Utc::now() + chrono::Duration::days(1);
        v.check(self.scheduled_at <= latest, "scheduledAt", "must be at most a day ahead");
        v.finish()?;
        Ok(NewDoseEvent {
            prescription_id: self.prescription_id,
            status: self.status,
            scheduled_at: self.scheduled_at.trunc_subsecs(6),
            taken_at,
            notes: self.notes.as_deref().map(str::to_owned),
        })
    }
}

/// What the spec cannot read from these operations' types, and their objects' examples: see `api::contract`.
pub(crate) const CONTRACT: Contracts = Contracts {
    file: file!(),
    operations: &[
        Contract::of("updatePrescription").conflicts(&[Conflict::PRESCRIPTION_STOPPED]),
        Contract::of("stopPrescription").conflicts(&[Conflict::PRESCRIPTION_STOPPED]),
        Contract::of("createDoseEvent").conflicts(&[Conflict::RECORD_ID_TAKEN]),
    ],
    examples,
};

/// This module's objects as an integrator sends and receives them: see `api::examples`.
fn examples() -> Vec<Example> {
    vec![
        Example::of::<NewPrescriptionRequest>(
            json!({"drug": "Naltrexone", "dose": "50 mg", "route": "oral", "schedule": "once daily, 08:00",
                   "startsOn": "2026-11-02", "prescriber": "Dr. A. Menon", "notes": "Take with food."}),
        ),
        Example::of::<UpdatePrescriptionRequest>(json!({"dose": "25 mg", "endsOn": "2027-02-01"})),
        Example::of::<StopPrescriptionRequest>(
            json!({"reason": "Liver function tests raised; reviewed with Dr. Menon."}),
        ),
        Example::of::<NewDoseEventRequest>(dose_request_example()),
        Example::of::<Prescription>(prescription_example()),
        Example::of::<DoseEvent>(dose_example()),
        Example::of::<Page<Prescription>>(page(prescription_example())),
        Example::of::<Page<DoseEvent>>(page(dose_example())),
    ]
}

fn prescription_example() -> Value {
    json!({"id": PRESCRIPTION, "patientId": PATIENT, "drug": "Naltrexone", "dose": "50 mg", "route": "oral",
           "schedule": "once daily, 08:00", "startsOn": "2026-11-02", "prescriber": "Dr. A. Menon",
           "status": "active", "createdBy": NURSE, "createdAt": AT, "updatedAt": AT,
           "adherence": {"taken": 17, "late": 2, "missed": 1, "refused": 0, "rate": 0.95}})
}

/// Also a record of the sync batch example.
pub(crate) fn dose_request_example() -> Value {
    json!({"id": DOSE, "prescriptionId": PRESCRIPTION, "status": "taken", "scheduledAt": "2026-11-20T08:00:00Z",
           "takenAt": "2026-11-20T08:05:00Z"})
}

fn dose_example() -> Value {
    json!({"id": DOSE, "patientId": PATIENT, "prescriptionId": PRESCRIPTION, "status": "taken",
           "scheduledAt": "2026-11-20T08:00:00Z", "takenAt": "2026-11-20T08:05:00Z", "recordedBy": PATIENT_USER,
           "recordedAt": AT})
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Medications")]
impl MedicationsApi {
    /// A patient's prescriptions.
    ///
    /// Newest first, active and stopped (filter with `status`), each with its adherence over the
    /// last 30 days. Audited as a read of the chart.
    #[oai(path = "/patients/:id/prescriptions", method = "get", operation_id = "listPrescriptions")]
    async fn list(
        &self,
        auth: BearerAuth,
        id: Path<PatientId>,
        status: Query<Option<PrescriptionStatus>>,
        limit: Query<Option<Limit>>,
        cursor: Query<Option<Cursor>>,
    ) -> Result<Json<Page<Prescription>>> {
        let page = PageRequest::new(limit.0, cursor.0);
        let rows =
            self.db.run(&auth.0, async |tx| medications::list(tx, id.0, status.0, &page).await).await?;
        Ok(Json(Page::of(&page, rows)))
    }

    /// Prescribe.
    ///
    /// Staff for a patient in their care, or a facility admin. Every later change is in the audit
    /// log. Retry-safe with an `Idempotency-Key`.
    #[oai(path = "/patients/:id/prescriptions", method = "post", operation_id = "createPrescription")]
    async fn create(
        &self,
        auth: BearerAuth,
        id: Path<PatientId>,
        #[oai(name = "Idempotency-Key")] key: Header<Option<IdempotencyKey>>,
        body: JsonBody<NewPrescriptionRequest>,
    ) -> Result<Created<Prescription>> {
        let input = body.0.validate()?;
        let scope = Creates::CreatePrescription.under(id.0);
        let work = async |tx: &mut _| medications::insert(tx, id.0, &input).await;
        idempotency::create(&self.db, &auth.0, key.0, scope, &body.0, work).await
    }

    /// A prescription.
    ///
    /// With its adherence over the last 30 days. Audited as a read of the chart.
    #[oai(path = "/prescriptions/:id", method = "get", operation_id = "getPrescription")]
    async fn get(&self, auth: BearerAuth, id: Path<PrescriptionId>) -> Result<Json<Prescription>> {
        self.db.run(&auth.0, async |tx| medications::get(tx, id.0).await).await.map(wire)
    }

    /// Change a prescription.
    ///
    /// The dose, route, schedule, end date, prescriber or notes of an active prescription; the
    /// audit log keeps every earlier value. A stopped prescription is a 409.
    #[oai(path = "/prescriptions/:id", method = "patch", operation_id = "updatePrescription")]
    async fn update(
        &self,
        auth: BearerAuth,
        id: Path<PrescriptionId>,
        body: JsonBody<UpdatePrescriptionRequest>,
    ) -> Result<Json<Prescription>> {
        let patch = body.0.patch();
        self.db.run(&auth.0, async |tx| medications::update(tx, id.0, &patch).await).await.map(wire)
    }

    /// Stop a prescription.
    ///
    /// With the reason. It is kept, with when and why it stopped; a new course is a new
    /// prescription. Stopping a stopped prescription is a 409.
    #[oai(path = "/prescriptions/:id/stop", method = "post", operation_id = "stopPrescription")]
    async fn stop(
        &self,
        auth: BearerAuth,
        id: Path<PrescriptionId>,
        body: JsonBody<StopPrescriptionRequest>,
    ) -> Result<Json<Prescription>> {
        let principal = auth.0.with_reason(Some(body.0.reason.0.clone()));
        self.db.run(&principal, async |tx| medications::stop(tx, id.0, &body.0.reason).await).await.map(wire)
    }

    /// A patient's dose events.
    ///
    /// Newest first by when the dose was due. Audited as a read of the chart.
    #[oai(path = "/patients/:id/doses", method = "get", operation_id = "listDoseEvents")]
    async fn list_doses(
        &self,
        auth: BearerAuth,
        id: Path<PatientId>,
        limit: Query<Option<Limit>>,
        cursor: Query<Option<Cursor>>,
    ) -> Result<Json<Page<DoseEvent>>> {
        let page = PageRequest::new(limit.0, cursor.0);
        let rows = self
            .db
            .run(&auth.0, async |tx| {
                recovery::list::<crate::db::recovery::medications::DoseEvent>(tx, id.0, &page).await
            })
            .await?;
        Ok(Json(Page::of(&page, rows)))
    }

    /// Record a dose event.
    ///
    /// Taken, late, missed or refused, against one of the patient's prescriptions; by the patient
    /// or by staff in their care. Append-only. The client makes the id: sending the same id and
    /// content again answers 200 with the stored event; the same id with other content is a 409.
    #[oai(path = "/patients/:id/doses", method = "post", operation_id = "createDoseEvent")]
    async fn create_dose(
        &self,
        auth: BearerAuth,
        id: Path<PatientId>,
        body: JsonBody<NewDoseEventRequest>,
    ) -> Result<Recorded<DoseEvent>> {
        let input = body.0.validate()?;
        record::<crate::db::recovery::medications::DoseEvent, _>(&self.db, &auth.0, id.0, body.0.id.0, &input)
            .await
    }
}

/// Dose events of the last 30 days.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct Adherence {
    /// Taken on time.
    pub taken: i64,
    /// Taken late.
    pub late: i64,
    /// Missed.
    pub missed: i64,
    /// Refused.
    pub refused: i64,
    /// Taken (on time or late) out of all recorded, 0–1; absent with nothing recorded.
    pub rate: Option<f64>,
}

impl From<crate::db::recovery::medications::Adherence> for Adherence {
    fn from(row: crate::db::recovery::medications::Adherence) -> Self {
        Self { taken: row.taken, late: row.late, missed: row.missed, refused: row.refused, rate: row.rate }
    }
}

/// A prescription, with its adherence.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct Prescription {
    /// Its id.
    pub id: PrescriptionId,
    /// The patient.
    pub patient_id: PatientId,
    /// The drug.
    pub drug: String,
    /// The dose, as prescribed ("50 mg").
    pub dose: String,
    /// How it is given.
    pub route: Route,
    /// When it is given ("twice daily, 08:00 and 20:00").
    pub schedule: String,
    /// The first day.
    pub starts_on: NaiveDate,
    /// The last day, if set.
    pub ends_on: Option<NaiveDate>,
    /// Who prescribed it.
    pub prescriber: String,
    /// Instructions and remarks.
    pub notes: Option<String>,
    /// Active or stopped.
    pub status: PrescriptionStatus,
    /// When it was stopped.
    pub stopped_at: Option<DateTime<Utc>>,
    /// Why it was stopped.
    pub stop_reason: Option<String>,
    /// Who entered it.
    pub created_by: UserId,
    /// When it was entered.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Dose events of the last 30 days.
    pub adherence: Adherence,
}

impl From<crate::db::recovery::medications::Prescription> for Prescription {
    fn from(row: crate::db::recovery::medications::Prescription) -> Self {
        Self {
            id: row.id,
            patient_id: row.patient_id,
            drug: row.drug,
            dose: row.dose,
            route: row.route,
            schedule: row.schedule,
            starts_on: row.starts_on,
            ends_on: row.ends_on,
            prescriber: row.prescriber,
            notes: row.notes,
            status: row.status,
            stopped_at: row.stopped_at,
            stop_reason: row.stop_reason,
            created_by: row.created_by,
            created_at: row.created_at,
            updated_at: row.updated_at,
            adherence: row.adherence.into(),
        }
    }
}

/// A dose event as stored.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct DoseEvent {
    /// Its id (chosen by the client that created it).
    pub id: DoseEventId,
    /// The patient.
    pub patient_id: PatientId,
    /// The prescription.
    pub prescription_id: PrescriptionId,
    /// What happened.
    pub status: DoseStatus,
    /// When the dose was due.
    pub scheduled_at: DateTime<Utc>,
    /// When it was taken (taken and late only).
    pub taken_at: Option<DateTime<Utc>>,
    /// Remarks.
    pub notes: Option<String>,
    /// Who recorded it (the patient, or a nurse).
    pub recorded_by: UserId,
    /// When it reached the server.
    pub recorded_at: DateTime<Utc>,
}

impl From<crate::db::recovery::medications::DoseEvent> for DoseEvent {
    fn from(row: crate::db::recovery::medications::DoseEvent) -> Self {
        Self {
            id: row.id,
            patient_id: row.patient_id,
            prescription_id: row.prescription_id,
            status: row.status,
            scheduled_at: row.scheduled_at,
            taken_at: row.taken_at,
            notes: row.notes,
            recorded_by: row.recorded_by,
            recorded_at: row.recorded_at,
        }
    }
}
