//! Meetings attended: AA, NA, SMART, group therapy, individual counselling.
//! Append-only.

use chrono::{DateTime, NaiveDate, Utc};
use tokio_postgres::{Row, types::ToSql};

use super::Logged;
use crate::{
    domain::{
        ids::{MeetingId, PatientId, UserId},
        page::Keyed,
        text_enum,
    },
    error::{Error, Result},
};

text_enum! {
    /// What kind of meeting.
    pub enum MeetingKind {
        Aa = "aa",
        Na = "na",
        Smart = "smart",
        GroupTherapy = "group_therapy",
        IndividualCounselling = "individual_counselling",
        Other = "other",
    }
}

/// A meeting as stored.
#[derive(Debug, Clone)]
pub struct Meeting {
    pub id: MeetingId,
    pub patient_id: PatientId,
    pub kind: MeetingKind,
    pub attended_on: NaiveDate,
    pub place: Option<String>,
    pub notes: Option<String>,
    pub recorded_by: UserId,
    pub recorded_at: DateTime<Utc>,
}

/// Lists are newest first by the day attended (a cursor names its midnight UTC).
impl Keyed for Meeting {
    fn key(&self) -> (DateTime<Utc>, uuid::Uuid) {
        (self.attended_on.and_time(chrono::NaiveTime::MIN).and_utc(), self.id.0)
    }
}

macro_rules! columns {
    () => {
        "id, patient_id, kind, attended_on, place, notes, recorded_by, recorded_at"
    };
}

impl TryFrom<&Row> for Meeting {
    type Error = Error;

    fn try_from(row: &Row) -> Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            patient_id: row.try_get("patient_id")?,
            kind: row.try_get("kind")?,
            attended_on: row.try_get("attended_on")?,
            place: row.try_get("place")?,
            notes: row.try_get("notes")?,
            recorded_by: row.try_get("recorded_by")?,
            recorded_at: row.try_get("recorded_at")?,
        })
    }
}

/// A validated meeting.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMeeting {
    pub kind: MeetingKind,
    pub attended_on: NaiveDate,
    pub place: Option<String>,
    pub notes: Option<String>,
}

impl Logged for Meeting {
    type Input = NewMeeting;

    const INSERT: &'static str = concat!(
        "insert into meetings (id, patient_id, facility_id, kind, attended_on, place, notes)
         select $1, p.id, p.facility_id, $3, $4, $5, $6
           from patients p where p.id = $2 and p.deleted_at is null
         on conflict (facility_id, id) do nothing
         returning ",
        columns!()
    );
    super::patient_record_sql!(
        table = "meetings",
        columns = columns!(),
        key = "attended_on",
        cursor = "($::timestamptz at time zone 'UTC')::date"
    );

    fn params(m: &NewMeeting) -> Vec<&(dyn ToSql + Sync)> {
        vec![&m.kind, &m.attended_on, &m.place, &m.notes]
    }

    fn id(&self) -> uuid::Uuid {
        self.id.0
    }

    fn patient_id(&self) -> PatientId {
        self.patient_id
    }

    fn matches(&self, patient: PatientId, m: &NewMeeting) -> bool {
        self.patient_id == patient
            && m.kind == self.kind
            && m.attended_on == self.attended_on
            && m.place == self.place
            && m.notes == self.notes
    }
}
