//! Patients: creation with a one-time registration key, lookups, partial
//! updates, soft delete and restore, and the dashboard. RLS decides who sees
//! whom (facility admins: the facility; staff: their caseload; a patient:
//! themselves); a hidden patient is a 404.

use chrono::{DateTime, NaiveDate, Utc};
use poem_openapi::{
    Object, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
    types::MaybeUndefined,
};

use super::{
    ApiTags, AppState, Created, NoContent, idempotency::create_idempotently, pagination::PageRequest,
};
use crate::{
    auth::{BearerAuth, Role},
    db::patients::{
        self, Dashboard, EmergencyContact, NewPatient, Patient, PatientFilter, PatientPatch, PatientStatus,
    },
    domain::{
        ids::{FacilityId, PatientId, UserId},
        text::{Opt, Text},
    },
    error::{BodyResult, Error, Result, Validator},
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
    #[oai(validator(min_length = 1, max_length = 64))]
    pub mrn: Opt<Text>,
    #[oai(validator(min_length = 1, max_length = 100))]
    pub first_name: Text,
    #[oai(validator(min_length = 1, max_length = 100))]
    pub last_name: Text,
    pub date_of_birth: NaiveDate,
    /// Default `pre_admission`, or `active` when an admission date is given.
    pub status: Opt<PatientStatus>,
    pub admission_date: Opt<NaiveDate>,
    pub sobriety_date: Opt<NaiveDate>,
    pub primary_counsellor_id: Opt<UserId>,
    #[oai(validator(min_length = 1, max_length = 50))]
    pub room: Opt<Text>,
    pub emergency_contact: Opt<EmergencyContact>,
    #[oai(validator(max_length = 10000))]
    pub notes: Opt<Text>,
}

/// The created patient and the key they register with. The key is shown
/// only here; it is stored hashed (a replay of this request omits it:
/// regenerate it instead).
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct PatientCreated {
    pub patient: Patient,
    /// e.g. `K9M2-P4N8-REC7-X3Y4`; give it to the patient. Absent on an
    /// idempotent replay.
    pub registration_key: Option<String>,
    pub key_expires_at: DateTime<Utc>,
}

/// A new registration key.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct RegistrationKey {
    pub registration_key: String,
    pub key_expires_at: DateTime<Utc>,
}

/// A partial update. Absent fields stay; `null` clears an optional field.
/// Status moves pre_admission → active → discharged (and discharged → active
/// on readmission); the admission and discharge dates default to today.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdatePatientRequest {
    #[oai(validator(min_length = 1, max_length = 64))]
    pub mrn: MaybeUndefined<Text>,
    #[oai(validator(min_length = 1, max_length = 100))]
    pub first_name: Opt<Text>,
    #[oai(validator(min_length = 1, max_length = 100))]
    pub last_name: Opt<Text>,
    pub date_of_birth: Opt<NaiveDate>,
    pub status: Opt<PatientStatus>,
    pub admission_date: MaybeUndefined<NaiveDate>,
    pub discharge_date: MaybeUndefined<NaiveDate>,
    pub sobriety_date: MaybeUndefined<NaiveDate>,
    pub primary_counsellor_id: MaybeUndefined<UserId>,
    #[oai(validator(min_length = 1, max_length = 50))]
    pub room: MaybeUndefined<Text>,
    pub emergency_contact: MaybeUndefined<EmergencyContact>,
    #[oai(validator(max_length = 10000))]
    pub notes: MaybeUndefined<Text>,
}

/// A page of patients.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct PatientPage {
    pub items: Vec<Patient>,
    pub next_cursor: Option<String>,
}

fn not_in_future(v: &mut Validator, field: &str, date: Option<NaiveDate>) {
    let today = Utc::now().date_naive();
    v.check(date.is_none_or(|d| d <= today), field, "must not be in the future");
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Patients")]
impl PatientsApi {
    /// List the patients you can see.
    #[oai(path = "/patients", method = "get", operation_id = "listPatients")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        auth: BearerAuth,
        status: Query<Option<PatientStatus>>,
        /// Case-insensitive match on "first last".
        #[oai(validator(min_length = 1, max_length = 100))]
        search: Query<Option<Text>>,
        #[oai(name = "counsellorId")] counsellor_id: Query<Option<UserId>>,
        #[oai(name = "admittedFrom")] admitted_from: Query<Option<NaiveDate>>,
        #[oai(name = "admittedTo")] admitted_to: Query<Option<NaiveDate>>,
        /// Facility admins: list soft-deleted patients instead.
        deleted: Query<Option<bool>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] limit: Query<Option<u32>>,
        #[oai(validator(max_length = 200))] cursor: Query<Option<String>>,
    ) -> Result<Json<PatientPage>> {
        let page = PageRequest::parse(limit.0, cursor.0.as_deref())?;
        let filter = PatientFilter {
            status: status.0,
            search: search.0.as_deref(),
            counsellor_id: counsellor_id.0,
            admitted_from: admitted_from.0,
            admitted_to: admitted_to.0,
            deleted: deleted.0.unwrap_or(false),
        };
        let mut tx = self.state.db.begin(&auth.0).await?;
        let rows = patients::list(&mut tx, &filter, &page).await?;
        tx.commit().await?;
        let (items, next_cursor) = page.finish(rows, |p| (p.created_at, p.id.0));
        Ok(Json(PatientPage { items, next_cursor }))
    }

    /// Create a patient and their one-time registration key (valid 48 hours).
    #[oai(path = "/patients", method = "post", operation_id = "createPatient")]
    async fn create(
        &self,
        auth: BearerAuth,
        #[oai(name = "Idempotency-Key", validator(min_length = 1, max_length = 200))] key: Header<
            Option<String>,
        >,
        body: Json<NewPatientRequest>,
    ) -> BodyResult<Created<PatientCreated>> {
        let b = &body.0;
        let mut v = Validator::default();
        not_in_future(&mut v, "dateOfBirth", Some(b.date_of_birth));
        not_in_future(&mut v, "admissionDate", b.admission_date.0);
        not_in_future(&mut v, "sobrietyDate", b.sobriety_date.0);
        v.check(
            auth.0.facility_id.is_some() || b.facility_id.is_some(),
            "facilityId",
            "is required for super admins",
        );
        v.finish()?;
        let facility_id = b.facility_id.or(auth.0.facility_id).ok_or(Error::NotFound)?;
        let counsellor = b.primary_counsellor_id.or((auth.0.role == Role::Staff).then_some(auth.0.user_id));
        let status = b.status.unwrap_or(match b.admission_date.0 {
            Some(_) => PatientStatus::Active,
            None => PatientStatus::PreAdmission,
        });
        let (plain_key, key_hash) = self.state.key_hasher.new_key();

        let new = NewPatient {
            facility_id,
            mrn: b.mrn.as_deref(),
            first_name: &b.first_name,
            last_name: &b.last_name,
            date_of_birth: b.date_of_birth,
            status,
            admission_date: b.admission_date.0,
            sobriety_date: b.sobriety_date.0,
            primary_counsellor_id: counsellor,
            room: b.room.as_deref(),
            emergency_contact: b.emergency_contact.as_ref(),
            notes: b.notes.as_deref(),
        };
        let mut tx = self.state.db.begin(&auth.0).await?;
        create_idempotently!(tx, key.0.as_deref(), "createPatient", b, redact = &["registrationKey"], {
            let patient = patients::insert(&mut tx, &new).await?;
            let key_expires_at = patients::issue_key(&mut tx, patient.id, &key_hash).await?;
            PatientCreated { patient, registration_key: Some(plain_key), key_expires_at }
        })
    }

    /// Get a patient (404 if not visible to you). Audited as a read.
    #[oai(path = "/patients/:id", method = "get", operation_id = "getPatient")]
    async fn get(&self, auth: BearerAuth, id: Path<PatientId>) -> Result<Json<Patient>> {
        let mut tx = self.state.db.begin(&auth.0).await?;
        let patient = patients::get(&mut tx, id.0).await?;
        tx.commit().await?;
        Ok(Json(patient))
    }

    /// Update a patient's details or status.
    #[oai(path = "/patients/:id", method = "patch", operation_id = "updatePatient")]
    async fn update(
        &self,
        auth: BearerAuth,
        id: Path<PatientId>,
        body: Json<UpdatePatientRequest>,
    ) -> BodyResult<Json<Patient>> {
        let b = &body.0;
        let mut v = Validator::default();
        not_in_future(&mut v, "dateOfBirth", b.date_of_birth.0);
        not_in_future(&mut v, "admissionDate", b.admission_date.value().copied());
        not_in_future(&mut v, "dischargeDate", b.discharge_date.value().copied());
        not_in_future(&mut v, "sobrietyDate", b.sobriety_date.value().copied());
        v.finish()?;
        let patch = PatientPatch {
            mrn: b.mrn.as_opt_deref(),
            first_name: b.first_name.as_deref(),
            last_name: b.last_name.as_deref(),
            date_of_birth: b.date_of_birth.0,
            status: b.status.0,
            admission_date: b.admission_date.as_opt_ref().map(|d| d.copied()),
            discharge_date: b.discharge_date.as_opt_ref().map(|d| d.copied()),
            sobriety_date: b.sobriety_date.as_opt_ref().map(|d| d.copied()),
            primary_counsellor_id: b.primary_counsellor_id.as_opt_ref().map(|d| d.copied()),
            room: b.room.as_opt_deref(),
            emergency_contact: b.emergency_contact.as_opt_ref(),
            notes: b.notes.as_opt_deref(),
        };
        let mut tx = self.state.db.begin(&auth.0).await?;
        let patient = patients::update(&mut tx, id.0, &patch).await?;
        tx.commit().await?;
        Ok(Json(patient))
    }

    /// Soft-delete a patient (facility admins): hidden everywhere, kept, audited.
    #[oai(path = "/patients/:id", method = "delete", operation_id = "deletePatient")]
    async fn delete(&self, auth: BearerAuth, id: Path<PatientId>) -> Result<NoContent> {
        let mut tx = self.state.db.begin(&auth.0).await?;
        patients::soft_delete(&mut tx, id.0).await?;
        tx.commit().await?;
        Ok(NoContent::NoContent)
    }

    /// Restore a soft-deleted patient (facility admins).
    #[oai(path = "/patients/:id/restore", method = "post", operation_id = "restorePatient")]
    async fn restore(&self, auth: BearerAuth, id: Path<PatientId>) -> Result<Json<Patient>> {
        let mut tx = self.state.db.begin(&auth.0).await?;
        let patient = patients::restore(&mut tx, id.0).await?;
        tx.commit().await?;
        Ok(Json(patient))
    }

    /// A patient at a glance: days sober, latest records, open assignments,
    /// counts of the last 7 days. Audited as a read.
    #[oai(path = "/patients/:id/dashboard", method = "get", operation_id = "getPatientDashboard")]
    async fn dashboard(&self, auth: BearerAuth, id: Path<PatientId>) -> Result<Json<Dashboard>> {
        let mut tx = self.state.db.begin(&auth.0).await?;
        let dashboard = patients::dashboard(&mut tx, id.0).await?;
        tx.commit().await?;
        Ok(Json(dashboard))
    }

    /// Issue a new registration key; the previous one stops working. 409 once
    /// the patient has registered.
    #[oai(
        path = "/patients/:id/registration-key",
        method = "post",
        operation_id = "regenerateRegistrationKey"
    )]
    async fn regenerate_key(&self, auth: BearerAuth, id: Path<PatientId>) -> Result<Json<RegistrationKey>> {
        let (registration_key, key_hash) = self.state.key_hasher.new_key();
        let mut tx = self.state.db.begin(&auth.0).await?;
        let key_expires_at = patients::issue_key(&mut tx, id.0, &key_hash).await?;
        tx.commit().await?;
        Ok(Json(RegistrationKey { registration_key, key_expires_at }))
    }

    /// Revoke the patient's unused registration key (404 if there is none).
    #[oai(path = "/patients/:id/registration-key", method = "delete", operation_id = "revokeRegistrationKey")]
    async fn revoke_key(&self, auth: BearerAuth, id: Path<PatientId>) -> Result<NoContent> {
        let mut tx = self.state.db.begin(&auth.0).await?;
        patients::revoke_key(&mut tx, id.0).await?;
        tx.commit().await?;
        Ok(NoContent::NoContent)
    }
}
