//! Sobriety: a patient's start date (`patients.sobriety_date`) and the
//! append-only resets that move it, each with its reason and the date it
//! replaced. Days sober are computed, never stored.

use chrono::{DateTime, NaiveDate, Utc};
use tokio_postgres::{Row, types::ToSql};

use super::Logged;
use crate::{
    db::TenantTx,
    domain::{
        ids::{PatientId, SobrietyResetId, UserId},
        page::Keyed,
    },
    error::{Error, Result},
};

/// A reset as stored.
#[derive(Debug, Clone)]
pub struct SobrietyReset {
    pub id: SobrietyResetId,
    pub patient_id: PatientId,
    pub since: NaiveDate,
    pub previous_since: Option<NaiveDate>,
    pub reason: String,
    pub recorded_by: UserId,
    pub recorded_at: DateTime<Utc>,
}

/// Lists are newest first by when they were recorded.
impl Keyed for SobrietyReset {
    fn key(&self) -> (DateTime<Utc>, uuid::Uuid) {
        (self.recorded_at, self.id.0)
    }
}

macro_rules! columns {
    () => {
        "id, patient_id, since, previous_since, reason, recorded_by, recorded_at"
    };
}

impl TryFrom<&Row> for SobrietyReset {
    type Error = Error;

    fn try_from(row: &Row) -> Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            patient_id: row.try_get("patient_id")?,
            since: row.try_get("since")?,
            previous_since: row.try_get("previous_since")?,
            reason: row.try_get("reason")?,
            recorded_by: row.try_get("recorded_by")?,
            recorded_at: row.try_get("recorded_at")?,
        })
    }
}

/// A validated reset.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSobrietyReset {
    pub since: NaiveDate,
    pub reason: String,
}

impl Logged for SobrietyReset {
    type Input = NewSobrietyReset;

    const INSERT: &'static str = concat!(
        "insert into sobriety_resets (id, patient_id, facility_id, since, reason)
         select $1, p.id, p.facility_id, $3, $4
           from patients p where p.id = $2 and p.deleted_at is null
         on conflict (facility_id, id) do nothing
         returning ",
        columns!()
    );
    super::patient_record_sql!(
        table = "sobriety_resets",
        columns = columns!(),
        key = "recorded_at",
        cursor = "$::timestamptz"
    );

    fn params(r: &NewSobrietyReset) -> Vec<&(dyn ToSql + Sync)> {
        vec![&r.since, &r.reason]
    }

    fn id(&self) -> uuid::Uuid {
        self.id.0
    }

    fn patient_id(&self) -> PatientId {
        self.patient_id
    }

    fn matches(&self, patient: PatientId, r: &NewSobrietyReset) -> bool {
        self.patient_id == patient && r.since == self.since && r.reason == self.reason
    }
}

/// Where a patient stands.
#[derive(Debug, Clone)]
pub struct Sobriety {
    pub patient_id: PatientId,
    pub since: Option<NaiveDate>,
    pub days_sober: Option<i32>,
    pub longest_days: Option<i32>,
    pub resets: i64,
    pub last_reset_at: Option<DateTime<Utc>>,
}

pub const SUMMARY: &str = "
    select p.id, p.sobriety_date, current_date - p.sobriety_date as days_sober,
           carego.audit_read('patients', p.id, p.facility_id) as audited,
           greatest(current_date - p.sobriety_date,
                    (select max(r.since_before - r.previous_since) from (
                        select s.previous_since, s.since as since_before from sobriety_resets s
                         where s.facility_id = p.facility_id and s.patient_id = p.id) r)) as longest_days,
           (select count(*) from sobriety_resets s
             where s.facility_id = p.facility_id and s.patient_id = p.id) as resets,
           (select max(s.recorded_at) from sobriety_resets s
             where s.facility_id = p.facility_id and s.patient_id = p.id) as last_reset_at
      from patients p
     where p.id = $1 and p.deleted_at is null";

/// A visible patient's sobriety (404 otherwise); audited as a read of the chart.
pub async fn summary(tx: &mut TenantTx, patient: PatientId) -> Result<Sobriety> {
    let row = tx.query_one(SUMMARY, &[&patient]).await?;
    Ok(Sobriety {
        patient_id: row.try_get("id")?,
        since: row.try_get("sobriety_date")?,
        days_sober: row.try_get("days_sober")?,
        longest_days: row.try_get("longest_days")?,
        resets: row.try_get("resets")?,
        last_reset_at: row.try_get("last_reset_at")?,
    })
}
