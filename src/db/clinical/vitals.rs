//! Vitals: append-only, range-checked measurements (the ranges live in the
//! table's check constraints and in the API schema). Corrections are
//! amendments, as for care logs.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use crate::db::{
    TenantTx,
    amendments::{self, Versioned},
    filters::{Bound, Variants},
};
use crate::{
    domain::ids::{PatientId, UserId, VitalsId},
    domain::page::{Keyed, PageRequest},
    error::{Error, Result},
};

/// The measurements of one reading; at least one is present.
#[derive(Debug, Clone, Default)]
pub struct Measurements {
    pub systolic: Option<i16>,
    pub diastolic: Option<i16>,
    pub pulse: Option<i16>,
    pub temperature_c: Option<f64>,
    pub spo2: Option<i16>,
    pub glucose_mg_dl: Option<i16>,
    pub weight_kg: Option<f64>,
    pub respiration: Option<i16>,
}

/// One version of a reading: the original, or an amendment of it.
#[derive(Debug, Clone)]
pub struct VitalsVersion {
    pub id: VitalsId,
    pub measured_at: DateTime<Utc>,
    pub measurements: Measurements,
    pub note: Option<String>,
    pub visible_to_patient: bool,
    pub recorded_by: UserId,
    pub recorded_at: DateTime<Utc>,
    pub amendment_reason: Option<String>,
}

/// A vitals reading with its amendments, oldest first.
#[derive(Debug, Clone)]
pub struct Vitals {
    pub id: VitalsId,
    pub patient_id: PatientId,
    pub original: VitalsVersion,
    pub amendments: Vec<VitalsVersion>,
}

/// Lists are newest first by the time it happened.
impl Keyed for Vitals {
    fn key(&self) -> (DateTime<Utc>, uuid::Uuid) {
        (self.original.measured_at, self.id.0)
    }
}

macro_rules! columns {
    () => {
        "id, patient_id, measured_at, systolic, diastolic, pulse, temperature_c::float8 as temperature_c, spo2, \
         glucose_mg_dl, weight_kg::float8 as weight_kg, respiration, note, visible_to_patient, recorded_by, \
         recorded_at, amends_id, amendment_reason"
    };
}

struct Stored {
    patient_id: PatientId,
    amends_id: Option<VitalsId>,
    version: VitalsVersion,
}

impl TryFrom<&Row> for Stored {
    type Error = Error;

    fn try_from(row: &Row) -> Result<Self> {
        Ok(Self {
            patient_id: row.try_get("patient_id")?,
            amends_id: row.try_get("amends_id")?,
            version: VitalsVersion {
                id: row.try_get("id")?,
                measured_at: row.try_get("measured_at")?,
                measurements: Measurements {
                    systolic: row.try_get("systolic")?,
                    diastolic: row.try_get("diastolic")?,
                    pulse: row.try_get("pulse")?,
                    temperature_c: row.try_get("temperature_c")?,
                    spo2: row.try_get("spo2")?,
                    glucose_mg_dl: row.try_get("glucose_mg_dl")?,
                    weight_kg: row.try_get("weight_kg")?,
                    respiration: row.try_get("respiration")?,
                },
                note: row.try_get("note")?,
                visible_to_patient: row.try_get("visible_to_patient")?,
                recorded_by: row.try_get("recorded_by")?,
                recorded_at: row.try_get("recorded_at")?,
                amendment_reason: row.try_get("amendment_reason")?,
            },
        })
    }
}

amendments::versioned!(
    Stored,
    table = "vitals",
    id = VitalsId,
    version = VitalsVersion,
    record = Vitals,
    |o, amendments| {
        Vitals { id: o.version.id, patient_id: o.patient_id, original: o.version, amendments }
    }
);

/// A new reading, or the corrections of an amendment (absent fields keep the
/// current version's values).
pub struct VitalsInput<'a> {
    pub measured_at: Option<DateTime<Utc>>,
    pub m: Measurements,
    pub note: Option<&'a str>,
    pub visible_to_patient: Option<bool>,
}

pub const INSERT: &str = concat!(
    "insert into vitals (facility_id, patient_id, measured_at, systolic, diastolic, pulse, temperature_c, spo2,
                         glucose_mg_dl, weight_kg, respiration, note, visible_to_patient)
     select p.facility_id, p.id, coalesce($2, now()), $3, $4, $5, $6::float8::numeric(4, 1), $7, $8,
            $9::float8::numeric(5, 1), $10, $11, coalesce($12, false)
       from patients p where p.id = $1 and p.deleted_at is null
     returning ",
    columns!()
);

/// Records a reading for a visible patient (404 otherwise).
pub async fn insert(tx: &mut TenantTx, patient: PatientId, v: &VitalsInput<'_>) -> Result<Vitals> {
    let m = &v.m;
    let row = tx
        .query_one(
            INSERT,
            &[
                &patient,
                &v.measured_at,
                &m.systolic,
                &m.diastolic,
                &m.pulse,
                &m.temperature_c,
                &m.spo2,
                &m.glucose_mg_dl,
                &m.weight_kg,
                &m.respiration,
                &v.note,
                &v.visible_to_patient,
            ],
        )
        .await?;
    Ok(Stored::assemble(Stored::try_from(&row)?, Vec::new()))
}

pub const AMEND: &str = concat!(
    "insert into vitals (facility_id, patient_id, measured_at, systolic, diastolic, pulse, temperature_c, spo2,
                         glucose_mg_dl, weight_kg, respiration, note, visible_to_patient, amends_id,
                         amendment_reason)
     select cur.facility_id, cur.patient_id, coalesce($2, cur.measured_at), coalesce($3, cur.systolic),
            coalesce($4, cur.diastolic), coalesce($5, cur.pulse),
            coalesce($6::float8::numeric(4, 1), cur.temperature_c), coalesce($7, cur.spo2),
            coalesce($8, cur.glucose_mg_dl), coalesce($9::float8::numeric(5, 1), cur.weight_kg),
            coalesce($10, cur.respiration), coalesce($11, cur.note), coalesce($12, cur.visible_to_patient),
            root.id, $13
       from vitals target
       join vitals root on root.facility_id = target.facility_id and root.id = coalesce(target.amends_id, target.id)
       cross join lateral (
            select v.* from vitals v
             where v.facility_id = root.facility_id and (v.id = root.id or v.amends_id = root.id)
             order by v.recorded_at desc, v.id desc limit 1) cur
      where target.id = $1
        and exists (select from patients p
                     where p.facility_id = root.facility_id and p.id = root.patient_id and p.deleted_at is null)
     returning ",
    columns!()
);

/// Records a correction of a visible reading (404 otherwise).
pub async fn amend(tx: &mut TenantTx, id: VitalsId, v: &VitalsInput<'_>, reason: &str) -> Result<Vitals> {
    let m = &v.m;
    let row = tx
        .query_one(
            AMEND,
            &[
                &id,
                &v.measured_at,
                &m.systolic,
                &m.diastolic,
                &m.pulse,
                &m.temperature_c,
                &m.spo2,
                &m.glucose_mg_dl,
                &m.weight_kg,
                &m.respiration,
                &v.note,
                &v.visible_to_patient,
                &reason,
            ],
        )
        .await?;
    let root: VitalsId = row.try_get("amends_id")?;
    let original = tx.query_one(GET, &[&root]).await?;
    amendments::one::<Stored>(tx, &original).await
}

pub const GET: &str = concat!(
    "select ",
    columns!(),
    " from vitals v where id = $1
       and exists (select from patients p
                    where p.facility_id = v.facility_id and p.id = v.patient_id and p.deleted_at is null)"
);

/// `$1` the patient, `$2` the fetch limit; then the cursor, when given (see
/// [`filters`](crate::db::filters)).
pub static LIST: Variants = Variants::new(
    concat!(
        "select ",
        columns!(),
        ", (select carego.audit_read('patients', $1, p.facility_id) from patients p where p.id = $1) as audited
         from vitals
         where patient_id = $1 and amends_id is null
           and exists (select from patients p where p.id = $1 and p.deleted_at is null) {where}
         order by measured_at desc, id desc
         limit $2"
    ),
    &["(measured_at, id) < ($::timestamptz, $::uuid)"],
);

/// A patient's readings, newest first; `NotFound` when the
/// patient is hidden. Reading them is audited once.
pub async fn list(tx: &mut TenantTx, patient: PatientId, page: &PageRequest) -> Result<Vec<Vitals>> {
    let limit = page.fetch_limit();
    let bound = Bound::new(vec![&patient, &limit]).after(page);
    let rows = tx.query(LIST.get(bound.present), &bound.params).await?;
    if rows.is_empty() {
        super::patients::ensure_visible(tx, patient).await?;
    }
    amendments::attach_rows::<Stored>(tx, &rows).await
}
