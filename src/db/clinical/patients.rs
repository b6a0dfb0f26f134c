//! Patients' SQL, their registration keys, and the dashboard. Who sees which
//! patient is the `patients_*` policies' business (V6); a hidden patient is
//! simply not found.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use tokio_postgres::Row;

use crate::{
    db::{
        DbError, OnConstraint, TenantTx,
        filters::{Bound, Variants},
    },
    domain::page::{Keyed, PageRequest},
    domain::text::{Opt, Text},
    domain::{
        ids::{CareLogId, FacilityId, PatientId, UserId, VitalsId},
        text_enum,
    },
    error::{Conflict, Error, Result},
};

/// The conflicts patients can meet.
impl Conflict {
    pub const MRN_TAKEN: Self = Self::new("mrn_taken", "Another patient of this facility has this MRN.");
    pub const PATIENT_ALREADY_REGISTERED: Self =
        Self::new("patient_already_registered", "The patient has already registered.");
}

text_enum! {
    /// Where a patient is in their stay.
    pub enum PatientStatus {
        PreAdmission = "pre_admission",
        Active = "active",
        Discharged = "discharged",
    }
}

/// Whom to call in an emergency.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct EmergencyContact {
    pub name: Text,
    pub phone: Text,
    pub relationship: Opt<Text>,
}

/// A patient record.
#[derive(Debug, Clone)]
pub struct Patient {
    pub id: PatientId,
    pub facility_id: FacilityId,
    pub mrn: Option<String>,
    pub user_id: Option<UserId>,
    pub first_name: String,
    pub last_name: String,
    pub date_of_birth: NaiveDate,
    pub status: PatientStatus,
    pub admission_date: Option<NaiveDate>,
    pub discharge_date: Option<NaiveDate>,
    pub sobriety_date: Option<NaiveDate>,
    pub primary_counsellor_id: Option<UserId>,
    pub room: Option<String>,
    pub emergency_contact: Option<EmergencyContact>,
    pub notes: Option<String>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The columns every query returns, in `Patient::try_from` order.
macro_rules! columns {
    () => {
        "id, facility_id, mrn, user_id, first_name, last_name, date_of_birth, status, admission_date, \
         discharge_date, sobriety_date, primary_counsellor_id, room, emergency_contact, notes, deleted_at, \
         created_at, updated_at"
    };
}

impl TryFrom<&Row> for Patient {
    type Error = Error;

    fn try_from(row: &Row) -> Result<Self> {
        let contact: Option<Value> = row.try_get("emergency_contact")?;
        Ok(Self {
            id: row.try_get("id")?,
            facility_id: row.try_get("facility_id")?,
            mrn: row.try_get("mrn")?,
            user_id: row.try_get("user_id")?,
            first_name: row.try_get("first_name")?,
            last_name: row.try_get("last_name")?,
            date_of_birth: row.try_get("date_of_birth")?,
            status: row.try_get("status")?,
            admission_date: row.try_get("admission_date")?,
            discharge_date: row.try_get("discharge_date")?,
            sobriety_date: row.try_get("sobriety_date")?,
            primary_counsellor_id: row.try_get("primary_counsellor_id")?,
            room: row.try_get("room")?,
            emergency_contact: contact.map(serde_json::from_value).transpose().map_err(Error::internal)?,
            notes: row.try_get("notes")?,
            deleted_at: row.try_get("deleted_at")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

fn contact_json(c: Option<&EmergencyContact>) -> Result<Option<Value>> {
    c.map(serde_json::to_value).transpose().map_err(Error::internal)
}

/// Validated fields of a new patient.
pub struct NewPatient<'a> {
    pub facility_id: FacilityId,
    pub mrn: Option<&'a str>,
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub date_of_birth: NaiveDate,
    pub status: PatientStatus,
    pub admission_date: Option<NaiveDate>,
    pub sobriety_date: Option<NaiveDate>,
    pub primary_counsellor_id: Option<UserId>,
    pub room: Option<&'a str>,
    pub emergency_contact: Option<EmergencyContact>,
    pub notes: Option<&'a str>,
}

pub const INSERT: &str = concat!(
    "insert into patients (facility_id, mrn, first_name, last_name, date_of_birth, status, admission_date,
                           sobriety_date, primary_counsellor_id, room, emergency_contact, notes, created_by)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, carego.current_user_id())
     returning ",
    columns!()
);

pub async fn insert(tx: &mut TenantTx, p: &NewPatient<'_>) -> Result<Patient> {
    let contact = contact_json(p.emergency_contact.as_ref())?;
    let row = tx
        .query_one(
            INSERT,
            &[
                &p.facility_id,
                &p.mrn,
                &p.first_name,
                &p.last_name,
                &p.date_of_birth,
                &p.status,
                &p.admission_date,
                &p.sobriety_date,
                &p.primary_counsellor_id,
                &p.room,
                &contact,
                &p.notes,
            ],
        )
        .await
        .on_constraint("patients_facility_mrn_key", Conflict::MRN_TAKEN)
        .on_constraint("patients_primary_counsellor_fkey", counsellor_unknown())
        // A super admin naming a facility that does not exist.
        .on_constraint("patients_facility_fkey", Error::NotFound);
    Patient::try_from(&date_rules(row)?)
}

fn counsellor_unknown() -> Error {
    Error::invalid("primaryCounsellorId", "is not a staff member of this facility")
}

/// The table's date rules the request checks cannot see alone (they need
/// the stored row).
fn date_rules(result: Result<Row, DbError>) -> Result<Row, DbError> {
    result
        .on_constraint(
            "patients_discharge_date_check",
            Error::invalid("dischargeDate", "must not be before the admission date"),
        )
        .on_constraint(
            "patients_admission_date_check",
            Error::invalid("admissionDate", "is required once the patient is admitted"),
        )
        .on_constraint(
            "patients_status_check",
            Error::invalid("status", "moves pre_admission → active → discharged (→ active on readmission)"),
        )
}

// Reading one record is a read of the patient's chart: audited, once.
pub const GET: &str = concat!(
    "select ",
    columns!(),
    ", carego.audit_read('patients', id, facility_id) as audited
     from patients where id = $1 and deleted_at is null"
);

pub async fn get(tx: &mut TenantTx, id: PatientId) -> Result<Patient> {
    Patient::try_from(&tx.query_one(GET, &[&id]).await?)
}

pub const BY_IDS: &str =
    concat!("select ", columns!(), " from patients where id = any($1) and deleted_at is null");

/// The visible live patients among `ids`, unaudited: the caller audits the
/// read (the sync feed does, once per patient).
pub async fn by_ids(tx: &mut TenantTx, ids: &[PatientId]) -> Result<Vec<Patient>> {
    tx.query(BY_IDS, &[&ids]).await?.iter().map(Patient::try_from).collect()
}

pub const FIND_BY_MRN: &str = "select id from patients where facility_id = $1 and mrn = $2";

/// A patient by the facility's MRN (manifests match on it).
pub async fn find_by_mrn(tx: &mut TenantTx, facility: FacilityId, mrn: &str) -> Result<Option<PatientId>> {
    Ok(tx.query_opt(FIND_BY_MRN, &[&facility, &mrn]).await?.map(|r| r.try_get("id")).transpose()?)
}

pub const EXISTS: &str = "select facility_id from patients where id = $1 and deleted_at is null";

/// `NotFound` unless the caller can see the patient (no audit row). Lists of
/// a patient's records call it only when they come back empty, to tell "no
/// records yet" from "not your patient" without a round trip on every read.
pub async fn ensure_visible(tx: &mut TenantTx, id: PatientId) -> Result<()> {
    tx.query_one(EXISTS, &[&id]).await?;
    Ok(())
}

/// Optional list filters.
#[derive(Default)]
pub struct PatientFilter<'a> {
    pub status: Option<PatientStatus>,
    /// Matched against "first last" (case-insensitive substring).
    pub search: Option<&'a str>,
    pub counsellor_id: Option<UserId>,
    pub admitted_from: Option<NaiveDate>,
    pub admitted_to: Option<NaiveDate>,
    /// Soft-deleted patients instead of live ones (facility admins).
    pub deleted: bool,
}

/// Lists are oldest record first.
impl Keyed for Patient {
    fn key(&self) -> (DateTime<Utc>, uuid::Uuid) {
        (self.created_at, self.id.0)
    }
}

/// A page of patients, and one audit row naming them (`carego.audit_reads`,
/// V45: staff-side roles and integrators), written by the same statement.
/// `$1` the fetch limit; then (see [`filters`](crate::db::filters)) live or
/// deleted patients — one of the two, written out so that a plan can use
/// the indexes kept for live patients — and, each only when given: status,
/// search, counsellor, admitted from, admitted to, the cursor.
pub static LIST: Variants = Variants::new(
    concat!(
        "with page as (
           select ",
        columns!(),
        " from patients
            where true {where}
            order by created_at, id
            limit $1)
         select page.*, (select carego.audit_reads('patients', array_agg(a.id)) from page a) as audited
           from page
          order by created_at, id"
    ),
    &[
        "deleted_at is null",
        "deleted_at is not null",
        "status = $",
        "(first_name || ' ' || last_name) ilike '%' || $::text || '%'",
        "primary_counsellor_id = $",
        "admission_date >= $",
        "admission_date <= $",
        "(created_at, id) > ($::timestamptz, $::uuid)",
    ],
);

/// [`LIST`]'s live patients, no other filter.
pub const LIVE: u32 = 1;
/// [`LIST`]'s counsellor filter.
pub const BY_COUNSELLOR: u32 = 1 << 4;

/// Escapes LIKE wildcards so a search for "50%" means those characters.
fn like_literal(s: &str) -> String {
    s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

pub async fn list(tx: &mut TenantTx, f: &PatientFilter<'_>, page: &PageRequest) -> Result<Vec<Patient>> {
    let search = f.search.map(like_literal);
    let limit = page.fetch_limit();
    let bound = Bound::new(vec![&limit])
        .when(!f.deleted, &[])
        .when(f.deleted, &[])
        .opt(&f.status)
        .opt(&search)
        .opt(&f.counsellor_id)
        .opt(&f.admitted_from)
        .opt(&f.admitted_to)
        .after(page);
    let rows = tx.query(LIST.get(bound.present), &bound.params).await?;
    rows.iter().map(Patient::try_from).collect()
}

/// A partial update; `None` leaves a field as it is, `Some(None)` clears it.
#[derive(Default)]
pub struct PatientPatch<'a> {
    pub mrn: Option<Option<&'a str>>,
    pub first_name: Option<&'a str>,
    pub last_name: Option<&'a str>,
    pub date_of_birth: Option<NaiveDate>,
    pub status: Option<PatientStatus>,
    pub admission_date: Option<Option<NaiveDate>>,
    pub discharge_date: Option<Option<NaiveDate>>,
    pub sobriety_date: Option<Option<NaiveDate>>,
    pub primary_counsellor_id: Option<Option<UserId>>,
    pub room: Option<Option<&'a str>>,
    pub emergency_contact: Option<Option<EmergencyContact>>,
    pub notes: Option<Option<&'a str>>,
}

pub const UPDATE: &str = concat!(
    "update patients set
       mrn = case when $2::bool then $3::text else mrn end,
       first_name = coalesce($4::text, first_name),
       last_name = coalesce($5::text, last_name),
       date_of_birth = coalesce($6::date, date_of_birth),
       status = coalesce($7::text, status),
       admission_date = case when $8::bool then $9::date else admission_date end,
       discharge_date = case when $10::bool then $11::date else discharge_date end,
       sobriety_date = case when $12::bool then $13::date else sobriety_date end,
       primary_counsellor_id = case when $14::bool then $15::uuid else primary_counsellor_id end,
       room = case when $16::bool then $17::text else room end,
       emergency_contact = case when $18::bool then $19::jsonb else emergency_contact end,
       notes = case when $20::bool then $21::text else notes end
     where id = $1 and deleted_at is null
     returning ",
    columns!()
);

pub async fn update(tx: &mut TenantTx, id: PatientId, p: &PatientPatch<'_>) -> Result<Patient> {
    let contact = match &p.emergency_contact {
        Some(c) => contact_json(c.as_ref())?,
        None => None,
    };
    let row = tx
        .query_one(
            UPDATE,
            &[
                &id,
                &p.mrn.is_some(),
                &p.mrn.flatten(),
                &p.first_name,
                &p.last_name,
                &p.date_of_birth,
                &p.status,
                &p.admission_date.is_some(),
                &p.admission_date.flatten(),
                &p.discharge_date.is_some(),
                &p.discharge_date.flatten(),
                &p.sobriety_date.is_some(),
                &p.sobriety_date.flatten(),
                &p.primary_counsellor_id.is_some(),
                &p.primary_counsellor_id.flatten(),
                &p.room.is_some(),
                &p.room.flatten(),
                &p.emergency_contact.is_some(),
                &contact,
                &p.notes.is_some(),
                &p.notes.flatten(),
            ],
        )
        .await
        .on_constraint("patients_facility_mrn_key", Conflict::MRN_TAKEN)
        .on_constraint("patients_primary_counsellor_fkey", counsellor_unknown());
    Patient::try_from(&date_rules(row)?)
}

pub const SOFT_DELETE: &str = concat!(
    "update patients set deleted_at = now() where id = $1 and deleted_at is null returning ",
    columns!()
);
pub const RESTORE: &str = concat!(
    "update patients set deleted_at = null where id = $1 and deleted_at is not null returning ",
    columns!()
);

/// Hides a patient from every list and lookup (facility admins only: no one
/// else has UPDATE on `deleted_at`).
pub async fn soft_delete(tx: &mut TenantTx, id: PatientId) -> Result<Patient> {
    Patient::try_from(&tx.query_one(SOFT_DELETE, &[&id]).await?)
}

pub async fn restore(tx: &mut TenantTx, id: PatientId) -> Result<Patient> {
    Patient::try_from(&tx.query_one(RESTORE, &[&id]).await?)
}

pub const REVOKE_LIVE_KEYS: &str = "update registration_keys set revoked_at = now()
     where patient_id = $1 and used_at is null and revoked_at is null";

pub const ISSUE_KEY: &str =
    "insert into registration_keys (facility_id, patient_id, key_hash, expires_at, created_by)
     select p.facility_id, p.id, $2, now() + make_interval(hours => 48), carego.current_user_id()
       from patients p
      where p.id = $1 and p.deleted_at is null and p.user_id is null
     returning expires_at";

pub const REGISTERED: &str =
    "select user_id is not null as registered from patients where id = $1 and deleted_at is null";

/// Issues a new key for an unregistered patient (any live key dies).
/// 404: not visible; 409: the patient has already registered.
pub async fn issue_key(tx: &mut TenantTx, patient: PatientId, key_hash: &[u8]) -> Result<DateTime<Utc>> {
    let registered: bool = tx.query_one(REGISTERED, &[&patient]).await?.try_get("registered")?;
    if registered {
        return Err(Error::Conflict(Conflict::PATIENT_ALREADY_REGISTERED));
    }
    tx.execute(REVOKE_LIVE_KEYS, &[&patient]).await?;
    Ok(tx.query_one(ISSUE_KEY, &[&patient, &key_hash]).await?.try_get("expires_at")?)
}

/// Revokes the live key; 404 when there is none (or the patient is hidden).
pub async fn revoke_key(tx: &mut TenantTx, patient: PatientId) -> Result<()> {
    match tx.execute(REVOKE_LIVE_KEYS, &[&patient]).await? {
        0 => Err(Error::NotFound),
        _ => Ok(()),
    }
}

/// The newest care log, in brief.
#[derive(Debug, Clone)]
pub struct CareLogBrief {
    pub id: CareLogId,
    pub kind: String,
    pub occurred_at: DateTime<Utc>,
}

/// The newest vitals reading, in brief.
#[derive(Debug, Clone)]
pub struct VitalsBrief {
    pub id: VitalsId,
    pub measured_at: DateTime<Utc>,
    pub systolic: Option<i16>,
    pub diastolic: Option<i16>,
    pub pulse: Option<i16>,
    pub spo2: Option<i16>,
}

/// Counts over the last 7 days.
#[derive(Debug, Clone)]
pub struct WeekCounts {
    pub care_logs: i64,
    pub incidents: i64,
    pub vitals: i64,
}

/// What a counsellor sees first.
#[derive(Debug, Clone)]
pub struct Dashboard {
    pub patient_id: PatientId,
    pub status: PatientStatus,
    pub days_sober: Option<i32>,
    pub last_care_log: Option<CareLogBrief>,
    pub last_vitals: Option<VitalsBrief>,
    pub open_assignments: i64,
    pub last_7_days: WeekCounts,
    pub recovery: crate::db::recovery::progress::RecoverySummary,
}

// One statement, under the caller's RLS (each sub-select sees only what the
// caller may see), and one read-audit row.
pub const DASHBOARD: &str = "
    select p.id, p.facility_id, p.status, current_date - p.sobriety_date as days_sober,
           carego.audit_read('patients', p.id, p.facility_id) as audited,
           cl.id as cl_id, cl.kind as cl_kind, cl.occurred_at as cl_occurred_at,
           v.id as v_id, v.measured_at as v_measured_at, v.systolic, v.diastolic, v.pulse, v.spo2,
           (select count(*) from assignments a
             where a.facility_id = p.facility_id and a.patient_id = p.id and a.ended_at is null) as open_assignments,
           (select count(*) from care_logs c
             where c.facility_id = p.facility_id and c.patient_id = p.id and c.amends_id is null
               and c.occurred_at > now() - interval '7 days') as week_care_logs,
           (select count(*) from care_logs c
             where c.facility_id = p.facility_id and c.patient_id = p.id and c.amends_id is null
               and c.kind = 'incident' and c.occurred_at > now() - interval '7 days') as week_incidents,
           (select count(*) from vitals x
             where x.facility_id = p.facility_id and x.patient_id = p.id and x.amends_id is null
               and x.measured_at > now() - interval '7 days') as week_vitals
      from patients p
      left join lateral (
            select c.id, c.kind, c.occurred_at from care_logs c
             where c.facility_id = p.facility_id and c.patient_id = p.id and c.amends_id is null
             order by c.occurred_at desc, c.id desc limit 1) cl on true
      left join lateral (
            select x.id, x.measured_at, x.systolic, x.diastolic, x.pulse, x.spo2 from vitals x
             where x.facility_id = p.facility_id and x.patient_id = p.id and x.amends_id is null
             order by x.measured_at desc, x.id desc limit 1) v on true
     where p.id = $1 and p.deleted_at is null";

pub async fn dashboard(tx: &mut TenantTx, id: PatientId) -> Result<Dashboard> {
    let r = tx.query_one(DASHBOARD, &[&id]).await?;
    let last_care_log = match r.try_get::<_, Option<CareLogId>>("cl_id")? {
        Some(id) => {
            Some(CareLogBrief { id, kind: r.try_get("cl_kind")?, occurred_at: r.try_get("cl_occurred_at")? })
        }
        None => None,
    };
    let last_vitals = match r.try_get::<_, Option<VitalsId>>("v_id")? {
        Some(id) => Some(VitalsBrief {
            id,
            measured_at: r.try_get("v_measured_at")?,
            systolic: r.try_get("systolic")?,
            diastolic: r.try_get("diastolic")?,
            pulse: r.try_get("pulse")?,
            spo2: r.try_get("spo2")?,
        }),
        None => None,
    };
    let recovery = crate::db::recovery::progress::summary(tx, id, r.try_get("facility_id")?).await?;
    Ok(Dashboard {
        recovery,
        patient_id: r.try_get("id")?,
        status: r.try_get("status")?,
        days_sober: r.try_get("days_sober")?,
        last_care_log,
        last_vitals,
        open_assignments: r.try_get("open_assignments")?,
        last_7_days: WeekCounts {
            care_logs: r.try_get("week_care_logs")?,
            incidents: r.try_get("week_incidents")?,
            vitals: r.try_get("week_vitals")?,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_bits_name_the_conditions_they_switch_on() {
        let live = LIST.get(LIVE);
        assert!(live.contains("deleted_at is null") && !live.contains("primary_counsellor_id ="), "{live}");
        let mine = LIST.get(LIVE | BY_COUNSELLOR);
        assert!(mine.contains("and primary_counsellor_id = $2"), "{mine}");
    }
}
