//! Patients: creation with a one-time registration key, lookups, partial
//! updates, soft delete and restore, and the dashboard. RLS decides who sees
//! whom (facility admins: the facility; staff: their caseload; a patient:
//! themselves); a hidden patient is a 404.

use chrono::{DateTime, NaiveDate, Utc};
use poem_openapi::{
    Object, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
};
use serde_json::{Value, json};

use crate::api::contract::{Contract, Contracts};
use crate::api::examples::{AT, CARE_LOG, Example, FACILITY, NURSE, PATIENT, PATIENT_USER, VITALS, page};
use crate::domain::ids::CareLogId;
use crate::domain::ids::VitalsId;
use crate::error::Conflict;
use crate::{
    api::wire,
    api::{
        ApiTags, AppState, Created, NoContent,
        body::JsonBody,
        idempotency::{self, Creates, IdempotencyKey},
        page::Page,
    },
    auth::{BearerAuth, KeyOrBearer},
    db::clinical::patients::{self, NewPatient, PatientFilter, PatientPatch, PatientStatus},
    domain::{
        ids::{FacilityId, PatientId, UserId},
        page::{Cursor, Limit, PageRequest},
        text::{Nullable, Opt, Text},
    },
    error::{Error, Result, Validator},
    identity::{Principal, Role, Scope},
};

pub struct PatientsApi {
    pub state: AppState,
}

/// A new patient. Staff who create one become their primary counsellor
/// unless another is named.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct NewPatientRequest {
    /// Super admins name the facility; everyone else creates in their own.
    pub facility_id: Opt<FacilityId>,
    /// The facility's medical record number; unique in the facility.
    #[oai(validator(min_length = 1, max_length = 64))]
    pub mrn: Opt<Text>,
    /// Given name (1–100 characters).
    #[oai(validator(min_length = 1, max_length = 100))]
    pub first_name: Text,
    /// Family name (1–100 characters).
    #[oai(validator(min_length = 1, max_length = 100))]
    pub last_name: Text,
    /// Date of birth (not in the future).
    pub date_of_birth: NaiveDate,
    /// Default `pre_admission`, or `active` when an admission date is given.
    pub status: Opt<PatientStatus>,
    /// When the patient was admitted (not in the future); sets status `active` unless one is given.
    pub admission_date: Opt<NaiveDate>,
    /// The day sobriety began (not in the future).
    pub sobriety_date: Opt<NaiveDate>,
    /// The staff member who counsels the patient; they see the patient's chart.
    pub primary_counsellor_id: Opt<UserId>,
    /// Room or bed (1–50 characters).
    #[oai(validator(min_length = 1, max_length = 50))]
    pub room: Opt<Text>,
    /// Whom to call in an emergency.
    pub emergency_contact: Opt<EmergencyContact>,
    /// Free-text notes (up to 10000 characters).
    #[oai(validator(max_length = 10000))]
    pub notes: Opt<Text>,
}

/// The created patient and the key they register with. The key is shown
/// only here; it is stored hashed (a replay of this request omits it:
/// regenerate it instead).
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct PatientCreated {
    /// The new patient.
    pub patient: Patient,
    /// e.g. `K9M2-P4N8-REC7-X3Y4`; give it to the patient. Absent on an
    /// idempotent replay.
    pub registration_key: Option<String>,
    /// When the registration key stops working (48 hours).
    pub key_expires_at: DateTime<Utc>,
}

/// A new registration key.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct RegistrationKey {
    /// The new one-time key, e.g. `K9M2-P4N8-REC7-X3Y4`; give it to the patient.
    pub registration_key: String,
    /// When it stops working (48 hours).
    pub key_expires_at: DateTime<Utc>,
}

/// A partial update. Absent fields stay; `null` clears an optional field.
/// Status moves pre_admission → active → discharged (and discharged → active
/// on readmission); the admission and discharge dates default to today.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdatePatientRequest {
    /// Medical record number; `null` clears it.
    #[oai(validator(min_length = 1, max_length = 64))]
    pub mrn: Nullable<Text>,
    /// Given name (1–100 characters).
    #[oai(validator(min_length = 1, max_length = 100))]
    pub first_name: Opt<Text>,
    /// Family name (1–100 characters).
    #[oai(validator(min_length = 1, max_length = 100))]
    pub last_name: Opt<Text>,
    /// Date of birth (not in the future).
    pub date_of_birth: Opt<NaiveDate>,
    /// The next stage of the stay.
    pub status: Opt<PatientStatus>,
    /// When the patient was admitted; `null` clears it.
    pub admission_date: Nullable<NaiveDate>,
    /// When the patient was discharged; `null` clears it.
    pub discharge_date: Nullable<NaiveDate>,
    /// The day sobriety began; `null` clears it.
    pub sobriety_date: Nullable<NaiveDate>,
    /// The counselling staff member; `null` clears it.
    pub primary_counsellor_id: Nullable<UserId>,
    /// Room or bed; `null` clears it.
    #[oai(validator(min_length = 1, max_length = 50))]
    pub room: Nullable<Text>,
    /// Whom to call in an emergency; `null` clears it.
    pub emergency_contact: Nullable<EmergencyContact>,
    /// Free-text notes; `null` clears them.
    #[oai(validator(max_length = 10000))]
    pub notes: Nullable<Text>,
}

impl NewPatientRequest {
    /// The patient to insert: dates checked, the facility (the caller's, or
    /// the one a super admin names), the counsellor (staff who create a
    /// patient counsel them unless another is named) and the status.
    fn validate(&self, caller: &Principal) -> Result<NewPatient<'_>> {
        let mut v = Validator::default();
        v.not_after_today("dateOfBirth", Some(self.date_of_birth));
        v.not_after_today("admissionDate", self.admission_date.0);
        v.not_after_today("sobrietyDate", self.sobriety_date.0);
        let facility_id = self.facility_id.or(caller.facility_id);
        v.check(facility_id.is_some(), "facilityId", "is required for super admins");
        v.finish()?;
        let counsellor = (caller.role == Role::Staff).then_some(caller.user_id);
        let status = self.status.unwrap_or(match self.admission_date.0 {
            Some(_) => PatientStatus::Active,
            None => PatientStatus::PreAdmission,
        });
        Ok(NewPatient {
            facility_id: facility_id.ok_or(Error::NotFound)?,
            mrn: self.mrn.as_deref(),
            first_name: &self.first_name,
            last_name: &self.last_name,
            date_of_birth: self.date_of_birth,
            status,
            admission_date: self.admission_date.0,
            sobriety_date: self.sobriety_date.0,
            primary_counsellor_id: self.primary_counsellor_id.or(counsellor),
            room: self.room.as_deref(),
            emergency_contact: self.emergency_contact.as_ref().map(Into::into),
            notes: self.notes.as_deref(),
        })
    }
}

impl UpdatePatientRequest {
    fn validate(&self) -> Result<PatientPatch<'_>> {
        let mut v = Validator::default();
        v.not_after_today("dateOfBirth", self.date_of_birth.0);
        v.not_after_today("admissionDate", self.admission_date.value().copied());
        v.not_after_today("dischargeDate", self.discharge_date.value().copied());
        v.not_after_today("sobrietyDate", self.sobriety_date.value().copied());
        v.finish()?;
        Ok(PatientPatch {
            mrn: self.mrn.as_opt_deref(),
            first_name: self.first_name.as_deref(),
            last_name: self.last_name.as_deref(),
            date_of_birth: self.date_of_birth.0,
            status: self.status.0,
            admission_date: self.admission_date.as_opt_ref().map(|d| d.copied()),
            discharge_date: self.discharge_date.as_opt_ref().map(|d| d.copied()),
            sobriety_date: self.sobriety_date.as_opt_ref().map(|d| d.copied()),
            primary_counsellor_id: self.primary_counsellor_id.as_opt_ref().map(|d| d.copied()),
            room: self.room.as_opt_deref(),
            emergency_contact: self.emergency_contact.as_opt_ref().map(|c| c.map(Into::into)),
            notes: self.notes.as_opt_deref(),
        })
    }
}

/// What the spec cannot read from these operations' types, and their objects' examples: see `api::contract`.
pub(crate) const CONTRACT: Contracts = Contracts {
    file: file!(),
    operations: &[
        Contract::of("createPatient").conflicts(&[Conflict::MRN_TAKEN]).names_a_record_outside_its_path(),
        Contract::of("updatePatient").conflicts(&[Conflict::MRN_TAKEN]),
        Contract::of("regenerateRegistrationKey").conflicts(&[Conflict::PATIENT_ALREADY_REGISTERED]),
    ],
    examples,
};

/// This module's objects as an integrator sends and receives them: see `api::examples`.
fn examples() -> Vec<Example> {
    vec![
        Example::of::<NewPatientRequest>(
            json!({"facilityId": FACILITY, "firstName": "Kiran", "lastName": "Bose", "dateOfBirth": "1990-05-17",
                   "admissionDate": "2026-11-02", "mrn": "SR-0042", "room": "B-12",
                   "emergencyContact": {"name": "Ravi Bose", "phone": "+919800000000", "relationship": "brother"}}),
        ),
        Example::of::<UpdatePatientRequest>(json!({"room": "C-3", "notes": null})),
        Example::of::<Patient>(patient_example()),
        Example::of::<PatientCreated>(
            json!({"patient": patient_example(), "registrationKey": "K9M2-P4N8-REC7-X3Y4",
                   "keyExpiresAt": AT}),
        ),
        Example::of::<RegistrationKey>(json!({"registrationKey": "P4N8-K9M2-X3Y4-REC7", "keyExpiresAt": AT})),
        Example::of::<Dashboard>(
            json!({"patientId": PATIENT, "status": "active", "daysSober": 23, "openAssignments": 2,
            "lastCareLog": {"id": CARE_LOG, "kind": "progress", "occurredAt": AT},
            "lastVitals": {"id": VITALS, "measuredAt": AT, "systolic": 122, "diastolic": 78, "pulse": 72},
            "last7Days": {"careLogs": 9, "incidents": 0, "vitals": 5},
            "recovery": {
                "checkInStreak": 6, "lastCheckInAt": AT,
                "mood": {"average7d": 5.2, "average30d": 6.4, "change7d": -1.3},
                "cravings": {"last7d": 5, "previous7d": 2, "used7d": 1},
                "doseAdherence30d": 0.9,
                "goals": {"active": 2, "achieved": 1, "averageProgressPct": 35.0},
                "attention": {"needed": true, "acknowledged": false, "factors": [
                    {"code": "craving_spike", "detail": "4 cravings in the last 3 days against 2 in the 14 days before."}
                ]}}}),
        ),
        Example::of::<Page<Patient>>(page(patient_example())),
    ]
}

fn patient_example() -> Value {
    json!({"id": PATIENT, "facilityId": FACILITY, "mrn": "SR-0042", "userId": PATIENT_USER, "firstName": "Kiran",
           "lastName": "Bose", "dateOfBirth": "1990-05-17", "status": "active", "admissionDate": "2026-11-02",
           "sobrietyDate": "2026-10-30", "primaryCounsellorId": NURSE, "room": "B-12",
           "emergencyContact": {"name": "Ravi Bose", "phone": "+919800000000", "relationship": "brother"},
           "createdAt": AT, "updatedAt": AT})
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Patients")]
impl PatientsApi {
    /// List the patients you can see.
    ///
    /// Facility admins see their facility's patients, staff their caseload (patients they counsel
    /// or are assigned to), a patient only themself. Filters combine; oldest record first, a page
    /// at a time.
    #[oai(path = "/patients", method = "get", operation_id = "listPatients")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        auth: KeyOrBearer,
        /// Only patients in this stage of their stay.
        status: Query<Option<PatientStatus>>,
        /// Case-insensitive match on "first last".
        #[oai(validator(min_length = 1, max_length = 100))]
        search: Query<Option<Text>>,
        /// Only patients this staff member counsels.
        #[oai(name = "counsellorId")]
        counsellor_id: Query<Option<UserId>>,
        /// Admitted on or after this date.
        #[oai(name = "admittedFrom")]
        admitted_from: Query<Option<NaiveDate>>,
        /// Admitted on or before this date.
        #[oai(name = "admittedTo")]
        admitted_to: Query<Option<NaiveDate>>,
        /// Facility admins: list soft-deleted patients instead. Default false.
        deleted: Query<Option<bool>>,
        limit: Query<Option<Limit>>,
        cursor: Query<Option<Cursor>>,
    ) -> Result<Json<Page<Patient>>> {
        let caller = auth.needs(Scope::PatientsRead)?;
        let page = PageRequest::new(limit.0, cursor.0);
        let filter = PatientFilter {
            status: status.0,
            search: search.0.as_deref(),
            counsellor_id: counsellor_id.0,
            admitted_from: admitted_from.0,
            admitted_to: admitted_to.0,
            deleted: deleted.0.unwrap_or(false),
        };
        let rows = self.state.db.run(&caller, async |tx| patients::list(tx, &filter, &page).await).await?;
        Ok(Json(Page::of(&page, rows)))
    }

    /// Admit a patient.
    ///
    /// Creates the patient and a one-time registration key (valid 48 hours) for their app; the key
    /// is shown only in this answer. Staff who create a patient become their primary counsellor
    /// unless another is named. Retry-safe with an `Idempotency-Key` (a replay omits the key).
    #[oai(path = "/patients", method = "post", operation_id = "createPatient")]
    async fn create(
        &self,
        auth: KeyOrBearer,
        #[oai(name = "Idempotency-Key")] key: Header<Option<IdempotencyKey>>,
        body: JsonBody<NewPatientRequest>,
    ) -> Result<Created<PatientCreated>> {
        let caller = auth.needs(Scope::PatientsWrite)?;
        let new = body.0.validate(&caller)?;
        let (plain_key, key_hash) = self.state.key_hasher.new_key();
        let work = async |tx: &mut _| {
            let patient = patients::insert(tx, &new).await?;
            let key_expires_at = patients::issue_key(tx, patient.id, &key_hash).await?;
            Ok(PatientCreated { patient: patient.into(), registration_key: Some(plain_key), key_expires_at })
        };
        let (db, secret) = (&self.state.db, &["registrationKey"]);
        idempotency::create_redacting(db, &caller, key.0, Creates::CreatePatient, &body.0, secret, work).await
    }

    /// Get a patient.
    ///
    /// 404 unless the patient is visible to you (your facility, your caseload, or yourself).
    /// Audited as a read of the patient's chart.
    #[oai(path = "/patients/:id", method = "get", operation_id = "getPatient")]
    async fn get(&self, auth: KeyOrBearer, id: Path<PatientId>) -> Result<Json<Patient>> {
        let caller = auth.needs(Scope::PatientsRead)?;
        self.state.db.run(&caller, async |tx| patients::get(tx, id.0).await).await.map(wire)
    }

    /// Update a patient.
    ///
    /// Details or status. Status moves pre_admission → active → discharged (→ active on
    /// readmission); admission and discharge dates default to today. Absent fields stay; `null`
    /// clears an optional one.
    #[oai(path = "/patients/:id", method = "patch", operation_id = "updatePatient")]
    async fn update(
        &self,
        auth: BearerAuth,
        id: Path<PatientId>,
        body: JsonBody<UpdatePatientRequest>,
    ) -> Result<Json<Patient>> {
        let patch = body.0.validate()?;
        self.state.db.run(&auth.0, async |tx| patients::update(tx, id.0, &patch).await).await.map(wire)
    }

    /// Soft-delete a patient.
    ///
    /// Facility admins only. The patient and their whole chart (care logs, vitals, caseload) are
    /// hidden from every reader but kept, and can be restored. Audited.
    #[oai(path = "/patients/:id", method = "delete", operation_id = "deletePatient")]
    async fn delete(&self, auth: BearerAuth, id: Path<PatientId>) -> Result<NoContent> {
        self.state.db.run(&auth.0, async |tx| patients::soft_delete(tx, id.0).await).await?;
        Ok(NoContent::NoContent)
    }

    /// Restore a soft-deleted patient.
    ///
    /// Facility admins only. The patient and their chart are visible again. Audited.
    #[oai(path = "/patients/:id/restore", method = "post", operation_id = "restorePatient")]
    async fn restore(&self, auth: BearerAuth, id: Path<PatientId>) -> Result<Json<Patient>> {
        self.state.db.run(&auth.0, async |tx| patients::restore(tx, id.0).await).await.map(wire)
    }

    /// A patient at a glance.
    ///
    /// Days sober, the latest care log and vitals, open assignments and counts of the last 7 days;
    /// and the recovery figures: check-in streak, mood and craving trends, dose adherence, goals,
    /// and whether the care team should look at the patient now, with the factors that say why (a
    /// prompt from plain rules, never a prediction). In one call; audited as a read of the chart.
    #[oai(path = "/patients/:id/dashboard", method = "get", operation_id = "getPatientDashboard")]
    async fn dashboard(&self, auth: BearerAuth, id: Path<PatientId>) -> Result<Json<Dashboard>> {
        self.state.db.run(&auth.0, async |tx| patients::dashboard(tx, id.0).await).await.map(wire)
    }

    /// Issue a new registration key.
    ///
    /// For a patient who has not registered yet: a new one-time key (valid 48 hours); the previous
    /// one stops working. 409 once the patient has registered.
    #[oai(
        path = "/patients/:id/registration-key",
        method = "post",
        operation_id = "regenerateRegistrationKey"
    )]
    async fn regenerate_key(&self, auth: BearerAuth, id: Path<PatientId>) -> Result<Json<RegistrationKey>> {
        let (registration_key, key_hash) = self.state.key_hasher.new_key();
        let key_expires_at =
            self.state.db.run(&auth.0, async |tx| patients::issue_key(tx, id.0, &key_hash).await).await?;
        Ok(Json(RegistrationKey { registration_key, key_expires_at }))
    }

    /// Revoke the registration key.
    ///
    /// The patient's unused key stops working; 404 if there is none.
    #[oai(path = "/patients/:id/registration-key", method = "delete", operation_id = "revokeRegistrationKey")]
    async fn revoke_key(&self, auth: BearerAuth, id: Path<PatientId>) -> Result<NoContent> {
        self.state.db.run(&auth.0, async |tx| patients::revoke_key(tx, id.0).await).await?;
        Ok(NoContent::NoContent)
    }
}

/// Whom to call in an emergency.
#[derive(Debug, Clone, Object, PartialEq, Eq)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct EmergencyContact {
    /// Who to call (1–200 characters).
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: Text,
    /// Their phone number (1–32 characters).
    #[oai(validator(min_length = 1, max_length = 32))]
    pub phone: Text,
    /// How they relate to the patient, e.g. `sister` (1–100 characters).
    #[oai(validator(min_length = 1, max_length = 100))]
    pub relationship: Opt<Text>,
}

impl From<crate::db::clinical::patients::EmergencyContact> for EmergencyContact {
    fn from(row: crate::db::clinical::patients::EmergencyContact) -> Self {
        Self { name: row.name, phone: row.phone, relationship: row.relationship }
    }
}

/// The request's emergency contact as the row `db` stores.
impl From<&EmergencyContact> for crate::db::clinical::patients::EmergencyContact {
    fn from(wire: &EmergencyContact) -> Self {
        Self { name: wire.name.clone(), phone: wire.phone.clone(), relationship: wire.relationship.clone() }
    }
}

/// A patient record.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct Patient {
    /// The patient's id.
    pub id: PatientId,
    /// The patient's facility.
    pub facility_id: FacilityId,
    /// The facility's own medical record number.
    pub mrn: Option<String>,
    /// The patient's account, once they have registered.
    pub user_id: Option<UserId>,
    /// Given name (1–100 characters).
    pub first_name: String,
    /// Family name (1–100 characters).
    pub last_name: String,
    /// Date of birth.
    pub date_of_birth: NaiveDate,
    /// Where the patient is in their stay.
    pub status: PatientStatus,
    /// When the patient was admitted.
    pub admission_date: Option<NaiveDate>,
    /// When the patient was discharged.
    pub discharge_date: Option<NaiveDate>,
    /// The day sobriety began.
    pub sobriety_date: Option<NaiveDate>,
    /// The staff member who counsels the patient.
    pub primary_counsellor_id: Option<UserId>,
    /// Room or bed.
    pub room: Option<String>,
    /// Whom to call in an emergency.
    pub emergency_contact: Option<EmergencyContact>,
    /// Free-text notes.
    pub notes: Option<String>,
    /// Set when soft-deleted (visible to facility admins only).
    pub deleted_at: Option<DateTime<Utc>>,
    /// When it was created (server time).
    pub created_at: DateTime<Utc>,
    /// When it last changed (server time).
    pub updated_at: DateTime<Utc>,
}

impl From<crate::db::clinical::patients::Patient> for Patient {
    fn from(row: crate::db::clinical::patients::Patient) -> Self {
        Self {
            id: row.id,
            facility_id: row.facility_id,
            mrn: row.mrn,
            user_id: row.user_id,
            first_name: row.first_name,
            last_name: row.last_name,
            date_of_birth: row.date_of_birth,
            status: row.status,
            admission_date: row.admission_date,
            discharge_date: row.discharge_date,
            sobriety_date: row.sobriety_date,
            primary_counsellor_id: row.primary_counsellor_id,
            room: row.room,
            emergency_contact: row.emergency_contact.map(Into::into),
            notes: row.notes,
            deleted_at: row.deleted_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// The newest care log, in brief.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct CareLogBrief {
    /// The care log's id.
    pub id: CareLogId,
    /// What it records.
    pub kind: String,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
}

impl From<crate::db::clinical::patients::CareLogBrief> for CareLogBrief {
    fn from(row: crate::db::clinical::patients::CareLogBrief) -> Self {
        Self { id: row.id, kind: row.kind, occurred_at: row.occurred_at }
    }
}

/// The newest vitals reading, in brief.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct VitalsBrief {
    /// The reading's id.
    pub id: VitalsId,
    /// When it was measured.
    pub measured_at: DateTime<Utc>,
    /// Systolic pressure, mmHg.
    pub systolic: Option<i16>,
    /// Diastolic pressure, mmHg.
    pub diastolic: Option<i16>,
    /// Beats per minute.
    pub pulse: Option<i16>,
    /// Oxygen saturation, %.
    pub spo2: Option<i16>,
}

impl From<crate::db::clinical::patients::VitalsBrief> for VitalsBrief {
    fn from(row: crate::db::clinical::patients::VitalsBrief) -> Self {
        Self {
            id: row.id,
            measured_at: row.measured_at,
            systolic: row.systolic,
            diastolic: row.diastolic,
            pulse: row.pulse,
            spo2: row.spo2,
        }
    }
}

/// Counts over the last 7 days.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct WeekCounts {
    /// Care logs written.
    pub care_logs: i64,
    /// Care logs of kind `incident`.
    pub incidents: i64,
    /// Vitals readings taken.
    pub vitals: i64,
}

impl From<crate::db::clinical::patients::WeekCounts> for WeekCounts {
    fn from(row: crate::db::clinical::patients::WeekCounts) -> Self {
        Self { care_logs: row.care_logs, incidents: row.incidents, vitals: row.vitals }
    }
}

/// What a counsellor sees first.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct Dashboard {
    /// The patient.
    pub patient_id: PatientId,
    /// Where the patient is in their stay.
    pub status: PatientStatus,
    /// Days since the sobriety date, if one is recorded.
    pub days_sober: Option<i32>,
    /// The newest care log the caller may see.
    pub last_care_log: Option<CareLogBrief>,
    /// The newest vitals reading the caller may see.
    pub last_vitals: Option<VitalsBrief>,
    /// How many staff are assigned now.
    pub open_assignments: i64,
    /// Counts of the last 7 days.
    pub last_7_days: WeekCounts,
    /// Check-ins, mood, cravings, doses, goals, and whether the care team should look now.
    pub recovery: crate::api::recovery::workload::RecoverySummary,
}

impl From<crate::db::clinical::patients::Dashboard> for Dashboard {
    fn from(row: crate::db::clinical::patients::Dashboard) -> Self {
        Self {
            patient_id: row.patient_id,
            status: row.status,
            days_sober: row.days_sober,
            last_care_log: row.last_care_log.map(Into::into),
            last_vitals: row.last_vitals.map(Into::into),
            open_assignments: row.open_assignments,
            last_7_days: row.last_7_days.into(),
            recovery: row.recovery.into(),
        }
    }
}
