//! Medications: prescriptions the care team manages (changes audited, a
//! stopped prescription kept), dose events recorded against them
//! (append-only, client ids), and adherence per prescription.

use chrono::{DateTime, NaiveDate, Utc};
use tokio_postgres::{Row, types::ToSql};

use super::Logged;
use crate::{
    db::{
        OnConstraint, TenantTx,
        filters::{Bound, Variants},
    },
    domain::{
        ids::{DoseEventId, PatientId, PrescriptionId, UserId},
        page::{Keyed, PageRequest},
        text_enum,
    },
    error::{Conflict, Error, Result},
};

/// The conflicts prescriptions can meet.
impl Conflict {
    pub const PRESCRIPTION_STOPPED: Self =
        Self::new("prescription_stopped", "This prescription is stopped and cannot change; prescribe anew.");
}

text_enum! {
    /// How a drug is given.
    pub enum Route {
        Oral = "oral",
        Sublingual = "sublingual",
        Injection = "injection",
        Topical = "topical",
        Inhaled = "inhaled",
        Transdermal = "transdermal",
        Other = "other",
    }
}

text_enum! {
    /// Whether a prescription is being given.
    pub enum PrescriptionStatus {
        Active = "active",
        Stopped = "stopped",
    }
}

text_enum! {
    /// What happened to a scheduled dose.
    pub enum DoseStatus {
        Taken = "taken",
        Missed = "missed",
        Refused = "refused",
        Late = "late",
    }
}

/// Dose events of the last 30 days.
#[derive(Debug, Clone)]
pub struct Adherence {
    pub taken: i64,
    pub late: i64,
    pub missed: i64,
    pub refused: i64,
    pub rate: Option<f64>,
}

/// A prescription, with its adherence.
#[derive(Debug, Clone)]
pub struct Prescription {
    pub id: PrescriptionId,
    pub patient_id: PatientId,
    pub drug: String,
    pub dose: String,
    pub route: Route,
    pub schedule: String,
    pub starts_on: NaiveDate,
    pub ends_on: Option<NaiveDate>,
    pub prescriber: String,
    pub notes: Option<String>,
    pub status: PrescriptionStatus,
    pub stopped_at: Option<DateTime<Utc>>,
    pub stop_reason: Option<String>,
    pub created_by: UserId,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub adherence: Adherence,
}

/// Lists are newest first by entry.
impl Keyed for Prescription {
    fn key(&self) -> (DateTime<Utc>, uuid::Uuid) {
        (self.created_at, self.id.0)
    }
}

macro_rules! columns {
    () => {
        "rx.id, rx.patient_id, rx.drug, rx.dose, rx.route, rx.schedule, rx.starts_on, rx.ends_on, rx.prescriber, \
         rx.notes, rx.status, rx.stopped_at, rx.stop_reason, rx.created_by, rx.created_at, rx.updated_at, \
         a.taken, a.late, a.missed, a.refused"
    };
}

/// Adherence of the last 30 days, as a lateral join on `rx`.
macro_rules! adherence {
    () => {
        " cross join lateral (
            select count(*) filter (where d.status = 'taken') as taken,
                   count(*) filter (where d.status = 'late') as late,
                   count(*) filter (where d.status = 'missed') as missed,
                   count(*) filter (where d.status = 'refused') as refused
              from dose_events d
             where d.facility_id = rx.facility_id and d.prescription_id = rx.id
               and d.scheduled_at > now() - interval '30 days') a "
    };
}

impl TryFrom<&Row> for Prescription {
    type Error = Error;

    fn try_from(row: &Row) -> Result<Self> {
        let (taken, late, missed, refused): (i64, i64, i64, i64) =
            (row.try_get("taken")?, row.try_get("late")?, row.try_get("missed")?, row.try_get("refused")?);
        let all = taken + late + missed + refused;
        Ok(Self {
            id: row.try_get("id")?,
            patient_id: row.try_get("patient_id")?,
            drug: row.try_get("drug")?,
            dose: row.try_get("dose")?,
            route: row.try_get("route")?,
            schedule: row.try_get("schedule")?,
            starts_on: row.try_get("starts_on")?,
            ends_on: row.try_get("ends_on")?,
            prescriber: row.try_get("prescriber")?,
            notes: row.try_get("notes")?,
            status: row.try_get("status")?,
            stopped_at: row.try_get("stopped_at")?,
            stop_reason: row.try_get("stop_reason")?,
            created_by: row.try_get("created_by")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            adherence: Adherence {
                taken,
                late,
                missed,
                refused,
                rate: (all > 0).then(|| (taken + late) as f64 / all as f64),
            },
        })
    }
}

/// A validated new prescription.
pub struct NewPrescription<'a> {
    pub drug: &'a str,
    pub dose: &'a str,
    pub route: Route,
    pub schedule: &'a str,
    pub starts_on: NaiveDate,
    pub ends_on: Option<NaiveDate>,
    pub prescriber: &'a str,
    pub notes: Option<&'a str>,
}

pub const INSERT: &str = concat!(
    "with rx as (
        insert into prescriptions (facility_id, patient_id, drug, dose, route, schedule, starts_on, ends_on,
                                   prescriber, notes)
        select p.facility_id, p.id, $2, $3, $4, $5, $6, $7, $8, $9
          from patients p where p.id = $1 and p.deleted_at is null
        returning *)
     select ",
    columns!(),
    " from rx cross join lateral (select 0::int8 as taken, 0::int8 as late, 0::int8 as missed, 0::int8 as refused) a"
);

/// Prescribes for a visible patient (404 otherwise).
pub async fn insert(tx: &mut TenantTx, patient: PatientId, p: &NewPrescription<'_>) -> Result<Prescription> {
    let row = tx
        .query_one(
            INSERT,
            &[
                &patient,
                &p.drug,
                &p.dose,
                &p.route,
                &p.schedule,
                &p.starts_on,
                &p.ends_on,
                &p.prescriber,
                &p.notes,
            ],
        )
        .await
        .on_constraint(
            "prescriptions_ends_on_check",
            Error::invalid("endsOn", "must not be before startsOn"),
        )?;
    Prescription::try_from(&row)
}

pub const GET: &str = concat!(
    "select ",
    columns!(),
    ", carego.audit_read('patients', rx.patient_id, rx.facility_id) as audited from prescriptions rx",
    adherence!(),
    "where rx.id = $1
       and exists (select from patients p
                    where p.facility_id = rx.facility_id and p.id = rx.patient_id and p.deleted_at is null)"
);

/// A visible prescription (404 otherwise); audited as a read of the chart.
pub async fn get(tx: &mut TenantTx, id: PrescriptionId) -> Result<Prescription> {
    Prescription::try_from(&tx.query_one(GET, &[&id]).await?)
}

pub const BY_IDS: &str = concat!(
    "select ",
    columns!(),
    " from prescriptions rx",
    adherence!(),
    "where rx.id = any($1)
       and exists (select from patients p
                    where p.facility_id = rx.facility_id and p.id = rx.patient_id and p.deleted_at is null)"
);

/// The visible prescriptions among `ids`, unaudited (the sync feed audits
/// the read once per patient).
pub async fn by_ids(tx: &mut TenantTx, ids: &[uuid::Uuid]) -> Result<Vec<Prescription>> {
    tx.query(BY_IDS, &[&ids]).await?.iter().map(Prescription::try_from).collect()
}

/// `$1` the patient, `$2` the fetch limit; then, each only when given (see
/// [`filters`](crate::db::filters)): status, the cursor.
pub static LIST: Variants = Variants::new(
    concat!(
        "select ",
        columns!(),
        ", (select carego.audit_read('patients', $1, p.facility_id) from patients p where p.id = $1) as audited
         from prescriptions rx",
        adherence!(),
        "where rx.patient_id = $1
           and exists (select from patients p where p.id = $1 and p.deleted_at is null) {where}
         order by rx.created_at desc, rx.id desc
         limit $2"
    ),
    &["rx.status = $::text", "(rx.created_at, rx.id) < ($::timestamptz, $::uuid)"],
);

/// A patient's prescriptions, newest first; `NotFound` when the patient is hidden.
pub async fn list(
    tx: &mut TenantTx,
    patient: PatientId,
    status: Option<PrescriptionStatus>,
    page: &PageRequest,
) -> Result<Vec<Prescription>> {
    let limit = page.fetch_limit();
    let bound = Bound::new(vec![&patient, &limit]).opt(&status).after(page);
    let rows = tx.query(LIST.get(bound.present), &bound.params).await?;
    if rows.is_empty() {
        super::super::clinical::patients::ensure_visible(tx, patient).await?;
    }
    rows.iter().map(Prescription::try_from).collect()
}

/// The changes of a PATCH; `None` leaves a field as it is, `Some(None)`
/// clears an optional one.
pub struct PrescriptionPatch<'a> {
    pub dose: Option<&'a str>,
    pub route: Option<Route>,
    pub schedule: Option<&'a str>,
    pub ends_on: Option<Option<NaiveDate>>,
    pub prescriber: Option<&'a str>,
    pub notes: Option<Option<&'a str>>,
}

pub const UPDATE: &str = "
    update prescriptions rx set
       dose = coalesce($2, dose),
       route = coalesce($3, route),
       schedule = coalesce($4, schedule),
       ends_on = case when $5::bool then $6::date else ends_on end,
       prescriber = coalesce($7, prescriber),
       notes = case when $8::bool then $9::text else notes end
     where rx.id = $1 and rx.status = 'active'
       and exists (select from patients p
                    where p.facility_id = rx.facility_id and p.id = rx.patient_id and p.deleted_at is null)
    returning rx.id";

pub const STOP: &str = "
    update prescriptions rx set status = 'stopped', stopped_at = now(), stop_reason = $2
     where rx.id = $1 and rx.status = 'active'
       and exists (select from patients p
                    where p.facility_id = rx.facility_id and p.id = rx.patient_id and p.deleted_at is null)
    returning rx.id";

/// Changes an active prescription; a stopped one is a 409, a hidden one a 404.
pub async fn update(
    tx: &mut TenantTx,
    id: PrescriptionId,
    p: &PrescriptionPatch<'_>,
) -> Result<Prescription> {
    let params: crate::db::Params = &[
        &id,
        &p.dose,
        &p.route,
        &p.schedule,
        &p.ends_on.is_some(),
        &p.ends_on.flatten(),
        &p.prescriber,
        &p.notes.is_some(),
        &p.notes.flatten(),
    ];
    let changed = tx.query_opt(UPDATE, params).await.on_constraint(
        "prescriptions_ends_on_check",
        Error::invalid("endsOn", "must not be before startsOn"),
    )?;
    settle(tx, id, changed.is_some()).await
}

/// Stops an active prescription with the reason; it is kept, never deleted.
pub async fn stop(tx: &mut TenantTx, id: PrescriptionId, reason: &str) -> Result<Prescription> {
    let changed = tx.query_opt(STOP, &[&id, &reason]).await?;
    settle(tx, id, changed.is_some()).await
}

/// After a change: the prescription as it now stands, or why nothing changed.
async fn settle(tx: &mut TenantTx, id: PrescriptionId, changed: bool) -> Result<Prescription> {
    let rx = get(tx, id).await?;
    if !changed && rx.status == PrescriptionStatus::Stopped {
        return Err(Conflict::PRESCRIPTION_STOPPED.into());
    }
    Ok(rx)
}

/// A dose event as stored.
#[derive(Debug, Clone)]
pub struct DoseEvent {
    pub id: DoseEventId,
    pub patient_id: PatientId,
    pub prescription_id: PrescriptionId,
    pub status: DoseStatus,
    pub scheduled_at: DateTime<Utc>,
    pub taken_at: Option<DateTime<Utc>>,
    pub notes: Option<String>,
    pub recorded_by: UserId,
    pub recorded_at: DateTime<Utc>,
}

/// Lists are newest first by when the dose was due.
impl Keyed for DoseEvent {
    fn key(&self) -> (DateTime<Utc>, uuid::Uuid) {
        (self.scheduled_at, self.id.0)
    }
}

macro_rules! dose_columns {
    () => {
        "id, patient_id, prescription_id, status, scheduled_at, taken_at, notes, recorded_by, recorded_at"
    };
}

impl TryFrom<&Row> for DoseEvent {
    type Error = Error;

    fn try_from(row: &Row) -> Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            patient_id: row.try_get("patient_id")?,
            prescription_id: row.try_get("prescription_id")?,
            status: row.try_get("status")?,
            scheduled_at: row.try_get("scheduled_at")?,
            taken_at: row.try_get("taken_at")?,
            notes: row.try_get("notes")?,
            recorded_by: row.try_get("recorded_by")?,
            recorded_at: row.try_get("recorded_at")?,
        })
    }
}

/// A validated dose event (times to the microsecond, as stored).
#[derive(Debug, Clone, PartialEq)]
pub struct NewDoseEvent {
    pub prescription_id: PrescriptionId,
    pub status: DoseStatus,
    pub scheduled_at: DateTime<Utc>,
    pub taken_at: Option<DateTime<Utc>>,
    pub notes: Option<String>,
}

pub const PRESCRIPTION_OF_PATIENT: &str = "
    select from prescriptions rx
     where rx.id = $2 and rx.patient_id = $1
       and exists (select from patients p
                    where p.facility_id = rx.facility_id and p.id = rx.patient_id and p.deleted_at is null)";

impl Logged for DoseEvent {
    type Input = NewDoseEvent;

    const INSERT: &'static str = concat!(
        "insert into dose_events (id, patient_id, facility_id, prescription_id, status, scheduled_at, taken_at, notes)
         select $1, rx.patient_id, rx.facility_id, rx.id, $4, $5, $6, $7
           from prescriptions rx
           join patients p on p.facility_id = rx.facility_id and p.id = rx.patient_id
          where rx.id = $3 and rx.patient_id = $2 and p.deleted_at is null
         on conflict (facility_id, id) do nothing
         returning ",
        dose_columns!()
    );
    super::patient_record_sql!(
        table = "dose_events",
        columns = dose_columns!(),
        key = "scheduled_at",
        cursor = "$::timestamptz"
    );

    fn params(d: &NewDoseEvent) -> Vec<&(dyn ToSql + Sync)> {
        vec![&d.prescription_id, &d.status, &d.scheduled_at, &d.taken_at, &d.notes]
    }

    fn id(&self) -> uuid::Uuid {
        self.id.0
    }

    fn patient_id(&self) -> PatientId {
        self.patient_id
    }

    fn matches(&self, patient: PatientId, d: &NewDoseEvent) -> bool {
        self.patient_id == patient
            && d.prescription_id == self.prescription_id
            && d.status == self.status
            && d.scheduled_at == self.scheduled_at
            && d.taken_at == self.taken_at
            && d.notes == self.notes
    }

    /// The prescription must be the patient's, and visible.
    async fn ensure_parent(tx: &mut TenantTx, patient: PatientId, d: &NewDoseEvent) -> Result<()> {
        tx.query_one(PRESCRIPTION_OF_PATIENT, &[&patient, &d.prescription_id]).await?;
        Ok(())
    }
}
