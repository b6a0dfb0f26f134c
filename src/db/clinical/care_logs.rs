//! Care logs: append-only notes, observations, incidents and medication
//! records about a patient. Corrections are amendments (new rows that point
//! at the original); reads return each original with its amendments.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use crate::db::{
    TenantTx,
    amendments::{self, Versioned},
    filters::{Bound, Variants},
};
use crate::{
    domain::page::{Keyed, PageRequest},
    domain::{
        ids::{CareLogId, PatientId, UserId},
        text_enum,
    },
    error::{Error, Result},
};

text_enum! {
    /// What a care log records.
    pub enum CareLogKind {
        Note = "note",
        Observation = "observation",
        Incident = "incident",
        MedicationAdministered = "medication_administered",
        Progress = "progress",
        TherapySession = "therapy_session",
        Other = "other",
    }
}

/// One version of a care log: the original, or an amendment of it.
#[derive(Debug, Clone)]
pub struct CareLogVersion {
    pub id: CareLogId,
    pub kind: CareLogKind,
    pub body: String,
    pub occurred_at: DateTime<Utc>,
    pub visible_to_patient: bool,
    pub author_id: UserId,
    pub recorded_at: DateTime<Utc>,
    pub amendment_reason: Option<String>,
}

/// A care log: the original entry and its amendments, oldest first. The last
#[derive(Debug, Clone)]
pub struct CareLog {
    pub id: CareLogId,
    pub patient_id: PatientId,
    pub original: CareLogVersion,
    pub amendments: Vec<CareLogVersion>,
}

/// Lists are newest first by the time it happened.
impl Keyed for CareLog {
    fn key(&self) -> (DateTime<Utc>, uuid::Uuid) {
        (self.original.occurred_at, self.id.0)
    }
}

macro_rules! columns {
    () => {
        "id, patient_id, kind, body, occurred_at, visible_to_patient, recorded_by, recorded_at, amends_id, \
         amendment_reason"
    };
}

struct Stored {
    patient_id: PatientId,
    amends_id: Option<CareLogId>,
    version: CareLogVersion,
}

impl TryFrom<&Row> for Stored {
    type Error = Error;

    fn try_from(row: &Row) -> Result<Self> {
        Ok(Self {
            patient_id: row.try_get("patient_id")?,
            amends_id: row.try_get("amends_id")?,
            version: CareLogVersion {
                id: row.try_get("id")?,
                kind: row.try_get("kind")?,
                body: row.try_get("body")?,
                occurred_at: row.try_get("occurred_at")?,
                visible_to_patient: row.try_get("visible_to_patient")?,
                author_id: row.try_get("recorded_by")?,
                recorded_at: row.try_get("recorded_at")?,
                amendment_reason: row.try_get("amendment_reason")?,
            },
        })
    }
}

amendments::versioned!(
    Stored,
    table = "care_logs",
    id = CareLogId,
    version = CareLogVersion,
    record = CareLog,
    |o, amendments| {
        CareLog { id: o.version.id, patient_id: o.patient_id, original: o.version, amendments }
    }
);

/// Validated fields of a new care log.
pub struct NewCareLog<'a> {
    pub kind: CareLogKind,
    pub body: &'a str,
    pub occurred_at: Option<DateTime<Utc>>,
    pub visible_to_patient: bool,
}

// The author and recording time are stamped by the database.
pub const INSERT: &str = concat!(
    "insert into care_logs (facility_id, patient_id, kind, body, occurred_at, visible_to_patient)
     select p.facility_id, p.id, $2, $3, coalesce($4, now()), $5
       from patients p where p.id = $1 and p.deleted_at is null
     returning ",
    columns!()
);

/// Appends a care log about a visible patient (404 otherwise).
pub async fn insert(tx: &mut TenantTx, patient: PatientId, c: &NewCareLog<'_>) -> Result<CareLog> {
    let row =
        tx.query_one(INSERT, &[&patient, &c.kind, &c.body, &c.occurred_at, &c.visible_to_patient]).await?;
    Ok(Stored::assemble(Stored::try_from(&row)?, Vec::new()))
}

// The same entry by the same author (the caller) counts as recorded.
pub const INSERT_UNLESS_RECORDED: &str =
    "insert into care_logs (facility_id, patient_id, kind, body, occurred_at, visible_to_patient)
     select p.facility_id, p.id, $2, $3, $4, $5
       from patients p
      where p.id = $1 and p.deleted_at is null
        and not exists (select from care_logs l
                         where l.facility_id = p.facility_id and l.patient_id = p.id and l.amends_id is null
                           and l.recorded_by = carego.current_user_id()
                           and l.kind = $2 and l.body = $3 and l.occurred_at = $4)
     returning id";

/// Appends a care log at a given time unless the caller already recorded
/// the same one (manifests re-applied); whether it was appended. A hidden
/// patient is `NotFound`.
pub async fn insert_unless_recorded(
    tx: &mut TenantTx,
    patient: PatientId,
    c: &NewCareLog<'_>,
) -> Result<bool> {
    let occurred_at = c.occurred_at.ok_or_else(|| Error::invalid("occurredAt", "is required here"))?;
    let params: crate::db::Params = &[&patient, &c.kind, &c.body, &occurred_at, &c.visible_to_patient];
    if tx.query_opt(INSERT_UNLESS_RECORDED, params).await?.is_some() {
        return Ok(true);
    }
    super::patients::ensure_visible(tx, patient).await?;
    Ok(false)
}

/// Corrected fields of an amendment; absent ones keep the current version's.
pub struct Amendment<'a> {
    pub reason: &'a str,
    pub kind: Option<CareLogKind>,
    pub body: Option<&'a str>,
    pub occurred_at: Option<DateTime<Utc>>,
    pub visible_to_patient: Option<bool>,
}

// The new row copies the current version (the latest amendment, else the
// original) and applies the corrections; it always points at the original.
pub const AMEND: &str = concat!(
    "insert into care_logs (facility_id, patient_id, kind, body, occurred_at, visible_to_patient,
                            amends_id, amendment_reason)
     select cur.facility_id, cur.patient_id, coalesce($2, cur.kind), coalesce($3, cur.body),
            coalesce($4, cur.occurred_at), coalesce($5, cur.visible_to_patient), root.id, $6
       from care_logs target
       join care_logs root on root.facility_id = target.facility_id
                          and root.id = coalesce(target.amends_id, target.id)
       cross join lateral (
            select v.* from care_logs v
             where v.facility_id = root.facility_id and (v.id = root.id or v.amends_id = root.id)
             order by v.recorded_at desc, v.id desc limit 1) cur
      where target.id = $1
        and exists (select from patients p
                     where p.facility_id = root.facility_id and p.id = root.patient_id and p.deleted_at is null)
     returning ",
    columns!()
);

/// Records a correction of a visible care log (404 otherwise).
pub async fn amend(tx: &mut TenantTx, id: CareLogId, a: &Amendment<'_>) -> Result<CareLog> {
    let row = tx
        .query_one(AMEND, &[&id, &a.kind, &a.body, &a.occurred_at, &a.visible_to_patient, &a.reason])
        .await?;
    let root: CareLogId = row.try_get("amends_id")?;
    get(tx, root).await
}

pub const GET: &str = concat!(
    "select ",
    columns!(),
    " from care_logs l where id = (select coalesce(amends_id, id) from care_logs where id = $1)
       and exists (select from patients p
                    where p.facility_id = l.facility_id and p.id = l.patient_id and p.deleted_at is null)"
);

/// A care log with its amendments; an amendment's id finds its original.
pub async fn get(tx: &mut TenantTx, id: CareLogId) -> Result<CareLog> {
    let row = tx.query_one(GET, &[&id]).await?;
    amendments::one::<Stored>(tx, &row).await
}

/// `$1` the patient, `$2` the fetch limit; then, each only when given (see
/// [`filters`](crate::db::filters)): kind, the cursor.
pub static LIST: Variants = Variants::new(
    concat!(
        "select ",
        columns!(),
        ", (select carego.audit_read('patients', $1, p.facility_id) from patients p where p.id = $1) as audited
         from care_logs
         where patient_id = $1 and amends_id is null
           and exists (select from patients p where p.id = $1 and p.deleted_at is null) {where}
         order by occurred_at desc, id desc
         limit $2"
    ),
    &["kind = $::text", "(occurred_at, id) < ($::timestamptz, $::uuid)"],
);

/// A patient's care logs, newest first; `NotFound` when the
/// patient is hidden. Reading them is audited once.
pub async fn list(
    tx: &mut TenantTx,
    patient: PatientId,
    kind: Option<CareLogKind>,
    page: &PageRequest,
) -> Result<Vec<CareLog>> {
    let limit = page.fetch_limit();
    let bound = Bound::new(vec![&patient, &limit]).opt(&kind).after(page);
    let rows = tx.query(LIST.get(bound.present), &bound.params).await?;
    if rows.is_empty() {
        super::patients::ensure_visible(tx, patient).await?;
    }
    amendments::attach_rows::<Stored>(tx, &rows).await
}
