//! Cravings: when one struck, how strong, its trigger, the coping strategy
//! used and whether the patient resisted. Append-only.

use chrono::{DateTime, Utc};
use tokio_postgres::{Row, types::ToSql};

use super::{Logged, same};
use crate::{
    domain::{
        ids::{CravingId, PatientId, UserId},
        page::Keyed,
        text_enum,
    },
    error::{Error, Result},
};

text_enum! {
    /// How a craving ended.
    pub enum CravingOutcome {
        Resisted = "resisted",
        Used = "used",
    }
}

/// A craving as stored.
#[derive(Debug, Clone)]
pub struct Craving {
    pub id: CravingId,
    pub patient_id: PatientId,
    pub occurred_at: DateTime<Utc>,
    pub intensity: i16,
    pub trigger: Option<String>,
    pub coping_strategy: Option<String>,
    pub outcome: CravingOutcome,
    pub notes: Option<String>,
    pub recorded_by: UserId,
    pub recorded_at: DateTime<Utc>,
}

/// Lists are newest first by when it struck.
impl Keyed for Craving {
    fn key(&self) -> (DateTime<Utc>, uuid::Uuid) {
        (self.occurred_at, self.id.0)
    }
}

macro_rules! columns {
    () => {
        "id, patient_id, occurred_at, intensity, trigger, coping_strategy, outcome, notes, recorded_by, recorded_at"
    };
}

impl TryFrom<&Row> for Craving {
    type Error = Error;

    fn try_from(row: &Row) -> Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            patient_id: row.try_get("patient_id")?,
            occurred_at: row.try_get("occurred_at")?,
            intensity: row.try_get("intensity")?,
            trigger: row.try_get("trigger")?,
            coping_strategy: row.try_get("coping_strategy")?,
            outcome: row.try_get("outcome")?,
            notes: row.try_get("notes")?,
            recorded_by: row.try_get("recorded_by")?,
            recorded_at: row.try_get("recorded_at")?,
        })
    }
}

/// A validated craving (times to the microsecond, as stored).
#[derive(Debug, Clone, PartialEq)]
pub struct NewCraving {
    pub occurred_at: Option<DateTime<Utc>>,
    pub intensity: i16,
    pub trigger: Option<String>,
    pub coping_strategy: Option<String>,
    pub outcome: CravingOutcome,
    pub notes: Option<String>,
}

impl Logged for Craving {
    type Input = NewCraving;

    const INSERT: &'static str = concat!(
        "insert into cravings (id, patient_id, facility_id, occurred_at, intensity, trigger, coping_strategy,
                               outcome, notes)
         select $1, p.id, p.facility_id, coalesce($3, now()), $4, $5, $6, $7, $8
           from patients p where p.id = $2 and p.deleted_at is null
         on conflict (facility_id, id) do nothing
         returning ",
        columns!()
    );
    super::patient_record_sql!(
        table = "cravings",
        columns = columns!(),
        key = "occurred_at",
        cursor = "$::timestamptz"
    );

    fn params(c: &NewCraving) -> Vec<&(dyn ToSql + Sync)> {
        vec![&c.occurred_at, &c.intensity, &c.trigger, &c.coping_strategy, &c.outcome, &c.notes]
    }

    fn id(&self) -> uuid::Uuid {
        self.id.0
    }

    fn patient_id(&self) -> PatientId {
        self.patient_id
    }

    fn matches(&self, patient: PatientId, c: &NewCraving) -> bool {
        self.patient_id == patient
            && same(c.occurred_at, self.occurred_at)
            && c.intensity == self.intensity
            && c.trigger == self.trigger
            && c.coping_strategy == self.coping_strategy
            && c.outcome == self.outcome
            && c.notes == self.notes
    }
}
