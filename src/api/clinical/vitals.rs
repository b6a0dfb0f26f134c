//! Vitals: append-only readings of a patient's measurements. A correction
//! is an amendment with a reason; reads return each original with its
//! amendments.

use chrono::{DateTime, Utc};
use poem_openapi::{
    Object, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
};
use serde_json::{Value, json};

use crate::api::contract::Contracts;
use crate::api::examples::{AT, Example, NURSE, PATIENT, VITALS, page};
use crate::domain::ids::UserId;
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
        clinical::vitals::{self, VitalsInput},
    },
    domain::{
        ids::{PatientId, VitalsId},
        page::{Cursor, Limit, PageRequest},
        text::{Opt, Text},
    },
    error::{Result, Validator},
};

pub struct VitalsApi {
    pub db: Db,
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
            /// mmHg; give it with `diastolic`.
            #[oai(validator(minimum(value = "50"), maximum(value = "300")))]
            pub systolic: Opt<i16>,
            /// mmHg; below `systolic`.
            #[oai(validator(minimum(value = "20"), maximum(value = "200")))]
            pub diastolic: Opt<i16>,
            /// Beats per minute.
            #[oai(validator(minimum(value = "20"), maximum(value = "250")))]
            pub pulse: Opt<i16>,
            /// Degrees Celsius.
            #[oai(validator(minimum(value = "30"), maximum(value = "45")))]
            pub temperature_c: Opt<f64>,
            /// Oxygen saturation, %.
            #[oai(validator(minimum(value = "50"), maximum(value = "100")))]
            pub spo2: Opt<i16>,
            /// Blood glucose, mg/dL.
            #[oai(validator(minimum(value = "10"), maximum(value = "1000")))]
            pub glucose_mg_dl: Opt<i16>,
            /// Kilograms.
            #[oai(validator(minimum(value = "0.5"), maximum(value = "500")))]
            pub weight_kg: Opt<f64>,
            /// Breaths per minute.
            #[oai(validator(minimum(value = "4"), maximum(value = "80")))]
            pub respiration: Opt<i16>,
            /// A free-text note (1–2000 characters).
            #[oai(validator(min_length = 1, max_length = 2000))]
            pub note: Opt<Text>,
            /// Whether the patient sees it in their app. Default false.
            pub visible_to_patient: Opt<bool>,
        }

        impl $name {
            /// The reading, checked; a new one needs at least one measurement.
            fn validate(&self, new_reading: bool) -> Result<VitalsInput<'_>> {
                let m = Measurements {
                    systolic: self.systolic.0,
                    diastolic: self.diastolic.0,
                    pulse: self.pulse.0,
                    temperature_c: self.temperature_c.0,
                    spo2: self.spo2.0,
                    glucose_mg_dl: self.glucose_mg_dl.0,
                    weight_kg: self.weight_kg.0,
                    respiration: self.respiration.0,
                };
                let mut v = Validator::default();
                v.not_in_future("measuredAt", self.measured_at.0);
                check_measurements(&mut v, &m, new_reading);
                v.finish()?;
                Ok(VitalsInput {
                    measured_at: self.measured_at.0,
                    m: (&m).into(),
                    note: self.note.as_deref(),
                    visible_to_patient: self.visible_to_patient.0,
                })
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
        /// Why (1–1000 characters); recorded in the audit log.
        #[oai(validator(min_length = 1, max_length = 1000))]
        reason: Text,
    }
}

fn check_measurements(v: &mut Validator, m: &Measurements, new_reading: bool) {
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

/// What the spec cannot read from these operations' types, and their objects' examples: see `api::contract`.
pub(crate) const CONTRACT: Contracts = Contracts { file: file!(), operations: &[], examples };

/// This module's objects as an integrator sends and receives them: see `api::examples`.
fn examples() -> Vec<Example> {
    vec![
        Example::of::<NewVitalsRequest>(
            json!({"systolic": 122, "diastolic": 78, "pulse": 72, "temperatureC": 36.8, "spo2": 98,
                   "visibleToPatient": true}),
        ),
        Example::of::<VitalsAmendmentRequest>(
            json!({"reason": "cuff too small; re-measured", "systolic": 118, "diastolic": 76}),
        ),
        Example::of::<Vitals>(vitals_example()),
        Example::of::<Page<Vitals>>(page(vitals_example())),
    ]
}

fn vitals_example() -> Value {
    json!({"id": VITALS, "patientId": PATIENT, "amendments": [],
           "original": {"id": VITALS, "measuredAt": AT, "systolic": 122, "diastolic": 78, "pulse": 72,
                        "temperatureC": 36.8, "spo2": 98, "visibleToPatient": true, "recordedBy": NURSE,
                        "recordedAt": AT}})
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Vitals")]
impl VitalsApi {
    /// A patient's vitals.
    ///
    /// Newest first, each with its amendments; a patient sees only the readings marked visible to
    /// them. Audited as a read of the chart.
    #[oai(path = "/patients/:id/vitals", method = "get", operation_id = "listVitals")]
    async fn list(
        &self,
        auth: BearerAuth,
        id: Path<PatientId>,
        limit: Query<Option<Limit>>,
        cursor: Query<Option<Cursor>>,
    ) -> Result<Json<Page<Vitals>>> {
        let page = PageRequest::new(limit.0, cursor.0);
        let rows = self.db.run(&auth.0, async |tx| vitals::list(tx, id.0, &page).await).await?;
        Ok(Json(Page::of(&page, rows)))
    }

    /// Record a vitals reading.
    ///
    /// For a patient in your care: at least one measurement, systolic and diastolic together.
    /// Append-only: correct a reading with an amendment. Retry-safe with an `Idempotency-Key`.
    #[oai(path = "/patients/:id/vitals", method = "post", operation_id = "createVitals")]
    async fn create(
        &self,
        auth: BearerAuth,
        id: Path<PatientId>,
        #[oai(name = "Idempotency-Key")] key: Header<Option<IdempotencyKey>>,
        body: JsonBody<NewVitalsRequest>,
    ) -> Result<Created<Vitals>> {
        let input = body.0.validate(true)?;
        let scope = Creates::CreateVitals.under(id.0);
        let work = async |tx: &mut _| vitals::insert(tx, id.0, &input).await;
        idempotency::create(&self.db, &auth.0, key.0, scope, &body.0, work).await
    }

    /// Correct a vitals reading.
    ///
    /// Appends an amendment with the reason and the corrected measurements; the original never
    /// changes. The reason is recorded in the audit log.
    #[oai(path = "/vitals/:id/amendments", method = "post", operation_id = "amendVitals")]
    async fn amend(
        &self,
        auth: BearerAuth,
        id: Path<VitalsId>,
        #[oai(name = "Idempotency-Key")] key: Header<Option<IdempotencyKey>>,
        body: JsonBody<VitalsAmendmentRequest>,
    ) -> Result<Created<Vitals>> {
        let input = body.0.validate(false)?;
        let principal = auth.0.with_reason(Some(body.0.reason.0.clone()));
        let scope = Creates::AmendVitals.under(id.0);
        let work = async |tx: &mut _| vitals::amend(tx, id.0, &input, &body.0.reason).await;
        idempotency::create(&self.db, &principal, key.0, scope, &body.0, work).await
    }
}

/// The measurements of one reading; at least one is present.
#[derive(Debug, Clone, Default, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct Measurements {
    /// mmHg, 50–300 (with diastolic).
    pub systolic: Option<i16>,
    /// mmHg, 20–200, below systolic.
    pub diastolic: Option<i16>,
    /// Beats per minute, 20–250.
    pub pulse: Option<i16>,
    /// °C, 30–45.
    pub temperature_c: Option<f64>,
    /// %, 50–100.
    pub spo2: Option<i16>,
    /// mg/dL, 10–1000.
    pub glucose_mg_dl: Option<i16>,
    /// kg, 0.5–500.
    pub weight_kg: Option<f64>,
    /// Breaths per minute, 4–80.
    pub respiration: Option<i16>,
}

impl From<crate::db::clinical::vitals::Measurements> for Measurements {
    fn from(row: crate::db::clinical::vitals::Measurements) -> Self {
        Self {
            systolic: row.systolic,
            diastolic: row.diastolic,
            pulse: row.pulse,
            temperature_c: row.temperature_c,
            spo2: row.spo2,
            glucose_mg_dl: row.glucose_mg_dl,
            weight_kg: row.weight_kg,
            respiration: row.respiration,
        }
    }
}

/// The request's measurements as the row `db` stores.
impl From<&Measurements> for crate::db::clinical::vitals::Measurements {
    fn from(wire: &Measurements) -> Self {
        Self {
            systolic: wire.systolic,
            diastolic: wire.diastolic,
            pulse: wire.pulse,
            temperature_c: wire.temperature_c,
            spo2: wire.spo2,
            glucose_mg_dl: wire.glucose_mg_dl,
            weight_kg: wire.weight_kg,
            respiration: wire.respiration,
        }
    }
}

/// One version of a reading: the original, or an amendment of it.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct VitalsVersion {
    /// This version's id.
    pub id: VitalsId,
    /// When it was measured.
    pub measured_at: DateTime<Utc>,
    #[oai(flatten)]
    pub measurements: Measurements,
    /// A free-text note.
    pub note: Option<String>,
    /// Whether the patient sees it in their app.
    pub visible_to_patient: bool,
    /// Who recorded it (always the caller who did).
    pub recorded_by: UserId,
    /// When it was recorded (server time).
    pub recorded_at: DateTime<Utc>,
    /// Why this amendment was made (amendments only).
    pub amendment_reason: Option<String>,
}

impl From<crate::db::clinical::vitals::VitalsVersion> for VitalsVersion {
    fn from(row: crate::db::clinical::vitals::VitalsVersion) -> Self {
        Self {
            id: row.id,
            measured_at: row.measured_at,
            measurements: row.measurements.into(),
            note: row.note,
            visible_to_patient: row.visible_to_patient,
            recorded_by: row.recorded_by,
            recorded_at: row.recorded_at,
            amendment_reason: row.amendment_reason,
        }
    }
}

/// A vitals reading with its amendments, oldest first.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct Vitals {
    /// This reading's id (its original's).
    pub id: VitalsId,
    /// The patient it is about.
    pub patient_id: PatientId,
    /// The entry as first recorded; never changes.
    pub original: VitalsVersion,
    /// Its corrections, oldest first; the last is the current version.
    pub amendments: Vec<VitalsVersion>,
}

impl From<crate::db::clinical::vitals::Vitals> for Vitals {
    fn from(row: crate::db::clinical::vitals::Vitals) -> Self {
        Self {
            id: row.id,
            patient_id: row.patient_id,
            original: row.original.into(),
            amendments: row.amendments.into_iter().map(Into::into).collect(),
        }
    }
}
