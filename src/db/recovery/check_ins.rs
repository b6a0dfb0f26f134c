//! Daily check-ins: mood, HALT (hungry, angry, lonely, tired), sleep,
//! craving intensity and a note. One or more a day, append-only.

use chrono::{DateTime, Utc};
use tokio_postgres::{Row, types::ToSql};

use super::{Logged, same};
use crate::{
    domain::{
        ids::{CheckInId, PatientId, UserId},
        page::Keyed,
    },
    error::{Error, Result},
};

/// A check-in as stored.
#[derive(Debug, Clone)]
pub struct CheckIn {
    pub id: CheckInId,
    pub patient_id: PatientId,
    pub checked_in_at: DateTime<Utc>,
    pub mood: i16,
    pub hungry: bool,
    pub angry: bool,
    pub lonely: bool,
    pub tired: bool,
    pub sleep_hours: Option<f64>,
    pub craving_intensity: Option<i16>,
    pub notes: Option<String>,
    pub recorded_by: UserId,
    pub recorded_at: DateTime<Utc>,
}

/// Lists are newest first by the time of the check-in.
impl Keyed for CheckIn {
    fn key(&self) -> (DateTime<Utc>, uuid::Uuid) {
        (self.checked_in_at, self.id.0)
    }
}

macro_rules! columns {
    () => {
        "id, patient_id, checked_in_at, mood, hungry, angry, lonely, tired, sleep_hours::float8 as sleep_hours, \
         craving_intensity, notes, recorded_by, recorded_at"
    };
}

impl TryFrom<&Row> for CheckIn {
    type Error = Error;

    fn try_from(row: &Row) -> Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            patient_id: row.try_get("patient_id")?,
            checked_in_at: row.try_get("checked_in_at")?,
            mood: row.try_get("mood")?,
            hungry: row.try_get("hungry")?,
            angry: row.try_get("angry")?,
            lonely: row.try_get("lonely")?,
            tired: row.try_get("tired")?,
            sleep_hours: row.try_get("sleep_hours")?,
            craving_intensity: row.try_get("craving_intensity")?,
            notes: row.try_get("notes")?,
            recorded_by: row.try_get("recorded_by")?,
            recorded_at: row.try_get("recorded_at")?,
        })
    }
}

/// A validated check-in: times to the microsecond and sleep to the tenth,
/// as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCheckIn {
    pub checked_in_at: Option<DateTime<Utc>>,
    pub mood: i16,
    pub hungry: bool,
    pub angry: bool,
    pub lonely: bool,
    pub tired: bool,
    pub sleep_hours: Option<f64>,
    pub craving_intensity: Option<i16>,
    pub notes: Option<String>,
}

impl Logged for CheckIn {
    type Input = NewCheckIn;

    const INSERT: &'static str = concat!(
        "insert into check_ins (id, patient_id, facility_id, checked_in_at, mood, hungry, angry, lonely, tired,
                                sleep_hours, craving_intensity, notes)
         select $1, p.id, p.facility_id, coalesce($3, now()), $4, $5, $6, $7, $8, $9::float8::numeric(3, 1), $10, $11
           from patients p where p.id = $2 and p.deleted_at is null
         on conflict (facility_id, id) do nothing
         returning ",
        columns!()
    );
    super::patient_record_sql!(
        table = "check_ins",
        columns = columns!(),
        key = "checked_in_at",
        cursor = "$::timestamptz"
    );

    fn params(c: &NewCheckIn) -> Vec<&(dyn ToSql + Sync)> {
        vec![
            &c.checked_in_at,
            &c.mood,
            &c.hungry,
            &c.angry,
            &c.lonely,
            &c.tired,
            &c.sleep_hours,
            &c.craving_intensity,
            &c.notes,
        ]
    }

    fn id(&self) -> uuid::Uuid {
        self.id.0
    }

    fn patient_id(&self) -> PatientId {
        self.patient_id
    }

    fn matches(&self, patient: PatientId, c: &NewCheckIn) -> bool {
        self.patient_id == patient
            && same(c.checked_in_at, self.checked_in_at)
            && c.mood == self.mood
            && (c.hungry, c.angry, c.lonely, c.tired) == (self.hungry, self.angry, self.lonely, self.tired)
            && c.sleep_hours == self.sleep_hours
            && c.craving_intensity == self.craving_intensity
            && c.notes == self.notes
    }
}
