//! What a progress report shows, read under the caller's RLS in one
//! transaction: the patient, and their records of the period.

use chrono::{DateTime, NaiveDate, Utc};

use crate::{
    db::{
        TenantTx,
        clinical::patients::{self, Patient},
    },
    domain::ids::PatientId,
    error::Result,
};

/// At most this many rows of each kind go into a report.
pub const MAX_ROWS: i64 = 1000;

pub struct CheckInRow {
    pub at: DateTime<Utc>,
    pub mood: i16,
    pub halt: String,
    pub sleep_hours: Option<f64>,
    pub craving_intensity: Option<i16>,
    pub notes: Option<String>,
}

pub struct CravingRow {
    pub at: DateTime<Utc>,
    pub intensity: i16,
    pub trigger: Option<String>,
    pub coping_strategy: Option<String>,
    pub outcome: String,
}

pub struct MeetingRow {
    pub on: NaiveDate,
    pub kind: String,
    pub place: Option<String>,
}

pub struct GoalRow {
    pub description: String,
    pub status: String,
    pub progress_pct: Option<i16>,
}

/// Everything the report shows.
pub struct ProgressData {
    pub patient: Patient,
    pub facility: Option<String>,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub check_ins: Vec<CheckInRow>,
    pub cravings: Vec<CravingRow>,
    pub meetings: Vec<MeetingRow>,
    pub doses_taken: i64,
    pub doses_recorded: i64,
    pub goals: Vec<GoalRow>,
    pub generated_at: DateTime<Utc>,
}

pub const FACILITY: &str = "select name from facilities where id = $1";

pub const CHECK_INS: &str = "
    select checked_in_at, mood, sleep_hours::float8 as sleep_hours, craving_intensity, notes,
           concat_ws(' ', case when hungry then 'H' end, case when angry then 'A' end,
                     case when lonely then 'L' end, case when tired then 'T' end) as halt
      from check_ins
     where facility_id = $1 and patient_id = $2
       and checked_in_at >= $3::date and checked_in_at < $4::date + 1
     order by checked_in_at, id
     limit $5";

pub const CRAVINGS: &str = "
    select occurred_at, intensity, trigger, coping_strategy, outcome
      from cravings
     where facility_id = $1 and patient_id = $2
       and occurred_at >= $3::date and occurred_at < $4::date + 1
     order by occurred_at, id
     limit $5";

pub const MEETINGS: &str = "
    select attended_on, kind, place
      from meetings
     where facility_id = $1 and patient_id = $2 and attended_on between $3 and $4
     order by attended_on, id
     limit $5";

pub const DOSES: &str = "
    select count(*) filter (where status in ('taken', 'late')) as taken, count(*) as recorded
      from dose_events
     where facility_id = $1 and patient_id = $2
       and scheduled_at >= $3::date and scheduled_at < $4::date + 1";

pub const GOALS: &str = "
    select g.description, g.status,
           (select e.progress_pct from goal_progress e
             where e.facility_id = g.facility_id and e.goal_id = g.id and e.progress_pct is not null
             order by e.recorded_at desc, e.id desc limit 1) as pct
      from goals g
     where g.facility_id = $1 and g.patient_id = $2
     order by g.status, g.created_at
     limit $3";

/// The report's data for a visible patient (404 otherwise); reading the
/// chart is audited once.
pub async fn progress(
    tx: &mut TenantTx,
    id: PatientId,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<ProgressData> {
    let patient = patients::get(tx, id).await?;
    let f = patient.facility_id;
    let facility = tx.query_opt(FACILITY, &[&f]).await?.map(|r| r.try_get("name")).transpose()?;
    let mut check_ins = Vec::new();
    for r in tx.query(CHECK_INS, &[&f, &id, &from, &to, &MAX_ROWS]).await? {
        check_ins.push(CheckInRow {
            at: r.try_get("checked_in_at")?,
            mood: r.try_get("mood")?,
            halt: r.try_get("halt")?,
            sleep_hours: r.try_get("sleep_hours")?,
            craving_intensity: r.try_get("craving_intensity")?,
            notes: r.try_get("notes")?,
        });
    }
    let mut cravings = Vec::new();
    for r in tx.query(CRAVINGS, &[&f, &id, &from, &to, &MAX_ROWS]).await? {
        cravings.push(CravingRow {
            at: r.try_get("occurred_at")?,
            intensity: r.try_get("intensity")?,
            trigger: r.try_get("trigger")?,
            coping_strategy: r.try_get("coping_strategy")?,
            outcome: r.try_get("outcome")?,
        });
    }
    let mut meetings = Vec::new();
    for r in tx.query(MEETINGS, &[&f, &id, &from, &to, &MAX_ROWS]).await? {
        meetings.push(MeetingRow {
            on: r.try_get("attended_on")?,
            kind: r.try_get("kind")?,
            place: r.try_get("place")?,
        });
    }
    let doses = tx.query_one(DOSES, &[&f, &id, &from, &to]).await?;
    let mut goals = Vec::new();
    for r in tx.query(GOALS, &[&f, &id, &MAX_ROWS]).await? {
        goals.push(GoalRow {
            description: r.try_get("description")?,
            status: r.try_get("status")?,
            progress_pct: r.try_get("pct")?,
        });
    }
    Ok(ProgressData {
        patient,
        facility,
        from,
        to,
        check_ins,
        cravings,
        meetings,
        doses_taken: doses.try_get("taken")?,
        doses_recorded: doses.try_get("recorded")?,
        goals,
        generated_at: Utc::now(),
    })
}
